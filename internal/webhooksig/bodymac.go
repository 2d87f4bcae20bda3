package webhooksig

import (
	"context"
	"fmt"
	"strings"
	"time"
)

// macEncoding is how a provider writes a MAC in its header.
type macEncoding int

const (
	encHex macEncoding = iota // 64 hex digits, either case
	encB64                    // strict padded standard base64 (44 characters)
)

// bodyMAC is the shape most providers share: HMAC-SHA256 of the raw body
// alone, keyed with the secret's bytes, in one header (optionally after a
// fixed prefix such as "sha256="). Nothing else is signed, so there is no
// replay window: such requests are only deduplicated (docs/schemes.md).
type bodyMAC struct {
	mac    *macer
	header string // canonical key
	prefix string // required before the MAC ("" for none)
	enc    macEncoding
	// fields reads the delivery's id and type from the verified request.
	fields func(r *Request) (id string, idSigned bool, typ string)
}

func (v *bodyMAC) Verify(_ context.Context, r *Request, _ time.Time) (Delivery, error) {
	vals := r.Header[v.header]
	if len(vals) == 0 || (len(vals) == 1 && vals[0] == "") {
		return Delivery{}, fmt.Errorf("%w: no %s header", ErrMissingSignature, v.header)
	}
	var cands [maxCandidates][macSize]byte
	var t sigTally
	for _, val := range vals {
		if val == "" {
			continue
		}
		t.entries++
		if t.entries > maxEntries || t.full() {
			return Delivery{}, tooMany(v.header)
		}
		enc, ok := strings.CutPrefix(val, v.prefix)
		if !ok {
			t.malformed++
			continue
		}
		if v.enc == encB64 {
			ok = decodeB64MAC(enc, &cands[t.n])
		} else {
			ok = decodeHexMAC(enc, &cands[t.n])
		}
		if !ok {
			t.malformed++
			continue
		}
		t.n++
	}
	if t.n == 0 {
		return Delivery{}, t.noCandidates(v.header, "HMAC-SHA256")
	}
	mac, ok := verifyBodyOnly(v.mac, r.Body, cands[:t.n])
	if !ok {
		return Delivery{}, fmt.Errorf("%w: %s: none of %d signatures matches", ErrSignatureMismatch, v.header, t.n)
	}
	d := Delivery{MAC: mac}
	if v.fields != nil {
		d.ID, d.IDSigned, d.EventType = v.fields(r)
		d.IDSigned = d.IDSigned && d.ID != ""
	}
	return d, nil
}
