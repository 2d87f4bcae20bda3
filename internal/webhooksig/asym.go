package webhooksig

import (
	"crypto/sha256"
	"crypto/subtle"
	"encoding/json"
	"fmt"
	"net/http"
)

// Helpers shared by the schemes that verify a public-key signature
// (discord, sendgrid, sns, standard v1a) or compare a shared token or
// bearer token (gitlab, okta, msgraph, oidc) instead of an HMAC.
//
// Delivery.MAC for these schemes is not a MAC: it is contentDigest, the
// SHA-256 of the verified body. Equal bodies give equal ids (envelope.EventID
// derives "mac:…" ids from it when no provider id is authenticated), whatever
// signature, timestamp or token came with them: ECDSA signatures (sendgrid)
// are randomised and malleable, so a digest of the signature bytes would let
// a captured request be replayed as a "new" event by re-encoding its
// signature, and a provider retry that re-signs with a fresh timestamp keeps
// its id. See docs/decisions.md, "Delivery.MAC for public-key and token
// schemes".

// contentDigest is what Delivery.MAC holds for the non-HMAC schemes.
func contentDigest(body []byte) [32]byte { return sha256.Sum256(body) }

// singleHeader returns the one non-empty value of header key. Absent or
// empty gives ErrMissingSignature, several values ErrMalformedSignature:
// a provider sends each of these headers once, and picking one of several
// would let a proxy-added copy decide.
func singleHeader(h http.Header, key, name string) (string, error) {
	vals := h[key]
	switch {
	case len(vals) == 0 || (len(vals) == 1 && vals[0] == ""):
		return "", fmt.Errorf("%w: no %s header", ErrMissingSignature, name)
	case len(vals) > 1:
		return "", fmt.Errorf("%w: %s header sent %d times", ErrMalformedSignature, name, len(vals))
	}
	return vals[0], nil
}

// tokenSet holds the accepted values of a shared-token scheme as SHA-256
// digests, so matching is constant-time in the token and leaks neither
// content nor length.
type tokenSet [][32]byte

func newTokenSet(c Config) (tokenSet, error) {
	keys, err := c.keys(rawSecret)
	if err != nil {
		return nil, err
	}
	ts := make(tokenSet, len(keys))
	for i, k := range keys {
		ts[i] = sha256.Sum256(k)
	}
	return ts, nil
}

// match reports whether tok equals any accepted token. Every configured
// token is compared, so the time does not depend on which one matches.
func (ts tokenSet) match(tok string) bool {
	d := sha256.Sum256([]byte(tok))
	ok := 0
	for i := range ts {
		ok |= subtle.ConstantTimeCompare(d[:], ts[i][:])
	}
	return ok == 1
}

// jsonInt is raw as an integer; false if it is not a JSON integer.
func jsonInt(raw []byte) (int64, bool) {
	var n int64
	if len(raw) == 0 || json.Unmarshal(raw, &n) != nil {
		return 0, false
	}
	return n, true
}

// sameOrEmpty returns the value every element shares, or "" when they
// differ or there are none: the event type of a batch.
func sameOrEmpty(vals []string) string {
	if len(vals) == 0 {
		return ""
	}
	for _, v := range vals[1:] {
		if v != vals[0] {
			return ""
		}
	}
	return vals[0]
}
