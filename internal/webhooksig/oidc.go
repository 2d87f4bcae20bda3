package webhooksig

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"sort"
	"strings"
	"sync"
	"time"

	"github.com/coreos/go-oidc/v3/oidc"
	jose "github.com/go-jose/go-jose/v4"
)

// OIDC verifies a JWT in Authorization: Bearer against a JWKS: Google Cloud
// Pub/Sub push subscriptions, and any sender that signs its requests with
// an OpenID Connect identity. Source fields: issuer (the token's iss,
// exactly), audience (one of its aud), jwks_url (https), optional claims
// (each claim must equal the given value: a JSON string compared as text,
// a boolean or number by its JSON text, e.g. email_verified: "true").
//
// Claims are checked by github.com/coreos/go-oidc/v3 (iss, aud, exp, nbf
// with its 5-minute leeway), signatures by github.com/go-jose/go-jose/v4;
// "none" and HMAC algorithms are refused. The JWKS is hookline's own cache
// (go-oidc's RemoteKeySet refetches on every unknown key, with no TTL and
// no bound): keys are used for jwksTTL, refetched early for an unknown kid,
// and the JWKS is never fetched more than once per jwksMinInterval,
// whatever tokens arrive. An unreachable JWKS gives ErrUnavailable (503,
// the sender retries) unless the token's key is cached from a fetch within
// jwksMaxStale; a bad token gives a 401 sentinel.
//
// The token authenticates the sender, not the body: a token captured with
// a request can be sent with another body until it expires (its exp is the
// replay window; about an hour for Google). The id is the body's
// message.messageId (Pub/Sub) or top-level "id", authenticated as much as
// the body is; the type is the top-level "type".
const OIDC = "oidc"

const (
	jwksTTL         = 15 * time.Minute
	jwksMinInterval = 30 * time.Second
	jwksMaxStale    = 24 * time.Hour
	jwksFetchLimit  = 5 * time.Second
	maxJWKSBytes    = 1 << 20
	maxBearerLen    = 8 << 10
)

// oidcAlgs are the asymmetric JWS algorithms accepted.
var oidcAlgs = []string{
	oidc.RS256, oidc.RS384, oidc.RS512, oidc.PS256, oidc.PS384, oidc.PS512,
	oidc.ES256, oidc.ES384, oidc.ES512, oidc.EdDSA,
}

type oidcVerifier struct {
	issuer, audience string
	claims           map[string]string
	jwks             *jwksCache
}

func newOIDC(c Config) (Verifier, error) {
	if err := c.Uses(FieldIssuer, FieldAudience, FieldJWKSURL, FieldClaims); err != nil {
		return nil, err
	}
	switch {
	case c.Issuer == "":
		return nil, fmt.Errorf("webhooksig: %s: issuer is required (the tokens' iss)", c.Scheme)
	case c.Audience == "":
		return nil, fmt.Errorf("webhooksig: %s: audience is required (without it any token of the issuer would do)", c.Scheme)
	case c.JWKSURL == "":
		return nil, fmt.Errorf("webhooksig: %s: jwks_url is required", c.Scheme)
	}
	u, err := url.Parse(c.JWKSURL)
	if err != nil || u.Scheme != "https" || u.Host == "" || u.User != nil {
		return nil, fmt.Errorf("webhooksig: %s: jwks_url %q is not an https URL", c.Scheme, c.JWKSURL)
	}
	for k := range c.Claims {
		if k == "" {
			return nil, fmt.Errorf("webhooksig: %s: claims has an empty claim name", c.Scheme)
		}
	}
	return &oidcVerifier{
		issuer:   c.Issuer,
		audience: c.Audience,
		claims:   c.Claims,
		jwks:     &jwksCache{url: u.String(), client: c.Client()},
	}, nil
}

