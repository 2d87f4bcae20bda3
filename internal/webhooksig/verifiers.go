package webhooksig

import (
	"context"
	"crypto/ed25519"
	"errors"
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

// maxAsymCandidates bounds the v1a entries of one header: each costs an
// Ed25519 verification per whpk_ key (tens of microseconds, against well
// under one for an HMAC), so an unauthenticated header must not buy many.
// A sender signs once per active key pair; four covers a rotation with room.
const maxAsymCandidates = 4

type standardVerifier struct {
	mac       *macer              // whsec_ keys: v1 (HMAC-SHA256)
	pub       []ed25519.PublicKey // whpk_ keys: v1a (Ed25519)
	tolerance time.Duration
}

// stdKey is one parsed secret of a standard source: an HMAC key (whsec_,
// or bare base64) or an Ed25519 public key (whpk_).
type stdKey struct {
	hmac []byte
	pub  ed25519.PublicKey
}

func newStandard(c Config) (Verifier, error) {
	if err := c.Uses(FieldSecrets); err != nil {
		return nil, err
	}
	tol, err := c.tolerance(DefaultTolerance)
	if err != nil {
		return nil, err
	}
	keys, err := parseKeys(c, parseStandardKey)
	if err != nil {
		return nil, err
	}
	var macKeys [][]byte
	var pub []ed25519.PublicKey
	for _, k := range keys {
		if k.pub != nil {
			pub = append(pub, k.pub)
		} else {
			macKeys = append(macKeys, k.hmac)
		}
	}
	return &standardVerifier{mac: newMACer(macKeys), pub: pub, tolerance: tol}, nil
}

// parseStandardKey reads one secret of a standard source: "whpk_" + the
// standard padded base64 of a 32-byte Ed25519 public key (v1a), anything
// else a symmetric secret as parseSecret reads it (v1).
func parseStandardKey(s string) (stdKey, error) {
	if strings.HasPrefix(s, whpkPfx) {
		enc := s[len(whpkPfx):]
		if enc == "" {
			return stdKey{}, errors.New("nothing after the whpk_ prefix")
		}
		if !isB64Alphabet(enc) {
			return stdKey{}, errors.New("not standard padded base64 (alphabet A-Z a-z 0-9 + /, '=' padding) after the whpk_ prefix")
		}
		k, err := b64.DecodeString(enc)
		if err != nil {
			return stdKey{}, errors.New("not standard padded base64 (alphabet A-Z a-z 0-9 + /, '=' padding) after the whpk_ prefix")
		}
		if len(k) != ed25519.PublicKeySize {
			return stdKey{}, fmt.Errorf("whpk_ key decodes to %d bytes; an Ed25519 public key is %d bytes", len(k), ed25519.PublicKeySize)
		}
		return stdKey{pub: ed25519.PublicKey(k)}, nil
	}
	k, err := parseSecret(Standard, s)
	if err != nil {
		return stdKey{}, err
	}
	return stdKey{hmac: k}, nil
}

// versions names the signature versions v checks, for error details.
func (v *standardVerifier) versions() string {
	switch {
	case len(v.pub) == 0:
		return "v1"
	case len(v.mac.keys) == 0:
		return "v1a"
	}
	return "v1 or v1a"
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
	var asyms [maxAsymCandidates][ed25519.SignatureSize]byte
	na := 0
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
			switch tok[:comma] {
			case "v1":
				if len(v.mac.keys) == 0 {
					t.other++ // no whsec_ secret: v1 cannot verify here
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
			case "v1a":
				if len(v.pub) == 0 {
					t.other++ // no whpk_ key: v1a cannot verify here
					continue
				}
				if na == maxAsymCandidates {
					return Delivery{}, fmt.Errorf("%w: %s: more than %d v1a signatures", ErrMalformedSignature, sigName, maxAsymCandidates)
				}
				if !decodeB64Sig(tok[comma+1:], &asyms[na]) {
					t.malformed++
					continue
				}
				na++
			default:
				t.other++ // future versions
			}
		}
	}
	if t.n == 0 && na == 0 {
		return Delivery{}, t.noCandidates(sigName, v.versions())
	}

	if t.n > 0 {
		s := v.mac.get()
		s.buf = append(append(append(append(s.buf[:0], id...), '.'), tsStr...), '.')
		ok = v.mac.match(s, body, cands[:t.n])
		mac := s.sum
		v.mac.put(s)
		if ok {
			_, typ := bodyFields(body, false)
			return Delivery{ID: id, IDSigned: true, EventType: typ, MAC: mac}, nil
		}
	}
	if na > 0 && v.matchAsym(id, tsStr, body, asyms[:na]) {
		_, typ := bodyFields(body, false)
		return Delivery{ID: id, IDSigned: true, EventType: typ, MAC: contentDigest(body)}, nil
	}
	return Delivery{}, fmt.Errorf("%w: %s: none of %d v1 and %d v1a signatures matches", ErrSignatureMismatch, sigName, t.n, na)
}

// matchAsym reports whether any v1a signature verifies id.ts.body under
// any whpk_ key.
func (v *standardVerifier) matchAsym(id, tsStr string, body []byte, sigs [][ed25519.SignatureSize]byte) bool {
	msg := make([]byte, 0, len(id)+len(tsStr)+2+len(body))
	msg = append(append(append(append(append(msg, id...), '.'), tsStr...), '.'), body...)
	for _, k := range v.pub {
		for i := range sigs {
			if ed25519.Verify(k, msg, sigs[i][:]) {
				return true
			}
		}
	}
	return false
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
