package webhooksig

import (
	"context"
	"crypto/ed25519"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/base64"
	"fmt"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// Standard Webhooks v1a (Ed25519 under whpk_ public keys).
//
// The reference libraries implement no v1a and the specification publishes
// no key pair for its v1a example, so the vector is a generated key pair,
// signed with OpenSSL, independently of this code and of Go's crypto:
//
//	seed = SHA-256("hookline standard v1a test key 1")   (key 2: "... key 2")
//	(printf 302e020100300506032b657004220420 | xxd -r -p; cat seed) > key.der
//	openssl pkey -inform DER -in key.der -out key.pem
//	openssl pkey -in key.pem -pubout -outform DER | tail -c 32 | base64    # whpk_ key
//	printf '%s' 'msg_2KWPBgLlAfxdpx2AI54pPJ85f4W.1674087231.{"type":...}' \
//	  | openssl pkeyutl -sign -inkey key.pem -rawin | base64               # v1a signature
//
// The id, timestamp and body are the specification's signing example
// (spec/standard-webhooks.md, "Signature scheme").
var (
	v1aVector = vector{
		source: "generated Ed25519 key pair, signed with openssl pkeyutl (no published v1a vector)",
		scheme: Standard, secret: "whpk_wi0FF69pdzVI2ie2eM0TSJFKXmLTQ46HiNu3vdnaGfw=",
		id: "msg_2KWPBgLlAfxdpx2AI54pPJ85f4W", ts: 1674087231,
		body:    `{"type":"contact.created","timestamp":"2022-11-03T20:26:10.344522Z","data":{"id":"1f81eb52-5198-4599-803e-771906343485"}}`,
		header:  "Webhook-Signature",
		want:    "v1a,vEEHxuGmNOlreL4jYRwqN4bZOq2qPRAMY/D1vVOES9EYDmSQ0xyiKdjEO9zgMxzP46ZjBqeNvZGalJ7+AGXwDw==",
		wantDel: Delivery{ID: "msg_2KWPBgLlAfxdpx2AI54pPJ85f4W", IDSigned: true, EventType: "contact.created"},
	}
	// v1aKey2 signed the same content: v1aKey2Sig.
	v1aKey2    = "whpk_+WLKQXV5Z7FJYD0NW/2oPEpa71oDO0/UhYILVULY1DE="
	v1aKey2Sig = "v1a,p1jsB/3VJ2Qx/S3cTvdz/pvaTe7FwfeG7cyxTUe0mFp2AHbmd5gXql4ondYP/eDag5cdMuqbEOBNFzyd1rJiCg=="
)

// v1aPriv derives the vector's private key n (1 or 2) as the OpenSSL
// commands above do, for signatures over mutated content.
func v1aPriv(n int) ed25519.PrivateKey {
	seed := sha256.Sum256([]byte(fmt.Sprintf("hookline standard v1a test key %d", n)))
	return ed25519.NewKeyFromSeed(seed[:])
}

func whpk(pub ed25519.PublicKey) string { return "whpk_" + base64.StdEncoding.EncodeToString(pub) }

// v1aSign is "v1a," + the base64 Ed25519 signature of id.ts.body.
func v1aSign(priv ed25519.PrivateKey, id string, ts int64, body string) string {
	return "v1a," + base64.StdEncoding.EncodeToString(ed25519.Sign(priv, []byte(fmt.Sprintf("%s.%d.%s", id, ts, body))))
}

// TestV1aVectorIsIndependent: Go's Ed25519 over the derived keys gives
// exactly what OpenSSL gave, so the in-test signer below is trustworthy.
func TestV1aVectorIsIndependent(t *testing.T) {
	v := v1aVector
	assert.Equal(t, v.secret, whpk(v1aPriv(1).Public().(ed25519.PublicKey)))
	assert.Equal(t, v1aKey2, whpk(v1aPriv(2).Public().(ed25519.PublicKey)))
	assert.Equal(t, v.want, v1aSign(v1aPriv(1), v.id, v.ts, v.body))
	assert.Equal(t, v1aKey2Sig, v1aSign(v1aPriv(2), v.id, v.ts, v.body))
}

func TestVerifyStandardV1aVector(t *testing.T) {
	v := v1aVector
	for _, svix := range []bool{false, true} {
		ver, err := New(Standard, []string{v.secret}, 0)
		require.NoError(t, err)
		h := vectorHeader(v)
		if svix {
			h = http.Header{"Svix-Id": {v.id}, "Svix-Timestamp": {fmt.Sprint(v.ts)}, "Svix-Signature": {v.want}}
		}
		d, err := ver.Verify(context.Background(), post(h, []byte(v.body)), time.Unix(v.ts, 0))
		require.NoError(t, err, "svix=%v", svix)
		assert.Equal(t, v.wantDel, withoutMAC(d))
		// Delivery.MAC of a public-key scheme is the body's digest
		// (docs/decisions.md, "Delivery.MAC for public-key and token schemes").
		assert.Equal(t, sha([]byte(v.body)), d.MAC)
	}
}

// specExampleHeader is the specification's example webhook-signature
// header (one v1 and one v1a entry), signed under keys it does not publish.
const specExampleHeader = "v1,K5oZfzN95Z9UVu1EsfQmfVNQhnkZ2pj9o9NDN/H/pI4= v1a,hnO3f9T8Ytu9HwrXslvumlUpqtNVqkhqw/enGzPCXe5BdqzCInXqYXFymVJaA7AZdpXwVLPo3mNl8EM+m7TBAg=="

func TestVerifyStandardV1a(t *testing.T) {
	v := v1aVector
	base := func() http.Header { return vectorHeader(v) }
	sig := strings.TrimPrefix(v.want, "v1a,")
	set := func(k, val string) func(http.Header) { return func(h http.Header) { h.Set(k, val) } }
	sigHdr := func(val string) func(http.Header) { return set("webhook-signature", val) }
	rawSig, err := base64.StdEncoding.DecodeString(sig)
	require.NoError(t, err)
	pub1, err := base64.StdEncoding.DecodeString(strings.TrimPrefix(v.secret, "whpk_"))
	require.NoError(t, err)

	// A v1 "signature" keyed with the public key's bytes: anyone can make
	// it, so it must never verify against a whpk_ key.
	forged := "v1," + base64.StdEncoding.EncodeToString(func() []byte {
		m := hmac.New(sha256.New, pub1)
		fmt.Fprintf(m, "%s.%d.%s", v.id, v.ts, v.body)
		return m.Sum(nil)
	}())
	// The same v1 with the public key bytes configured as a whsec_ secret
	// would verify: proof the forged value above is a well-formed v1 MAC.
	pubAsWhsec := "whsec_" + base64.StdEncoding.EncodeToString(pub1)
	// A valid v1 signature of the same content under a whsec_ secret.
	v1, err := Sign(Standard, goVector.secret, v.id, time.Unix(v.ts, 0), []byte(v.body))
	require.NoError(t, err)
	v1Sig := v1.Get("webhook-signature")

	junkV1a := "v1a," + base64.StdEncoding.EncodeToString(make([]byte, 64))
	stale := v1aSign(v1aPriv(1), v.id, v.ts-301, v.body)

	runVerifyCases(t, v, base, []verifyCase{
		{name: "valid", wantDel: &v.wantDel},
		{name: "key rotation: second whpk_ key verifies", secrets: []string{v1aKey2, v.secret}},
		{name: "key rotation: both signatures, only the new key configured", secrets: []string{v1aKey2}, mutate: sigHdr(v.want + " " + v1aKey2Sig)},
		{name: "tampered body", body: ptr(v.body[:len(v.body)-1] + " }"), wantErr: ErrSignatureMismatch},
		{name: "empty body", body: ptr(""), wantErr: ErrSignatureMismatch},
		{name: "tampered id", mutate: set("webhook-id", v.id+"x"), wantErr: ErrSignatureMismatch},
		{name: "tampered timestamp", mutate: set("webhook-timestamp", fmt.Sprint(v.ts+1)), wantErr: ErrSignatureMismatch},
		{name: "wrong key", secrets: []string{v1aKey2}, wantErr: ErrSignatureMismatch},
		{name: "signed by another key", mutate: sigHdr(v1aKey2Sig), wantErr: ErrSignatureMismatch},
		{name: "flipped signature bit", mutate: sigHdr("v1a," + base64.StdEncoding.EncodeToString(append([]byte{rawSig[0] ^ 1}, rawSig[1:]...))), wantErr: ErrSignatureMismatch},
		{name: "well-formed zero signature", mutate: sigHdr(junkV1a), wantErr: ErrSignatureMismatch},
		{name: "stale by 1s", now: 5*time.Minute + time.Second, wantErr: ErrTimestampOutOfTolerance},
		{name: "stale exactly at tolerance passes", now: 5 * time.Minute},
		{name: "future by 1s", now: -5*time.Minute - time.Second, wantErr: ErrTimestampOutOfTolerance},
		{name: "future exactly at tolerance passes", now: -5 * time.Minute},
		{name: "re-signed stale timestamp", mutate: func(h http.Header) {
			h.Set("webhook-timestamp", fmt.Sprint(v.ts-301))
			h.Set("webhook-signature", stale)
		}, wantErr: ErrTimestampOutOfTolerance},
		{name: "custom tolerance 10s, 11s old", tol: 10 * time.Second, now: 11 * time.Second, wantErr: ErrTimestampOutOfTolerance},
		// Malformed v1a values.
		{name: "v1a empty value", mutate: sigHdr("v1a,"), wantErr: ErrMalformedSignature},
		{name: "v1a truncated", mutate: sigHdr("v1a," + sig[:86]), wantErr: ErrMalformedSignature},
		{name: "v1a without padding", mutate: sigHdr("v1a," + strings.TrimRight(sig, "=")), wantErr: ErrMalformedSignature},
		{name: "v1a base64url alphabet", mutate: sigHdr("v1a," + base64.URLEncoding.EncodeToString(rawSig)), wantErr: ErrMalformedSignature},
		{name: "v1a non-canonical trailing bits", mutate: sigHdr("v1a," + sig[:85] + "x=="), wantErr: ErrMalformedSignature},
		{name: "v1a bad character", mutate: sigHdr("v1a," + sig[:10] + "*" + sig[11:]), wantErr: ErrMalformedSignature},
		{name: "v1a hex", mutate: sigHdr("v1a," + fmt.Sprintf("%x", rawSig)), wantErr: ErrMalformedSignature},
		{name: "v1a 65 bytes", mutate: sigHdr("v1a," + base64.StdEncoding.EncodeToString(append(rawSig, 0))), wantErr: ErrMalformedSignature},
		{name: "v1a with an HMAC-sized value", mutate: sigHdr("v1a," + junkB64), wantErr: ErrMalformedSignature},
		{name: "v1a with a newline inside", mutate: sigHdr("v1a," + sig[:40] + "\n" + sig[41:]), wantErr: ErrMalformedSignature},
		{name: "uppercase V1A is not a version tag", mutate: sigHdr("V1A," + sig), wantErr: ErrMalformedSignature},
		{name: "malformed next to valid", mutate: sigHdr("v1a,!!! " + v.want)},
		{name: "too many v1a signatures", mutate: sigHdr(strings.Repeat(junkV1a+" ", maxAsymCandidates) + v.want), wantErr: ErrMalformedSignature},
		{name: "four v1a signatures, last good", mutate: sigHdr(strings.Repeat(junkV1a+" ", maxAsymCandidates-1) + v.want)},
		// Versions and key kinds do not mix.
		{name: "v1 entry holding the v1a signature", mutate: sigHdr("v1," + sig), wantErr: ErrMissingSignature},
		{name: "v1 only, whpk_-only source", mutate: sigHdr(v1Sig), wantErr: ErrMissingSignature},
		{name: "v1 HMAC keyed with the public key, whpk_-only source", mutate: sigHdr(forged), wantErr: ErrMissingSignature},
		{name: "v1 HMAC keyed with the public key, mixed source", secrets: []string{goVector.secret, v.secret}, mutate: sigHdr(forged), wantErr: ErrSignatureMismatch},
		{name: "v1 HMAC keyed with the public key, next to a bad v1a", secrets: []string{goVector.secret, v.secret}, mutate: sigHdr(forged + " " + v1aKey2Sig), wantErr: ErrSignatureMismatch},
		{name: "control: the forged v1 is a well-formed MAC", secrets: []string{pubAsWhsec}, mutate: sigHdr(forged)},
		{name: "v1a only, whsec_-only source", secrets: []string{goVector.secret}, wantErr: ErrMissingSignature},
		{name: "mixed source, v1a verifies", secrets: []string{goVector.secret, v.secret}},
		{name: "mixed source, v1 verifies", secrets: []string{v.secret, goVector.secret}, mutate: sigHdr(v1Sig)},
		{name: "mixed source, bad v1 and good v1a", secrets: []string{goVector.secret, v.secret}, mutate: sigHdr("v1," + junkB64 + " " + v.want)},
		{name: "mixed source, good v1 and bad v1a", secrets: []string{goVector.secret, v.secret}, mutate: sigHdr(junkV1a + " " + v1Sig)},
		{name: "mixed source, both bad", secrets: []string{goVector.secret, v.secret}, mutate: sigHdr("v1," + junkB64 + " " + junkV1a), wantErr: ErrSignatureMismatch},
		{name: "spec example header is well-formed (keys unpublished)", secrets: []string{goVector.secret, v.secret}, mutate: sigHdr(specExampleHeader), wantErr: ErrSignatureMismatch},
		{name: "future version ignored next to v1a", mutate: sigHdr("v2,abc " + v.want)},
	})
}

// TestStandardV1aMACs: a v1 match reports its HMAC, a v1a match the body
// digest, whichever order the header lists them in.
func TestStandardV1aMACs(t *testing.T) {
	v := v1aVector
	v1, err := Sign(Standard, goVector.secret, v.id, time.Unix(v.ts, 0), []byte(v.body))
	require.NoError(t, err)
	ver, err := New(Standard, []string{v.secret, goVector.secret}, 0)
	require.NoError(t, err)
	for _, c := range []struct {
		name, hdr string
		want      [32]byte
	}{
		{"v1 only", v1.Get("webhook-signature"), sentMAC(t, Standard, v1)},
		{"v1a first, v1 second", v.want + " " + v1.Get("webhook-signature"), sentMAC(t, Standard, v1)},
		{"v1a only", v.want, sha([]byte(v.body))},
	} {
		h := vectorHeader(v)
		h.Set("webhook-signature", c.hdr)
		d, err := ver.Verify(context.Background(), post(h, []byte(v.body)), time.Unix(v.ts, 0))
		require.NoError(t, err, c.name)
		assert.Equal(t, c.want, d.MAC, c.name)
	}
}

// TestNewValidatesWhpkKeys: a whpk_ key that is not the padded base64 of
// 32 bytes is refused at start-up, naming the secret by position and the
// reason, never the value.
func TestNewValidatesWhpkKeys(t *testing.T) {
	key := func(n int) string { return base64.StdEncoding.EncodeToString(make([]byte, n)) }
	pub := strings.TrimPrefix(v1aVector.secret, "whpk_")
	cases := []struct {
		name    string
		secrets []string
		wantErr string // "" means valid
	}{
		{"valid", []string{v1aVector.secret}, ""},
		{"valid, mixed with whsec_", []string{goVector.secret, v1aVector.secret, otherStdSecret}, ""},
		{"31 bytes", []string{"whpk_" + key(31)}, "secret #1: whpk_ key decodes to 31 bytes; an Ed25519 public key is 32 bytes"},
		{"33 bytes", []string{"whpk_" + key(33)}, "whpk_ key decodes to 33 bytes"},
		{"64 bytes (a private key's length)", []string{"whpk_" + key(64)}, "whpk_ key decodes to 64 bytes"},
		{"empty after prefix", []string{"whpk_"}, "nothing after the whpk_ prefix"},
		{"unpadded", []string{"whpk_" + strings.TrimRight(pub, "=")}, "not standard padded base64"},
		{"base64url", []string{"whpk_" + base64.URLEncoding.EncodeToString([]byte(strings.Repeat("\xfb", 32)))}, "not standard padded base64"},
		{"hex", []string{"whpk_" + strings.Repeat("ab", 32)}, "decodes to 48 bytes"},
		{"newline inside", []string{"whpk_" + pub[:20] + "\n" + pub[20:]}, "not standard padded base64"},
		{"trailing space", []string{"whpk_" + pub + " "}, "not standard padded base64"},
		{"second secret bad", []string{v1aVector.secret, "whpk_" + key(16)}, "secret #2: whpk_ key decodes to 16 bytes"},
		{"whsk_ private key", []string{"whsk_" + key(64)}, "is a whsk_ Ed25519 private key"},
		{"uppercase prefix is not whpk_", []string{"WHPK_" + pub}, "not standard padded base64"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			v, err := NewVerifier(Config{Scheme: Standard, Secrets: c.secrets})
			if c.wantErr == "" {
				require.NoError(t, err)
				require.NotNil(t, v)
				return
			}
			require.Error(t, err)
			assert.Nil(t, v)
			assert.Contains(t, err.Error(), c.wantErr)
			for _, s := range c.secrets {
				if body := strings.TrimSpace(s[min(len(s), 5):]); len(body) > 8 {
					assert.NotContains(t, err.Error(), body, "error leaks the key")
				}
			}
		})
	}
}

// TestWhpkCannotSign: a public key verifies v1a but cannot sign, so Sign
// and CheckSigningSecret (the callback_secret check) refuse it by name.
func TestWhpkCannotSign(t *testing.T) {
	_, err := Sign(Standard, v1aVector.secret, "id", time.Unix(1, 0), nil)
	require.Error(t, err)
	assert.Contains(t, err.Error(), "whpk_ Ed25519 public key")
	err = CheckSigningSecret(Standard, v1aVector.secret)
	require.Error(t, err)
	assert.Contains(t, err.Error(), "cannot sign")
	assert.NoError(t, CheckSigningSecret(Standard, goVector.secret))
	assert.Error(t, CheckSigningSecret("nope", goVector.secret))
}
