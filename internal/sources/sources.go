// Package sources loads and validates the sources document of DESIGN.md: who
// may send webhooks, to which host, signed how, how big, and what the
// processor does with them. A document that is wrong fails at start-up with
// an error naming the source and the field.
package sources

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"net/url"
	"os"
	"regexp"
	"strings"
	"time"

	"sigs.k8s.io/yaml"

	"github.com/hookline/hookline/internal/webhooksig"
)

// Defaults and bounds for a source's fields.
const (
	DefaultMaxBodyBytes = 256 << 10
	// MaxBodyBytesLimit keeps a body inside Lambda's 6 MB invocation payload
	// even when API Gateway base64-encodes it (4/3 growth) with headers.
	MaxBodyBytesLimit = 4 << 20
	DefaultTolerance  = 5 * time.Minute
	MaxTolerance      = time.Hour
	minOriginSecret   = 32
)

// Document is the file as written (YAML or JSON, same keys).
type Document struct {
	// OriginSecrets are the values X-Origin-Verify may carry (Cloudflare
	// adds one); several at once let the header rotate without dropping
	// requests. OriginSecret, the older single key, is still read.
	OriginSecrets []string `json:"origin_secrets,omitempty"`
	OriginSecret  string   `json:"origin_secret,omitempty"`
	Sources       []Source `json:"sources"`
}

// Source is one sender of webhooks.
type Source struct {
	Name    string   `json:"name"`
	Hosts   []string `json:"hosts"`
	Scheme  string   `json:"scheme"`
	Secrets []string `json:"secrets"`
	// Tolerance is the configured replay window; 0 when the document sets
	// none: then the scheme's documented window applies (docs/schemes.md).
	Tolerance    time.Duration   `json:"-"`
	RawTolerance json.RawMessage `json:"tolerance,omitempty"` // "5m" or seconds
	MaxBodyBytes int64           `json:"max_body_bytes,omitempty"`
	EntityKey    string          `json:"entity_key,omitempty"`
	// OrderKey is a JSON pointer to the sender's order of events (a number
	// or an RFC 3339 time): the entity fence compares it before arrival.
	OrderKey    string `json:"order_key,omitempty"`
	CallbackURL string `json:"callback_url,omitempty"`
	// CallbackSecret signs the processor's callbacks (Standard Webhooks,
	// whsec_…). Separate from Secrets so a callback can never be replayed
	// into this receiver as a valid inbound webhook.
	CallbackSecret string `json:"callback_secret,omitempty"`
	// CallbackAllowPrivate lets the processor's callback client connect to
	// loopback, private, link-local and other non-public addresses for this
	// source (local development, tests). Off, such a connection is refused
	// when it is dialled, whatever the URL's host name resolves to.
	CallbackAllowPrivate bool `json:"callback_allow_private,omitempty"`

	// Scheme settings (docs/schemes.md says which scheme reads which; a
	// field the source's scheme does not read is an error).
	//
	// SignedURL is the URL configured at the provider, byte for byte, for
	// schemes that sign it (square, twilio, hubspot): not rebuilt from the
	// request, which proxies rewrite.
	SignedURL string `json:"signed_url,omitempty"`
	// HandshakeToken is the token of a provider's endpoint handshake (meta's
	// hub.verify_token).
	HandshakeToken string `json:"handshake_token,omitempty"`
	// Issuer, Audience, JWKSURL and Claims configure oidc bearer tokens.
	Issuer   string            `json:"issuer,omitempty"`
	Audience string            `json:"audience,omitempty"`
	JWKSURL  string            `json:"jwks_url,omitempty"`
	Claims   map[string]string `json:"claims,omitempty"`
	// Topics are the SNS topic ARNs an sns source accepts.
	Topics []string `json:"topics,omitempty"`

	verifier webhooksig.Verifier
	hosts    map[string]bool
	pointer  []string // parsed EntityKey
	// parsed OrderKey
	orderPointer []string
}

// parseDuration reads "5m" or a number of seconds.
func parseDuration(b json.RawMessage) (time.Duration, error) {
	var str string
	if err := json.Unmarshal(b, &str); err == nil {
		v, err := time.ParseDuration(str)
		if err != nil {
			return 0, fmt.Errorf("%q is not a duration like 5m or 300s", str)
		}
		return v, nil
	}
	var n float64
	if err := json.Unmarshal(b, &n); err != nil {
		return 0, errors.New("want a duration like 5m or a number of seconds")
	}
	return time.Duration(n * float64(time.Second)), nil
}

