package webhooksig

import (
	"context"
	"encoding/json"
	"errors"
	"net"
	"net/http"
	"strconv"
	"sync/atomic"
	"testing"
	"time"
)

// Fuzz targets for the parsers of discord, sendgrid, sns, oidc, the token
// schemes and standard v1a: no input panics, every refusal wraps exactly
// one sentinel and returns no delivery, and what is accepted is what the
// scheme accepts.

func fuzzOneSentinel(t *testing.T, err error) {
	t.Helper()
	n := 0
	for _, s := range Sentinels {
		if errors.Is(err, s) {
			n++
		}
	}
	if n != 1 {
		t.Fatalf("error wraps %d sentinels: %v", n, err)
	}
}

func fuzzCheck(t *testing.T, d Delivery, err error) {
	t.Helper()
	if err != nil {
		fuzzOneSentinel(t, err)
		if d != (Delivery{}) {
			t.Fatalf("refused request returned %+v", d)
		}
	}
}

// failingClient dials nothing: outbound fetches fail (and are counted).
func failingClient(dials *atomic.Int64) *http.Client {
	return &http.Client{Transport: &http.Transport{DialContext: func(context.Context, string, string) (net.Conn, error) {
		dials.Add(1)
		return nil, errors.New("no network in fuzzing")
	}}}
}

func FuzzVerifyDiscord(f *testing.F) {
	ts := strconv.FormatInt(asymNow.Unix(), 10)
	for _, body := range []string{discordPingBody, discordEvPingBody, discordCommandBody, discordEventBody, "", "{"} {
		h := discordHeaders(discordPriv, asymNow, []byte(body))
		f.Add(h.Get("X-Signature-Ed25519"), ts, []byte(body))
	}
	f.Add("zz", "-1", []byte(`{"type":0}`))
	v, err := NewVerifier(Config{Scheme: Discord, Secrets: []string{discordPub}})
	if err != nil {
		f.Fatal(err)
	}
	f.Fuzz(func(t *testing.T, sig, ts string, body []byte) {
		h := http.Header{}
		h.Set("X-Signature-Ed25519", sig)
		h.Set("X-Signature-Timestamp", ts)
		r := asymReq(http.MethodPost, "", h, body)
		resp, err := v.(Handshaker).Handshake(context.Background(), r, asymNow)
		if err != nil {
			fuzzOneSentinel(t, err)
		}
		if resp != nil && err != nil {
			t.Fatal("a response and an error")
		}
		d, err := v.Verify(context.Background(), r, asymNow)
		fuzzCheck(t, d, err)
		if err == nil && (d.Reply == nil || d.MAC != sha(body)) {
			t.Fatalf("accepted delivery without reply or with another MAC: %+v", d)
		}
	})
}

func FuzzVerifySendGrid(f *testing.F) {
	f.Add(sgVectorSignature, sgVectorTimestamp, []byte(sgVectorPayload))
	f.Add("MEUCIQ==", "0", []byte("[]"))
	f.Add("", "", []byte(nil))
	v, err := NewVerifier(Config{Scheme: SendGrid, Secrets: []string{sgVectorKey}})
	if err != nil {
		f.Fatal(err)
	}
	ts, _ := strconv.ParseInt(sgVectorTimestamp, 10, 64)
	now := time.Unix(ts, 0)
	f.Fuzz(func(t *testing.T, sig, ts string, body []byte) {
		h := http.Header{}
		h.Set("X-Twilio-Email-Event-Webhook-Signature", sig)
		h.Set("X-Twilio-Email-Event-Webhook-Timestamp", ts)
		d, err := v.Verify(context.Background(), asymReq(http.MethodPost, "", h, body), now)
		fuzzCheck(t, d, err)
		if err == nil && (ts != sgVectorTimestamp || string(body) != sgVectorPayload) {
			t.Fatalf("accepted a request the vector's key never signed: ts %q body %q", ts, body)
		}
	})
}

