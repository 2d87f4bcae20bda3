package webhooksig

import (
	"crypto/ed25519"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"errors"
	"fmt"
	"hash"
	"strconv"
	"strings"
	"sync"
	"time"
)

// Canonical header keys (as http.Header stores them), so lookups are plain
// map reads.
const (
	hdrWebhookID        = "Webhook-Id"
	hdrWebhookTimestamp = "Webhook-Timestamp"
	hdrWebhookSignature = "Webhook-Signature"
	hdrSvixID           = "Svix-Id"
	hdrSvixTimestamp    = "Svix-Timestamp"
	hdrSvixSignature    = "Svix-Signature"
	hdrHubSignature256  = "X-Hub-Signature-256"
	hdrGitHubDelivery   = "X-Github-Delivery"
	hdrGitHubEvent      = "X-Github-Event"
	hdrStripeSignature  = "Stripe-Signature"
	hdrXSignature       = "X-Signature"
	hdrXEventType       = "X-Event-Type"
)

const (
	macSize   = sha256.Size           // 32
	b64MACLen = (macSize + 2) / 3 * 4 // 44: padded standard base64 of a MAC
	hexMACLen = 2 * macSize           // 64
	whsecPfx  = "whsec_"              // Standard Webhooks secret prefix
	whpkPfx   = "whpk_"               // Standard Webhooks Ed25519 public key prefix (v1a)
	whskPfx   = "whsk_"               // Standard Webhooks Ed25519 private key prefix
	minStdKey = 24                    // Standard Webhooks: secret at least 24 bytes
	maxStdKey = 64                    // ... and at most 64 (512 bits)
	sha256Pfx = "sha256="             // GitHub / optional hmac-sha256 prefix
	maxTSLen  = 18                    // digits; keeps parseUnix overflow-free
	// maxEntries bounds the work done on one signature header, whatever
	// its size: more entries than this is rejected as malformed.
	maxEntries = 64
	// maxCandidates bounds the decoded signatures kept (on the stack).
	maxCandidates = 16
)

// b64 is strict padded standard base64: non-canonical encodings (non-zero
// trailing bits) are rejected, so a decoded match means the exact canonical
// string was sent.
var b64 = base64.StdEncoding.Strict()

// parseSecret validates one secret for scheme and returns the HMAC key.
func parseSecret(scheme, s string) ([]byte, error) {
	if s == "" {
		return nil, errors.New("empty")
	}
	if scheme != Standard {
		// github, stripe, hmac-sha256: the key is the string's bytes as-is.
		if strings.TrimSpace(s) != s {
			return nil, errors.New("has leading or trailing whitespace (the key is the exact string; likely a configuration mistake)")
		}
		return []byte(s), nil
	}
	switch {
	case strings.HasPrefix(s, whskPfx):
		return nil, errors.New("is a whsk_ Ed25519 private key: a receiver needs only the sender's whpk_ public key; keep the private key out of the configuration")
	case strings.HasPrefix(s, whpkPfx):
		return nil, errors.New("is a whpk_ Ed25519 public key: it verifies v1a signatures and cannot sign")
	}
	enc := strings.TrimPrefix(s, whsecPfx)
	if enc == "" {
		return nil, errors.New("nothing after the whsec_ prefix")
	}
	if !isB64Alphabet(enc) {
		return nil, errors.New("not standard padded base64 (alphabet A-Z a-z 0-9 + /, '=' padding) after the optional whsec_ prefix")
	}
	key, err := b64.DecodeString(enc)
	if err != nil {
		return nil, errors.New("not standard padded base64 (alphabet A-Z a-z 0-9 + /, '=' padding) after the optional whsec_ prefix")
	}
	if len(key) < minStdKey || len(key) > maxStdKey {
		return nil, fmt.Errorf("decodes to %d bytes; Standard Webhooks keys are %d–%d bytes", len(key), minStdKey, maxStdKey)
	}
	return key, nil
}

// isB64Alphabet reports whether s holds only standard base64 characters.
// Go's decoder skips \r and \n; refusing them (and any other byte outside
// the alphabet) explicitly makes what is accepted exactly padded base64.
func isB64Alphabet(s string) bool {
	for i := 0; i < len(s); i++ {
		c := s[i]
		if !(c >= 'A' && c <= 'Z' || c >= 'a' && c <= 'z' || c >= '0' && c <= '9' || c == '+' || c == '/' || c == '=') {
			return false
		}
	}
	return true
}

// parseUnix parses canonical non-negative integer seconds: 1–18 ASCII
// digits, no sign, no leading zero (except "0"). Because only the canonical
// form is accepted, the header string is exactly what the sender formatted
// and can be fed to the MAC as is.
func parseUnix(s string) (int64, bool) {
	if len(s) == 0 || len(s) > maxTSLen || (len(s) > 1 && s[0] == '0') {
		return 0, false
	}
	var n int64
	for i := 0; i < len(s); i++ {
		c := s[i]
		if c < '0' || c > '9' {
			return 0, false
		}
		n = n*10 + int64(c-'0')
	}
	return n, true
}

