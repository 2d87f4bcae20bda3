package receiver_test

import (
	"bytes"
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/hookline/hookline/internal/envelope"
	"github.com/hookline/hookline/internal/sources"
	"github.com/hookline/hookline/internal/webhooksig"
	"github.com/hookline/hookline/lambda/receiver"
)

// request is a request to a source from Cloudflare (Host, origin header).
func request(method, target string, body []byte) *http.Request {
	r := httptest.NewRequest(method, target, bytes.NewReader(body))
	r.Host = host
	r.Header.Set(receiver.OriginHeader, originSecret)
	return r
}

func dropboxSig(secret string, body []byte) string {
	m := hmac.New(sha256.New, []byte(secret))
	m.Write(body)
	return hex.EncodeToString(m.Sum(nil))
}

// GET is let in only for the sources whose scheme confirms its endpoint
// with a GET (dropbox here), only as that handshake, and a handshake is
// answered by the receiver itself with nothing published, in both modes.
func TestGETHandshakeOnlyWhereTheSchemeDefinesIt(t *testing.T) {
	t.Parallel()
	body := []byte(`{"list_folder":{"accounts":["dbid:AAH4f99T0taONIb-OurWxbNQ6ywGRopQngc"]},"delta":{"users":[12345678]}}`)
	cases := []struct {
		name    string
		r       func() *http.Request
		status  int
		allow   string // a 405's Allow
		body    string // the exact answer, for handshakes
		publish bool
	}{
		{"dropbox challenge echoed", func() *http.Request { return request("GET", "/webhooks/dbx?challenge=abc123", nil) }, 200, "", "abc123", false},
		{"dropbox challenge with escapes", func() *http.Request {
			return request("GET", "/webhooks/dbx?challenge=%3Cscript%3E", nil)
		}, 200, "", "<script>", false},
		{"dropbox GET without challenge", func() *http.Request { return request("GET", "/webhooks/dbx", nil) }, 400, "", "", false},
		{"dropbox GET with an empty challenge", func() *http.Request { return request("GET", "/webhooks/dbx?challenge=", nil) }, 400, "", "", false},
		{"dropbox GET from outside Cloudflare", func() *http.Request {
			r := request("GET", "/webhooks/dbx?challenge=abc", nil)
			r.Header.Del(receiver.OriginHeader)
			return r
		}, 403, "", "", false},
		{"dropbox GET to the wrong host", func() *http.Request {
			r := request("GET", "/webhooks/dbx?challenge=abc", nil)
			r.Host = "evil.example.com"
			return r
		}, 403, "", "", false},
		{"dropbox GET with huge headers", func() *http.Request {
			r := request("GET", "/webhooks/dbx?challenge=abc", nil)
			r.Header.Set("X-Pad", strings.Repeat("p", 11000))
			return r
		}, 431, "", "", false},
		{"dropbox notification with the older secret", func() *http.Request {
			r := request("POST", "/webhooks/dbx", body)
			r.Header.Set("X-Dropbox-Signature", dropboxSig("dbx-old", body))
			return r
		}, 202, "", "", true},
		{"dropbox notification, wrong secret", func() *http.Request {
			r := request("POST", "/webhooks/dbx", body)
			r.Header.Set("X-Dropbox-Signature", dropboxSig("other", body))
			return r
		}, 401, "", "", false},
		{"dropbox PUT", func() *http.Request { return request("PUT", "/webhooks/dbx", body) }, 405, "GET, POST", "", false},
		{"github GET", func() *http.Request { return request("GET", "/webhooks/gh?challenge=abc", nil) }, 405, "POST", "", false},
		{"standard GET", func() *http.Request { return request("GET", "/webhooks/std", nil) }, 405, "POST", "", false},
	}
	for _, tr := range transports {
		t.Run(tr.name, func(t *testing.T) {
			t.Parallel()
			e := newEnv(t, "")
			for _, c := range cases {
				status, hdr, out := tr.send(t, e, c.r())
				require.Equal(t, c.status, status, "%s: %s", c.name, out)
				require.NotEmpty(t, hdr.Get("X-Request-Id"), c.name)
				if c.allow != "" {
					require.Equal(t, c.allow, hdr.Get("Allow"), c.name)
				}
				if c.body != "" {
					require.Equal(t, c.body, string(out), c.name)
					require.Equal(t, "text/plain; charset=utf-8", hdr.Get("Content-Type"), c.name)
					require.Equal(t, "nosniff", hdr.Get("X-Content-Type-Options"), c.name)
				} else {
					require.Equal(t, "application/json", hdr.Get("Content-Type"), c.name)
				}
				msgs := e.drain(t)
				if c.publish {
					require.Len(t, msgs, 1, c.name)
					require.Equal(t, body, msgs[0].Body)
				} else {
					require.Empty(t, msgs, "%s: nothing published", c.name)
				}
			}
			require.Contains(t, e.logs.String(), `"msg":"handshake answered"`)
		})
	}
}

