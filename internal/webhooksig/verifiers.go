package webhooksig

import (
	"context"
	"fmt"
	"strings"
	"time"
)

// sigTally counts what a signature-header parser saw, for the error detail.
type sigTally struct {
	entries   int // non-empty entries
	malformed int // entries of the supported version (or unparseable) that did not decode
	other     int // entries of other versions, ignored
	n         int // decoded candidates
}

// full reports whether no more candidates can be stored.
func (t *sigTally) full() bool { return t.n >= maxCandidates }

// outcome turns a parse result with zero candidates into an error.
func (t *sigTally) noCandidates(header, version string) error {
	if t.malformed > 0 {
		return fmt.Errorf("%w: %s: %d of %d entries unparseable, none usable", ErrMalformedSignature, header, t.malformed, t.entries)
	}
	return fmt.Errorf("%w: %s: no %s signature among %d entries (other versions are ignored)", ErrMissingSignature, header, version, t.entries)
}

// isVersion reports whether s looks like a signature version tag:
// "v" followed by lowercase letters and digits (v1, v1a, v2).
func isVersion(s string) bool {
	if len(s) < 2 || len(s) > 8 || s[0] != 'v' {
		return false
	}
	for i := 1; i < len(s); i++ {
		if c := s[i]; !(c >= '0' && c <= '9' || c >= 'a' && c <= 'z') {
			return false
		}
	}
	return true
}

func tooMany(header string) error {
	return fmt.Errorf("%w: %s: more than %d entries or %d signatures", ErrMalformedSignature, header, maxEntries, maxCandidates)
}

// ---- standard ---------------------------------------------------------------

type standardVerifier struct {
	mac       *macer
	tolerance time.Duration
}

func (v *standardVerifier) Verify(_ context.Context, r *Request, now time.Time) (Delivery, error) {
	h, body := r.Header, r.Body
	sigName, idKey, tsKey := "webhook-signature", hdrWebhookID, hdrWebhookTimestamp
	sigs := h[hdrWebhookSignature]
	if len(sigs) == 0 {
		sigName, idKey, tsKey = "svix-signature", hdrSvixID, hdrSvixTimestamp
		sigs = h[hdrSvixSignature]
	}
	if len(sigs) == 0 {
		return Delivery{}, fmt.Errorf("%w: no webhook-signature (or svix-signature) header", ErrMissingSignature)
	}
	prefix := sigName[:len(sigName)-len("signature")]
	id := first(h[idKey])
	if id == "" {
		return Delivery{}, fmt.Errorf("%w: %sid header missing or empty", ErrMissingSignature, prefix)
	}
	tsStr := first(h[tsKey])
	if tsStr == "" {
		return Delivery{}, fmt.Errorf("%w: %stimestamp header missing or empty", ErrMissingSignature, prefix)
	}
	ts, ok := parseUnix(tsStr)
	if !ok {
		return Delivery{}, fmt.Errorf("%w: %stimestamp is not canonical integer Unix seconds", ErrMalformedSignature, prefix)
	}
	if err := checkTolerance(ts, now, v.tolerance); err != nil {
		return Delivery{}, err
	}

	var cands [maxCandidates][macSize]byte
	var t sigTally
	for _, val := range sigs {
		for len(val) > 0 {
			var tok string
			if sp := strings.IndexByte(val, ' '); sp >= 0 {
				tok, val = val[:sp], val[sp+1:]
			} else {
				tok, val = val, ""
			}
			if tok == "" {
				continue
			}
			t.entries++
			if t.entries > maxEntries {
				return Delivery{}, tooMany(sigName)
			}
			comma := strings.IndexByte(tok, ',')
			if comma <= 0 || !isVersion(tok[:comma]) {
				t.malformed++
				continue
			}
			if tok[:comma] != "v1" {
				t.other++ // v1a (ed25519), future versions
				continue
			}
			if t.full() {
				return Delivery{}, tooMany(sigName)
			}
			if !decodeB64MAC(tok[comma+1:], &cands[t.n]) {
				t.malformed++
				continue
			}
			t.n++
		}
	}
	if t.n == 0 {
		return Delivery{}, t.noCandidates(sigName, "v1")
	}

	s := v.mac.get()
	s.buf = append(append(append(append(s.buf[:0], id...), '.'), tsStr...), '.')
	ok = v.mac.match(s, body, cands[:t.n])
	mac := s.sum
	v.mac.put(s)
	if !ok {
		return Delivery{}, fmt.Errorf("%w: %s: none of %d v1 signatures matches", ErrSignatureMismatch, sigName, t.n)
	}
	_, typ := bodyFields(body, false)
	return Delivery{ID: id, IDSigned: true, EventType: typ, MAC: mac}, nil
}

// ---- github -------------------------------------------------------------------

type githubVerifier struct{ mac *macer }

func (v *githubVerifier) Verify(_ context.Context, r *Request, now time.Time) (Delivery, error) {
	h, body := r.Header, r.Body
	vals := h[hdrHubSignature256]
	if len(vals) == 0 || (len(vals) == 1 && vals[0] == "") {
		if len(h["X-Hub-Signature"]) > 0 {
			return Delivery{}, fmt.Errorf("%w: no X-Hub-Signature-256 header (SHA-1 X-Hub-Signature is not accepted)", ErrMissingSignature)
		}
		return Delivery{}, fmt.Errorf("%w: no X-Hub-Signature-256 header", ErrMissingSignature)
	}
	cands, t, err := hexCandidates(vals, "X-Hub-Signature-256", true)
	if err != nil {
		return Delivery{}, err
	}
	mac, ok := verifyBodyOnly(v.mac, body, cands[:t.n])
	if !ok {
		return Delivery{}, fmt.Errorf("%w: X-Hub-Signature-256: none of %d signatures matches", ErrSignatureMismatch, t.n)
	}
	return Delivery{ID: first(h[hdrGitHubDelivery]), EventType: first(h[hdrGitHubEvent]), MAC: mac}, nil
}

