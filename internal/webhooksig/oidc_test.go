package webhooksig

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/rsa"
	"encoding/base64"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	jose "github.com/go-jose/go-jose/v4"
	"github.com/go-jose/go-jose/v4/jwt"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// JWKS tests run against a local JWKS server (TLS, trusted by the injected
// client); tokens are signed with keys generated here.

const (
	oidcIssuer   = "https://accounts.google.com"
	oidcAudience = "https://hooks.example.com/webhooks/pubsub"
	oidcEmail    = "pusher@project.iam.gserviceaccount.com"
)

type jwksServer struct {
	srv     *httptest.Server
	fetches atomic.Int64
	mu      sync.Mutex
	keys    []jose.JSONWebKey
	status  int
	raw     []byte // served as is when set
}

func newJWKSServer(t *testing.T, keys ...jose.JSONWebKey) *jwksServer {
	t.Helper()
	s := &jwksServer{keys: keys}
	s.srv = httptest.NewTLSServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		s.fetches.Add(1)
		s.mu.Lock()
		defer s.mu.Unlock()
		if s.status != 0 {
			w.WriteHeader(s.status)
			return
		}
		if s.raw != nil {
			_, _ = w.Write(s.raw)
			return
		}
		_ = json.NewEncoder(w).Encode(jose.JSONWebKeySet{Keys: s.keys})
	}))
	t.Cleanup(s.srv.Close)
	return s
}

func (s *jwksServer) serve(status int, keys ...jose.JSONWebKey) {
	s.mu.Lock()
	s.status, s.keys, s.raw = status, keys, nil
	s.mu.Unlock()
}

type oidcKey struct {
	priv any
	pub  jose.JSONWebKey
	alg  jose.SignatureAlgorithm
}

var (
	testRSAKey  = sync.OnceValues(func() (*rsa.PrivateKey, error) { return rsa.GenerateKey(rand.Reader, 2048) })
	testRSAKey2 = sync.OnceValues(func() (*rsa.PrivateKey, error) { return rsa.GenerateKey(rand.Reader, 2048) })
)

func rsaOIDCKey(t *testing.T, kid string, second bool) oidcKey {
	t.Helper()
	gen := testRSAKey
	if second {
		gen = testRSAKey2
	}
	k, err := gen()
	require.NoError(t, err)
	return oidcKey{priv: k, alg: jose.RS256, pub: jose.JSONWebKey{Key: &k.PublicKey, KeyID: kid, Algorithm: "RS256", Use: "sig"}}
}

func ecOIDCKey(t *testing.T, kid string) oidcKey {
	t.Helper()
	k, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	require.NoError(t, err)
	return oidcKey{priv: k, alg: jose.ES256, pub: jose.JSONWebKey{Key: &k.PublicKey, KeyID: kid, Use: "sig"}}
}

// googleClaims are the claims of a Pub/Sub push token
// (cloud.google.com/pubsub/docs/authenticate-push-subscriptions).
func googleClaims(now time.Time) map[string]any {
	return map[string]any{
		"iss": oidcIssuer, "aud": oidcAudience, "azp": "1234567890",
		"email": oidcEmail, "email_verified": true, "sub": "1234567890",
		"iat": now.Add(-time.Minute).Unix(), "exp": now.Add(time.Hour).Unix(),
	}
}

func (k oidcKey) token(t *testing.T, claims map[string]any) string {
	t.Helper()
	opts := (&jose.SignerOptions{}).WithType("JWT")
	if k.pub.KeyID != "" {
		opts = opts.WithHeader("kid", k.pub.KeyID)
	}
	sig, err := jose.NewSigner(jose.SigningKey{Algorithm: k.alg, Key: k.priv}, opts)
	require.NoError(t, err)
	tok, err := jwt.Signed(sig).Claims(claims).Serialize()
	require.NoError(t, err)
	return tok
}

const pubsubBody = `{"message":{"attributes":{"k":"v"},"data":"SGVsbG8=","messageId":"2070443601311540","message_id":"2070443601311540","publishTime":"2026-01-01T00:00:00.000Z"},"subscription":"projects/p/subscriptions/s"}`

func bearer(tok string) http.Header {
	h := http.Header{}
	h.Set("Authorization", "Bearer "+tok)
	return h
}

func newOIDCT(t *testing.T, s *jwksServer, claims map[string]string) *oidcVerifier {
	t.Helper()
	v, err := NewVerifier(Config{Scheme: OIDC, Issuer: oidcIssuer, Audience: oidcAudience, JWKSURL: s.srv.URL + "/jwks",
		Claims: claims, HTTPClient: s.srv.Client()})
	require.NoError(t, err)
	return v.(*oidcVerifier)
}

