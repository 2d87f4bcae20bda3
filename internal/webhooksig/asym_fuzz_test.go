package webhooksig

import (
	"context"
	"crypto/ed25519"
	"encoding/base64"
	"encoding/json"
	"errors"
	"net"
	"net/http"
	"strconv"
	"strings"
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

// FuzzVerifyStandardV1a: a source holding a whsec_ secret and two whpk_
// keys. Whatever is accepted carries, as one of its space-separated
// entries, a v1 MAC under the whsec_ secret or a v1a Ed25519 signature
// under a whpk_ key, checked by an oracle independent of the parser
// (strings.Fields, base64.StdEncoding, ed25519.Verify); an HMAC keyed with
// a public key's bytes is never accepted.
func FuzzVerifyStandardV1a(f *testing.F) {
	v := v1aVector
	ts := strconv.FormatInt(v.ts, 10)
	v1, err := Sign(Standard, goVector.secret, v.id, time.Unix(v.ts, 0), []byte(v.body))
	if err != nil {
		f.Fatal(err)
	}
	f.Add(v.want, v.id, ts, []byte(v.body))
	f.Add(v1aKey2Sig+" "+v1.Get("Webhook-Signature"), v.id, ts, []byte(v.body))
	f.Add("v1a,"+strings.TrimRight(strings.TrimPrefix(v.want, "v1a,"), "=")+" v1a,", v.id, ts, []byte(v.body))
	f.Add(specExampleHeader, "msg_2KWPBgLlAfxdpx2AI54pPJ85f4W", "1674087231", []byte("{}"))
	secrets := []string{goVector.secret, v.secret, v1aKey2}
	ver, err := NewVerifier(Config{Scheme: Standard, Secrets: secrets})
	if err != nil {
		f.Fatal(err)
	}
	hkey, _ := base64.StdEncoding.DecodeString(strings.TrimPrefix(goVector.secret, "whsec_"))
	var pubs []ed25519.PublicKey
	for _, s := range secrets[1:] {
		k, _ := base64.StdEncoding.DecodeString(strings.TrimPrefix(s, "whpk_"))
		pubs = append(pubs, k)
	}
	now := time.Unix(v.ts, 0)
	f.Fuzz(func(t *testing.T, sig, id, ts string, body []byte) {
		h := http.Header{"Webhook-Signature": {sig}, "Webhook-Id": {id}, "Webhook-Timestamp": {ts}}
		d, err := ver.Verify(context.Background(), asymReq(http.MethodPost, "", h, body), now)
		fuzzCheck(t, d, err)
		if err != nil {
			return
		}
		n, perr := strconv.ParseInt(ts, 10, 64)
		if id == "" || perr != nil || strconv.FormatInt(n, 10) != ts || now.Sub(time.Unix(n, 0)).Abs() > DefaultTolerance || d.ID != id {
			t.Fatalf("accepted id=%q ts=%q, delivery %+v", id, ts, d)
		}
		content := []byte(id + "." + ts + "." + string(body))
		v1ok, v1aok := false, false
		for _, tok := range strings.Fields(sig) {
			if tok == "v1,"+base64.StdEncoding.EncodeToString(mac(hkey, string(content))) {
				v1ok = true
			}
			enc, ok := strings.CutPrefix(tok, "v1a,")
			raw, derr := base64.StdEncoding.DecodeString(enc)
			if !ok || derr != nil || base64.StdEncoding.EncodeToString(raw) != enc || len(raw) != ed25519.SignatureSize {
				continue
			}
			for _, k := range pubs {
				v1aok = v1aok || ed25519.Verify(k, content, raw)
			}
		}
		switch {
		case v1ok:
			return // the MAC is the HMAC, checked by FuzzVerifyStandard
		case v1aok:
			if d.MAC != sha(body) {
				t.Fatalf("v1a delivery with MAC %x", d.MAC)
			}
			return
		}
		t.Fatalf("accepted without a valid signature: sig=%q id=%q ts=%q", sig, id, ts)
	})
}
