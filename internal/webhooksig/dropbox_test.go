package webhooksig

import (
	"context"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
)

// Dropbox publishes no test vector and no official Go SDK; this one was
// derived independently of this code:
//
//	printf '{"list_folder": {"accounts": ["dbid:AAH4f99T0taONIb-OurWxbNQ6ywGRopQngc"]}, "delta": {"users": [12345678]}}' \
//	  | openssl dgst -sha256 -hmac dropbox-app-secret
//
// (body in the shape of https://www.dropbox.com/developers/reference/webhooks).
var dropboxVector = struct{ secret, body, sig string }{
	"dropbox-app-secret",
	`{"list_folder": {"accounts": ["dbid:AAH4f99T0taONIb-OurWxbNQ6ywGRopQngc"]}, "delta": {"users": [12345678]}}`,
	"2bc2b96598b80c2f2083a056de14d73ef9555deb6d554f2332327d06a70734fc",
}

func dropboxRequest() *Request {
	return post(http.Header{"X-Dropbox-Signature": {dropboxVector.sig}}, []byte(dropboxVector.body))
}

func TestDropbox(t *testing.T) {
	v, err := NewVerifier(Config{Scheme: Dropbox, Secrets: []string{"rotated-new", dropboxVector.secret}})
	require.NoError(t, err)
	now := time.Now()
	d, err := v.Verify(context.Background(), dropboxRequest(), now)
	require.NoError(t, err)
	require.Equal(t, "", d.ID, "the body carries no id: the MAC names the event")
	require.False(t, d.IDSigned)
	require.Equal(t, mac([]byte(dropboxVector.secret), dropboxVector.body), d.MAC[:])

	upper := dropboxRequest()
	upper.Header.Set("X-Dropbox-Signature", "2BC2B96598B80C2F2083A056DE14D73EF9555DEB6D554F2332327D06A70734FC")
	_, err = v.Verify(context.Background(), upper, now)
	require.NoError(t, err, "hex in either case")

	wrong, err := NewVerifier(Config{Scheme: Dropbox, Secrets: []string{"other"}})
	require.NoError(t, err)
	_, err = wrong.Verify(context.Background(), dropboxRequest(), now)
	require.ErrorIs(t, err, ErrSignatureMismatch)

	runNegative(t, v, dropboxRequest, now, []negCase{
		{"tampered body", tamperBody, ErrSignatureMismatch},
		{"missing signature", delHeader("X-Dropbox-Signature"), ErrMissingSignature},
		{"empty signature", setHeader("X-Dropbox-Signature", ""), ErrMissingSignature},
		{"sha256= prefix (not Dropbox's form)", setHeader("X-Dropbox-Signature", "sha256="+dropboxVector.sig), ErrMalformedSignature},
		{"short hex", setHeader("X-Dropbox-Signature", dropboxVector.sig[:62]), ErrMalformedSignature},
		{"not hex", setHeader("X-Dropbox-Signature", "zz"+dropboxVector.sig[2:]), ErrMalformedSignature},
		{"oversized header", hugeHeader("X-Dropbox-Signature"), ErrMalformedSignature},
		{"other body's signature", setHeader("X-Dropbox-Signature", hexString(mac([]byte(dropboxVector.secret), "{}"))), ErrSignatureMismatch},
	})
}

func TestDropboxHandshake(t *testing.T) {
	v, err := NewVerifier(Config{Scheme: Dropbox, Secrets: []string{dropboxVector.secret}})
	require.NoError(t, err)
	hs := v.(Handshaker)
	ctx := context.Background()

	resp, err := hs.Handshake(ctx, get("challenge=abc123"), time.Now())
	require.NoError(t, err)
	require.Equal(t, 200, resp.Status)
	require.Equal(t, "abc123", string(resp.Body))
	require.Equal(t, "text/plain; charset=utf-8", resp.Header.Get("Content-Type"))
	require.Equal(t, "nosniff", resp.Header.Get("X-Content-Type-Options"))

	for _, q := range []string{"", "challenge=", "other=1", "challenge=" + strings.Repeat("a", maxChallenge+1)} {
		_, err := hs.Handshake(ctx, get(q), time.Now())
		require.ErrorIs(t, err, ErrMalformedRequest, q)
	}
	resp, err = hs.Handshake(ctx, dropboxRequest(), time.Now())
	require.NoError(t, err)
	require.Nil(t, resp, "a POST is a notification, not a handshake")
}