func TestOIDCVerifies(t *testing.T) {
	rk, ek := rsaOIDCKey(t, "r1", false), ecOIDCKey(t, "e1")
	s := newJWKSServer(t, rk.pub, ek.pub)
	v := newOIDCT(t, s, map[string]string{"email": oidcEmail, "email_verified": "true"})
	ctx := context.Background()
	for _, k := range []oidcKey{rk, ek} {
		d, err := v.Verify(ctx, asymReq(http.MethodPost, "", bearer(k.token(t, googleClaims(asymNow))), []byte(pubsubBody)), asymNow)
		require.NoError(t, err)
		assert.Equal(t, Delivery{ID: "2070443601311540", IDSigned: true, MAC: sha([]byte(pubsubBody))}, d)
	}
	// A generic sender: top-level id and type; "bearer" in any case.
	body := []byte(`{"id":"evt_1","type":"thing.done"}`)
	h := http.Header{}
	h.Set("Authorization", "bearer "+rk.token(t, googleClaims(asymNow)))
	d, err := v.Verify(ctx, asymReq(http.MethodPost, "", h, body), asymNow)
	require.NoError(t, err)
	assert.Equal(t, Delivery{ID: "evt_1", IDSigned: true, EventType: "thing.done", MAC: sha(body)}, d)
	// A body without an id: the content form.
	d, err = v.Verify(ctx, asymReq(http.MethodPost, "", bearer(rk.token(t, googleClaims(asymNow))), []byte("plain")), asymNow)
	require.NoError(t, err)
	assert.Equal(t, Delivery{MAC: sha([]byte("plain"))}, d)
	assert.EqualValues(t, 1, s.fetches.Load(), "one JWKS fetch serves every token")

	// A token without kid is tried against every key.
	nokid := rk
	nokid.pub.KeyID = ""
	_, err = v.Verify(ctx, asymReq(http.MethodPost, "", bearer(nokid.token(t, googleClaims(asymNow))), nil), asymNow)
	require.NoError(t, err)
}

func TestOIDCRejects(t *testing.T) {
	rk := rsaOIDCKey(t, "r1", false)
	s := newJWKSServer(t, rk.pub)
	v := newOIDCT(t, s, map[string]string{"email": oidcEmail, "email_verified": "true"})
	claims := func(edit func(c map[string]any)) string {
		c := googleClaims(asymNow)
		edit(c)
		return rk.token(t, c)
	}
	b64 := base64.RawURLEncoding.EncodeToString
	payload := b64([]byte(`{"iss":"` + oidcIssuer + `","aud":"` + oidcAudience + `","exp":9999999999,"email":"` + oidcEmail + `","email_verified":true}`))
	noneTok := b64([]byte(`{"alg":"none","typ":"JWT"}`)) + "." + payload + "."
	// HS256 keyed with the RSA public key's bytes: the classic confusion.
	hsSigner, err := jose.NewSigner(jose.SigningKey{Algorithm: jose.HS256, Key: rk.pub.Key.(*rsa.PublicKey).N.Bytes()}, (&jose.SignerOptions{}).WithHeader("kid", "r1"))
	require.NoError(t, err)
	hsTok, err := jwt.Signed(hsSigner).Claims(googleClaims(asymNow)).Serialize()
	require.NoError(t, err)
	good := rk.token(t, googleClaims(asymNow))
	parts := strings.Split(good, ".")
	tampered := parts[0] + "." + b64([]byte(`{"iss":"`+oidcIssuer+`","aud":"`+oidcAudience+`","exp":9999999999,"email":"x@evil.com","email_verified":true}`)) + "." + parts[2]
	other := rsaOIDCKey(t, "r1", true) // same kid, another key

	set := func(val string) func(r *Request) { return func(r *Request) { r.Header.Set("Authorization", val) } }
	mk := func() *Request { return asymReq(http.MethodPost, "", bearer(good), []byte(pubsubBody)) }
	runAsymCases(t, v, mk, []asymCase{
		{"wrong issuer", set("Bearer " + claims(func(c map[string]any) { c["iss"] = "https://issuer.example.com" })), ErrSignatureMismatch},
		{"wrong audience", set("Bearer " + claims(func(c map[string]any) { c["aud"] = "https://other.example.com" })), ErrSignatureMismatch},
		{"expired", set("Bearer " + claims(func(c map[string]any) { c["exp"] = asymNow.Add(-time.Second).Unix() })), ErrTimestampOutOfTolerance},
		{"not yet valid", set("Bearer " + claims(func(c map[string]any) { c["nbf"] = asymNow.Add(6 * time.Minute).Unix() })), ErrSignatureMismatch},
		{"required claim differs", set("Bearer " + claims(func(c map[string]any) { c["email"] = "other@example.com" })), ErrSignatureMismatch},
		{"required claim missing", set("Bearer " + claims(func(c map[string]any) { delete(c, "email_verified") })), ErrSignatureMismatch},
		{"required claim false", set("Bearer " + claims(func(c map[string]any) { c["email_verified"] = false })), ErrSignatureMismatch},
		{"required claim as a string", set("Bearer " + claims(func(c map[string]any) { c["email_verified"] = "True" })), ErrSignatureMismatch},
		{"alg none", set("Bearer " + noneTok), ErrMalformedSignature},
		{"alg HS256", set("Bearer " + hsTok), ErrMalformedSignature},
		{"tampered payload", set("Bearer " + tampered), ErrSignatureMismatch},
		{"signed by another key with the same kid", set("Bearer " + other.token(t, googleClaims(asymNow))), ErrSignatureMismatch},
		{"no Authorization", func(r *Request) { r.Header.Del("Authorization") }, ErrMissingSignature},
		{"empty bearer", set("Bearer "), ErrMissingSignature},
		{"Basic", set("Basic dXNlcjpwYXNz"), ErrMalformedSignature},
		{"bare token", set(good), ErrMalformedSignature},
		{"garbage token", set("Bearer not.a.jwt"), ErrMalformedSignature},
		{"oversized token", set("Bearer " + strings.Repeat("a", 9000)), ErrMalformedSignature},
		{"two Authorization headers", func(r *Request) { r.Header.Add("Authorization", "Bearer "+good) }, ErrMalformedSignature},
	})
	assert.EqualValues(t, 1, s.fetches.Load(), "bad tokens with a known kid cause no fetch")
}

