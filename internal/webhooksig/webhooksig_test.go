package webhooksig

import (
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// Published and independently derived test vectors.
//
// Standard Webhooks: standard-webhooks/standard-webhooks
//   - libraries/go/webhook_test.go, TestWebhookSign (goVector)
//   - libraries/rust/src/lib.rs, test_sign (rustVector)
//
// GitHub: docs.github.com "Validating webhook deliveries" (githubVector).
//
// Stripe: Stripe publishes no fixed vector (stripe-go's webhook tests sign
// with time.Now()), so stripeVector was derived independently of this code:
//
//	printf '1700000000.{\n  "id": "evt_test_webhook",\n  "object": "event",\n  "type": "customer.created"\n}' \
//	  | openssl dgst -sha256 -hmac whsec_test_secret
//
// (whsec_test_secret is stripe-go's test secret; the key is the whole string.)
//
// hmac-sha256 has no publisher; hmacVector was derived the same way:
//
//	printf '{"order_id":42,"status":"paid"}' | openssl dgst -sha256 -hmac hookline-demo-secret
type vector struct {
	source  string
	scheme  string
	secret  string
	id      string
	ts      int64
	body    string
	header  string // header carrying the signature
	want    string // its exact value
	wantDel Delivery
}

var (
	goVector = vector{
		source: "standard-webhooks libraries/go/webhook_test.go TestWebhookSign",
		scheme: Standard, secret: "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw",
		id: "msg_p5jXN8AQM9LWM0D4loKWxJek", ts: 1614265330, body: `{"test": 2432232314}`,
		header: "Webhook-Signature", want: "v1,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE=",
		wantDel: Delivery{ID: "msg_p5jXN8AQM9LWM0D4loKWxJek", IDSigned: true},
	}
	rustVector = vector{
		source: "standard-webhooks libraries/rust/src/lib.rs test_sign",
		scheme: Standard, secret: "whsec_C2FVsBQIhrscChlQIMV+b5sSYspob7oD",
		id: "msg_27UH4WbU6Z5A5EzD8u03UvzRbpk", ts: 1649367553,
		body:   `{"email":"test@example.com","username":"test_user"}`,
		header: "Webhook-Signature", want: "v1,tZ1I4/hDygAJgO5TYxiSd6Sd0kDW6hPenDe+bTa3Kkw=",
		wantDel: Delivery{ID: "msg_27UH4WbU6Z5A5EzD8u03UvzRbpk", IDSigned: true},
	}
	githubVector = vector{
		source: "GitHub docs, Validating webhook deliveries",
		scheme: GitHub, secret: "It's a Secret to Everybody", body: "Hello, World!",
		header: "X-Hub-Signature-256",
		want:   "sha256=757107ea0eb2509fc211221cce984b8a37570b6d7586c22c46f4379c8b043e17",
	}
	stripeVector = vector{
		source: "derived with openssl dgst -sha256 -hmac (no published Stripe vector)",
		scheme: Stripe, secret: "whsec_test_secret", ts: 1700000000,
		body:    "{\n  \"id\": \"evt_test_webhook\",\n  \"object\": \"event\",\n  \"type\": \"customer.created\"\n}",
		header:  "Stripe-Signature",
		want:    "t=1700000000,v1=6e02942005b5bae7714f5da3a08e2d98bafa1c721613abe5350fe70473d0a143",
		wantDel: Delivery{ID: "evt_test_webhook", IDSigned: true, EventType: "customer.created"},
	}
	hmacVector = vector{
		source: "derived with openssl dgst -sha256 -hmac (scheme has no publisher)",
		scheme: HMACSHA256, secret: "hookline-demo-secret", body: `{"order_id":42,"status":"paid"}`,
		header: "X-Signature", want: "90ef2221a843453c1e28687972403ce52a8cc91a5ced7806a77e57e7e9240df0",
	}
	allVectors = []vector{goVector, rustVector, githubVector, stripeVector, hmacVector}
)

func TestPublishedVectors(t *testing.T) {
	for _, v := range allVectors {
		t.Run(v.scheme+"/"+v.source, func(t *testing.T) {
			ts := time.Unix(v.ts, 0)
			h, err := Sign(v.scheme, v.secret, v.id, ts, []byte(v.body))
			require.NoError(t, err)
			assert.Equal(t, v.want, h.Get(v.header), "Sign must reproduce the vector")

			// Verify the vector's own header (not our Sign output).
			in := http.Header{}
			in.Set(v.header, v.want)
			if v.scheme == Standard {
				in.Set("webhook-id", v.id)
				in.Set("webhook-timestamp", fmt.Sprint(v.ts))
			}
			ver, err := New(v.scheme, []string{v.secret}, 0)
			require.NoError(t, err)
			d, err := ver.Verify(context.Background(), post(in, []byte(v.body)), ts)
			require.NoError(t, err)
			assert.Equal(t, sentMAC(t, v.scheme, in), d.MAC, "the verified MAC is the vector's signature")
			assert.Equal(t, v.wantDel, withoutMAC(d))

			_, err = ver.Verify(context.Background(), post(in, []byte(v.body+" ")), ts)
			assert.ErrorIs(t, err, ErrSignatureMismatch, "tampered body")
		})
	}
}

// The same secret written with and without the whsec_ prefix is one key
// (standard-webhooks TestWebhookPrefix).
func TestStandardSecretPrefixOptional(t *testing.T) {
	v, err := New(Standard, []string{strings.TrimPrefix(goVector.secret, "whsec_")}, 0)
	require.NoError(t, err)
	h := vectorHeader(goVector)
	_, err = v.Verify(context.Background(), post(h, []byte(goVector.body)), time.Unix(goVector.ts, 0))
	require.NoError(t, err)
}

func vectorHeader(v vector) http.Header {
	h := http.Header{}
	h.Set("webhook-id", v.id)
	h.Set("webhook-timestamp", fmt.Sprint(v.ts))
	h.Set("webhook-signature", v.want)
	return h
}

// otherStdSecret is a second valid standard secret (32 zero-to-31 bytes).
var otherStdSecret = "whsec_" + base64.StdEncoding.EncodeToString([]byte("0123456789abcdef0123456789abcdef"))

type verifyCase struct {
	name    string
	secrets []string      // default: the vector's secret
	tol     time.Duration // default 0 (5m)
	mutate  func(h http.Header)
	body    *string       // default: the vector's body
	now     time.Duration // offset from the vector's timestamp
	wantErr error         // nil: must verify
	wantDel *Delivery
}

func ptr[T any](v T) *T { return &v }

func runVerifyCases(t *testing.T, v vector, base func() http.Header, cases []verifyCase) {
	t.Helper()
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			secrets := c.secrets
			if secrets == nil {
				secrets = []string{v.secret}
			}
			ver, err := New(v.scheme, secrets, c.tol)
			require.NoError(t, err)
			h := base()
			if c.mutate != nil {
				c.mutate(h)
			}
			body := v.body
			if c.body != nil {
				body = *c.body
			}
			d, err := ver.Verify(context.Background(), post(h, []byte(body)), time.Unix(v.ts, 0).Add(c.now))
			if c.wantErr == nil {
				require.NoError(t, err)
				assert.NotZero(t, d.MAC, "a verified request names its MAC")
				if c.wantDel != nil {
					assert.Equal(t, *c.wantDel, withoutMAC(d))
				}
				return
			}
			require.Error(t, err)
			assert.ErrorIs(t, err, c.wantErr)
			assert.Equal(t, Delivery{}, d)
			assertOneSentinel(t, err)
			assertNoLeak(t, err, secrets, h)
		})
	}
}

