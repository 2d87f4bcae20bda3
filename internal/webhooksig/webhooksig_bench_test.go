package webhooksig

import (
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"fmt"
	"net/http"
	"strings"
	"testing"
	"time"
)

// benchBody builds a Stripe-shaped JSON event of about n bytes with top-level
// "id" and "type", so standard and stripe pay their real JSON cost.
func benchBody(n int) []byte {
	head := `{"id":"evt_1NG8Du2eZvKYlo2CUI79vXWy","object":"event","type":"invoice.paid","data":{"object":{"note":"`
	tail := `"}}}`
	pad := n - len(head) - len(tail)
	if pad < 0 {
		pad = 0
	}
	return []byte(head + strings.Repeat("x", pad) + tail)
}

var benchSecrets = map[string][]string{
	// The matching secret is second: every verification computes two MACs
	// in the "rotation" variants below.
	Standard:   {otherStdSecret, goVector.secret},
	GitHub:     {"rotated-secret", githubVector.secret},
	Stripe:     {"whsec_rotated", stripeVector.secret},
	HMACSHA256: {"rotated", hmacVector.secret},
}

// BenchmarkVerify measures one successful verification per op, per scheme
// and body size; "rotation" has the matching secret second of two.
func BenchmarkVerify(b *testing.B) {
	now := time.Unix(1_700_000_000, 0)
	for _, scheme := range []string{Standard, GitHub, Stripe, HMACSHA256} {
		for _, size := range []int{1 << 10, 64 << 10} {
			for _, rotation := range []bool{false, true} {
				name := fmt.Sprintf("%s/%dKiB", scheme, size>>10)
				secrets := benchSecrets[scheme][1:]
				if rotation {
					name += "/rotation"
					secrets = benchSecrets[scheme]
				}
				body := benchBody(size)
				h, err := Sign(scheme, benchSecrets[scheme][1], "msg_2KWPBgLlAfxdpx2AI54pPJ85f4W", now, body)
				if err != nil {
					b.Fatal(err)
				}
				v, err := New(scheme, secrets, 0)
				if err != nil {
					b.Fatal(err)
				}
				req := post(h, body)
				b.Run(name, func(b *testing.B) {
					b.ReportAllocs()
					b.SetBytes(int64(len(body)))
					for b.Loop() {
						if _, err := v.Verify(context.Background(), req, now); err != nil {
							b.Fatal(err)
						}
					}
				})
			}
		}
	}
}

// BenchmarkVerifyReject: a forged signature (the common attack load) costs
// one MAC per active secret and no JSON.
func BenchmarkVerifyReject(b *testing.B) {
	now := time.Unix(1_700_000_000, 0)
	body := benchBody(1 << 10)
	for _, scheme := range []string{Standard, GitHub, Stripe, HMACSHA256} {
		h, err := Sign(scheme, benchSecrets[scheme][1], "msg_1", now, body)
		if err != nil {
			b.Fatal(err)
		}
		v, err := New(scheme, benchSecrets[scheme][:1], 0)
		if err != nil {
			b.Fatal(err)
		}
		req := post(h, body)
		b.Run(scheme+"/1KiB", func(b *testing.B) {
			b.ReportAllocs()
			for b.Loop() {
				if _, err := v.Verify(context.Background(), req, now); err == nil {
					b.Fatal("forged signature accepted")
				}
			}
		})
	}
}

// BenchmarkVerifyGarbageHeader: a 10 KiB junk signature header (the most
// API Gateway lets through) is rejected without quadratic work.
func BenchmarkVerifyGarbageHeader(b *testing.B) {
	now := time.Unix(1_700_000_000, 0)
	v, err := New(Standard, benchSecrets[Standard], 0)
	if err != nil {
		b.Fatal(err)
	}
	h := http.Header{
		"Webhook-Id":        {"msg_1"},
		"Webhook-Timestamp": {"1700000000"},
		"Webhook-Signature": {strings.Repeat("v1,AAAA", 10<<10/7)},
	}
	req := post(h, nil)
	b.ReportAllocs()
	for b.Loop() {
		if _, err := v.Verify(context.Background(), req, now); err == nil {
			b.Fatal("accepted")
		}
	}
}

// BenchmarkBaselineHMACSHA256 is the floor: a naive hmac.New + Write + Sum
// over the same bodies, with no header parsing, pooling or JSON.
func BenchmarkBaselineHMACSHA256(b *testing.B) {
	key := []byte(hmacVector.secret)
	for _, size := range []int{1 << 10, 64 << 10} {
		body := benchBody(size)
		b.Run(fmt.Sprintf("%dKiB", size>>10), func(b *testing.B) {
			b.ReportAllocs()
			b.SetBytes(int64(len(body)))
			for b.Loop() {
				m := hmac.New(sha256.New, key)
				m.Write(body)
				_ = m.Sum(nil)
			}
		})
	}
}

// BenchmarkSign: the processor's callback signing path.
func BenchmarkSign(b *testing.B) {
	now := time.Unix(1_700_000_000, 0)
	body := benchBody(1 << 10)
	b.ReportAllocs()
	for b.Loop() {
		if _, err := Sign(Standard, goVector.secret, "msg_1", now, body); err != nil {
			b.Fatal(err)
		}
	}
}
