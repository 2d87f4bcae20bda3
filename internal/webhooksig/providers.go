package webhooksig

import (
	"crypto/hmac"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"hash"
	"net/url"
	"strings"
	"time"
)

// Helpers shared by the provider catalog (one file per provider next to
// this one). They favour clarity over the zero-allocation paths of the
// original four schemes.

// keyset is a source's HMAC keys under one hash.
type keyset struct {
	keys [][]byte
	h    func() hash.Hash
}

func newKeyset(c Config, h func() hash.Hash) (keyset, error) {
	keys, err := c.keys(rawSecret)
	if err != nil {
		return keyset{}, err
	}
	return keyset{keys: keys, h: h}, nil
}

// sum is the HMAC of the concatenated parts under key i.
func (k keyset) sum(i int, parts ...[]byte) []byte {
	m := hmac.New(k.h, k.keys[i])
	for _, p := range parts {
		m.Write(p)
	}
	return m.Sum(nil)
}

// match computes the MAC of parts under each key in order and compares it,
// in constant time, with every candidate. It returns the MAC under the
// first key that verifies and that key's index.
func (k keyset) match(cands [][]byte, parts ...[]byte) ([]byte, int, bool) {
	for i := range k.keys {
		mac := k.sum(i, parts...)
		for _, c := range cands {
			if hmac.Equal(mac, c) {
				return mac, i, true
			}
		}
	}
	return nil, -1, false
}

// macID is what Delivery.MAC holds for a verified MAC: the MAC itself when
// it is 32 bytes (HMAC-SHA256), else its SHA-256 (the HMAC-SHA1 of twilio
// and intercom), so equal signed content always gives an equal MAC field.
func macID(mac []byte) [macSize]byte {
	var out [macSize]byte
	if len(mac) == macSize {
		copy(out[:], mac)
		return out
	}
	return sha256.Sum256(mac)
}

// macEncoding is how a provider writes a MAC in its header.
type macEncoding int

const (
	encHex macEncoding = iota // hex digits, either case
	encB64                    // strict padded standard base64
)

// decodeMAC decodes one MAC of size bytes written as enc: hex (either
// case, exactly 2*size digits) or strict padded standard base64.
func decodeMAC(s string, enc macEncoding, size int) ([]byte, bool) {
	switch enc {
	case encHex:
		if len(s) != 2*size {
			return nil, false
		}
		b, err := hex.DecodeString(s)
		return b, err == nil
	default:
		if len(s) != base64.StdEncoding.EncodedLen(size) {
			return nil, false
		}
		b, err := b64.DecodeString(s)
		return b, err == nil && len(b) == size
	}
}

// singleSig reads a header that holds one MAC after prefix (several header
// lines are several candidates, at most maxCandidates).
func singleSig(r *Request, header, prefix string, enc macEncoding, size int) ([][]byte, error) {
	vals := r.Header[header]
	var cands [][]byte
	malformed := 0
	for _, v := range vals {
		if v == "" {
			continue
		}
		if len(cands)+malformed >= maxCandidates {
			return nil, tooMany(header)
		}
		enc0, ok := strings.CutPrefix(v, prefix)
		if !ok {
			malformed++
			continue
		}
		b, ok := decodeMAC(enc0, enc, size)
		if !ok {
			malformed++
			continue
		}
		cands = append(cands, b)
	}
	switch {
	case len(cands) > 0:
		return cands, nil
	case malformed > 0:
		return nil, fmt.Errorf("%w: %s: not %s%s", ErrMalformedSignature, header, prefix, encName(enc))
	}
	return nil, fmt.Errorf("%w: no %s header", ErrMissingSignature, header)
}

func encName(enc macEncoding) string {
	if enc == encHex {
		return "<hex MAC>"
	}
	return "<base64 MAC>"
}