func assertOneSentinel(t *testing.T, err error) {
	t.Helper()
	n := 0
	for _, s := range []error{ErrMissingSignature, ErrMalformedSignature, ErrSignatureMismatch, ErrTimestampOutOfTolerance} {
		if errors.Is(err, s) {
			n++
		}
	}
	assert.Equal(t, 1, n, "error must wrap exactly one sentinel: %v", err)
}

// assertNoLeak: error messages carry no secret and no signature material.
func assertNoLeak(t *testing.T, err error, secrets []string, h http.Header) {
	t.Helper()
	msg := err.Error()
	for _, s := range secrets {
		assert.NotContains(t, msg, s)
		assert.NotContains(t, msg, strings.TrimPrefix(s, "whsec_"))
	}
	for _, k := range []string{"Webhook-Signature", "Svix-Signature", "X-Hub-Signature-256", "Stripe-Signature", "X-Signature"} {
		for _, val := range h[k] {
			if len(val) > 10<<10 {
				continue // garbage tests; too slow to split
			}
			for _, part := range strings.FieldsFunc(val, func(r rune) bool { return r == ' ' || r == ',' || r == '=' }) {
				if len(part) >= 16 {
					assert.NotContains(t, msg, part)
				}
			}
		}
	}
}

const (
	junkB64 = "Ceo5qEr07ixe2NLpvHk3FH9bwy/WavXrAFQ/9tdO6mc=" // well-formed, wrong (from the Go tests)
	junkHex = "0000000000000000000000000000000000000000000000000000000000000000"
)

