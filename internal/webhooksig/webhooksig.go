// Package webhooksig verifies and signs webhooks for the schemes hookline
// supports. The receiver verifies inbound requests with a Verifier; the
// processor signs its callbacks with Sign(Standard, ...).
//
// Schemes (names as written in the sources document):
//
//   - "standard": Standard Webhooks v1 and v1a. Signed content is
//     id + "." + timestamp + "." + body. v1: HMAC-SHA256 keyed with the
//     base64-decoded secret (optional "whsec_" prefix, 24–64 bytes); v1a:
//     Ed25519 under a "whpk_" public key (standard padded base64 of 32
//     bytes). A source may hold both kinds; a v1 entry is checked against
//     the symmetric secrets only, a v1a entry against the whpk_ keys only.
//     Headers webhook-id, webhook-timestamp (integer Unix seconds) and
//     webhook-signature (space-separated "v1,<base64>" / "v1a,<base64>"
//     entries; other versions, and a version the source has no key for,
//     are ignored). The svix-id, svix-timestamp and svix-signature names
//     are accepted when webhook-signature is absent.
//   - "github": X-Hub-Signature-256: sha256=<hex>, HMAC-SHA256 of the raw body
//     keyed with the secret's bytes; nothing else is signed (no timestamp).
//   - "stripe": Stripe-Signature: t=<unix>,v1=<hex>[,v1=<hex>...]; signed
//     content t + "." + body; the key is the whole secret string as bytes
//     (whsec_ prefix included, not decoded). Other keys (v0, ...) are ignored.
//   - "hmac-sha256": X-Signature: <hex> (an optional "sha256=" prefix is
//     accepted), HMAC-SHA256 of the raw body keyed with the secret's bytes.
//
// Timestamps (standard, stripe) are canonical decimal seconds and must lie
// within the tolerance on either side of now, bounds included. A signature
// header may hold at most 64 entries and 16 signatures; more is malformed. All signature comparisons are constant-time
// (hmac.Equal) over decoded MACs. Headers are read with their canonical keys,
// as net/http and http.Header.Set/Add store them.
//
// Every verification error wraps exactly one sentinel: ErrMissingSignature,
// ErrMalformedSignature, ErrSignatureMismatch or ErrTimestampOutOfTolerance
// (401 to the receiver), ErrMalformedRequest (400: a body or non-signature
// field the scheme must parse is malformed) or ErrUnavailable (503: a
// verification dependency is unreachable). Messages never contain secrets
// or signatures.
//
// NewVerifier builds a source's verifier from a Config through the table in
// schemes.go. Beyond the four above, the provider catalog (one file per
// family: bodyproviders.go, tsproviders.go, urlproviders.go, dropbox.go)
// is documented, provider by provider, in docs/schemes.md.
package webhooksig

import (
	"errors"
	"fmt"
	"net/http"
	"time"
)

// Scheme names as written in the sources document.
const (
	Standard   = "standard"
	GitHub     = "github"
	Stripe     = "stripe"
	HMACSHA256 = "hmac-sha256"
)

// DefaultTolerance is used by New when tolerance is 0; it is what the
// Standard Webhooks reference libraries and stripe-go use.
const DefaultTolerance = 5 * time.Minute

// Errors returned (wrapped, with detail) by Verify. All mean 401.
var (
	// ErrMissingSignature: a header the scheme requires is absent or empty,
	// or the signature header holds no signature of a supported version.
	ErrMissingSignature = errors.New("webhooksig: missing signature")
	// ErrMalformedSignature: a header is present but cannot be parsed
	// (bad timestamp, bad base64/hex, wrong length, garbage, too many entries).
	ErrMalformedSignature = errors.New("webhooksig: malformed signature")
	// ErrSignatureMismatch: well-formed signatures, none matches any secret.
	ErrSignatureMismatch = errors.New("webhooksig: signature mismatch")
	// ErrTimestampOutOfTolerance: the signed timestamp is too old or too far
	// in the future.
	ErrTimestampOutOfTolerance = errors.New("webhooksig: timestamp out of tolerance")
)

// Errors that are not signature failures.
var (
	// ErrMalformedRequest: the body, the query or a header that is not the
	// signature is not what the scheme defines (a form body that does not
	// parse, a handshake without its challenge): 400 to the receiver.
	ErrMalformedRequest = errors.New("webhooksig: malformed request")
	// ErrUnavailable: a verification dependency (a JWKS, an SNS signing
	// certificate) is unreachable, so the request could not be judged:
	// 503 with Retry-After to the receiver; the sender retries.
	ErrUnavailable = errors.New("webhooksig: verification dependency unavailable")
)

// Sentinels lists every error a Verify or Handshake error wraps exactly
// one of.
var Sentinels = []error{ErrMissingSignature, ErrMalformedSignature, ErrSignatureMismatch,
	ErrTimestampOutOfTolerance, ErrMalformedRequest, ErrUnavailable}

// Delivery is what a verified request tells about itself.
type Delivery struct {
	// ID is the provider's delivery id: webhook-id (or svix-id) for standard,
	// X-GitHub-Delivery for github, the body's JSON "id" for stripe; "" if none.
	// For github it comes from an unsigned header.
	ID string
	// IDSigned reports whether the signature covers ID (standard's
	// webhook-id, stripe's body id); false for github's X-GitHub-Delivery,
	// which anyone replaying a captured request can change, and when ID is "".
	IDSigned bool
	// EventType is the body's JSON "type" (standard, stripe), X-GitHub-Event
	// (github) or X-Event-Type (hmac-sha256); "" if none. Header-sourced
	// values are not covered by the signature.
	//
	// Body fields are top-level string members matched by exact key (the
	// last duplicate wins); a non-string value or a body that is not a JSON
	// object gives "" without failing verification.
	EventType string
	// MAC is the verified HMAC-SHA256 of the signed content: the signature
	// the sender sent that matched, under the first configured secret that
	// verifies. Equal requests give equal MACs, so it identifies what was
	// signed when no signed id does. It is signature material: do not log or
	// store it as is (envelope.EventID uses a digest of it).
	MAC [32]byte
	// Reply, when non-nil, is what the receiver answers once the broker has
	// confirmed the message, instead of its 202 (discord's interaction
	// responses).
	Reply *Response
}