func (v *oidcVerifier) Verify(ctx context.Context, r *Request, now time.Time) (Delivery, error) {
	auth, err := singleHeader(r.Header, hdrAuthorization, hdrAuthorization)
	if err != nil {
		return Delivery{}, err
	}
	scheme, tok, _ := strings.Cut(auth, " ")
	if !strings.EqualFold(scheme, "Bearer") {
		return Delivery{}, fmt.Errorf("%w: Authorization is not a Bearer token", ErrMalformedSignature)
	}
	if tok == "" {
		return Delivery{}, fmt.Errorf("%w: empty Bearer token", ErrMissingSignature)
	}
	if len(tok) > maxBearerLen {
		return Delivery{}, fmt.Errorf("%w: Bearer token longer than %d bytes", ErrMalformedSignature, maxBearerLen)
	}
	call := &oidcCall{v: v, now: now}
	verifier := oidc.NewVerifier(v.issuer, call, &oidc.Config{
		ClientID:             v.audience,
		SupportedSigningAlgs: oidcAlgs,
		Now:                  func() time.Time { return now },
	})
	idt, err := verifier.Verify(ctx, tok)
	if err != nil {
		var expired *oidc.TokenExpiredError
		switch {
		case call.err != nil:
			return Delivery{}, call.err // the key set's own sentinel (unavailable, mismatch)
		case errors.As(err, &expired):
			return Delivery{}, fmt.Errorf("%w: oidc: token expired at %s", ErrTimestampOutOfTolerance, expired.Expiry.UTC().Format(time.RFC3339))
		case !call.called:
			return Delivery{}, fmt.Errorf("%w: oidc: %v", ErrMalformedSignature, err)
		}
		return Delivery{}, fmt.Errorf("%w: oidc: %v", ErrSignatureMismatch, err)
	}
	if err := v.checkClaims(idt); err != nil {
		return Delivery{}, err
	}
	d := Delivery{MAC: contentDigest(r.Body)}
	if m, ok := jsonMembers(r.Body); ok {
		if msg, ok := jsonMembers(m["message"]); ok {
			d.ID = memberString(msg["messageId"])
		}
		if d.ID == "" {
			d.ID = memberString(m["id"])
		}
		d.EventType = memberString(m["type"])
	}
	d.IDSigned = d.ID != ""
	return d, nil
}

func (v *oidcVerifier) checkClaims(idt *oidc.IDToken) error {
	if len(v.claims) == 0 {
		return nil
	}
	var got map[string]json.RawMessage
	if err := idt.Claims(&got); err != nil {
		return fmt.Errorf("%w: oidc: claims: %v", ErrMalformedSignature, err)
	}
	names := make([]string, 0, len(v.claims))
	for k := range v.claims {
		names = append(names, k)
	}
	sort.Strings(names) // the first failing claim is reported, deterministically
	for _, k := range names {
		raw, ok := got[k]
		if !ok {
			return fmt.Errorf("%w: oidc: token has no %q claim", ErrSignatureMismatch, k)
		}
		val := string(raw)
		if len(raw) > 0 && raw[0] == '"' {
			val = memberString(raw)
		}
		if val != v.claims[k] {
			return fmt.Errorf("%w: oidc: claim %q is not the required value", ErrSignatureMismatch, k)
		}
	}
	return nil
}

// oidcCall is the oidc.KeySet of one verification: it verifies with the
// cached JWKS and keeps its own error, which go-oidc flattens to text.
type oidcCall struct {
	v      *oidcVerifier
	now    time.Time
	called bool
	err    error
}

func (c *oidcCall) VerifySignature(ctx context.Context, jwt string) ([]byte, error) {
	c.called = true
	payload, err := c.v.jwks.verify(ctx, jwt, c.now)
	c.err = err
	return payload, err
}

// jwksCache holds one JWKS. Fetches are serialised; each attempt, failed
// or not, starts a jwksMinInterval during which no other is made.
type jwksCache struct {
	url    string
	client *http.Client

	fetchMu sync.Mutex // held during a fetch

	mu        sync.Mutex // guards the fields below
	keys      []jose.JSONWebKey
	fetched   time.Time // last successful fetch
	attempted time.Time // last attempt
	lastErr   error     // of the last attempt
}

func (c *jwksCache) verify(ctx context.Context, jwt string, now time.Time) ([]byte, error) {
	algs := make([]jose.SignatureAlgorithm, len(oidcAlgs))
	for i, a := range oidcAlgs {
		algs[i] = jose.SignatureAlgorithm(a)
	}
	jws, err := jose.ParseSignedCompact(jwt, algs) // a JWT is compact serialization (RFC 7519 §1)
	if err != nil {
		return nil, fmt.Errorf("%w: oidc: token: %v", ErrMalformedSignature, err)
	}
	if len(jws.Signatures) != 1 {
		return nil, fmt.Errorf("%w: oidc: token has %d signatures, want 1", ErrMalformedSignature, len(jws.Signatures))
	}
	hdr := jws.Signatures[0].Header
	keys, err := c.lookup(ctx, hdr.KeyID, now)
	if err != nil {
		return nil, err
	}
	for _, k := range keys {
		if k.Algorithm != "" && k.Algorithm != hdr.Algorithm {
			continue
		}
		if payload, err := jws.Verify(k); err == nil {
			return payload, nil
		}
	}
	return nil, fmt.Errorf("%w: oidc: token signature does not verify under the JWKS key(s) for kid %q", ErrSignatureMismatch, clip(hdr.KeyID, 64))
}

