package webhooksig

import (
	"context"
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/elliptic"
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"crypto/subtle"
	"crypto/x509"
	"encoding/base64"
	"encoding/hex"
	"fmt"
	"net/http"
	"strconv"
	"strings"
	"testing"
	"time"
)

// One benchmark per verifier family of the provider catalog, each with its
// baseline in the same benchmark, over the same bytes: what the bare
// primitive costs with no header parsing, JSON, pooling or key rotation.
// Sub-benchmark names are <scheme or baseline-…>/<body size>. Every
// verification is a successful one under the only configured key.

var familySizes = []int{1 << 10, 64 << 10}

// benchFamilyNow is the clock of these benchmarks.
var benchFamilyNow = time.Unix(1_700_000_000, 0)

// runVerify benchmarks v.Verify on r, which must verify.
func runVerify(b *testing.B, name string, v Verifier, r *Request) {
	b.Helper()
	if _, err := v.Verify(context.Background(), r, benchFamilyNow); err != nil {
		b.Fatalf("%s: %v", name, err)
	}
	b.Run(name, func(b *testing.B) {
		b.ReportAllocs()
		b.SetBytes(int64(len(r.Body)))
		for b.Loop() {
			if _, err := v.Verify(context.Background(), r, benchFamilyNow); err != nil {
				b.Fatal(err)
			}
		}
	})
}

// runBaseline benchmarks f over body (for the bytes/s figure).
func runBaseline(b *testing.B, name string, body []byte, f func()) {
	b.Helper()
	b.Run(name, func(b *testing.B) {
		b.ReportAllocs()
		b.SetBytes(int64(len(body)))
		for b.Loop() {
			f()
		}
	})
}

func mustVerifier(b *testing.B, c Config) Verifier {
	b.Helper()
	v, err := NewVerifier(c)
	if err != nil {
		b.Fatal(err)
	}
	return v
}

func hmacSHA256(key []byte, parts ...[]byte) []byte {
	m := hmac.New(sha256.New, key)
	for _, p := range parts {
		m.Write(p)
	}
	return m.Sum(nil)
}

// padJSON is a JSON object of about n bytes: prefix members, then a
// padding string, then "}" (prefix must end with a comma or be empty).
func padJSON(prefix string, n int) []byte {
	head := "{" + prefix + `"pad":"`
	pad := n - len(head) - 2
	if pad < 0 {
		pad = 0
	}
	return []byte(head + strings.Repeat("x", pad) + `"}`)
}

// BenchmarkFamilyHMACBody: an HMAC-SHA256 of the body alone in a header
// (shopify base64, dropbox hex), against hmac.New + Write + Sum of the body.
func BenchmarkFamilyHMACBody(b *testing.B) {
	key := []byte("bench-app-secret")
	for _, size := range familySizes {
		body := benchBody(size)
		mac := hmacSHA256(key, body)
		kib := fmt.Sprintf("%dKiB", size>>10)

		h := http.Header{}
		h.Set("X-Shopify-Hmac-Sha256", base64.StdEncoding.EncodeToString(mac))
		h.Set("X-Shopify-Topic", "orders/create")
		runVerify(b, "shopify/"+kib, mustVerifier(b, Config{Scheme: Shopify, Secrets: []string{string(key)}}), post(h, body))

		h = http.Header{}
		h.Set("X-Dropbox-Signature", hex.EncodeToString(mac))
		runVerify(b, "dropbox/"+kib, mustVerifier(b, Config{Scheme: Dropbox, Secrets: []string{string(key)}}), post(h, body))

		runBaseline(b, "baseline-hmac-sha256/"+kib, body, func() { _ = hmacSHA256(key, body) })
	}
}

// BenchmarkFamilyHMACSignedString: an HMAC-SHA256 of a signed string built
// from a timestamp and the body (slack "v0:ts:body", paddle "ts:body"),
// against hmac.New + Write of the same prefix and body + Sum.
func BenchmarkFamilyHMACSignedString(b *testing.B) {
	key := []byte("bench-signing-secret")
	ts := strconv.FormatInt(benchFamilyNow.Unix(), 10)
	for _, size := range familySizes {
		body := benchBody(size)
		kib := fmt.Sprintf("%dKiB", size>>10)

		slackPrefix := []byte("v0:" + ts + ":")
		h := http.Header{}
		h.Set("X-Slack-Request-Timestamp", ts)
		h.Set("X-Slack-Signature", "v0="+hex.EncodeToString(hmacSHA256(key, slackPrefix, body)))
		runVerify(b, "slack/"+kib, mustVerifier(b, Config{Scheme: Slack, Secrets: []string{string(key)}}), post(h, body))

		paddlePrefix := []byte(ts + ":")
		h = http.Header{}
		h.Set("Paddle-Signature", "ts="+ts+";h1="+hex.EncodeToString(hmacSHA256(key, paddlePrefix, body)))
		runVerify(b, "paddle/"+kib, mustVerifier(b, Config{Scheme: Paddle, Secrets: []string{string(key)}, Tolerance: time.Minute}), post(h, body))

		runBaseline(b, "baseline-hmac-sha256/"+kib, body, func() { _ = hmacSHA256(key, slackPrefix, body) })
		// The JSON reading alone, new (jsonscan) beside the encoding/json
		// decoding it replaced.
		runBaseline(b, "json-slack-jsonscan/"+kib, body, func() { _, _ = slackJSON(body) })
		runBaseline(b, "json-slack-encoding-json/"+kib, body, func() { _, _ = oldSlackJSON(body) })
	}
}