func TestVerifyStandard(t *testing.T) {
	v := rustVector
	base := func() http.Header { return vectorHeader(v) }
	sig := strings.TrimPrefix(v.want, "v1,")
	withType := `{"type":"user.created","data":{"type":"nested"}}`
	hType, err := Sign(Standard, v.secret, v.id, time.Unix(v.ts, 0), []byte(withType))
	require.NoError(t, err)

	svix := func(h http.Header) {
		for _, k := range []string{"id", "timestamp", "signature"} {
			h.Set("svix-"+k, h.Get("webhook-"+k))
			h.Del("webhook-" + k)
		}
	}
	set := func(k, val string) func(http.Header) { return func(h http.Header) { h.Set(k, val) } }
	del := func(k string) func(http.Header) { return func(h http.Header) { h.Del(k) } }

	runVerifyCases(t, v, base, []verifyCase{
		{name: "valid", wantDel: &Delivery{ID: v.id, IDSigned: true}},
		{name: "event type from body", body: ptr(withType), mutate: set("webhook-signature", hType.Get("webhook-signature")),
			wantDel: &Delivery{ID: v.id, IDSigned: true, EventType: "user.created"}},
		{name: "tampered body", body: ptr(v.body[:len(v.body)-1] + " }"), wantErr: ErrSignatureMismatch},
		{name: "empty body", body: ptr(""), wantErr: ErrSignatureMismatch},
		{name: "wrong secret", secrets: []string{otherStdSecret}, wantErr: ErrSignatureMismatch},
		{name: "second active secret matches", secrets: []string{otherStdSecret, v.secret}},
		{name: "tampered id", mutate: set("webhook-id", v.id+"x"), wantErr: ErrSignatureMismatch},
		{name: "tampered timestamp", mutate: set("webhook-timestamp", fmt.Sprint(v.ts+1)), wantErr: ErrSignatureMismatch},
		{name: "missing signature", mutate: del("webhook-signature"), wantErr: ErrMissingSignature},
		{name: "missing id", mutate: del("webhook-id"), wantErr: ErrMissingSignature},
		{name: "missing timestamp", mutate: del("webhook-timestamp"), wantErr: ErrMissingSignature},
		{name: "empty signature", mutate: set("webhook-signature", ""), wantErr: ErrMissingSignature},
		{name: "partial: svix-id with webhook-signature", mutate: func(h http.Header) { h.Set("svix-id", v.id); h.Del("webhook-id") }, wantErr: ErrMissingSignature},
		{name: "svix aliases", mutate: svix, wantDel: &Delivery{ID: v.id, IDSigned: true}},
		{name: "svix aliases, stale", mutate: svix, now: 5*time.Minute + time.Second, wantErr: ErrTimestampOutOfTolerance},
		{name: "webhook-* wins over svix-*", mutate: func(h http.Header) { h.Set("svix-signature", "v1,"+junkB64) }},
		{name: "several signatures, one good (Go test order)", mutate: set("webhook-signature",
			"v1,"+junkB64+" v2,"+junkB64+" "+v.want+" v1,"+junkB64)},
		{name: "several signatures, none good", mutate: set("webhook-signature", "v1,"+junkB64+" v1,"+junkB64), wantErr: ErrSignatureMismatch},
		{name: "extra spaces between signatures", mutate: set("webhook-signature", "  v1a,abc   "+v.want+"  ")},
		{name: "signature in a second header line", mutate: func(h http.Header) {
			h.Set("webhook-signature", "v1,"+junkB64)
			h.Add("webhook-signature", v.want)
		}},
		{name: "wrong version prefix v2", mutate: set("webhook-signature", "v2,"+sig), wantErr: ErrMissingSignature},
		{name: "v1a only, source without whpk_ keys", mutate: set("webhook-signature", "v1a,"+sig), wantErr: ErrMissingSignature},
		{name: "uppercase version is not a version tag", mutate: set("webhook-signature", "V1,"+sig), wantErr: ErrMalformedSignature},
		{name: "no version", mutate: set("webhook-signature", sig), wantErr: ErrMalformedSignature},
		{name: "empty version", mutate: set("webhook-signature", ","+sig), wantErr: ErrMalformedSignature},
		{name: "malformed base64 char", mutate: set("webhook-signature", "v1,"+sig[:10]+"*"+sig[11:]), wantErr: ErrMalformedSignature},
		{name: "base64 without padding", mutate: set("webhook-signature", "v1,"+strings.TrimRight(sig, "=")), wantErr: ErrMalformedSignature},
		{name: "base64url alphabet", mutate: set("webhook-signature", "v1,"+strings.NewReplacer("+", "-", "/", "_").Replace(sig)), wantErr: ErrMalformedSignature},
		{name: "non-canonical base64 trailing bits", mutate: set("webhook-signature", "v1,"+sig[:42]+"x="), wantErr: ErrMalformedSignature},
		{name: "truncated signature", mutate: set("webhook-signature", "v1,"+sig[:40]), wantErr: ErrMalformedSignature},
		{name: "hex instead of base64", mutate: set("webhook-signature", "v1,"+junkHex), wantErr: ErrMalformedSignature},
		{name: "malformed next to well-formed wrong", mutate: set("webhook-signature", "v1,!!! v1,"+junkB64), wantErr: ErrSignatureMismatch},
		{name: "too many entries", mutate: set("webhook-signature", strings.Repeat("v2,x ", maxEntries)+v.want), wantErr: ErrMalformedSignature},
		{name: "too many v1 signatures", mutate: set("webhook-signature", strings.Repeat("v1,"+junkB64+" ", maxCandidates)+v.want), wantErr: ErrMalformedSignature},
		{name: "huge garbage header", mutate: set("webhook-signature", strings.Repeat("\x00,", 1<<20)), wantErr: ErrMalformedSignature},
		{name: "timestamp with plus sign", mutate: set("webhook-timestamp", fmt.Sprintf("+%d", v.ts)), wantErr: ErrMalformedSignature},
		{name: "timestamp with leading zero", mutate: set("webhook-timestamp", fmt.Sprintf("0%d", v.ts)), wantErr: ErrMalformedSignature},
		{name: "timestamp negative", mutate: set("webhook-timestamp", "-1"), wantErr: ErrMalformedSignature},
		{name: "timestamp fractional", mutate: set("webhook-timestamp", fmt.Sprintf("%d.5", v.ts)), wantErr: ErrMalformedSignature},
		{name: "timestamp milliseconds (far future)", mutate: set("webhook-timestamp", fmt.Sprintf("%d000", v.ts)), wantErr: ErrTimestampOutOfTolerance},
		{name: "timestamp overflow", mutate: set("webhook-timestamp", strings.Repeat("9", 30)), wantErr: ErrMalformedSignature},
		{name: "stale by 1s", now: 5*time.Minute + time.Second, wantErr: ErrTimestampOutOfTolerance},
		{name: "stale exactly at tolerance passes", now: 5 * time.Minute},
		{name: "future by 1s", now: -5*time.Minute - time.Second, wantErr: ErrTimestampOutOfTolerance},
		{name: "future exactly at tolerance passes", now: -5 * time.Minute},
		{name: "custom tolerance 10s, 11s old", tol: 10 * time.Second, now: 11 * time.Second, wantErr: ErrTimestampOutOfTolerance},
		{name: "custom tolerance 10s, 9s in future", tol: 10 * time.Second, now: -9 * time.Second},
		{name: "stale and bad signature: timestamp checked first", now: time.Hour, mutate: set("webhook-signature", "v1,"+junkB64), wantErr: ErrTimestampOutOfTolerance},
	})
}