// TestOIDCRotation: a token with a new kid refreshes the JWKS once; an
// unknown kid is refetched at most once per jwksMinInterval.
func TestOIDCRotation(t *testing.T) {
	k1, k2 := rsaOIDCKey(t, "k1", false), rsaOIDCKey(t, "k2", true)
	s := newJWKSServer(t, k1.pub)
	v := newOIDCT(t, s, nil)
	ctx := context.Background()
	verify := func(k oidcKey, now time.Time) error {
		_, err := v.Verify(ctx, asymReq(http.MethodPost, "", bearer(k.token(t, googleClaims(now))), nil), now)
		return err
	}
	now := asymNow
	require.NoError(t, verify(k1, now))
	assert.EqualValues(t, 1, s.fetches.Load())

	// The provider rotates to k2; the first k2 token refreshes the JWKS.
	s.serve(0, k2.pub)
	now = now.Add(jwksMinInterval)
	require.NoError(t, verify(k2, now))
	assert.EqualValues(t, 2, s.fetches.Load())
	require.NoError(t, verify(k2, now))
	assert.EqualValues(t, 2, s.fetches.Load())

	// A flood of unknown kids: one fetch per interval, whatever arrives.
	for i := 0; i < 20; i++ {
		err := verify(rsaOIDCKey(t, "random-"+string(rune('a'+i)), false), now.Add(time.Duration(i)*time.Second))
		wantSentinel(t, err, ErrSignatureMismatch)
	}
	assert.EqualValues(t, 2, s.fetches.Load(), "refetched within the interval")
	err := verify(rsaOIDCKey(t, "random-z", false), now.Add(jwksMinInterval))
	wantSentinel(t, err, ErrSignatureMismatch)
	assert.EqualValues(t, 3, s.fetches.Load(), "one refetch after the interval")

	// k1 was dropped by the provider: refused now.
	wantSentinel(t, verify(k1, now.Add(jwksMinInterval)), ErrSignatureMismatch)

	// The TTL: a known kid is refetched once the JWKS is older than jwksTTL.
	now = now.Add(jwksMinInterval + jwksTTL)
	require.NoError(t, verify(k2, now))
	assert.EqualValues(t, 4, s.fetches.Load())
}