// BenchmarkFamilyEd25519: discord (timestamp + body) and standard v1a
// (id.timestamp.body), against ed25519.Verify of the same message with the
// message already assembled.
func BenchmarkFamilyEd25519(b *testing.B) {
	priv := v1aPriv(1)
	pub := priv.Public().(ed25519.PublicKey)
	ts := strconv.FormatInt(benchFamilyNow.Unix(), 10)
	for _, size := range familySizes {
		kib := fmt.Sprintf("%dKiB", size>>10)

		dbody := padJSON(`"application_id":"1","id":"1234567890","token":"tok","type":2,"data":{"name":"ping"},`, size)
		dmsg := append([]byte(ts), dbody...)
		h := http.Header{}
		h.Set("X-Signature-Ed25519", hex.EncodeToString(ed25519.Sign(priv, dmsg)))
		h.Set("X-Signature-Timestamp", ts)
		runVerify(b, "discord/"+kib, mustVerifier(b, Config{Scheme: Discord, Secrets: []string{hex.EncodeToString(pub)}}), post(h, dbody))

		sbody := benchBody(size)
		smsg := []byte("msg_1." + ts + "." + string(sbody))
		h = http.Header{}
		h.Set("Webhook-Id", "msg_1")
		h.Set("Webhook-Timestamp", ts)
		h.Set("Webhook-Signature", "v1a,"+base64.StdEncoding.EncodeToString(ed25519.Sign(priv, smsg)))
		runVerify(b, "standard-v1a/"+kib, mustVerifier(b, Config{Scheme: Standard, Secrets: []string{whpk(pub)}}), post(h, sbody))

		sig := ed25519.Sign(priv, dmsg)
		runBaseline(b, "baseline-ed25519-verify/"+kib, dbody, func() {
			if !ed25519.Verify(pub, dmsg, sig) {
				b.Fatal("baseline does not verify")
			}
		})
	}
}

// BenchmarkFamilyECDSA: sendgrid (ECDSA P-256 over SHA-256 of timestamp +
// body), against sha256.Sum256 + ecdsa.VerifyASN1 of the same bytes.
func BenchmarkFamilyECDSA(b *testing.B) {
	k, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		b.Fatal(err)
	}
	der, err := x509.MarshalPKIXPublicKey(&k.PublicKey)
	if err != nil {
		b.Fatal(err)
	}
	v := mustVerifier(b, Config{Scheme: SendGrid, Secrets: []string{base64.StdEncoding.EncodeToString(der)}})
	ts := strconv.FormatInt(benchFamilyNow.Unix(), 10)
	for _, size := range familySizes {
		kib := fmt.Sprintf("%dKiB", size>>10)
		body := benchBody(size)
		msg := append([]byte(ts), body...)
		d := sha256.Sum256(msg)
		sig, err := ecdsa.SignASN1(rand.Reader, k, d[:])
		if err != nil {
			b.Fatal(err)
		}
		h := http.Header{}
		h.Set("X-Twilio-Email-Event-Webhook-Signature", base64.StdEncoding.EncodeToString(sig))
		h.Set("X-Twilio-Email-Event-Webhook-Timestamp", ts)
		runVerify(b, "sendgrid/"+kib, v, post(h, body))

		runBaseline(b, "baseline-sha256-ecdsa-verify/"+kib, body, func() {
			d := sha256.Sum256(msg)
			if !ecdsa.VerifyASN1(&k.PublicKey, d[:], sig) {
				b.Fatal("baseline does not verify")
			}
		})
	}
}

// BenchmarkFamilyToken: shared-token schemes (gitlab header, okta
// Authorization, msgraph clientState in the body). Every one hashes the
// body for Delivery.MAC, so the baseline is that digest plus the token's
// constant-time comparison; the rest is header and JSON reading.
func BenchmarkFamilyToken(b *testing.B) {
	const token = "bench-shared-token-0123456789abcdef"
	for _, size := range familySizes {
		kib := fmt.Sprintf("%dKiB", size>>10)

		gbody := benchBody(size)
		h := http.Header{}
		h.Set("X-Gitlab-Token", token)
		h.Set("X-Gitlab-Event", "Push Hook")
		h.Set("Idempotency-Key", "f5e5f430-f57b-4e6e-9fac-d9128cd7232f")
		runVerify(b, "gitlab/"+kib, mustVerifier(b, Config{Scheme: GitLab, Secrets: []string{token}}), post(h, gbody))

		obody := padJSON(`"eventId":"okta-ev-1","eventType":"com.okta.event_hook","data":{"events":[{"eventType":"user.session.start"}]},`, size)
		h = http.Header{}
		h.Set("Authorization", token)
		runVerify(b, "okta/"+kib, mustVerifier(b, Config{Scheme: Okta, Secrets: []string{token}}), post(h, obody))

		mbody := []byte(`{"value":[{"id":"graph-1","clientState":"` + token + `","changeType":"created","resource":"` +
			strings.Repeat("x", max(0, size-120)) + `"}]}`)
		runVerify(b, "msgraph/"+kib, mustVerifier(b, Config{Scheme: MSGraph, Secrets: []string{token}}), post(http.Header{}, mbody))

		runBaseline(b, "json-gitlab-jsonscan/"+kib, gbody, func() { _ = memberString(member(gbody, "object_kind")) })
		runBaseline(b, "json-gitlab-encoding-json/"+kib, gbody, func() {
			if m, ok := oldJSONMembers(gbody); ok {
				_ = oldMemberString(m["object_kind"])
			}
		})
		want := sha256.Sum256([]byte(token))
		runBaseline(b, "baseline-sha256-body-compare/"+kib, gbody, func() {
			_ = sha256.Sum256(gbody)
			got := sha256.Sum256([]byte(token))
			if subtle.ConstantTimeCompare(got[:], want[:]) != 1 {
				b.Fatal("baseline token mismatch")
			}
		})
	}
}
