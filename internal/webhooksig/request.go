package webhooksig

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"net/url"
	"sort"
	"strings"
	"time"
)

// Request is what a verifier sees of one inbound request: everything a
// provider may sign (method, path and query as received, headers, the raw
// body byte for byte).
type Request struct {
	Method string   // "POST", "GET"
	URL    *url.URL // Path and RawQuery as the receiver received them
	Header http.Header
	Body   []byte
}

// Verifier checks one source's requests. Implementations are safe for
// concurrent use.
type Verifier interface {
	// Verify checks the request's signature at time now. On success it
	// returns what the request says about itself. ctx bounds any outbound
	// fetch the scheme needs (signing certificates, JWKS).
	Verify(ctx context.Context, r *Request, now time.Time) (Delivery, error)
}

// Response is an answer the receiver writes itself (a handshake's, or a
// delivery's Reply) instead of its JSON.
type Response struct {
	Status int
	Header http.Header
	Body   []byte
}

// Handshaker is implemented by verifiers whose provider confirms the
// endpoint before delivering. The receiver calls it (after source lookup,
// host/origin checks, size checks) before Verify; (nil, nil) means "not a
// handshake, verify as a delivery". A handshake publishes nothing. Errors
// wrap the same sentinels as Verify (401/400 mapping).
type Handshaker interface {
	Handshake(ctx context.Context, r *Request, now time.Time) (*Response, error)
}

// Config is everything a source may set for its scheme (the sources
// document's field names in brackets).
type Config struct {
	Scheme    string        // [scheme]
	Secrets   []string      // [secrets]
	Tolerance time.Duration // [tolerance]; 0: the scheme's documented window
	// SignedURL [signed_url] (square, twilio, hubspot): the URL configured
	// at the provider, byte for byte.
	SignedURL string
	// HandshakeToken [handshake_token]: meta's hub.verify_token, ...
	HandshakeToken string
	// Issuer, Audience, JWKSURL, Claims [issuer, audience, jwks_url,
	// claims]: oidc.
	Issuer, Audience, JWKSURL string
	Claims                    map[string]string
	// Topics [topics] (sns): the topic ARNs this source accepts.
	Topics []string
	// HTTPClient makes outbound fetches (SNS certificates, JWKS,
	// SubscribeURL); tests inject one. nil: DefaultHTTPClient.
	HTTPClient *http.Client
}

// DefaultHTTPClient is used for outbound fetches when Config.HTTPClient is
// nil: bounded connect, TLS and overall times, so a slow dependency gives
// ErrUnavailable instead of holding the request.
var DefaultHTTPClient = &http.Client{
	Timeout: 5 * time.Second,
	Transport: &http.Transport{
		Proxy:                 http.ProxyFromEnvironment,
		DialContext:           (&net.Dialer{Timeout: 2 * time.Second}).DialContext,
		TLSHandshakeTimeout:   2 * time.Second,
		ResponseHeaderTimeout: 3 * time.Second,
		MaxIdleConnsPerHost:   4,
		IdleConnTimeout:       90 * time.Second,
		ForceAttemptHTTP2:     true,
	},
}

// Client returns c.HTTPClient, or DefaultHTTPClient when it is nil.
func (c Config) Client() *http.Client {
	if c.HTTPClient != nil {
		return c.HTTPClient
	}
	return DefaultHTTPClient
}

// Field names of Config as the sources document writes them, for Uses.
const (
	FieldSecrets        = "secrets"
	FieldSignedURL      = "signed_url"
	FieldHandshakeToken = "handshake_token"
	FieldIssuer         = "issuer"
	FieldAudience       = "audience"
	FieldJWKSURL        = "jwks_url"
	FieldClaims         = "claims"
	FieldTopics         = "topics"
)

