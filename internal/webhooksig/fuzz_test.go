package webhooksig

import (
	"context"
	"encoding/base64"
	"encoding/hex"
	"errors"
	"net/http"
	"strconv"
	"strings"
	"testing"
	"time"
)

// Fuzz targets: one per header parser. Properties checked on every input:
//   - Verify never panics;
//   - a rejection wraps exactly one sentinel error and returns a zero Delivery;
//   - an acceptance really carries a valid MAC, checked by an independent
//     oracle (crypto/hmac over the scheme's signed content, the candidate
//     compared in its canonical text form), with the timestamp in tolerance.
//
// Seed corpora live in testdata/fuzz/<FuzzName>/ (valid signatures among
// them, so mutations start next to the accept path).

// fuzzNow is the verifiers' clock: the Go vector's timestamp.
var fuzzNow = time.Unix(goVector.ts, 0)

func fuzzStdKeys() [][]byte {
	var keys [][]byte
	for _, s := range []string{otherStdSecret, goVector.secret} {
		k, err := base64.StdEncoding.DecodeString(strings.TrimPrefix(s, "whsec_"))
		if err != nil {
			panic(err)
		}
		keys = append(keys, k)
	}
	return keys
}

func checkRejected(t *testing.T, d Delivery, err error) {
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
	if d != (Delivery{}) {
		t.Fatalf("rejected request returned %+v", d)
	}
}

func inTolerance(ts string) bool {
	n, err := strconv.ParseInt(ts, 10, 64)
	if err != nil || strconv.FormatInt(n, 10) != ts {
		return false
	}
	d := fuzzNow.Sub(time.Unix(n, 0))
	return d <= DefaultTolerance && d >= -DefaultTolerance
}

func FuzzVerifyStandard(f *testing.F) {
	f.Add(goVector.want, goVector.id, "1614265330", []byte(goVector.body), false)
	f.Add("v1,"+junkB64+" v1a,xyz "+goVector.want, goVector.id, "1614265330", []byte(goVector.body), true)
	f.Add("v1,", "", "", []byte{}, false)
	v, err := New(Standard, []string{otherStdSecret, goVector.secret}, 0)
	if err != nil {
		f.Fatal(err)
	}
	keys := fuzzStdKeys()
	f.Fuzz(func(t *testing.T, sig, id, ts string, body []byte, svix bool) {
		p := "Webhook-"
		if svix {
			p = "Svix-"
		}
		h := http.Header{p + "Signature": {sig}, p + "Id": {id}, p + "Timestamp": {ts}}
		d, err := v.Verify(context.Background(), post(h, body), fuzzNow)
		if err != nil {
			checkRejected(t, d, err)
			return
		}
		if id == "" || !inTolerance(ts) || d.ID != id {
			t.Fatalf("accepted id=%q ts=%q, delivery %+v", id, ts, d)
		}
		for _, k := range keys {
			want := "v1," + base64.StdEncoding.EncodeToString(mac(k, id, ".", ts, ".", string(body)))
			for _, tok := range strings.Split(sig, " ") {
				if tok == want {
					return
				}
			}
		}
		t.Fatalf("accepted without a valid MAC: sig=%q id=%q ts=%q", sig, id, ts)
	})
}

// hexOracle reports whether candidate (after an exact prefix) is the hex
// MAC in either case.
func hexOracle(candidate, prefix string, m []byte) bool {
	return strings.HasPrefix(candidate, prefix) && strings.EqualFold(candidate[len(prefix):], hex.EncodeToString(m))
}

func FuzzVerifyGitHub(f *testing.F) {
	f.Add(githubVector.want, []byte(githubVector.body))
	f.Add("sha256=", []byte{})
	secrets := []string{"another secret", githubVector.secret}
	v, err := New(GitHub, secrets, 0)
	if err != nil {
		f.Fatal(err)
	}
	f.Fuzz(func(t *testing.T, sig string, body []byte) {
		h := http.Header{"X-Hub-Signature-256": {sig}, "X-Github-Delivery": {"d-1"}}
		d, err := v.Verify(context.Background(), post(h, body), fuzzNow)
		if err != nil {
			checkRejected(t, d, err)
			return
		}
		if d.ID != "d-1" {
			t.Fatalf("delivery %+v", d)
		}
		for _, s := range secrets {
			if hexOracle(sig, "sha256=", mac([]byte(s), string(body))) {
				return
			}
		}
		t.Fatalf("accepted without a valid MAC: sig=%q", sig)
	})
}