// kvSig parses a "k=v<sep>k=v" signature header (paddle's ts=…;h1=…,
// calendly's t=…,v1=…, pagerduty's v1=…,v1=…): the one tsKey value and
// every sigKey value decoded as enc. Other keys are ignored.
func kvSig(r *Request, header string, sep byte, tsKey, sigKey string, enc macEncoding) (ts string, cands [][]byte, err error) {
	vals := r.Header[header]
	if len(vals) == 0 || (len(vals) == 1 && vals[0] == "") {
		return "", nil, fmt.Errorf("%w: no %s header", ErrMissingSignature, header)
	}
	entries, malformed := 0, 0
	for _, v := range vals {
		for _, pair := range strings.Split(v, string(sep)) {
			pair = strings.TrimSpace(pair)
			entries++
			if entries > maxEntries {
				return "", nil, tooMany(header)
			}
			k, val, ok := strings.Cut(pair, "=")
			if !ok || k == "" {
				return "", nil, fmt.Errorf("%w: %s: element %d is not key=value", ErrMalformedSignature, header, entries)
			}
			switch k {
			case tsKey:
				if tsKey == "" {
					continue
				}
				if ts != "" {
					return "", nil, fmt.Errorf("%w: %s: more than one %s=", ErrMalformedSignature, header, tsKey)
				}
				if val == "" {
					return "", nil, fmt.Errorf("%w: %s: empty %s=", ErrMalformedSignature, header, tsKey)
				}
				ts = val
			case sigKey:
				if len(cands) >= maxCandidates {
					return "", nil, tooMany(header)
				}
				b, ok := decodeMAC(val, enc, macSize)
				if !ok {
					malformed++
					continue
				}
				cands = append(cands, b)
			}
		}
	}
	if tsKey != "" && ts == "" {
		return "", nil, fmt.Errorf("%w: %s: no %s= timestamp", ErrMalformedSignature, header, tsKey)
	}
	if len(cands) == 0 {
		if malformed > 0 {
			return "", nil, fmt.Errorf("%w: %s: %d %s= entries unparseable, none usable", ErrMalformedSignature, header, malformed, sigKey)
		}
		return "", nil, fmt.Errorf("%w: %s: no %s= signature", ErrMissingSignature, header, sigKey)
	}
	return ts, cands, nil
}

// unixHeader reads a required header of canonical integer seconds (or
// milliseconds with ms) and checks it against the tolerance.
func unixHeader(r *Request, header string, ms bool, now time.Time, tol time.Duration) (string, error) {
	s := first(r.Header[header])
	if s == "" {
		return "", fmt.Errorf("%w: no %s header", ErrMissingSignature, header)
	}
	return s, checkUnix(s, header, ms, now, tol)
}

func checkUnix(s, what string, ms bool, now time.Time, tol time.Duration) error {
	n, ok := parseUnix(s)
	if !ok {
		return fmt.Errorf("%w: %s is not canonical integer Unix %s", ErrMalformedSignature, what, unit(ms))
	}
	if ms {
		n /= 1000
	}
	return checkTolerance(n, now, tol)
}

func unit(ms bool) string {
	if ms {
		return "milliseconds"
	}
	return "seconds"
}

// jsonObject decodes a verified body as a JSON object into v; a body that
// is not one leaves v zero (ids and types then come from the MAC rule and
// "unknown"): what the provider signed is accepted whatever its shape.
func jsonObject(body []byte, v any) {
	_ = json.Unmarshal(body, v)
}

// jsonString is a JSON value that decodes to its string form: a string as
// is, a number in its literal digits, anything else "".
type jsonString string

func (s *jsonString) UnmarshalJSON(b []byte) error {
	if len(b) > 0 && b[0] == '"' {
		var v string
		if json.Unmarshal(b, &v) == nil {
			*s = jsonString(v)
		}
		return nil
	}
	var n json.Number
	if json.Unmarshal(b, &n) == nil {
		*s = jsonString(n.String())
	}
	return nil
}

// signedURL is the URL a provider signed: the configured signed_url
// without its query, then the query exactly as received (a proxy may
// rewrite scheme, host and path, never the query; for twilio's JSON
// deliveries the query carries bodySHA256). When the request has no query,
// signed_url is used as configured.
func signedURL(configured string, r *Request) string {
	if r.URL == nil || r.URL.RawQuery == "" {
		return configured
	}
	base, _, _ := strings.Cut(configured, "?")
	return base + "?" + r.URL.RawQuery
}

// checkSignedURL validates a signed_url setting.
func checkSignedURL(c Config) error {
	if c.SignedURL == "" {
		return fmt.Errorf("webhooksig: %s: signed_url: required (the notification URL configured at the provider, byte for byte)", c.Scheme)
	}
	u, err := url.Parse(c.SignedURL)
	if err != nil || (u.Scheme != "https" && u.Scheme != "http") || u.Host == "" {
		return fmt.Errorf("webhooksig: %s: signed_url: %q is not an absolute http(s) URL", c.Scheme, c.SignedURL)
	}
	return nil
}

// constantEqual compares two strings in constant time (for their length).
func constantEqual(a, b string) bool { return hmac.Equal([]byte(a), []byte(b)) }

func sha256New() hash.Hash { return sha256.New() }
