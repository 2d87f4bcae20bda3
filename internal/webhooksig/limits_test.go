package webhooksig

import (
	"context"
	"net/http"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"
)

// TestHandshakeLimitsAreInclusive: each echoed handshake value is answered
// at its bound exactly and refused one byte past it (the other tests only
// go far past the bound).
func TestHandshakeLimitsAreInclusive(t *testing.T) {
	ctx := context.Background()
	dropbox, err := NewVerifier(Config{Scheme: Dropbox, Secrets: []string{dropboxVector.secret}})
	require.NoError(t, err)
	pv := bodyVectors[7]
	x, err := NewVerifier(pv.config(pv.secret))
	require.NoError(t, err)
	okta := newTokenT(t, Okta, "my-shared-secret")
	graph := newTokenT(t, MSGraph, "secretClientValue")
	oktaAt := func(n int) *Request {
		r := oktaVerification()
		r.Header.Set(hdrOktaChallenge, strings.Repeat("c", n))
		return r
	}
	graphAt := func(n int) *Request {
		return asymReq(http.MethodPost, "validationToken="+strings.Repeat("a", n), nil, nil)
	}
	for _, c := range []struct {
		name  string
		v     Verifier
		limit int
		at    func(n int) *Request
	}{
		{"dropbox challenge", dropbox, maxChallenge, func(n int) *Request { return get("challenge=" + strings.Repeat("a", n)) }},
		{"x crc_token", x, maxCRCToken, func(n int) *Request { return get("crc_token=" + strings.Repeat("a", n)) }},
		{"okta challenge", okta, maxChallenge, oktaAt},
		{"msgraph validationToken", graph, maxChallenge, graphAt},
	} {
		t.Run(c.name, func(t *testing.T) {
			hs := c.v.(Handshaker)
			resp, err := hs.Handshake(ctx, c.at(c.limit), asymNow)
			require.NoError(t, err, "at the limit")
			require.NotNil(t, resp)
			require.Equal(t, http.StatusOK, resp.Status)
			resp, err = hs.Handshake(ctx, c.at(c.limit+1), asymNow)
			require.ErrorIs(t, err, ErrMalformedRequest, "one byte past the limit")
			require.Nil(t, resp)
		})
	}
}