// lookup returns the cached keys a token with kid may be signed by (all of
// them when kid is ""), fetching the JWKS when it is older than jwksTTL or
// lacks kid, at most once per jwksMinInterval.
func (c *jwksCache) lookup(ctx context.Context, kid string, now time.Time) ([]jose.JSONWebKey, error) {
	keys, fresh, _ := c.state(kid, now)
	if len(keys) > 0 && fresh {
		return keys, nil
	}
	// Slow path: wait for a fetch in flight (its result may have kid),
	// then fetch if none was made within the interval.
	c.fetchMu.Lock()
	if keys, fresh, mayFetch := c.state(kid, now); !(len(keys) > 0 && fresh) && mayFetch {
		c.refresh(ctx, now)
	}
	c.fetchMu.Unlock()
	keys, _, _ = c.state(kid, now)
	c.mu.Lock()
	defer c.mu.Unlock()
	if len(keys) > 0 && now.Sub(c.fetched) <= jwksMaxStale {
		return keys, nil // current, or stale while the JWKS is unreachable
	}
	if c.lastErr != nil || c.fetched.IsZero() {
		return nil, fmt.Errorf("%w: oidc: JWKS %s: %v", ErrUnavailable, c.url, c.lastErr)
	}
	if len(keys) > 0 {
		return nil, fmt.Errorf("%w: oidc: JWKS %s last fetched %s ago", ErrUnavailable, c.url, now.Sub(c.fetched).Truncate(time.Second))
	}
	return nil, fmt.Errorf("%w: oidc: no key with kid %q in the JWKS", ErrSignatureMismatch, clip(kid, 64))
}

// state reports the cached keys for kid, whether the JWKS is within its
// TTL, and whether a fetch is allowed now.
func (c *jwksCache) state(kid string, now time.Time) (keys []jose.JSONWebKey, fresh, mayFetch bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	for _, k := range c.keys {
		if kid == "" || k.KeyID == kid {
			keys = append(keys, k)
		}
	}
	fresh = !c.fetched.IsZero() && now.Sub(c.fetched) < jwksTTL
	mayFetch = c.attempted.IsZero() || now.Sub(c.attempted) >= jwksMinInterval
	return keys, fresh, mayFetch
}

// refresh fetches the JWKS once. Called with fetchMu held.
func (c *jwksCache) refresh(ctx context.Context, now time.Time) {
	c.mu.Lock()
	c.attempted = now
	c.mu.Unlock()
	// Not cut short by the request that triggered it (its result serves
	// every request), only by its own deadline.
	fctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), jwksFetchLimit)
	defer cancel()
	keys, err := c.fetch(fctx)
	c.mu.Lock()
	defer c.mu.Unlock()
	c.lastErr = err
	if err == nil {
		c.keys, c.fetched = keys, now
	}
}

func (c *jwksCache) fetch(ctx context.Context) ([]jose.JSONWebKey, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, c.url, nil)
	if err != nil {
		return nil, err
	}
	req.Header.Set("Accept", "application/json")
	resp, err := c.client.Do(req)
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return nil, fmt.Errorf("HTTP %d", resp.StatusCode)
	}
	body, err := io.ReadAll(io.LimitReader(resp.Body, maxJWKSBytes+1))
	if err != nil {
		return nil, err
	}
	if len(body) > maxJWKSBytes {
		return nil, fmt.Errorf("larger than %d bytes", maxJWKSBytes)
	}
	var set struct {
		Keys []json.RawMessage `json:"keys"`
	}
	if err := json.Unmarshal(body, &set); err != nil {
		return nil, errors.New("not a JWKS (JSON with \"keys\")")
	}
	keys := make([]jose.JSONWebKey, 0, len(set.Keys))
	for _, raw := range set.Keys {
		var k jose.JSONWebKey
		// Keys of kinds go-jose does not know, encryption keys and
		// symmetric keys are skipped, not fatal: one odd entry must not
		// stop the others from verifying.
		if k.UnmarshalJSON(raw) != nil || !k.Valid() || !k.IsPublic() || k.Use == "enc" {
			continue
		}
		keys = append(keys, k)
	}
	if len(keys) == 0 {
		return nil, errors.New("JWKS holds no usable public signing key")
	}
	return keys, nil
}