func TestVerifyGitHub(t *testing.T) {
	v := githubVector
	base := func() http.Header {
		h := http.Header{}
		h.Set("X-Hub-Signature-256", v.want)
		h.Set("X-GitHub-Delivery", "72d3162e-cc78-11e3-81ab-4c9367dc0958")
		h.Set("X-GitHub-Event", "push")
		return h
	}
	hexSig := strings.TrimPrefix(v.want, "sha256=")
	set := func(k, val string) func(http.Header) { return func(h http.Header) { h.Set(k, val) } }
	runVerifyCases(t, v, base, []verifyCase{
		{name: "valid", wantDel: &Delivery{ID: "72d3162e-cc78-11e3-81ab-4c9367dc0958", EventType: "push"}},
		{name: "no delivery headers", mutate: func(h http.Header) { h.Del("X-GitHub-Delivery"); h.Del("X-GitHub-Event") }, wantDel: &Delivery{}},
		{name: "no timestamp: any now passes", now: 1000 * time.Hour},
		{name: "uppercase hex", mutate: set("X-Hub-Signature-256", "sha256="+strings.ToUpper(hexSig))},
		{name: "tampered body", body: ptr("Hello, World?"), wantErr: ErrSignatureMismatch},
		{name: "wrong secret", secrets: []string{"It's a Secret to Nobody"}, wantErr: ErrSignatureMismatch},
		{name: "second active secret matches", secrets: []string{"new secret", v.secret}},
		{name: "missing", mutate: func(h http.Header) { h.Del("X-Hub-Signature-256") }, wantErr: ErrMissingSignature},
		{name: "empty", mutate: set("X-Hub-Signature-256", ""), wantErr: ErrMissingSignature},
		{name: "sha1 header only", mutate: func(h http.Header) {
			h.Del("X-Hub-Signature-256")
			h.Set("X-Hub-Signature", "sha1=01dc10d0c83e72ed246219cdd91669667fe2ca59")
		}, wantErr: ErrMissingSignature},
		{name: "wrong algorithm prefix", mutate: set("X-Hub-Signature-256", "sha1="+hexSig), wantErr: ErrMissingSignature},
		{name: "no prefix", mutate: set("X-Hub-Signature-256", hexSig), wantErr: ErrMalformedSignature},
		{name: "prefix only", mutate: set("X-Hub-Signature-256", "sha256="), wantErr: ErrMalformedSignature},
		{name: "malformed hex", mutate: set("X-Hub-Signature-256", "sha256="+hexSig[:63]+"g"), wantErr: ErrMalformedSignature},
		{name: "truncated hex", mutate: set("X-Hub-Signature-256", "sha256="+hexSig[:62]), wantErr: ErrMalformedSignature},
		{name: "trailing space", mutate: set("X-Hub-Signature-256", v.want+" "), wantErr: ErrMalformedSignature},
		{name: "two header lines, one good", mutate: func(h http.Header) {
			h.Set("X-Hub-Signature-256", "sha256="+junkHex)
			h.Add("X-Hub-Signature-256", v.want)
		}},
		{name: "huge garbage header", mutate: set("X-Hub-Signature-256", "sha256="+strings.Repeat("ff", 1<<20)), wantErr: ErrMalformedSignature},
	})
}