func FuzzVerifySNS(f *testing.F) {
	f.Add([]byte(`{"Type":"Notification","MessageId":"m","TopicArn":"`+snsTopic+`","Message":"x","Timestamp":"2026-01-01T00:00:00.000Z","SignatureVersion":"2","Signature":"AAAA","SigningCertURL":"`+snsCertURLT+`"}`), "")
	f.Add([]byte(`{"Type":"SubscriptionConfirmation","SubscribeURL":"https://sns.us-east-1.amazonaws.com/?Action=ConfirmSubscription","Timestamp":"2026-01-01T00:00:00Z","SignatureVersion":"1","Signature":"AA==","SigningCertURL":"https://example.com/x.pem"}`), "")
	f.Add([]byte("Hello"), "true")
	f.Add([]byte(`{"Subject":null}`), "")
	var dials atomic.Int64
	v, err := NewVerifier(Config{Scheme: SNS, Topics: []string{snsTopic}, HTTPClient: failingClient(&dials)})
	if err != nil {
		f.Fatal(err)
	}
	f.Fuzz(func(t *testing.T, body []byte, raw string) {
		h := http.Header{}
		if raw != "" {
			h.Set("X-Amz-Sns-Rawdelivery", raw)
		}
		r := asymReq(http.MethodPost, "", h, body)
		before := dials.Load()
		resp, err := v.(Handshaker).Handshake(context.Background(), r, asymNow)
		if err != nil {
			fuzzOneSentinel(t, err)
		}
		if resp != nil {
			t.Fatalf("handshake answered without a certificate: %+v", resp)
		}
		d, err := v.Verify(context.Background(), r, asymNow)
		fuzzCheck(t, d, err)
		if err == nil {
			t.Fatal("verified without a certificate")
		}
		if dials.Load() != before && !errors.Is(err, ErrUnavailable) {
			// Only an accepted SigningCertURL is dialed, and the fetch fails.
			t.Fatalf("dialed, yet the error is not ErrUnavailable: %v", err)
		}
	})
}

func FuzzVerifyOIDC(f *testing.F) {
	f.Add("Bearer eyJhbGciOiJub25lIn0.eyJpc3MiOiJ4In0.")
	f.Add("Bearer a.b.c")
	f.Add("bearer ")
	f.Add("Basic x")
	var dials atomic.Int64
	v, err := NewVerifier(Config{Scheme: OIDC, Issuer: oidcIssuer, Audience: oidcAudience,
		JWKSURL: "https://www.googleapis.com/oauth2/v3/certs", HTTPClient: failingClient(&dials)})
	if err != nil {
		f.Fatal(err)
	}
	f.Fuzz(func(t *testing.T, auth string) {
		h := http.Header{}
		h.Set("Authorization", auth)
		d, err := v.Verify(context.Background(), asymReq(http.MethodPost, "", h, nil), asymNow)
		fuzzCheck(t, d, err)
		if err == nil {
			t.Fatal("verified without a JWKS")
		}
	})
}

func FuzzVerifyMSGraph(f *testing.F) {
	f.Add([]byte(graphNotification("state")), "")
	f.Add([]byte(graphNotification("state", "other")), "")
	f.Add([]byte(nil), graphValidationQuery)
	f.Add([]byte(`{"value":[{"clientState":"state"},{}]}`), "validationToken")
	v, err := NewVerifier(Config{Scheme: MSGraph, Secrets: []string{"state"}})
	if err != nil {
		f.Fatal(err)
	}
	f.Fuzz(func(t *testing.T, body []byte, query string) {
		r := asymReq(http.MethodPost, query, nil, body)
		resp, err := v.(Handshaker).Handshake(context.Background(), r, asymNow)
		if err != nil {
			fuzzOneSentinel(t, err)
		}
		if resp != nil && (resp.Status != http.StatusOK || len(resp.Body) == 0) {
			t.Fatalf("bad validation answer %+v", resp)
		}
		d, err := v.Verify(context.Background(), r, asymNow)
		fuzzCheck(t, d, err)
		if err == nil {
			// Accepted: every notification carries the configured clientState.
			m, _ := jsonMembers(body)
			var items []map[string]any
			if jerr := json.Unmarshal(m["value"], &items); jerr != nil || len(items) == 0 {
				t.Fatalf("accepted a body without notifications: %q", body)
			}
			for _, it := range items {
				if it["clientState"] != "state" {
					t.Fatalf("accepted clientState %v", it["clientState"])
				}
			}
		}
	})
}

func FuzzVerifyTokenHeader(f *testing.F) {
	f.Add("tok", []byte(gitlabPush))
	f.Add("", []byte(oktaDelivery))
	f.Add("tok ", []byte("{"))
	gl, err := NewVerifier(Config{Scheme: GitLab, Secrets: []string{"tok"}})
	if err != nil {
		f.Fatal(err)
	}
	ok, err := NewVerifier(Config{Scheme: Okta, Secrets: []string{"tok"}})
	if err != nil {
		f.Fatal(err)
	}
	f.Fuzz(func(t *testing.T, tok string, body []byte) {
		hg, ho := http.Header{}, http.Header{}
		hg.Set("X-Gitlab-Token", tok)
		ho.Set("Authorization", tok)
		for _, c := range []struct {
			v Verifier
			h http.Header
		}{{gl, hg}, {ok, ho}} {
			d, err := c.v.Verify(context.Background(), asymReq(http.MethodPost, "", c.h, body), asymNow)
			fuzzCheck(t, d, err)
			if (err == nil) != (tok == "tok") {
				t.Fatalf("token %q: err %v", tok, err)
			}
			if err == nil && d.MAC != sha(body) {
				t.Fatal("MAC is not the body digest")
			}
		}
	})
}
