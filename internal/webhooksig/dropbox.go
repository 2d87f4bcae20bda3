package webhooksig

import (
	"context"
	"fmt"
	"net/http"
	"time"
)

// Dropbox (a body-MAC provider, bodyProviders): X-Dropbox-Signature is the
// hex HMAC-SHA256 of the whole body keyed with the app secret. The endpoint
// is confirmed with GET ?challenge=…, echoed as text/plain with
// X-Content-Type-Options: nosniff
// (https://www.dropbox.com/developers/reference/webhooks).
type dropboxVerifier struct{ *bodyVerifier }

// maxChallenge bounds an echoed handshake value (dropbox, okta, msgraph:
// their challenges are tens of bytes).
const maxChallenge = 1024

// Handshake answers Dropbox's verification GET. Dropbox signs nothing in
// it; echoing the challenge only proves the endpoint wants the
// notifications, and the answer is plain text that browsers do not sniff.
func (v *dropboxVerifier) Handshake(_ context.Context, r *Request, _ time.Time) (*Response, error) {
	if r.Method != http.MethodGet {
		return nil, nil
	}
	ch := queryValue(r, "challenge")
	if ch == "" || len(ch) > maxChallenge {
		return nil, fmt.Errorf("%w: dropbox: GET without a challenge parameter of 1–%d bytes", ErrMalformedRequest, maxChallenge)
	}
	return textResponse(ch), nil
}

// textResponse is a 200 text/plain answer that is never sniffed as HTML.
func textResponse(s string) *Response {
	return &Response{Status: http.StatusOK, Header: http.Header{
		"Content-Type":           {"text/plain; charset=utf-8"},
		"X-Content-Type-Options": {"nosniff"},
	}, Body: []byte(s)}
}

// queryValue is the first value of a query parameter ("" when absent or
// when the query does not parse).
func queryValue(r *Request, key string) string {
	if r.URL == nil {
		return ""
	}
	return r.URL.Query().Get(key)
}