// fakeVerifier returns what a test says, counting its calls.
type fakeVerifier struct {
	handshake      *webhooksig.Response
	handshakeErr   error
	delivery       webhooksig.Delivery
	verifyErr      error
	verifies, hand int
}

func (f *fakeVerifier) Verify(context.Context, *webhooksig.Request, time.Time) (webhooksig.Delivery, error) {
	f.verifies++
	return f.delivery, f.verifyErr
}

func (f *fakeVerifier) Handshake(_ context.Context, r *webhooksig.Request, _ time.Time) (*webhooksig.Response, error) {
	f.hand++
	return f.handshake, f.handshakeErr
}

// What a verifier can make the receiver do beyond 202/401: a reply instead
// of 202 once the broker confirmed, 503 with Retry-After when a
// verification dependency is down, 400 for a malformed request, a
// handshake's own answer, and a GET that is not a handshake refused.
func TestVerifierOutcomes(t *testing.T) {
	t.Parallel()
	reply := &webhooksig.Response{Status: 200, Header: http.Header{"Content-Type": {"application/json"}}, Body: []byte(`{"type":5}`)}
	cases := []struct {
		name        string
		f           fakeVerifier
		method, src string
		status      int
		body        string
		retryAfter  bool
		publish     bool
	}{
		{"reply after the confirm", fakeVerifier{delivery: webhooksig.Delivery{ID: "i-1", IDSigned: true, Reply: reply}}, "POST", "plain", 200, `{"type":5}`, false, true},
		{"reply 204", fakeVerifier{delivery: webhooksig.Delivery{ID: "i-2", IDSigned: true, Reply: &webhooksig.Response{Status: 204}}}, "POST", "plain", 204, "", false, true},
		{"verification dependency down", fakeVerifier{verifyErr: fmt.Errorf("jwks: %w", webhooksig.ErrUnavailable)}, "POST", "plain", 503, "", true, false},
		{"handshake dependency down", fakeVerifier{handshakeErr: fmt.Errorf("cert: %w", webhooksig.ErrUnavailable)}, "POST", "plain", 503, "", true, false},
		{"malformed body", fakeVerifier{verifyErr: fmt.Errorf("form: %w", webhooksig.ErrMalformedRequest)}, "POST", "plain", 400, "", false, false},
		{"malformed handshake", fakeVerifier{handshakeErr: fmt.Errorf("no token: %w", webhooksig.ErrMalformedRequest)}, "POST", "plain", 400, "", false, false},
		{"handshake with a bad signature", fakeVerifier{handshakeErr: fmt.Errorf("x: %w", webhooksig.ErrSignatureMismatch)}, "POST", "plain", 401, "", false, false},
		{"POST handshake answered", fakeVerifier{handshake: &webhooksig.Response{Status: 200, Header: http.Header{"Content-Type": {"text/plain"}}, Body: []byte("tok")}}, "POST", "plain", 200, "tok", false, false},
		{"a handshake answer that is not 2xx is a defect", fakeVerifier{handshake: &webhooksig.Response{Status: 401}}, "POST", "plain", 500, "", false, false},
		{"a reply that is not 2xx is a defect", fakeVerifier{delivery: webhooksig.Delivery{ID: "i-3", IDSigned: true, Reply: &webhooksig.Response{Status: 302}}}, "POST", "plain", 500, "", false, true},
		{"GET that is not a handshake", fakeVerifier{}, "GET", "dbx", 405, "", false, false},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			t.Parallel()
			e := newEnv(t, "")
			f := c.f
			receiver.SetVerifier(e.h, func(*sources.Source) webhooksig.Verifier { return &f })
			status, hdr, out := overHTTP(t, e, request(c.method, "/webhooks/"+c.src, []byte(`{}`)))
			require.Equal(t, c.status, status, string(out))
			if c.body != "" {
				require.Equal(t, c.body, string(out))
			}
			require.Equal(t, c.retryAfter, hdr.Get("Retry-After") != "", "Retry-After %q", hdr.Get("Retry-After"))
			msgs := e.drain(t)
			if c.publish {
				require.Len(t, msgs, 1)
				got, err := envelope.FromDelivery(msgs[0])
				require.NoError(t, err)
				require.True(t, strings.HasPrefix(got.ID, "i-"))
			} else {
				require.Empty(t, msgs)
			}
			if c.f.handshake != nil || c.f.handshakeErr != nil || c.method == "GET" {
				require.Zero(t, f.verifies, "Verify not called after a handshake or for a GET")
			} else {
				require.Equal(t, 1, f.verifies)
			}
			require.Equal(t, 1, f.hand, "Handshake called once, before Verify")
			if status >= 500 && status != 503 {
				var js map[string]string
				require.NoError(t, json.Unmarshal(out, &js))
				require.Equal(t, "internal error", js["error"])
			}
		})
	}
}
