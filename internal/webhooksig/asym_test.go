package webhooksig

import (
	"context"
	"crypto/sha256"
	"errors"
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// Helpers shared by the tests of discord, sendgrid, sns, oidc, the token
// schemes and standard v1a.

// asymReq is a request to a source path.
func asymReq(method, rawQuery string, h http.Header, body []byte) *Request {
	if h == nil {
		h = http.Header{}
	}
	return &Request{Method: method, URL: &url.URL{Path: "/webhooks/src", RawQuery: rawQuery}, Header: h, Body: body}
}

// wantSentinel asserts err wraps want and no other sentinel.
func wantSentinel(t *testing.T, err error, want error) {
	t.Helper()
	require.Error(t, err)
	assert.ErrorIs(t, err, want)
	for _, s := range Sentinels {
		if !errors.Is(s, want) {
			assert.NotErrorIs(t, err, s, "error wraps a second sentinel: %v", err)
		}
	}
}

// asymCase is one negative case: a change to a valid request, and the
// sentinel it must give.
type asymCase struct {
	name   string
	change func(r *Request)
	want   error
}

// runAsymCases applies each case to a fresh copy of the valid request made
// by mk and checks that Verify refuses it with the case's sentinel and
// returns no delivery, and that the message holds none of the secrets.
func runAsymCases(t *testing.T, v Verifier, mk func() *Request, cases []asymCase, secrets ...string) {
	t.Helper()
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			r := mk()
			c.change(r)
			d, err := v.Verify(context.Background(), r, asymNow)
			wantSentinel(t, err, c.want)
			assert.Equal(t, Delivery{}, d)
			for _, s := range secrets {
				assert.NotContains(t, err.Error(), s)
			}
		})
	}
}

// asymNow is the clock of these tests.
var asymNow = time.Unix(1_767_225_600, 0) // 2026-01-01T00:00:00Z

func sha(b []byte) [32]byte { return sha256.Sum256(b) }

func TestTokenSetMatch(t *testing.T) {
	ts, err := newTokenSet(Config{Scheme: GitLab, Secrets: []string{"alpha", "beta"}})
	require.NoError(t, err)
	assert.True(t, ts.match("alpha"))
	assert.True(t, ts.match("beta"))
	for _, bad := range []string{"", "alph", "alphaa", "Alpha", "beta ", strings.Repeat("x", 5000)} {
		assert.False(t, ts.match(bad), bad)
	}
	_, err = newTokenSet(Config{Scheme: GitLab, Secrets: []string{" padded"}})
	require.Error(t, err)
	assert.NotContains(t, err.Error(), "padded")
}

func TestJSONMembers(t *testing.T) {
	for _, c := range []struct {
		body string
		ok   bool
	}{
		{`{}`, true}, {` {"a":1} `, true}, {`{"a":1}{}`, false}, {`{"a":1}}`, false},
		{`[]`, false}, {`null`, false}, {``, false}, {`"s"`, false}, {`{"a":}`, false},
	} {
		_, ok := jsonMembers([]byte(c.body))
		assert.Equal(t, c.ok, ok, c.body)
	}
	m, _ := jsonMembers([]byte(`{"s":"x","n":3,"f":1.5,"b":true,"e":"\u00e9"}`))
	assert.Equal(t, "x", memberString(m["s"]))
	assert.Equal(t, "", memberString(m["n"]))
	assert.Equal(t, "é", memberString(m["e"]))
	n, ok := jsonInt(m["n"])
	assert.True(t, ok)
	assert.EqualValues(t, 3, n)
	_, ok = jsonInt(m["f"])
	assert.False(t, ok)
	_, ok = jsonInt(m["missing"])
	assert.False(t, ok)
	assert.Equal(t, "a", sameOrEmpty([]string{"a", "a"}))
	assert.Equal(t, "", sameOrEmpty([]string{"a", "b"}))
	assert.Equal(t, "", sameOrEmpty(nil))
}