func TestVerifyStripe(t *testing.T) {
	v := stripeVector
	base := func() http.Header {
		h := http.Header{}
		h.Set("Stripe-Signature", v.want)
		return h
	}
	hexSig := v.want[strings.Index(v.want, "v1=")+3:]
	tsPart := fmt.Sprintf("t=%d", v.ts)
	set := func(val string) func(http.Header) { return func(h http.Header) { h.Set("Stripe-Signature", val) } }
	const otherSecret = "whsec_test_secret_rolled_key"
	rolled, err := Sign(Stripe, otherSecret, "", time.Unix(v.ts, 0), []byte(v.body))
	require.NoError(t, err)
	rolledSig := rolled.Get("Stripe-Signature")[len(tsPart)+4:]

	notJSON := "not json at all"
	hNotJSON, err := Sign(Stripe, v.secret, "", time.Unix(v.ts, 0), []byte(notJSON))
	require.NoError(t, err)
	numID := `{"id": 42, "type": "charge.succeeded"}`
	hNumID, err := Sign(Stripe, v.secret, "", time.Unix(v.ts, 0), []byte(numID))
	require.NoError(t, err)

	runVerifyCases(t, v, base, []verifyCase{
		{name: "valid", wantDel: &v.wantDel},
		{name: "v0 and unknown keys ignored", mutate: set(tsPart + ",v0=" + junkHex + ",v1=" + hexSig + ",foo=bar")},
		{name: "v1 before t", mutate: set("v1=" + hexSig + "," + tsPart)},
		{name: "several v1 during a roll, second good", mutate: set(tsPart + ",v1=" + rolledSig + ",v1=" + hexSig)},
		{name: "new secret active, old still sent", secrets: []string{otherSecret}, mutate: set(tsPart + ",v1=" + hexSig + ",v1=" + rolledSig)},
		{name: "second active secret matches", secrets: []string{otherSecret, v.secret}},
		{name: "unreadable v1 next to a good one is ignored", mutate: set(tsPart + ",v1=bad_signature,v1=" + hexSig)},
		{name: "uppercase hex", mutate: set(tsPart + ",v1=" + strings.ToUpper(hexSig))},
		{name: "body not JSON: valid, no id", body: ptr(notJSON), mutate: set(hNotJSON.Get("Stripe-Signature")), wantDel: &Delivery{}},
		{name: "non-string id", body: ptr(numID), mutate: set(hNumID.Get("Stripe-Signature")), wantDel: &Delivery{EventType: "charge.succeeded"}},
		{name: "tampered body", body: ptr(strings.Replace(v.body, "customer", "custard", 1)), wantErr: ErrSignatureMismatch},
		{name: "wrong secret", secrets: []string{otherSecret}, wantErr: ErrSignatureMismatch},
		{name: "secret is not base64-decoded", secrets: []string{"test_secret"}, wantErr: ErrSignatureMismatch},
		{name: "tampered t", mutate: set(fmt.Sprintf("t=%d,v1=%s", v.ts+1, hexSig)), wantErr: ErrSignatureMismatch},
		{name: "missing header", mutate: func(h http.Header) { h.Del("Stripe-Signature") }, wantErr: ErrMissingSignature},
		{name: "empty header", mutate: set(""), wantErr: ErrMissingSignature},
		{name: "partial: t only", mutate: set(tsPart), wantErr: ErrMissingSignature},
		{name: "partial: v1 only", mutate: set("v1=" + hexSig), wantErr: ErrMalformedSignature},
		{name: "v0 only (wrong version)", mutate: set(tsPart + ",v0=" + hexSig), wantErr: ErrMissingSignature},
		{name: "t twice", mutate: set(tsPart + "," + tsPart + ",v1=" + hexSig), wantErr: ErrMalformedSignature},
		{name: "empty t", mutate: set("t=,v1=" + hexSig), wantErr: ErrMalformedSignature},
		{name: "t not integer", mutate: set("t=abc,v1=" + hexSig), wantErr: ErrMalformedSignature},
		{name: "element without =", mutate: set("v1," + tsPart), wantErr: ErrMalformedSignature},
		{name: "trailing comma", mutate: set(v.want + ","), wantErr: ErrMalformedSignature},
		{name: "spaces after commas", mutate: set(tsPart + ", v1=" + hexSig), wantErr: ErrMissingSignature},
		{name: "malformed hex only", mutate: set(tsPart + ",v1=" + hexSig[:63] + "z"), wantErr: ErrMalformedSignature},
		{name: "base64 instead of hex", mutate: set(tsPart + ",v1=" + junkB64), wantErr: ErrMalformedSignature},
		{name: "too many elements", mutate: set(strings.Repeat("v0=x,", maxEntries) + v.want), wantErr: ErrMalformedSignature},
		{name: "huge garbage header", mutate: set(strings.Repeat("=,", 1<<20)), wantErr: ErrMalformedSignature},
		{name: "stale by 1s", now: 5*time.Minute + time.Second, wantErr: ErrTimestampOutOfTolerance},
		{name: "stale exactly at tolerance passes", now: 5 * time.Minute},
		{name: "future by 1s (stricter than stripe-go)", now: -5*time.Minute - time.Second, wantErr: ErrTimestampOutOfTolerance},
		{name: "future exactly at tolerance passes", now: -5 * time.Minute},
		{name: "custom tolerance 10s, 15s old", tol: 10 * time.Second, now: 15 * time.Second, wantErr: ErrTimestampOutOfTolerance},
	})
}