// Set is a validated document, ready for lookups.
type Set struct {
	// OriginSecrets are every accepted X-Origin-Verify value, newest first
	// (origin_secrets, then origin_secret); empty: no origin check.
	OriginSecrets []string
	// OriginSecret is the newest of them: what a sender of this document's
	// own requests (the demo script) puts in the header.
	OriginSecret string
	byName       map[string]*Source
	names        []string
	maxBody      int64
}

// Lookup finds a source by name (the last path segment of /webhooks/<name>).
func (s *Set) Lookup(name string) (*Source, bool) {
	src, ok := s.byName[name]
	return src, ok
}

// MaxBodyBytes is the largest max_body_bytes of any source: no request
// body larger than this can be accepted whatever its path.
func (s *Set) MaxBodyBytes() int64 { return s.maxBody }

// Names lists the sources in document order.
func (s *Set) Names() []string { return append([]string(nil), s.names...) }

// Verifier checks this source's signatures.
func (s *Source) Verifier() webhooksig.Verifier { return s.verifier }

// AcceptsGET reports whether the source's scheme confirms its endpoint
// with a GET handshake: only then are GET requests to its path let in.
func (s *Source) AcceptsGET() bool { return webhooksig.AcceptsGET(s.Scheme) }

// AllowsHost reports whether a request's Host header (port ignored, case
// folded) is one of the source's hosts.
func (s *Source) AllowsHost(host string) bool {
	if h, _, err := net.SplitHostPort(host); err == nil {
		host = h
	}
	return s.hosts[strings.ToLower(strings.TrimSuffix(host, "."))]
}

// LoadFile reads and validates a document from a file.
func LoadFile(path string) (*Set, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("sources: %w", err)
	}
	set, err := Parse(b)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	return set, nil
}

var (
	nameRE = regexp.MustCompile(`^[a-z0-9][a-z0-9_-]{0,62}$`)
	hostRE = regexp.MustCompile(`^([a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?\.)*[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?$`)
)

// Parse validates a document (YAML or JSON). Unknown keys are errors, so a
// typo cannot silently switch a check off.
func Parse(b []byte) (*Set, error) {
	if len(bytes.TrimSpace(b)) == 0 {
		return nil, errors.New("sources: document is empty")
	}
	var doc Document
	if err := yaml.UnmarshalStrict(b, &doc); err != nil {
		return nil, fmt.Errorf("sources: %w", err)
	}
	origins, err := originSecrets(doc)
	if err != nil {
		return nil, err
	}
	if len(doc.Sources) == 0 {
		return nil, errors.New("sources: sources: at least one source is required")
	}
	set := &Set{OriginSecrets: origins, byName: make(map[string]*Source, len(doc.Sources))}
	if len(origins) > 0 {
		set.OriginSecret = origins[0]
	}
	for i := range doc.Sources {
		src := &doc.Sources[i]
		label := fmt.Sprintf("sources[%d]", i)
		if src.Name != "" {
			label = fmt.Sprintf("source %q", src.Name)
		}
		if err := src.validate(); err != nil {
			return nil, fmt.Errorf("sources: %s: %w", label, err)
		}
		if _, dup := set.byName[src.Name]; dup {
			return nil, fmt.Errorf("sources: %s: name: defined twice", label)
		}
		set.byName[src.Name] = src
		set.names = append(set.names, src.Name)
		set.maxBody = max(set.maxBody, src.MaxBodyBytes)
	}
	return set, nil
}