func TestOIDCUnreachable(t *testing.T) {
	k1 := rsaOIDCKey(t, "k1", false)
	s := newJWKSServer(t, k1.pub)
	v := newOIDCT(t, s, nil)
	ctx := context.Background()
	verify := func(k oidcKey, now time.Time) error {
		_, err := v.Verify(ctx, asymReq(http.MethodPost, "", bearer(k.token(t, googleClaims(now))), nil), now)
		return err
	}
	now := asymNow

	// Never fetched and the JWKS fails: 503, whatever the token.
	s.serve(http.StatusBadGateway)
	wantSentinel(t, verify(k1, now), ErrUnavailable)
	wantSentinel(t, verify(k1, now.Add(time.Second)), ErrUnavailable)
	assert.EqualValues(t, 1, s.fetches.Load(), "a failed fetch is not retried within the interval")

	now = now.Add(jwksMinInterval)
	s.serve(0, k1.pub)
	require.NoError(t, verify(k1, now))

	// Server gone: cached keys keep verifying past the TTL (up to
	// jwksMaxStale); an unknown kid cannot be judged: 503.
	s.srv.Close()
	now = now.Add(jwksTTL + time.Second)
	require.NoError(t, verify(k1, now))
	wantSentinel(t, verify(rsaOIDCKey(t, "k9", true), now.Add(jwksMinInterval)), ErrUnavailable)
	wantSentinel(t, verify(k1, now.Add(jwksMaxStale+time.Minute)), ErrUnavailable)
}

func TestOIDCBadJWKS(t *testing.T) {
	k1 := rsaOIDCKey(t, "k1", false)
	for name, raw := range map[string]string{
		"not JSON":      `<html>`,
		"no keys":       `{"keys":[]}`,
		"only enc keys": `{"keys":[{"kty":"RSA","use":"enc","kid":"k1","n":"AQAB","e":"AQAB"}]}`,
		"symmetric key": `{"keys":[{"kty":"oct","kid":"k1","k":"c2VjcmV0"}]}`,
		"unknown kty":   `{"keys":[{"kty":"XYZ","kid":"k1"}]}`,
	} {
		t.Run(name, func(t *testing.T) {
			s := newJWKSServer(t)
			s.mu.Lock()
			s.raw = []byte(raw)
			s.mu.Unlock()
			v := newOIDCT(t, s, nil)
			_, err := v.Verify(context.Background(), asymReq(http.MethodPost, "", bearer(k1.token(t, googleClaims(asymNow))), nil), asymNow)
			wantSentinel(t, err, ErrUnavailable)
		})
	}
	// One odd entry does not hide the good one.
	s := newJWKSServer(t)
	good, err := json.Marshal(k1.pub)
	require.NoError(t, err)
	s.raw = []byte(`{"keys":[{"kty":"XYZ","kid":"x"},` + string(good) + `]}`)
	v := newOIDCT(t, s, nil)
	_, err = v.Verify(context.Background(), asymReq(http.MethodPost, "", bearer(k1.token(t, googleClaims(asymNow))), nil), asymNow)
	require.NoError(t, err)
}

func TestOIDCConcurrentFetchOnce(t *testing.T) {
	k1 := rsaOIDCKey(t, "k1", false)
	s := newJWKSServer(t, k1.pub)
	v := newOIDCT(t, s, nil)
	tok := k1.token(t, googleClaims(asymNow))
	var wg sync.WaitGroup
	for i := 0; i < 16; i++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			_, err := v.Verify(context.Background(), asymReq(http.MethodPost, "", bearer(tok), nil), asymNow)
			assert.NoError(t, err)
		}()
	}
	wg.Wait()
	assert.EqualValues(t, 1, s.fetches.Load())
}

func TestOIDCConfig(t *testing.T) {
	base := Config{Scheme: OIDC, Issuer: oidcIssuer, Audience: oidcAudience, JWKSURL: "https://www.googleapis.com/oauth2/v3/certs"}
	_, err := NewVerifier(base)
	require.NoError(t, err)
	for name, edit := range map[string]func(c *Config){
		"no issuer":     func(c *Config) { c.Issuer = "" },
		"no audience":   func(c *Config) { c.Audience = "" },
		"no jwks_url":   func(c *Config) { c.JWKSURL = "" },
		"http jwks_url": func(c *Config) { c.JWKSURL = "http://www.googleapis.com/oauth2/v3/certs" },
		"relative":      func(c *Config) { c.JWKSURL = "/certs" },
		"secrets":       func(c *Config) { c.Secrets = []string{"s"} },
		"topics":        func(c *Config) { c.Topics = []string{snsTopic} },
		"empty claim":   func(c *Config) { c.Claims = map[string]string{"": "x"} },
	} {
		c := base
		edit(&c)
		_, err := NewVerifier(c)
		assert.Error(t, err, name)
	}
}