// New builds a verifier for one source of scheme from its secrets and
// tolerance alone: NewVerifier(Config{Scheme: scheme, Secrets: secrets,
// Tolerance: tolerance}), kept for callers that need nothing else. secrets
// are the source's active secrets (rotation): a request is valid if any of
// them matches. Every secret is validated up front; the error names the
// offending secret by position (1-based), never by value. tolerance bounds
// the timestamp skew in both directions for schemes that sign a timestamp
// (0 means the scheme's documented window, DefaultTolerance where it
// documents none); schemes that sign no timestamp ignore it.
func New(scheme string, secrets []string, tolerance time.Duration) (Verifier, error) {
	return NewVerifier(Config{Scheme: scheme, Secrets: secrets, Tolerance: tolerance})
}

func newGitHub(c Config) (Verifier, error) {
	m, _, err := hmacSetup(c, rawSecret)
	if err != nil {
		return nil, err
	}
	return &githubVerifier{mac: m}, nil
}

func newStripe(c Config) (Verifier, error) {
	m, tol, err := hmacSetup(c, rawSecret)
	if err != nil {
		return nil, err
	}
	return &stripeVerifier{mac: m, tolerance: tol}, nil
}

func newHMACSHA256(c Config) (Verifier, error) {
	m, _, err := hmacSetup(c, rawSecret)
	if err != nil {
		return nil, err
	}
	return &hmacVerifier{mac: m}, nil
}

// hmacSetup is the common part of the HMAC-SHA256 schemes that read only
// secrets and tolerance: field check, tolerance (DefaultTolerance when 0),
// keys.
func hmacSetup(c Config, parse func(string) ([]byte, error), fields ...string) (*macer, time.Duration, error) {
	if err := c.Uses(append(fields, FieldSecrets)...); err != nil {
		return nil, 0, err
	}
	tol, err := c.tolerance(DefaultTolerance)
	if err != nil {
		return nil, 0, err
	}
	keys, err := c.keys(parse)
	if err != nil {
		return nil, 0, err
	}
	return newMACer(keys), tol, nil
}

// Sign produces the headers a sender of scheme would send with body, signed
// with one secret (validated as New does). id is used where the scheme
// carries one: standard (webhook-id, required, must not contain '.') and
// github (X-GitHub-Delivery, omitted when empty); stripe and hmac-sha256
// ignore it. ts is used by standard and stripe (whole seconds, not before
// 1970) and ignored by the others.
func Sign(scheme, secret, id string, ts time.Time, body []byte) (http.Header, error) {
	if err := checkScheme(scheme); err != nil {
		return nil, err
	}
	key, err := parseSecret(scheme, secret)
	if err != nil {
		return nil, fmt.Errorf("webhooksig: %s secret: %w", scheme, err)
	}
	h := make(http.Header, 3)
	switch scheme {
	case Standard:
		if id == "" {
			return nil, errors.New("webhooksig: standard: id is required (webhook-id)")
		}
		if containsByte(id, '.') {
			return nil, errors.New("webhooksig: standard: id must not contain '.' (it delimits the signed content)")
		}
		sec := ts.Unix()
		if sec < 0 {
			return nil, fmt.Errorf("webhooksig: standard: timestamp %d before 1970", sec)
		}
		tsStr := formatUnix(sec)
		mac := computeMAC(key, []byte(id+"."+tsStr+"."), body)
		h.Set(hdrWebhookID, id)
		h.Set(hdrWebhookTimestamp, tsStr)
		h.Set(hdrWebhookSignature, "v1,"+b64.EncodeToString(mac[:]))
	case GitHub:
		mac := computeMAC(key, nil, body)
		h.Set(hdrHubSignature256, "sha256="+hexString(mac[:]))
		if id != "" {
			h.Set(hdrGitHubDelivery, id)
		}
	case Stripe:
		sec := ts.Unix()
		if sec < 0 {
			return nil, fmt.Errorf("webhooksig: stripe: timestamp %d before 1970", sec)
		}
		tsStr := formatUnix(sec)
		mac := computeMAC(key, []byte(tsStr+"."), body)
		h.Set(hdrStripeSignature, "t="+tsStr+",v1="+hexString(mac[:]))
	default: // HMACSHA256
		mac := computeMAC(key, nil, body)
		h.Set(hdrXSignature, hexString(mac[:]))
	}
	return h, nil
}

// CheckSigningSecret validates secret as Sign would for scheme, without
// signing anything: a whpk_ public key verifies standard v1a signatures
// but cannot sign, so it is refused here while NewVerifier accepts it.
func CheckSigningSecret(scheme, secret string) error {
	if err := checkScheme(scheme); err != nil {
		return err
	}
	if _, err := parseSecret(scheme, secret); err != nil {
		return fmt.Errorf("webhooksig: %s secret: %w", scheme, err)
	}
	return nil
}

func checkScheme(scheme string) error {
	switch scheme {
	case Standard, GitHub, Stripe, HMACSHA256:
		return nil
	}
	return fmt.Errorf("webhooksig: Sign: unknown scheme %q (Sign signs %s, %s, %s or %s)",
		scheme, Standard, GitHub, Stripe, HMACSHA256)
}
