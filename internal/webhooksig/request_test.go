package webhooksig

import (
	"context"
	"errors"
	"net/http"
	"net/url"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
)

// The scheme table is the one way in: every name it lists builds (with
// what the scheme needs), unknown names are refused listing the known
// ones, and the names are sorted lower-case.
func TestNewVerifierDispatch(t *testing.T) {
	names := Schemes()
	require.True(t, sort.StringsAreSorted(names))
	for _, n := range names {
		require.Equal(t, strings.ToLower(n), n)
	}
	for _, n := range []string{Standard, GitHub, Stripe, HMACSHA256, Dropbox} {
		require.Contains(t, names, n)
	}
	_, err := NewVerifier(Config{Scheme: "md5", Secrets: []string{"k"}})
	require.ErrorContains(t, err, `unknown scheme "md5"`)
	require.ErrorContains(t, err, "github")

	// New is NewVerifier with secrets and tolerance.
	v, err := New(GitHub, []string{"It's a Secret to Everybody"}, 0)
	require.NoError(t, err)
	h := http.Header{"X-Hub-Signature-256": {githubVector.want}}
	_, err = v.Verify(context.Background(), post(h, []byte(githubVector.body)), time.Now())
	require.NoError(t, err)
}

// A field the scheme does not read is a configuration mistake, named.
func TestConfigFieldsTheSchemeDoesNotRead(t *testing.T) {
	for _, c := range []struct {
		cfg  Config
		want string
	}{
		{Config{Scheme: GitHub, Secrets: []string{"k"}, SignedURL: "https://x.example/"}, "signed_url: not read"},
		{Config{Scheme: Stripe, Secrets: []string{"k"}, HandshakeToken: "t"}, "handshake_token: not read"},
		{Config{Scheme: Standard, Secrets: []string{goVector.secret}, Issuer: "https://i.example"}, "issuer: not read"},
		{Config{Scheme: HMACSHA256, Secrets: []string{"k"}, Audience: "a"}, "audience: not read"},
		{Config{Scheme: Dropbox, Secrets: []string{"k"}, JWKSURL: "https://x.example/jwks"}, "jwks_url: not read"},
		{Config{Scheme: Dropbox, Secrets: []string{"k"}, Claims: map[string]string{"email": "a"}}, "claims: not read"},
		{Config{Scheme: Dropbox, Secrets: []string{"k"}, Topics: []string{"arn:aws:sns:eu-west-1:1:t"}}, "topics: not read"},
		{Config{Scheme: Dropbox}, "secrets: at least one secret is required"},
		{Config{Scheme: Dropbox, Secrets: []string{"k "}}, "secret #1: has leading or trailing whitespace"},
		{Config{Scheme: Dropbox, Secrets: []string{"k"}, Tolerance: -time.Second}, "negative tolerance"},
	} {
		_, err := NewVerifier(c.cfg)
		require.ErrorContains(t, err, c.want, "%+v", c.cfg)
	}
}

func TestAcceptsGET(t *testing.T) {
	for _, s := range []string{"dropbox", "meta", "okta", "x"} {
		require.True(t, AcceptsGET(s), s)
	}
	for _, s := range []string{Standard, GitHub, Stripe, HMACSHA256, "slack", "", "DROPBOX"} {
		require.False(t, AcceptsGET(s), s)
	}
}

func TestConfigClient(t *testing.T) {
	require.Same(t, DefaultHTTPClient, Config{}.Client())
	require.NotZero(t, DefaultHTTPClient.Timeout, "outbound fetches are bounded")
	c := &http.Client{}
	require.Same(t, c, Config{HTTPClient: c}.Client())
}

// get is a GET to a source path with query q.
func get(q string) *Request {
	return &Request{Method: http.MethodGet, URL: &url.URL{Path: "/webhooks/src", RawQuery: q}, Header: http.Header{}}
}

// negCase spoils a valid request; the verifier must refuse it with want.
type negCase struct {
	name   string
	mutate func(r *Request)
	want   error
}

// runNegative checks that each case is refused with exactly its sentinel
// and a zero Delivery, and that the unspoiled request is accepted.
func runNegative(t *testing.T, v Verifier, good func() *Request, now time.Time, cases []negCase) {
	t.Helper()
	_, err := v.Verify(context.Background(), good(), now)
	require.NoError(t, err, "the unspoiled request verifies")
	for _, c := range cases {
		r := good()
		c.mutate(r)
		d, err := v.Verify(context.Background(), r, now)
		require.ErrorIs(t, err, c.want, c.name)
		n := 0
		for _, s := range Sentinels {
			if errors.Is(err, s) {
				n++
			}
		}
		require.Equal(t, 1, n, "%s: wraps exactly one sentinel: %v", c.name, err)
		require.Equal(t, Delivery{}, d, c.name)
	}
}

// cloneReq deep-copies what a mutation may touch.
func cloneReq(r *Request) *Request {
	c := *r
	c.Header = r.Header.Clone()
	c.Body = append([]byte(nil), r.Body...)
	if r.URL != nil {
		u := *r.URL
		c.URL = &u
	}
	return &c
}

// Mutations shared by the negative tables.
func setHeader(k, v string) func(*Request) { return func(r *Request) { r.Header.Set(k, v) } }
func delHeader(k string) func(*Request)    { return func(r *Request) { r.Header.Del(k) } }
func tamperBody(r *Request)                { r.Body = append(r.Body, ' ') }
func hugeHeader(k string) func(*Request) {
	return func(r *Request) { r.Header.Set(k, strings.Repeat("a", 10<<10)) }
}