func formatUnix(sec int64) string { return strconv.FormatInt(sec, 10) }

// checkTolerance accepts ts in [now-tol, now+tol].
func checkTolerance(ts int64, now time.Time, tol time.Duration) error {
	d := now.Sub(time.Unix(ts, 0)) // saturates on overflow
	switch {
	case d > tol:
		return fmt.Errorf("%w: timestamp %v in the past (tolerance %v)", ErrTimestampOutOfTolerance, d.Truncate(time.Second), tol)
	case d < -tol:
		return fmt.Errorf("%w: timestamp %v in the future (tolerance %v)", ErrTimestampOutOfTolerance, (-d).Truncate(time.Second), tol)
	}
	return nil
}

func first(vs []string) string {
	if len(vs) == 0 {
		return ""
	}
	return vs[0]
}

func containsByte(s string, b byte) bool { return strings.IndexByte(s, b) >= 0 }

// decodeHexMAC decodes exactly 64 hex digits (either case) into dst.
func decodeHexMAC(s string, dst *[macSize]byte) bool {
	if len(s) != hexMACLen {
		return false
	}
	var src [hexMACLen]byte
	copy(src[:], s)
	n, err := hex.Decode(dst[:], src[:])
	return err == nil && n == macSize
}

// decodeB64MAC decodes exactly 44 characters of strict padded base64 into dst.
func decodeB64MAC(s string, dst *[macSize]byte) bool {
	if len(s) != b64MACLen {
		return false
	}
	var src [b64MACLen]byte
	copy(src[:], s)
	var out [macSize + 1]byte // DecodedLen(44) == 33
	n, err := b64.Decode(out[:], src[:])
	if err != nil || n != macSize {
		return false
	}
	copy(dst[:], out[:macSize])
	return true
}

// b64SigLen is the length of a padded standard base64 Ed25519 signature.
const b64SigLen = (ed25519.SignatureSize + 2) / 3 * 4 // 88

// decodeB64Sig decodes exactly 88 characters of strict padded base64 into
// a 64-byte Ed25519 signature.
func decodeB64Sig(s string, dst *[ed25519.SignatureSize]byte) bool {
	if len(s) != b64SigLen {
		return false
	}
	var src [b64SigLen]byte
	copy(src[:], s)
	var out [ed25519.SignatureSize + 2]byte // DecodedLen(88) == 66
	n, err := b64.Decode(out[:], src[:])
	if err != nil || n != ed25519.SignatureSize {
		return false
	}
	copy(dst[:], out[:ed25519.SignatureSize])
	return true
}

func hexString(b []byte) string { return hex.EncodeToString(b) }

// computeMAC is the allocation-tolerant path used by Sign.
func computeMAC(key, prefix, body []byte) [macSize]byte {
	h := hmac.New(sha256.New, key)
	h.Write(prefix)
	h.Write(body)
	var out [macSize]byte
	h.Sum(out[:0])
	return out
}

// macer computes HMAC-SHA256 under each configured key with pooled state:
// after warm-up a verification allocates nothing for the MAC itself.
type macer struct {
	keys [][]byte
	pool sync.Pool // *macScratch
}

type macScratch struct {
	hs  []hash.Hash // one per key, created on first use, then Reset
	buf []byte      // signed-content prefix (e.g. "id.ts.")
	sum [macSize]byte
}

func newMACer(keys [][]byte) *macer {
	m := &macer{keys: keys}
	m.pool.New = func() any {
		return &macScratch{hs: make([]hash.Hash, len(keys)), buf: make([]byte, 0, 128)}
	}
	return m
}

func (m *macer) get() *macScratch  { return m.pool.Get().(*macScratch) }
func (m *macer) put(s *macScratch) { m.pool.Put(s) }

// sum computes the MAC of s.buf followed by body under key i.
func (m *macer) sum(s *macScratch, i int, body []byte) *[macSize]byte {
	h := s.hs[i]
	if h == nil {
		h = hmac.New(sha256.New, m.keys[i])
		s.hs[i] = h
	} else {
		h.Reset()
	}
	if len(s.buf) > 0 {
		h.Write(s.buf)
	}
	h.Write(body)
	h.Sum(s.sum[:0])
	return &s.sum
}

// match reports whether any candidate equals the MAC (content = s.buf+body)
// under any key. Each key's MAC is computed once; comparisons are
// constant-time. It stops at the first match, which s.sum then holds: the
// MAC under the first configured key that verifies.
func (m *macer) match(s *macScratch, body []byte, cands [][macSize]byte) bool {
	for i := range m.keys {
		mac := m.sum(s, i, body)
		for j := range cands {
			if hmac.Equal(mac[:], cands[j][:]) {
				return true
			}
		}
	}
	return false
}