func TestVerifyHMACSHA256(t *testing.T) {
	v := hmacVector
	base := func() http.Header {
		h := http.Header{}
		h.Set("X-Signature", v.want)
		h.Set("X-Event-Type", "order.paid")
		return h
	}
	set := func(val string) func(http.Header) { return func(h http.Header) { h.Set("X-Signature", val) } }
	runVerifyCases(t, v, base, []verifyCase{
		{name: "valid", wantDel: &Delivery{EventType: "order.paid"}},
		{name: "no event type header", mutate: func(h http.Header) { h.Del("X-Event-Type") }, wantDel: &Delivery{}},
		{name: "sha256= prefix accepted", mutate: set("sha256=" + v.want)},
		{name: "uppercase hex", mutate: set(strings.ToUpper(v.want))},
		{name: "tampered body", body: ptr(`{"order_id":43,"status":"paid"}`), wantErr: ErrSignatureMismatch},
		{name: "wrong secret", secrets: []string{"hookline-demo-secret2"}, wantErr: ErrSignatureMismatch},
		{name: "second active secret matches", secrets: []string{"rotated", v.secret}},
		{name: "missing", mutate: func(h http.Header) { h.Del("X-Signature") }, wantErr: ErrMissingSignature},
		{name: "empty", mutate: set(""), wantErr: ErrMissingSignature},
		{name: "other prefix", mutate: set("sha1=" + v.want), wantErr: ErrMalformedSignature},
		{name: "malformed hex", mutate: set(v.want[:63] + "x"), wantErr: ErrMalformedSignature},
		{name: "base64 instead of hex", mutate: set(junkB64), wantErr: ErrMalformedSignature},
		{name: "huge garbage header", mutate: set(strings.Repeat("a", 1<<20)), wantErr: ErrMalformedSignature},
	})
}

func TestNewValidatesSecrets(t *testing.T) {
	b64 := func(n int) string { return base64.StdEncoding.EncodeToString(make([]byte, n)) }
	cases := []struct {
		scheme  string
		secrets []string
		tol     time.Duration
		wantErr string // substring; "" means valid
	}{
		{Standard, []string{"whsec_" + b64(24)}, 0, ""},
		{Standard, []string{b64(24)}, 0, ""},
		{Standard, []string{"whsec_" + b64(64)}, 0, ""},
		{Standard, []string{"whsec_" + b64(23)}, 0, "decodes to 23 bytes; Standard Webhooks keys are 24–64 bytes"},
		{Standard, []string{"whsec_" + b64(65)}, 0, "decodes to 65 bytes"},
		{Standard, []string{"whsec_" + strings.TrimRight(b64(25), "=")}, 0, "not standard padded base64"},
		{Standard, []string{"whsec_" + base64.URLEncoding.EncodeToString(append(make([]byte, 23), 0xff))}, 0, "not standard padded base64"},
		{Standard, []string{"whsec_" + b64(24)[:16] + "\n" + b64(24)[16:]}, 0, "not standard padded base64"},
		{Standard, []string{"whsec_" + b64(24) + " "}, 0, "not standard padded base64"},
		{Standard, []string{"whsec_"}, 0, "nothing after the whsec_ prefix"},
		{Standard, []string{"whsec_" + b64(24), "oops"}, 0, "secret #2"},
		{Standard, []string{"It's a Secret to Everybody"}, 0, "not standard padded base64"},
		{GitHub, []string{"It's a Secret to Everybody"}, 0, ""},
		{GitHub, []string{""}, 0, "secret #1: empty"},
		{GitHub, []string{"s3cret\n"}, 0, "leading or trailing whitespace"},
		{Stripe, []string{"whsec_test_secret"}, 0, ""},
		{Stripe, []string{" whsec_test_secret"}, 0, "leading or trailing whitespace"},
		{HMACSHA256, []string{"k"}, 0, ""},
		{HMACSHA256, nil, 0, "secrets: at least one secret is required"},
		{HMACSHA256, []string{"k"}, -time.Second, "negative tolerance"},
		{"svix", []string{"k"}, 0, `unknown scheme "svix"`},
		{"Standard", []string{"k"}, 0, "unknown scheme"},
	}
	for i, c := range cases {
		t.Run(fmt.Sprintf("%d/%s", i, c.scheme), func(t *testing.T) {
			v, err := New(c.scheme, c.secrets, c.tol)
			if c.wantErr == "" {
				require.NoError(t, err)
				require.NotNil(t, v)
				return
			}
			require.Error(t, err)
			assert.Nil(t, v)
			assert.Contains(t, err.Error(), c.wantErr)
			for _, s := range c.secrets {
				if bare := strings.TrimSpace(strings.TrimPrefix(s, "whsec_")); len(bare) > 2 {
					assert.NotContains(t, err.Error(), strings.TrimSpace(strings.TrimPrefix(s, "whsec_")), "error leaks the secret")
				}
			}
			// Sign validates the same way.
			if len(c.secrets) == 1 && c.tol == 0 {
				_, err := Sign(c.scheme, c.secrets[0], "id", time.Unix(1, 0), nil)
				assert.Error(t, err)
			}
		})
	}
}

