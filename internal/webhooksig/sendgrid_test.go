package webhooksig

import (
	"bytes"
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/sha256"
	"crypto/x509"
	"encoding/base64"
	"net/http"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/sendgrid/sendgrid-go/helpers/eventwebhook"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// The published vector: sendgrid-go, helpers/eventwebhook/eventwebhook_test.go
// (TestVerifySignature): its key, timestamp and signature, over the payload
// json.Marshal gives for its map (keys sorted).
const (
	sgVectorKey       = "MFkwEwYHKoZIzj0CAQYIKoZIzj0DAQcDQgAEEDr2LjtURuePQzplybdC+u4CwrqDqBaWjcMMsTbhdbcwHBcepxo7yAQGhHPTnlvFYPAZFceEu/1FwCM/QmGUhA=="
	sgVectorTimestamp = "1588788367"
	sgVectorSignature = "MEUCIQCtIHJeH93Y+qpYeWrySphQgpNGNr/U+UyUlBkU6n7RAwIgJTz2C+8a8xonZGi6BpSzoQsbVRamr2nlxFDWYNH2j/0="
	sgVectorPayload   = `{"category":"example_payload","event":"test_event","message_id":"message_id"}`
)

func sgHeaders(sig, ts string) http.Header {
	h := http.Header{}
	h.Set("X-Twilio-Email-Event-Webhook-Signature", sig)
	h.Set("X-Twilio-Email-Event-Webhook-Timestamp", ts)
	return h
}

func TestSendGridPublishedVector(t *testing.T) {
	v, err := NewVerifier(Config{Scheme: SendGrid, Secrets: []string{sgVectorKey}})
	require.NoError(t, err)
	ts, _ := strconv.ParseInt(sgVectorTimestamp, 10, 64)
	now := time.Unix(ts, 0)
	r := asymReq(http.MethodPost, "", sgHeaders(sgVectorSignature, sgVectorTimestamp), []byte(sgVectorPayload))
	d, err := v.Verify(context.Background(), r, now)
	require.NoError(t, err)
	assert.Equal(t, Delivery{MAC: sha([]byte(sgVectorPayload))}, d, "an object body has no batch type and no id")

	// The SDK's own negative cases.
	r.Body = []byte("this is not valid payload for the given signature")
	_, err = v.Verify(context.Background(), r, now)
	wantSentinel(t, err, ErrSignatureMismatch)
	r = asymReq(http.MethodPost, "", sgHeaders(sgVectorSignature+"causing failure", sgVectorTimestamp), []byte(sgVectorPayload))
	_, err = v.Verify(context.Background(), r, now)
	wantSentinel(t, err, ErrMalformedSignature)
	r = asymReq(http.MethodPost, "", sgHeaders(sgVectorSignature, "invalid timestamp"), []byte(sgVectorPayload))
	_, err = v.Verify(context.Background(), r, now)
	wantSentinel(t, err, ErrMalformedSignature)
	r = asymReq(http.MethodPost, "", sgHeaders(sgVectorSignature, sgVectorTimestamp), []byte(sgVectorPayload))
	_, err = v.Verify(context.Background(), r, now.Add(DefaultTolerance+time.Second))
	wantSentinel(t, err, ErrTimestampOutOfTolerance)
}

type sgKey struct {
	priv *ecdsa.PrivateKey
	pub  string // as the console shows it
}

func newSGKey(t *testing.T) sgKey {
	t.Helper()
	k, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	require.NoError(t, err)
	der, err := x509.MarshalPKIXPublicKey(&k.PublicKey)
	require.NoError(t, err)
	return sgKey{priv: k, pub: base64.StdEncoding.EncodeToString(der)}
}

func (k sgKey) sign(t *testing.T, ts time.Time, body []byte) http.Header {
	t.Helper()
	tsStr := strconv.FormatInt(ts.Unix(), 10)
	d := sha256.Sum256(append([]byte(tsStr), body...))
	sig, err := ecdsa.SignASN1(rand.Reader, k.priv, d[:])
	require.NoError(t, err)
	return sgHeaders(base64.StdEncoding.EncodeToString(sig), tsStr)
}

const sgBatch = `[{"email":"a@example.com","timestamp":1767225600,"event":"delivered","sg_event_id":"e1"},` +
	`{"email":"b@example.com","timestamp":1767225600,"event":"delivered","sg_event_id":"e2"}]`

// TestSendGridAgreesWithSDK: for generated keys, hookline's verdict equals
// sendgrid-go's eventwebhook.VerifySignature on valid and altered requests.
func TestSendGridAgreesWithSDK(t *testing.T) {
	k := newSGKey(t)
	v, err := NewVerifier(Config{Scheme: SendGrid, Secrets: []string{k.pub}})
	require.NoError(t, err)
	sdkKey, err := eventwebhook.ConvertPublicKeyBase64ToECDSA(k.pub)
	require.NoError(t, err)
	other := newSGKey(t)
	for i, c := range []struct {
		body []byte
		h    http.Header
		ok   bool
	}{
		{[]byte(sgBatch), k.sign(t, asymNow, []byte(sgBatch)), true},
		{[]byte(`[]`), k.sign(t, asymNow, []byte(`[]`)), true},
		{[]byte{}, k.sign(t, asymNow, nil), true},
		{[]byte(sgBatch + " "), k.sign(t, asymNow, []byte(sgBatch)), false},
		{[]byte(sgBatch), other.sign(t, asymNow, []byte(sgBatch)), false},
	} {
		sdkOK, sdkErr := eventwebhook.VerifySignature(sdkKey, c.body,
			c.h.Get("X-Twilio-Email-Event-Webhook-Signature"), c.h.Get("X-Twilio-Email-Event-Webhook-Timestamp"))
		require.NoError(t, sdkErr)
		require.Equal(t, c.ok, sdkOK, "case %d: the SDK disagrees with the test's expectation", i)
		_, err := v.Verify(context.Background(), asymReq(http.MethodPost, "", c.h, c.body), asymNow)
		if c.ok {
			assert.NoError(t, err, "case %d", i)
		} else {
			wantSentinel(t, err, ErrSignatureMismatch)
		}
	}
}

func TestSendGridDelivery(t *testing.T) {
	k, k2 := newSGKey(t), newSGKey(t)
	v, err := NewVerifier(Config{Scheme: SendGrid, Secrets: []string{k2.pub, k.pub}})
	require.NoError(t, err)
	for _, c := range []struct{ body, typ string }{
		{sgBatch, "delivered"},
		{strings.Replace(sgBatch, `"event":"delivered","sg_event_id":"e2"`, `"event":"open","sg_event_id":"e2"`, 1), ""},
		{`[{"event":"bounce"}]`, "bounce"},
		{`[{"event":"bounce"},{}]`, ""},
		{`[{"event":5}]`, ""},
		{`{"event":"bounce"}`, ""},
		{`not json`, ""},
	} {
		body := []byte(c.body)
		d, err := v.Verify(context.Background(), asymReq(http.MethodPost, "", k.sign(t, asymNow, body), body), asymNow)
		require.NoError(t, err, c.body)
		assert.Equal(t, Delivery{EventType: c.typ, MAC: sha(body)}, d, c.body)
	}
}

func TestSendGridRejects(t *testing.T) {
	k := newSGKey(t)
	v, err := NewVerifier(Config{Scheme: SendGrid, Secrets: []string{k.pub}})
	require.NoError(t, err)
	body := []byte(sgBatch)
	valid := k.sign(t, asymNow, body)
	mk := func() *Request { return asymReq(http.MethodPost, "", valid.Clone(), bytes.Clone(body)) }
	set := func(key, val string) func(r *Request) { return func(r *Request) { r.Header.Set(key, val) } }
	resign := func(ts time.Time) func(r *Request) { return func(r *Request) { r.Header = k.sign(t, ts, body) } }
	runAsymCases(t, v, mk, []asymCase{
		{"tampered body", func(r *Request) { r.Body[3] ^= 1 }, ErrSignatureMismatch},
		{"wrong key", func(r *Request) { r.Header = newSGKey(t).sign(t, asymNow, body) }, ErrSignatureMismatch},
		{"timestamp changed", set("X-Twilio-Email-Event-Webhook-Timestamp", strconv.FormatInt(asymNow.Unix()-1, 10)), ErrSignatureMismatch},
		{"stale", resign(asymNow.Add(-DefaultTolerance - time.Second)), ErrTimestampOutOfTolerance},
		{"future", resign(asymNow.Add(DefaultTolerance + time.Second)), ErrTimestampOutOfTolerance},
		{"no signature", func(r *Request) { r.Header.Del("X-Twilio-Email-Event-Webhook-Signature") }, ErrMissingSignature},
		{"no timestamp", func(r *Request) { r.Header.Del("X-Twilio-Email-Event-Webhook-Timestamp") }, ErrMissingSignature},
		{"signature not base64", set("X-Twilio-Email-Event-Webhook-Signature", "!!!!"), ErrMalformedSignature},
		{"signature not DER", set("X-Twilio-Email-Event-Webhook-Signature", base64.StdEncoding.EncodeToString([]byte("0123456789"))), ErrSignatureMismatch},
		{"signature oversized", set("X-Twilio-Email-Event-Webhook-Signature", strings.Repeat("A", 9000)), ErrMalformedSignature},
		{"two signatures", func(r *Request) {
			r.Header.Add("X-Twilio-Email-Event-Webhook-Signature", r.Header.Get("X-Twilio-Email-Event-Webhook-Signature"))
		}, ErrMalformedSignature},
		{"timestamp malformed", set("X-Twilio-Email-Event-Webhook-Timestamp", "-5"), ErrMalformedSignature},
	}, k.pub)
}

func TestSendGridConfig(t *testing.T) {
	p384, err := ecdsa.GenerateKey(elliptic.P384(), rand.Reader)
	require.NoError(t, err)
	der384, err := x509.MarshalPKIXPublicKey(&p384.PublicKey)
	require.NoError(t, err)
	pemForm := "-----BEGIN PUBLIC KEY-----\n" + sgVectorKey + "\n-----END PUBLIC KEY-----"
	for _, c := range []Config{
		{Scheme: SendGrid},
		{Scheme: SendGrid, Secrets: []string{""}},
		{Scheme: SendGrid, Secrets: []string{"not base64!"}},
		{Scheme: SendGrid, Secrets: []string{base64.StdEncoding.EncodeToString([]byte("not DER"))}},
		{Scheme: SendGrid, Secrets: []string{base64.StdEncoding.EncodeToString(der384)}},
		{Scheme: SendGrid, Secrets: []string{pemForm}},
		{Scheme: SendGrid, Secrets: []string{sgVectorKey}, SignedURL: "https://example.com/"},
	} {
		_, err := NewVerifier(c)
		assert.Error(t, err, "%+v", c)
	}
}