func (s *Source) validate() error {
	if !nameRE.MatchString(s.Name) {
		return errors.New("name: must be 1-63 characters of a-z, 0-9, '-' or '_', starting with a letter or digit")
	}
	if len(s.Hosts) == 0 {
		return errors.New("hosts: at least one host is required")
	}
	s.hosts = make(map[string]bool, len(s.Hosts))
	for _, h := range s.Hosts {
		h = strings.ToLower(h)
		if !hostRE.MatchString(h) || len(h) > 253 {
			return fmt.Errorf("hosts: %q is not a host name (no scheme, port or path)", h)
		}
		s.hosts[h] = true
	}
	s.Tolerance = 0
	if len(s.RawTolerance) > 0 {
		tol, err := parseDuration(s.RawTolerance)
		if err != nil {
			return fmt.Errorf("tolerance: %w", err)
		}
		if tol < time.Second || tol > MaxTolerance {
			return fmt.Errorf("tolerance: %v is outside 1s..%v", tol, MaxTolerance)
		}
		s.Tolerance = tol
	}
	switch {
	case s.MaxBodyBytes == 0:
		s.MaxBodyBytes = DefaultMaxBodyBytes
	case s.MaxBodyBytes < 0 || s.MaxBodyBytes > MaxBodyBytesLimit:
		return fmt.Errorf("max_body_bytes: %d is outside 1..%d", s.MaxBodyBytes, MaxBodyBytesLimit)
	}
	if s.EntityKey != "" {
		p, err := parsePointer(s.EntityKey)
		if err != nil {
			return fmt.Errorf("entity_key: %w", err)
		}
		s.pointer = p
	}
	if s.OrderKey != "" {
		p, err := parsePointer(s.OrderKey)
		if err != nil {
			return fmt.Errorf("order_key: %w", err)
		}
		s.orderPointer = p
	}
	if s.CallbackURL != "" {
		if err := checkCallbackURL(s.CallbackURL); err != nil {
			return fmt.Errorf("callback_url: %w", err)
		}
	}
	if s.CallbackURL != "" && s.CallbackSecret == "" {
		return errors.New("callback_secret: required with callback_url (a Standard Webhooks whsec_ secret of its own)")
	}
	if s.CallbackAllowPrivate && s.CallbackURL == "" {
		return errors.New("callback_allow_private: set without callback_url")
	}
	if s.CallbackSecret != "" {
		if s.CallbackURL == "" {
			return errors.New("callback_secret: set without callback_url")
		}
		if err := webhooksig.CheckSigningSecret(webhooksig.Standard, s.CallbackSecret); err != nil {
			return fmt.Errorf("callback_secret: %w", err)
		}
		for _, in := range s.Secrets {
			if in == s.CallbackSecret {
				return errors.New("callback_secret: must differ from every inbound secret (a callback would verify as an inbound webhook)")
			}
		}
	}
	if s.Scheme == "" {
		return errors.New("scheme: required: one of " + strings.Join(webhooksig.Schemes(), ", "))
	}
	v, err := webhooksig.NewVerifier(webhooksig.Config{
		Scheme: s.Scheme, Secrets: s.Secrets, Tolerance: s.Tolerance,
		SignedURL: s.SignedURL, HandshakeToken: s.HandshakeToken,
		Issuer: s.Issuer, Audience: s.Audience, JWKSURL: s.JWKSURL, Claims: s.Claims,
		Topics: s.Topics,
	})
	if err != nil {
		return fmt.Errorf("scheme %s: %w", s.Scheme, err)
	}
	s.verifier = v
	return nil
}

// checkCallbackURL requires https, except plain http to a loopback host for
// local development.
func checkCallbackURL(raw string) error {
	u, err := url.Parse(raw)
	if err != nil || u.Host == "" {
		return fmt.Errorf("%q is not an absolute URL", raw)
	}
	switch u.Scheme {
	case "https":
		return nil
	case "http":
		if ip := net.ParseIP(u.Hostname()); u.Hostname() == "localhost" || (ip != nil && ip.IsLoopback()) {
			return nil
		}
	}
	return fmt.Errorf("%q must be https (http only to a loopback host)", raw)
}

// originSecrets merges origin_secrets and origin_secret, newest first,
// without duplicates; each must be long enough to be unguessable.
func originSecrets(doc Document) ([]string, error) {
	var out []string
	seen := map[string]bool{}
	for i, v := range append(append([]string(nil), doc.OriginSecrets...), doc.OriginSecret) {
		key := fmt.Sprintf("origin_secrets[%d]", i)
		if i == len(doc.OriginSecrets) {
			if v == "" {
				break
			}
			key = "origin_secret"
		}
		if len(v) < minOriginSecret {
			return nil, fmt.Errorf("sources: %s: must be at least %d characters", key, minOriginSecret)
		}
		if !seen[v] {
			seen[v] = true
			out = append(out, v)
		}
	}
	return out, nil
}