func FuzzVerifyHMACSHA256(f *testing.F) {
	f.Add(hmacVector.want, []byte(hmacVector.body))
	f.Add("sha256="+hmacVector.want, []byte(hmacVector.body))
	secrets := []string{"rotated", hmacVector.secret}
	v, err := New(HMACSHA256, secrets, 0)
	if err != nil {
		f.Fatal(err)
	}
	f.Fuzz(func(t *testing.T, sig string, body []byte) {
		d, err := v.Verify(context.Background(), post(http.Header{"X-Signature": {sig}}, body), fuzzNow)
		if err != nil {
			checkRejected(t, d, err)
			return
		}
		for _, s := range secrets {
			m := mac([]byte(s), string(body))
			if hexOracle(sig, "", m) || hexOracle(sig, "sha256=", m) {
				return
			}
		}
		t.Fatalf("accepted without a valid MAC: sig=%q", sig)
	})
}

func FuzzVerifyStripe(f *testing.F) {
	// The Stripe vector re-signed at fuzzNow so it is within tolerance.
	h, err := Sign(Stripe, stripeVector.secret, "", fuzzNow, []byte(stripeVector.body))
	if err != nil {
		f.Fatal(err)
	}
	f.Add(h.Get("Stripe-Signature"), []byte(stripeVector.body))
	f.Add("t=1614265330,v0=00,v1="+junkHex+","+strings.TrimPrefix(h.Get("Stripe-Signature"), "t=1614265330,"), []byte(stripeVector.body))
	f.Add("t=,v1=", []byte("{}"))
	secrets := []string{"whsec_rolled", stripeVector.secret}
	v, err := New(Stripe, secrets, 0)
	if err != nil {
		f.Fatal(err)
	}
	f.Fuzz(func(t *testing.T, sig string, body []byte) {
		d, err := v.Verify(context.Background(), post(http.Header{"Stripe-Signature": {sig}}, body), fuzzNow)
		if err != nil {
			checkRejected(t, d, err)
			return
		}
		elems := strings.Split(sig, ",")
		ts := ""
		for _, e := range elems {
			if strings.HasPrefix(e, "t=") {
				if ts != "" {
					t.Fatalf("accepted two t= in %q", sig)
				}
				ts = e[2:]
			}
		}
		if !inTolerance(ts) {
			t.Fatalf("accepted t=%q", ts)
		}
		if id, typ := refFields(body); d.ID != id || d.EventType != typ {
			t.Fatalf("delivery %+v, body says id %q type %q", d, id, typ)
		}
		for _, s := range secrets {
			m := mac([]byte(s), ts, ".", string(body))
			for _, e := range elems {
				if hexOracle(e, "v1=", m) {
					return
				}
			}
		}
		t.Fatalf("accepted without a valid MAC: sig=%q", sig)
	})
}

// FuzzNewStandardSecret: anything New accepts is exactly optional "whsec_"
// + padded standard base64 of 24–64 bytes, or "whpk_" + padded standard
// base64 of 32 bytes.
func FuzzNewStandardSecret(f *testing.F) {
	f.Add(goVector.secret)
	f.Add(strings.TrimPrefix(rustVector.secret, "whsec_"))
	f.Add("whsec_")
	f.Add(v1aVector.secret)
	f.Add("whpk_")
	f.Fuzz(func(t *testing.T, secret string) {
		_, err := New(Standard, []string{secret}, 0)
		if err != nil {
			bare := strings.TrimPrefix(strings.TrimPrefix(secret, "whsec_"), "whpk_")
			if strings.Contains(err.Error(), bare) && len(bare) > 8 {
				t.Fatalf("error leaks the secret: %v", err)
			}
			return
		}
		if enc, ok := strings.CutPrefix(secret, "whpk_"); ok {
			k, derr := base64.StdEncoding.DecodeString(enc)
			if derr != nil || len(k) != 32 || base64.StdEncoding.EncodeToString(k) != enc {
				t.Fatalf("accepted whpk_ key %q", secret)
			}
			return
		}
		enc := strings.TrimPrefix(secret, "whsec_")
		k, derr := base64.StdEncoding.DecodeString(enc)
		if derr != nil || strings.ContainsAny(enc, "\r\n") || len(k) < 24 || len(k) > 64 ||
			base64.StdEncoding.EncodeToString(k) != enc {
			t.Fatalf("accepted secret %q", secret)
		}
	})
}