// verifyBodyOnly matches candidates against MACs of the body alone and
// returns the one that matched.
func verifyBodyOnly(m *macer, body []byte, cands [][macSize]byte) ([macSize]byte, bool) {
	s := m.get()
	s.buf = s.buf[:0]
	ok := m.match(s, body, cands)
	mac := s.sum
	m.put(s)
	return mac, ok
}

// hexCandidates decodes each header value as one hex MAC, with the
// "sha256=" prefix required (requirePrefix) or optional.
func hexCandidates(vals []string, name string, requirePrefix bool) ([maxCandidates][macSize]byte, sigTally, error) {
	var cands [maxCandidates][macSize]byte
	var t sigTally
	for _, val := range vals {
		if val == "" {
			continue
		}
		t.entries++
		if t.entries > maxEntries || t.full() {
			return cands, t, tooMany(name)
		}
		if strings.HasPrefix(val, sha256Pfx) {
			val = val[len(sha256Pfx):]
		} else if requirePrefix {
			if i := strings.IndexByte(val, '='); i >= 0 && i <= 16 {
				t.other++ // e.g. "sha1=...": another algorithm
			} else {
				t.malformed++
			}
			continue
		}
		if !decodeHexMAC(val, &cands[t.n]) {
			t.malformed++
			continue
		}
		t.n++
	}
	if t.n == 0 {
		if t.entries == 0 {
			return cands, t, fmt.Errorf("%w: %s header empty", ErrMissingSignature, name)
		}
		return cands, t, t.noCandidates(name, "sha256")
	}
	return cands, t, nil
}

// ---- hmac-sha256 --------------------------------------------------------------

type hmacVerifier struct{ mac *macer }

func (v *hmacVerifier) Verify(_ context.Context, r *Request, now time.Time) (Delivery, error) {
	h, body := r.Header, r.Body
	vals := h[hdrXSignature]
	if len(vals) == 0 {
		return Delivery{}, fmt.Errorf("%w: no X-Signature header", ErrMissingSignature)
	}
	cands, t, err := hexCandidates(vals, "X-Signature", false)
	if err != nil {
		return Delivery{}, err
	}
	mac, ok := verifyBodyOnly(v.mac, body, cands[:t.n])
	if !ok {
		return Delivery{}, fmt.Errorf("%w: X-Signature: none of %d signatures matches", ErrSignatureMismatch, t.n)
	}
	return Delivery{EventType: first(h[hdrXEventType]), MAC: mac}, nil
}

// ---- stripe -------------------------------------------------------------------

type stripeVerifier struct {
	mac       *macer
	tolerance time.Duration
}

func (v *stripeVerifier) Verify(_ context.Context, r *Request, now time.Time) (Delivery, error) {
	h, body := r.Header, r.Body
	const name = "Stripe-Signature"
	vals := h[hdrStripeSignature]
	if len(vals) == 0 || (len(vals) == 1 && vals[0] == "") {
		return Delivery{}, fmt.Errorf("%w: no Stripe-Signature header", ErrMissingSignature)
	}
	var cands [maxCandidates][macSize]byte
	var t sigTally
	tsStr := ""
	for _, val := range vals {
		// Split like strings.Split: "a,b," has an empty third element,
		// which is malformed (as in stripe-go).
		for more := true; more; {
			var pair string
			if c := strings.IndexByte(val, ','); c >= 0 {
				pair, val = val[:c], val[c+1:]
			} else {
				pair, more = val, false
			}
			t.entries++
			if t.entries > maxEntries {
				return Delivery{}, tooMany(name)
			}
			eq := strings.IndexByte(pair, '=')
			if eq <= 0 {
				return Delivery{}, fmt.Errorf("%w: %s: element %d is not key=value", ErrMalformedSignature, name, t.entries)
			}
			key, value := pair[:eq], pair[eq+1:]
			switch key {
			case "t":
				if tsStr != "" {
					return Delivery{}, fmt.Errorf("%w: %s: more than one t=", ErrMalformedSignature, name)
				}
				if value == "" {
					return Delivery{}, fmt.Errorf("%w: %s: empty t=", ErrMalformedSignature, name)
				}
				tsStr = value
			case "v1":
				if t.full() {
					return Delivery{}, tooMany(name)
				}
				if !decodeHexMAC(value, &cands[t.n]) {
					t.malformed++
					continue
				}
				t.n++
			default:
				t.other++ // v0 and anything else: ignored
			}
		}
	}
	if tsStr == "" {
		return Delivery{}, fmt.Errorf("%w: %s: no t= timestamp", ErrMalformedSignature, name)
	}
	ts, ok := parseUnix(tsStr)
	if !ok {
		return Delivery{}, fmt.Errorf("%w: %s: t is not canonical integer Unix seconds", ErrMalformedSignature, name)
	}
	if t.n == 0 {
		return Delivery{}, t.noCandidates(name, "v1")
	}
	if err := checkTolerance(ts, now, v.tolerance); err != nil {
		return Delivery{}, err
	}
	s := v.mac.get()
	s.buf = append(append(s.buf[:0], tsStr...), '.')
	ok = v.mac.match(s, body, cands[:t.n])
	mac := s.sum
	v.mac.put(s)
	if !ok {
		return Delivery{}, fmt.Errorf("%w: %s: none of %d v1 signatures matches", ErrSignatureMismatch, name, t.n)
	}
	id, typ := bodyFields(body, true)
	return Delivery{ID: id, IDSigned: id != "", EventType: typ, MAC: mac}, nil
}