// Uses returns an error naming the first field that is set in c but not
// among fields (the ones the scheme reads): a signed_url on a github
// source is a configuration mistake, not something to ignore. Tolerance
// is not checked (every scheme accepts it; those that sign no timestamp
// ignore it, as documented).
func (c Config) Uses(fields ...string) error {
	set := map[string]bool{
		FieldSecrets:        len(c.Secrets) > 0,
		FieldSignedURL:      c.SignedURL != "",
		FieldHandshakeToken: c.HandshakeToken != "",
		FieldIssuer:         c.Issuer != "",
		FieldAudience:       c.Audience != "",
		FieldJWKSURL:        c.JWKSURL != "",
		FieldClaims:         len(c.Claims) > 0,
		FieldTopics:         len(c.Topics) > 0,
	}
	for _, f := range []string{FieldSecrets, FieldSignedURL, FieldHandshakeToken, FieldIssuer, FieldAudience, FieldJWKSURL, FieldClaims, FieldTopics} {
		if set[f] && !contains(fields, f) {
			return fmt.Errorf("webhooksig: %s: %s: not read by this scheme (it reads %s)", c.Scheme, f, readsList(fields))
		}
	}
	return nil
}

func readsList(fields []string) string {
	if len(fields) == 0 {
		return "none of the optional fields"
	}
	return strings.Join(fields, ", ")
}

func contains(list []string, s string) bool {
	for _, v := range list {
		if v == s {
			return true
		}
	}
	return false
}

// tolerance validates c.Tolerance and applies the scheme's default.
func (c Config) tolerance(def time.Duration) (time.Duration, error) {
	switch {
	case c.Tolerance < 0:
		return 0, fmt.Errorf("webhooksig: %s: negative tolerance %v", c.Scheme, c.Tolerance)
	case c.Tolerance == 0:
		return def, nil
	}
	return c.Tolerance, nil
}

// keys validates every secret with parse and returns the HMAC keys. The
// error names a secret by position (1-based), never by value.
func (c Config) keys(parse func(string) ([]byte, error)) ([][]byte, error) {
	return parseKeys(c, parse)
}

// parseKeys validates every secret with parse and returns the keys it
// gives (HMAC keys, public keys), in order. The error names a secret by
// position (1-based), never by value.
func parseKeys[K any](c Config, parse func(string) (K, error)) ([]K, error) {
	if len(c.Secrets) == 0 {
		return nil, fmt.Errorf("webhooksig: %s: secrets: at least one secret is required (none configured)", c.Scheme)
	}
	keys := make([]K, len(c.Secrets))
	for i, s := range c.Secrets {
		k, err := parse(s)
		if err != nil {
			return nil, fmt.Errorf("webhooksig: %s secret #%d: %w", c.Scheme, i+1, err)
		}
		keys[i] = k
	}
	return keys, nil
}

// rawSecret is the parser of schemes whose key is the secret string's
// bytes as configured.
func rawSecret(s string) ([]byte, error) {
	if s == "" {
		return nil, errors.New("empty")
	}
	if strings.TrimSpace(s) != s {
		return nil, errors.New("has leading or trailing whitespace (the key is the exact string; likely a configuration mistake)")
	}
	return []byte(s), nil
}

// NewVerifier builds the verifier of one source from its configuration,
// dispatching on c.Scheme through the schemes table (schemes.go).
func NewVerifier(c Config) (Verifier, error) {
	mk, ok := schemes[c.Scheme]
	if !ok {
		return nil, fmt.Errorf("webhooksig: unknown scheme %q (want one of %s)", c.Scheme, strings.Join(Schemes(), ", "))
	}
	return mk(c)
}

// Schemes lists the known scheme names, sorted.
func Schemes() []string {
	out := make([]string, 0, len(schemes))
	for s := range schemes {
		out = append(out, s)
	}
	sort.Strings(out)
	return out
}

// AcceptsGET reports whether scheme's provider confirms an endpoint with a
// GET (meta, x, dropbox, okta): only sources of these schemes are open to
// GET at the receiver, API Gateway and Cloudflare.
func AcceptsGET(scheme string) bool { return getHandshakes[scheme] }