// FuzzVerifyDropbox covers bodyMAC, the parser of every provider whose
// header is one bare MAC of the body.
func FuzzVerifyDropbox(f *testing.F) {
	f.Add(dropboxVector.sig, []byte(dropboxVector.body))
	f.Add("sha256="+dropboxVector.sig, []byte(dropboxVector.body))
	f.Add("", []byte{})
	secrets := []string{"rotated", dropboxVector.secret}
	v, err := NewVerifier(Config{Scheme: Dropbox, Secrets: secrets})
	if err != nil {
		f.Fatal(err)
	}
	f.Fuzz(func(t *testing.T, sig string, body []byte) {
		d, err := v.Verify(context.Background(), post(http.Header{"X-Dropbox-Signature": {sig}}, body), fuzzNow)
		if err != nil {
			checkRejected(t, d, err)
			return
		}
		for _, s := range secrets {
			if hexOracle(sig, "", mac([]byte(s), string(body))) {
				return
			}
		}
		t.Fatalf("accepted without a valid MAC: sig=%q", sig)
	})
}

// FuzzVerifyBodyProviders covers singleSig and the body-MAC providers'
// field readers: any accepted request carries the provider's exact MAC.
func FuzzVerifyBodyProviders(f *testing.F) {
	for i, pv := range bodyVectors {
		f.Add(uint8(i), pv.sig, []byte(pv.body))
	}
	f.Add(uint8(0), "sha256=", []byte{})
	vs := make([]Verifier, len(bodyVectors))
	for i, pv := range bodyVectors {
		v, err := NewVerifier(pv.config("rotated", pv.secret))
		if err != nil {
			f.Fatal(err)
		}
		vs[i] = v
	}
	f.Fuzz(func(t *testing.T, which uint8, sig string, body []byte) {
		i := int(which) % len(bodyVectors)
		pv := bodyVectors[i]
		d, err := vs[i].Verify(context.Background(), post(http.Header{pv.header: {sig}}, body), pv.clock())
		if err != nil {
			checkRejected(t, d, err)
			return
		}
		p := bodyProviders[pv.scheme]
		for _, s := range []string{"rotated", pv.secret} {
			k := keyset{keys: [][]byte{[]byte(s)}, h: p.hash}
			m := k.sum(0, body)
			want := p.prefix + encodeForTest(m, p.enc)
			if sig == want || (p.enc == encHex && strings.EqualFold(sig, want)) {
				return
			}
		}
		t.Fatalf("%s accepted without a valid MAC: sig=%q", pv.scheme, sig)
	})
}

func encodeForTest(m []byte, enc macEncoding) string {
	if enc == encHex {
		return hex.EncodeToString(m)
	}
	return base64.StdEncoding.EncodeToString(m)
}

// FuzzHandshakes: every handshake parser (dropbox, meta and x queries,
// slack and zoom bodies) never panics, and a refusal wraps one sentinel.
func FuzzHandshakes(f *testing.F) {
	f.Add(uint8(0), "challenge=abc", []byte{})
	f.Add(uint8(1), "hub.mode=subscribe&hub.verify_token=t&hub.challenge=1", []byte{})
	f.Add(uint8(2), "crc_token=abc", []byte{})
	f.Add(uint8(3), "", []byte(`{"type":"url_verification","challenge":"c"}`))
	f.Add(uint8(4), "", []byte(`{"event":"endpoint.url_validation","payload":{"plainToken":"p"}}`))
	mk := func(c Config) Handshaker {
		v, err := NewVerifier(c)
		if err != nil {
			f.Fatal(err)
		}
		return v.(Handshaker)
	}
	hs := []Handshaker{
		mk(Config{Scheme: Dropbox, Secrets: []string{"k"}}),
		mk(Config{Scheme: Meta, Secrets: []string{"k"}, HandshakeToken: "t"}),
		mk(Config{Scheme: X, Secrets: []string{"k"}}),
		mk(Config{Scheme: Slack, Secrets: []string{"k"}}),
		mk(Config{Scheme: Zoom, Secrets: []string{"k"}}),
	}
	f.Fuzz(func(t *testing.T, which uint8, query string, body []byte) {
		i := int(which) % len(hs)
		r := get(query)
		if i >= 3 {
			r = post(http.Header{}, body)
		}
		resp, err := hs[i].Handshake(context.Background(), r, fuzzNow)
		if err != nil {
			checkRejected(t, Delivery{}, err)
			if resp != nil {
				t.Fatalf("error with a response")
			}
			return
		}
		if resp != nil && (i >= 3 || resp.Status != http.StatusOK) {
			// slack and zoom answer only signed requests; these are unsigned.
			t.Fatalf("scheme %d answered an unsigned handshake: %+v", i, resp)
		}
	})
}