func TestSignErrors(t *testing.T) {
	_, err := Sign(Standard, goVector.secret, "", time.Unix(1, 0), nil)
	assert.ErrorContains(t, err, "id is required")
	_, err = Sign(Standard, goVector.secret, "a.b", time.Unix(1, 0), nil)
	assert.ErrorContains(t, err, "must not contain '.'")
	_, err = Sign(Standard, goVector.secret, "a", time.Unix(-1, 0), nil)
	assert.ErrorContains(t, err, "before 1970")
	_, err = Sign(Stripe, "whsec_x", "", time.Unix(-1, 0), nil)
	assert.ErrorContains(t, err, "before 1970")
}

func TestSignVerifyRoundTrip(t *testing.T) {
	secrets := map[string]string{
		Standard: otherStdSecret, GitHub: "gh-secret", Stripe: "whsec_roundtrip", HMACSHA256: "plain",
	}
	bodies := []string{"", "x", `{"id":"evt_9","type":"a.b"}`, strings.Repeat("\x00\xff.", 5000)}
	now := time.Date(2026, 11, 22, 23, 0, 0, 0, time.UTC)
	for scheme, secret := range secrets {
		for i, body := range bodies {
			t.Run(fmt.Sprintf("%s/%d", scheme, i), func(t *testing.T) {
				sent := now.Add(-90 * time.Second).Add(123 * time.Millisecond) // sub-second part is dropped
				h, err := Sign(scheme, secret, "msg_42", sent, []byte(body))
				require.NoError(t, err)
				v, err := New(scheme, []string{"whsec_" + base64.StdEncoding.EncodeToString(make([]byte, 32)), secret}, 0)
				if scheme != Standard {
					v, err = New(scheme, []string{"other", secret}, 0)
				}
				require.NoError(t, err)
				d, err := v.Verify(context.Background(), post(h, []byte(body)), now)
				require.NoError(t, err)
				assert.Equal(t, sentMAC(t, scheme, h), d.MAC, "the MAC under the second secret, which verified")
				switch scheme {
				case Standard:
					assert.Equal(t, "msg_42", d.ID)
					assert.True(t, d.IDSigned)
				case GitHub:
					assert.Equal(t, "msg_42", d.ID)
					assert.False(t, d.IDSigned, "X-GitHub-Delivery is not signed")
				case Stripe:
					if i == 2 {
						assert.Equal(t, Delivery{ID: "evt_9", IDSigned: true, EventType: "a.b"}, withoutMAC(d))
					}
				case HMACSHA256:
					assert.Equal(t, "", d.ID)
					assert.False(t, d.IDSigned)
				}
				if len(body) > 0 {
					tampered := []byte(body)
					tampered[len(tampered)-1] ^= 1
					_, err = v.Verify(context.Background(), post(h, tampered), now)
					assert.ErrorIs(t, err, ErrSignatureMismatch)
				}
			})
		}
	}
}

func TestVerifyConcurrent(t *testing.T) {
	v, err := New(Standard, []string{otherStdSecret, goVector.secret}, 0)
	require.NoError(t, err)
	h := vectorHeader(goVector)
	now := time.Unix(goVector.ts, 0)
	var wg sync.WaitGroup
	for g := 0; g < 8; g++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := 0; i < 200; i++ {
				if _, err := v.Verify(context.Background(), post(h, []byte(goVector.body)), now); err != nil {
					t.Error(err)
					return
				}
				if _, err := v.Verify(context.Background(), post(h, []byte(goVector.body+"x")), now); !errors.Is(err, ErrSignatureMismatch) {
					t.Errorf("want mismatch, got %v", err)
					return
				}
			}
		}()
	}
	wg.Wait()
}

// A verified request costs no allocations when the scheme reads nothing
// from the body; JSON field extraction (standard, stripe) is the only
// allocating step.
func TestVerifyAllocations(t *testing.T) {
	if testing.Short() || raceEnabled {
		t.Skip("allocation counts need a non-race build")
	}
	for _, v := range []vector{goVector, githubVector, hmacVector} {
		ver, err := New(v.scheme, []string{v.secret}, 0)
		require.NoError(t, err)
		h := http.Header{}
		h.Set(v.header, v.want)
		if v.scheme == Standard {
			h = vectorHeader(v)
		}
		now := time.Unix(v.ts, 0)
		body := []byte(v.body)
		if v.scheme == Standard {
			// keep it non-object so no JSON is read
			var err error
			body = []byte("[1,2,3]")
			h, err = Sign(Standard, v.secret, v.id, now, body)
			require.NoError(t, err)
		}
		req := post(h, body)
		ctx := context.Background()
		allocs := testing.AllocsPerRun(200, func() {
			if _, err := ver.Verify(ctx, req, now); err != nil {
				t.Fatal(err)
			}
		})
		assert.Zero(t, allocs, "%s: allocations per verification", v.scheme)
	}
}

// mac is an independent HMAC-SHA256 used by the tests' oracles.
func mac(key []byte, parts ...string) []byte {
	m := hmac.New(sha256.New, key)
	for _, p := range parts {
		m.Write([]byte(p))
	}
	return m.Sum(nil)
}

func TestOracleMatchesVectors(t *testing.T) {
	key, err := base64.StdEncoding.DecodeString(strings.TrimPrefix(goVector.secret, "whsec_"))
	require.NoError(t, err)
	assert.Equal(t, goVector.want, "v1,"+base64.StdEncoding.EncodeToString(mac(key, goVector.id, ".", fmt.Sprint(goVector.ts), ".", goVector.body)))
	assert.Equal(t, githubVector.want, "sha256="+hex.EncodeToString(mac([]byte(githubVector.secret), githubVector.body)))
}

// withoutMAC is d with its MAC zeroed, for comparing the other fields.
func withoutMAC(d Delivery) Delivery {
	d.MAC = [32]byte{}
	return d
}

// sentMAC decodes the (first) signature a request carries, independently of
// the verifiers' parsers.
func sentMAC(t *testing.T, scheme string, h http.Header) [32]byte {
	t.Helper()
	var enc string
	var raw []byte
	var err error
	switch scheme {
	case Standard:
		enc = strings.TrimPrefix(strings.Fields(h.Get("Webhook-Signature"))[0], "v1,")
		raw, err = base64.StdEncoding.DecodeString(enc)
	case GitHub:
		raw, err = hex.DecodeString(strings.TrimPrefix(h.Get("X-Hub-Signature-256"), "sha256="))
	case Stripe:
		_, enc, _ = strings.Cut(h.Get("Stripe-Signature"), "v1=")
		raw, err = hex.DecodeString(enc)
	default:
		raw, err = hex.DecodeString(h.Get("X-Signature"))
	}
	require.NoError(t, err)
	require.Len(t, raw, 32)
	return [32]byte(raw)
}

// TestMACIsUnderFirstVerifyingSecret: a sender rotating its secret sends
// one signature per secret; the MAC reported is the one under the first
// configured secret that verifies, so it depends on the configuration, not
// on the order of the sender's signatures.
func TestMACIsUnderFirstVerifyingSecret(t *testing.T) {
	body := []byte(`{"a":1}`)
	at := time.Unix(1700000000, 0)
	ha, err := Sign(Standard, goVector.secret, "msg_1", at, body)
	require.NoError(t, err)
	hb, err := Sign(Standard, otherStdSecret, "msg_1", at, body)
	require.NoError(t, err)
	macA, macB := sentMAC(t, Standard, ha), sentMAC(t, Standard, hb)
	for _, order := range [][2]http.Header{{ha, hb}, {hb, ha}} {
		h := ha.Clone()
		h.Set("Webhook-Signature", order[0].Get("Webhook-Signature")+" "+order[1].Get("Webhook-Signature"))
		for _, c := range []struct {
			secrets []string
			want    [32]byte
		}{{[]string{goVector.secret, otherStdSecret}, macA}, {[]string{otherStdSecret, goVector.secret}, macB}} {
			v, err := New(Standard, c.secrets, 0)
			require.NoError(t, err)
			d, err := v.Verify(context.Background(), post(h, body), at)
			require.NoError(t, err)
			assert.Equal(t, c.want, d.MAC)
		}
	}
}

// post is a POST request to a source path carrying h and body.
func post(h http.Header, body []byte) *Request {
	return &Request{Method: http.MethodPost, URL: &url.URL{Path: "/webhooks/src"}, Header: h, Body: body}
}
