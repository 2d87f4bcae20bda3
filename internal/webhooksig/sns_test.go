package webhooksig

import (
	"context"
	"crypto"
	"crypto/rand"
	"crypto/rsa"
	"crypto/sha1"
	"crypto/sha256"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/base64"
	"encoding/json"
	"encoding/pem"
	"errors"
	"math/big"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// SNS publishes no verifiable vector (its example messages' certificates
// are not served here), so the test plays AWS: a test CA, a TLS server with
// a certificate for sns.us-east-1.amazonaws.com (and the .cn partition)
// that the injected HTTPClient trusts and reaches whatever host it dials,
// and an RSA signing certificate served at a SimpleNotificationService
// path. The string to sign is written out here by hand from AWS's
// documentation, independently of stringToSign.

const (
	snsTopic     = "arn:aws:sns:us-east-1:123456789012:orders"
	snsCertPathT = "/SimpleNotificationService-0123456789abcdef0123456789abcdef.pem"
	snsCertURLT  = "https://sns.us-east-1.amazonaws.com" + snsCertPathT
)

type snsFake struct {
	srv       *httptest.Server
	client    *http.Client
	signer    *rsa.PrivateKey
	certPEM   []byte
	dials     atomic.Int64
	certHits  atomic.Int64
	subHits   atomic.Int64
	mu        sync.Mutex
	certState int // http status for the certificate; 0 = 200
	subStatus int
	lastSub   string
}

// snsPKI is the test CA, the TLS server's certificate and the signing
// certificate: made once, as RSA key generation dominates the test time.
type snsPKI struct {
	ca      *x509.Certificate
	srvDER  []byte
	srvKey  *rsa.PrivateKey
	signer  *rsa.PrivateKey
	certPEM []byte
}

var testSNSPKI = sync.OnceValues(func() (*snsPKI, error) {
	p := &snsPKI{}
	caKey, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		return nil, err
	}
	caTmpl := &x509.Certificate{
		SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "hookline test CA"},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(24 * time.Hour),
		IsCA: true, BasicConstraintsValid: true, KeyUsage: x509.KeyUsageCertSign,
	}
	caDER, err := x509.CreateCertificate(rand.Reader, caTmpl, caTmpl, &caKey.PublicKey, caKey)
	if err != nil {
		return nil, err
	}
	if p.ca, err = x509.ParseCertificate(caDER); err != nil {
		return nil, err
	}
	if p.srvKey, err = rsa.GenerateKey(rand.Reader, 2048); err != nil {
		return nil, err
	}
	srvTmpl := &x509.Certificate{
		SerialNumber: big.NewInt(2), Subject: pkix.Name{CommonName: "sns.us-east-1.amazonaws.com"},
		DNSNames:  []string{"sns.us-east-1.amazonaws.com", "sns.cn-north-1.amazonaws.com.cn", "example.com"},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(24 * time.Hour),
		KeyUsage: x509.KeyUsageDigitalSignature, ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
	}
	if p.srvDER, err = x509.CreateCertificate(rand.Reader, srvTmpl, p.ca, &p.srvKey.PublicKey, caKey); err != nil {
		return nil, err
	}
	if p.signer, err = rsa.GenerateKey(rand.Reader, 2048); err != nil {
		return nil, err
	}
	sigTmpl := &x509.Certificate{
		SerialNumber: big.NewInt(3), Subject: pkix.Name{CommonName: "sns.amazonaws.com"},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(24 * time.Hour),
		KeyUsage: x509.KeyUsageDigitalSignature,
	}
	sigDER, err := x509.CreateCertificate(rand.Reader, sigTmpl, p.ca, &p.signer.PublicKey, caKey)
	if err != nil {
		return nil, err
	}
	p.certPEM = pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: sigDER})
	return p, nil
})

func newSNSFake(t *testing.T) *snsFake {
	t.Helper()
	p, err := testSNSPKI()
	require.NoError(t, err)
	f := &snsFake{signer: p.signer, certPEM: p.certPEM}
	srvDER, srvKey, ca := p.srvDER, p.srvKey, p.ca
	f.srv = httptest.NewUnstartedServer(http.HandlerFunc(f.serve))
	f.srv.TLS = &tls.Config{Certificates: []tls.Certificate{{Certificate: [][]byte{srvDER}, PrivateKey: srvKey}}}
	f.srv.StartTLS()
	t.Cleanup(f.srv.Close)

	pool := x509.NewCertPool()
	pool.AddCert(ca)
	addr := f.srv.Listener.Addr().String()
	f.client = &http.Client{Timeout: 5 * time.Second, Transport: &http.Transport{
		TLSClientConfig: &tls.Config{RootCAs: pool, MinVersion: tls.VersionTLS12},
		DialContext: func(ctx context.Context, network, _ string) (net.Conn, error) {
			f.dials.Add(1)
			var d net.Dialer
			return d.DialContext(ctx, network, addr)
		},
	}}
	t.Cleanup(f.client.CloseIdleConnections)
	return f
}

func (f *snsFake) serve(w http.ResponseWriter, r *http.Request) {
	f.mu.Lock()
	certState, subStatus := f.certState, f.subStatus
	f.mu.Unlock()
	switch {
	case r.URL.Path == snsCertPathT:
		f.certHits.Add(1)
		if certState != 0 {
			w.WriteHeader(certState)
			return
		}
		_, _ = w.Write(f.certPEM)
	case r.URL.Path == "/" && r.URL.Query().Get("Action") == "ConfirmSubscription":
		f.subHits.Add(1)
		f.mu.Lock()
		f.lastSub = r.Host + "?" + r.URL.RawQuery
		f.mu.Unlock()
		if subStatus != 0 {
			w.WriteHeader(subStatus)
			return
		}
		_, _ = w.Write([]byte(`<ConfirmSubscriptionResponse/>`))
	default:
		http.NotFound(w, r)
	}
}

func (f *snsFake) set(certState, subStatus int) {
	f.mu.Lock()
	f.certState, f.subStatus = certState, subStatus
	f.mu.Unlock()
}

// snsMsg is a message as a test builds it; fields marshal under SNS's names.
type snsMsg map[string]any

// sign computes the signature over the string to sign, written out per
// AWS's documentation for each message type.
func (f *snsFake) sign(t *testing.T, m snsMsg) snsMsg {
	t.Helper()
	s := func(k string) string { v, _ := m[k].(string); return v }
	var sts string
	if s("Type") == "Notification" {
		sts = "Message\n" + s("Message") + "\nMessageId\n" + s("MessageId") + "\n"
		if subj, ok := m["Subject"].(string); ok {
			sts += "Subject\n" + subj + "\n"
		}
		sts += "Timestamp\n" + s("Timestamp") + "\nTopicArn\n" + s("TopicArn") + "\nType\n" + s("Type") + "\n"
	} else {
		sts = "Message\n" + s("Message") + "\nMessageId\n" + s("MessageId") + "\nSubscribeURL\n" + s("SubscribeURL") +
			"\nTimestamp\n" + s("Timestamp") + "\nToken\n" + s("Token") + "\nTopicArn\n" + s("TopicArn") + "\nType\n" + s("Type") + "\n"
	}
	var sig []byte
	var err error
	if s("SignatureVersion") == "1" {
		d := sha1.Sum([]byte(sts))
		sig, err = rsa.SignPKCS1v15(rand.Reader, f.signer, crypto.SHA1, d[:])
	} else {
		d := sha256.Sum256([]byte(sts))
		sig, err = rsa.SignPKCS1v15(rand.Reader, f.signer, crypto.SHA256, d[:])
	}
	require.NoError(t, err)
	out := snsMsg{}
	for k, v := range m {
		out[k] = v
	}
	out["Signature"] = base64.StdEncoding.EncodeToString(sig)
	return out
}

func snsNotification(version string) snsMsg {
	return snsMsg{
		"Type": "Notification", "MessageId": "22b80b92-fdea-4c2c-8f9d-bdfb0c7bf324", "TopicArn": snsTopic,
		"Subject": "My First Message", "Message": "Hello world!\nline two \"quoted\" é",
		"Timestamp": asymNow.UTC().Format("2006-01-02T15:04:05.000Z"), "SignatureVersion": version,
		"SigningCertURL": snsCertURLT,
		"UnsubscribeURL": "https://sns.us-east-1.amazonaws.com/?Action=Unsubscribe&SubscriptionArn=" + snsTopic + ":c9135db0",
	}
}

func snsConfirmation(typ string) snsMsg {
	return snsMsg{
		"Type": typ, "MessageId": "165545c9-2a5c-472c-8df2-7ff2be2b3b1b", "Token": "2336412f37fb687f5d51e6e241d09c805a5a57b30d712f794cc5f6a988666d92768dd60a747ba6f3beb71854e285d6ad02428b09ceece29417f1f02d609c582afbacc99c583a916b9981dd2728f4ae6fdb82efd087cc3b7849e05798d2d2785c03b0879594eeac82c01f235d0e717736",
		"TopicArn": snsTopic, "Message": "You have chosen to subscribe to the topic " + snsTopic + ".\nTo confirm the subscription, visit the SubscribeURL included in this message.",
		"SubscribeURL":     "https://sns.us-east-1.amazonaws.com/?Action=ConfirmSubscription&TopicArn=" + snsTopic + "&Token=2336412f37",
		"Timestamp":        asymNow.UTC().Format("2006-01-02T15:04:05.000Z"),
		"SignatureVersion": "2", "SigningCertURL": snsCertURLT,
	}
}

func snsReq(t *testing.T, m snsMsg) *Request {
	t.Helper()
	body, err := json.Marshal(m)
	require.NoError(t, err)
	h := http.Header{}
	h.Set("X-Amz-Sns-Message-Type", m["Type"].(string))
	h.Set("Content-Type", "text/plain; charset=UTF-8")
	return asymReq(http.MethodPost, "", h, body)
}

func (f *snsFake) verifier(t *testing.T, topics ...string) *snsVerifier {
	t.Helper()
	if len(topics) == 0 {
		topics = []string{snsTopic}
	}
	v, err := NewVerifier(Config{Scheme: SNS, Topics: topics, HTTPClient: f.client})
	require.NoError(t, err)
	return v.(*snsVerifier)
}

func TestSNSStringToSign(t *testing.T) {
	subj := "s"
	n := snsMessage{Type: "Notification", MessageID: "m", TopicArn: "a", Subject: &subj, Message: "hi\n", Timestamp: "t",
		Token: "ignored", SubscribeURL: "ignored"}
	assert.Equal(t, "Message\nhi\n\nMessageId\nm\nSubject\ns\nTimestamp\nt\nTopicArn\na\nType\nNotification\n", string(n.stringToSign()))
	n.Subject = nil
	assert.Equal(t, "Message\nhi\n\nMessageId\nm\nTimestamp\nt\nTopicArn\na\nType\nNotification\n", string(n.stringToSign()))
	c := snsMessage{Type: "SubscriptionConfirmation", MessageID: "m", TopicArn: "a", Message: "x", Timestamp: "t", Token: "k", SubscribeURL: "u", Subject: &subj}
	assert.Equal(t, "Message\nx\nMessageId\nm\nSubscribeURL\nu\nTimestamp\nt\nToken\nk\nTopicArn\na\nType\nSubscriptionConfirmation\n", string(c.stringToSign()))
}

func TestSNSNotification(t *testing.T) {
	f := newSNSFake(t)
	v := f.verifier(t)
	ctx := context.Background()
	for _, version := range []string{"1", "2"} {
		for name, edit := range map[string]func(snsMsg){
			"subject":       func(snsMsg) {},
			"no subject":    func(m snsMsg) { delete(m, "Subject") },
			"null subject":  func(m snsMsg) { m["Subject"] = nil },
			"empty subject": func(m snsMsg) { m["Subject"] = "" },
		} {
			t.Run(version+"/"+name, func(t *testing.T) {
				m := snsNotification(version)
				edit(m)
				r := snsReq(t, f.sign(t, m))
				resp, err := v.Handshake(ctx, r, asymNow)
				require.NoError(t, err)
				assert.Nil(t, resp, "a notification is not a handshake")
				d, err := v.Verify(ctx, r, asymNow)
				require.NoError(t, err)
				assert.Equal(t, Delivery{ID: "22b80b92-fdea-4c2c-8f9d-bdfb0c7bf324", IDSigned: true, EventType: "Notification", MAC: sha(r.Body)}, d)
			})
		}
	}
	assert.EqualValues(t, 1, f.certHits.Load(), "the signing certificate is fetched once and cached")
	assert.Zero(t, f.subHits.Load())
}

func TestSNSSubscriptionConfirmation(t *testing.T) {
	f := newSNSFake(t)
	v := f.verifier(t)
	ctx := context.Background()
	r := snsReq(t, f.sign(t, snsConfirmation("SubscriptionConfirmation")))

	_, err := v.Verify(ctx, r, asymNow)
	wantSentinel(t, err, ErrMalformedRequest) // a handshake is never published
	assert.Zero(t, f.subHits.Load())

	resp, err := v.Handshake(ctx, r, asymNow)
	require.NoError(t, err)
	require.NotNil(t, resp)
	assert.Equal(t, http.StatusOK, resp.Status)
	assert.EqualValues(t, 1, f.subHits.Load())
	f.mu.Lock()
	assert.Equal(t, "sns.us-east-1.amazonaws.com?Action=ConfirmSubscription&TopicArn="+snsTopic+"&Token=2336412f37", f.lastSub)
	f.mu.Unlock()

	// SNS's confirmation endpoint failing: 503 so SNS sends it again.
	f.set(0, http.StatusInternalServerError)
	_, err = v.Handshake(ctx, r, asymNow)
	wantSentinel(t, err, ErrUnavailable)
}

func TestSNSUnsubscribeConfirmation(t *testing.T) {
	f := newSNSFake(t)
	v := f.verifier(t)
	resp, err := v.Handshake(context.Background(), snsReq(t, f.sign(t, snsConfirmation("UnsubscribeConfirmation"))), asymNow)
	require.NoError(t, err)
	require.NotNil(t, resp)
	assert.Equal(t, http.StatusOK, resp.Status)
	assert.Zero(t, f.subHits.Load(), "an unsubscription confirms nothing")
}

// TestSNSConfirmationRefusals: nothing is fetched from a SubscribeURL unless
// the message verifies, its topic is listed, and the URL is SNS's.
func TestSNSConfirmationRefusals(t *testing.T) {
	f := newSNSFake(t)
	ctx := context.Background()
	v := f.verifier(t)
	for _, c := range []struct {
		name string
		v    *snsVerifier
		edit func(m snsMsg)
		post func(m snsMsg) // after signing
		want error
	}{
		{"topic not listed", f.verifier(t, "arn:aws:sns:us-east-1:123456789012:other"), func(snsMsg) {}, nil, ErrSignatureMismatch},
		{"tampered SubscribeURL", v, func(snsMsg) {}, func(m snsMsg) {
			m["SubscribeURL"] = "https://sns.us-east-1.amazonaws.com/?Action=ConfirmSubscription&TopicArn=" + snsTopic + "&Token=other"
		}, ErrSignatureMismatch},
		{"tampered topic", v, func(snsMsg) {}, func(m snsMsg) { m["TopicArn"] = "arn:aws:sns:us-east-1:123456789012:other" }, ErrSignatureMismatch},
		{"SubscribeURL elsewhere", v, func(m snsMsg) {
			m["SubscribeURL"] = "https://example.com/?Action=ConfirmSubscription&Token=x"
		}, nil, ErrSignatureMismatch},
		{"SubscribeURL over http", v, func(m snsMsg) {
			m["SubscribeURL"] = "http://sns.us-east-1.amazonaws.com/?Action=ConfirmSubscription&Token=x"
		}, nil, ErrSignatureMismatch},
		{"SubscribeURL lookalike host", v, func(m snsMsg) {
			m["SubscribeURL"] = "https://sns.us-east-1.amazonaws.com.example.com/?Action=ConfirmSubscription"
		}, nil, ErrSignatureMismatch},
	} {
		t.Run(c.name, func(t *testing.T) {
			before := f.subHits.Load()
			m := snsConfirmation("SubscriptionConfirmation")
			c.edit(m)
			m = f.sign(t, m)
			if c.post != nil {
				c.post(m)
			}
			resp, err := c.v.Handshake(ctx, snsReq(t, m), asymNow)
			wantSentinel(t, err, c.want)
			assert.Nil(t, resp)
			assert.Equal(t, before, f.subHits.Load(), "nothing confirmed")
		})
	}
}

// TestSNSCertURLRefusedBeforeFetch: a SigningCertURL that is not SNS's is
// refused without any connection being made.
func TestSNSCertURLRefusedBeforeFetch(t *testing.T) {
	f := newSNSFake(t)
	v := f.verifier(t)
	for _, u := range []string{
		"http://sns.us-east-1.amazonaws.com" + snsCertPathT,
		"https://example.com" + snsCertPathT,
		"https://sns.us-east-1.amazonaws.com.example.com" + snsCertPathT,
		"https://evil.com/sns.us-east-1.amazonaws.com" + snsCertPathT,
		"https://user@sns.us-east-1.amazonaws.com" + snsCertPathT,
		"https://sns.us-east-1.amazonaws.com:8443" + snsCertPathT,
		"https://s3.us-east-1.amazonaws.com" + snsCertPathT,
		"https://sns.amazonaws.com" + snsCertPathT,
		"https://sns.us-east-1.amazonaws.com/other.pem",
		"https://sns.us-east-1.amazonaws.com" + snsCertPathT + "?x=1",
		"https://sns.us-east-1.amazonaws.com/%2e%2e/SimpleNotificationService-a.pem",
		"//sns.us-east-1.amazonaws.com" + snsCertPathT,
		"not a url\x7f",
	} {
		m := snsNotification("2")
		m["SigningCertURL"] = u
		r := snsReq(t, f.sign(t, m))
		_, err := v.Verify(context.Background(), r, asymNow)
		wantSentinel(t, err, ErrSignatureMismatch)
	}
	assert.Zero(t, f.dials.Load(), "no connection for a refused URL")

	// The China partition is SNS's too.
	m := snsNotification("2")
	m["SigningCertURL"] = "https://sns.cn-north-1.amazonaws.com.cn" + snsCertPathT
	_, err := v.Verify(context.Background(), snsReq(t, f.sign(t, m)), asymNow)
	require.NoError(t, err)
}

func TestSNSCertFetchFailures(t *testing.T) {
	f := newSNSFake(t)
	v := f.verifier(t)
	clock := asymNow
	v.certs.now = func() time.Time { return clock }
	ctx := context.Background()
	r := snsReq(t, f.sign(t, snsNotification("2")))

	f.set(http.StatusServiceUnavailable, 0)
	_, err := v.Verify(ctx, r, asymNow)
	wantSentinel(t, err, ErrUnavailable)
	_, err = v.Verify(ctx, r, asymNow)
	wantSentinel(t, err, ErrUnavailable)
	assert.EqualValues(t, 1, f.certHits.Load(), "a failed fetch is not repeated within the retry interval")

	clock = clock.Add(snsCertRetry + time.Second)
	f.set(http.StatusNotFound, 0)
	_, err = v.Verify(ctx, r, asymNow)
	wantSentinel(t, err, ErrSignatureMismatch) // AWS does not serve it: not SNS's certificate
	assert.EqualValues(t, 2, f.certHits.Load())

	clock = clock.Add(snsCertRetry + time.Second)
	f.set(0, 0)
	d, err := v.Verify(ctx, r, asymNow)
	require.NoError(t, err)
	assert.Equal(t, "22b80b92-fdea-4c2c-8f9d-bdfb0c7bf324", d.ID)

	clock = clock.Add(snsCertTTL + time.Second)
	_, err = v.Verify(ctx, r, asymNow)
	require.NoError(t, err)
	assert.EqualValues(t, 4, f.certHits.Load(), "refetched after the TTL")
}

func TestSNSCertBadContent(t *testing.T) {
	f := newSNSFake(t)
	f.certPEM = []byte("-----BEGIN CERTIFICATE-----\nAAAA\n-----END CERTIFICATE-----\n")
	v := f.verifier(t)
	_, err := v.Verify(context.Background(), snsReq(t, f.sign(t, snsNotification("2"))), asymNow)
	wantSentinel(t, err, ErrSignatureMismatch)
}

func TestSNSUnreachable(t *testing.T) {
	f := newSNSFake(t)
	f.client.Transport.(*http.Transport).DialContext = func(context.Context, string, string) (net.Conn, error) {
		return nil, errors.New("connection refused (test)")
	}
	v := f.verifier(t)
	_, err := v.Verify(context.Background(), snsReq(t, f.sign(t, snsNotification("2"))), asymNow)
	wantSentinel(t, err, ErrUnavailable)
}

func TestSNSRejects(t *testing.T) {
	f := newSNSFake(t)
	v := f.verifier(t)
	valid := f.sign(t, snsNotification("2"))
	mk := func() *Request { return snsReq(t, valid) }
	remarshal := func(edit func(m snsMsg)) func(r *Request) {
		return func(r *Request) {
			m := snsMsg{}
			require.NoError(t, json.Unmarshal(r.Body, &m))
			edit(m)
			b, err := json.Marshal(m)
			require.NoError(t, err)
			r.Body = b
		}
	}
	resigned := func(edit func(m snsMsg)) func(r *Request) {
		return func(r *Request) {
			m := snsNotification("2")
			edit(m)
			*r = *snsReq(t, f.sign(t, m))
		}
	}
	runAsymCases(t, v, mk, []asymCase{
		{"tampered message", remarshal(func(m snsMsg) { m["Message"] = "Hello World!" }), ErrSignatureMismatch},
		{"tampered subject", remarshal(func(m snsMsg) { delete(m, "Subject") }), ErrSignatureMismatch},
		{"tampered id", remarshal(func(m snsMsg) { m["MessageId"] = "other" }), ErrSignatureMismatch},
		{"version switched", remarshal(func(m snsMsg) { m["SignatureVersion"] = "1" }), ErrSignatureMismatch},
		{"unknown version", remarshal(func(m snsMsg) { m["SignatureVersion"] = "3" }), ErrMalformedSignature},
		{"signature not base64", remarshal(func(m snsMsg) { m["Signature"] = "%%%" }), ErrMalformedSignature},
		{"signature oversized", remarshal(func(m snsMsg) { m["Signature"] = strings.Repeat("A", 4000) }), ErrMalformedSignature},
		{"no signature", remarshal(func(m snsMsg) { delete(m, "Signature") }), ErrMissingSignature},
		{"no cert url", remarshal(func(m snsMsg) { delete(m, "SigningCertURL") }), ErrMissingSignature},
		{"topic not listed", resigned(func(m snsMsg) { m["TopicArn"] = "arn:aws:sns:us-east-1:123456789012:other" }), ErrSignatureMismatch},
		{"stale", resigned(func(m snsMsg) {
			m["Timestamp"] = asymNow.Add(-DefaultTolerance - time.Second).UTC().Format(time.RFC3339Nano)
		}), ErrTimestampOutOfTolerance},
		{"future", resigned(func(m snsMsg) {
			m["Timestamp"] = asymNow.Add(DefaultTolerance + time.Second).UTC().Format(time.RFC3339Nano)
		}), ErrTimestampOutOfTolerance},
		{"timestamp malformed", resigned(func(m snsMsg) { m["Timestamp"] = "yesterday" }), ErrMalformedSignature},
		{"unknown type", remarshal(func(m snsMsg) { m["Type"] = "Other" }), ErrMalformedRequest},
		{"raw message delivery", func(r *Request) {
			r.Body = []byte("Hello world!")
			r.Header.Set("X-Amz-Sns-Rawdelivery", "true")
		}, ErrMissingSignature},
		{"raw delivery header on an envelope", func(r *Request) { r.Header.Set("X-Amz-Sns-Rawdelivery", "True") }, ErrMissingSignature},
		{"not JSON", func(r *Request) { r.Body = []byte("Hello world!") }, ErrMissingSignature},
		{"JSON array", func(r *Request) { r.Body = []byte("[]") }, ErrMissingSignature},
		{"empty", func(r *Request) { r.Body = nil }, ErrMissingSignature},
		{"field of the wrong type", func(r *Request) { r.Body = []byte(`{"Type":1}`) }, ErrMissingSignature},
	})
	assert.LessOrEqual(t, f.certHits.Load(), int64(1))
}

func TestSNSConfig(t *testing.T) {
	for _, c := range []Config{
		{Scheme: SNS},
		{Scheme: SNS, Topics: []string{"orders"}},
		{Scheme: SNS, Topics: []string{snsTopic, "arn:aws:sqs:us-east-1:123456789012:q"}},
		{Scheme: SNS, Topics: []string{snsTopic}, Secrets: []string{"s"}},
		{Scheme: SNS, Topics: []string{snsTopic}, Tolerance: -1},
	} {
		_, err := NewVerifier(c)
		assert.Error(t, err, "%+v", c)
	}
	for _, topic := range []string{snsTopic, "arn:aws-cn:sns:cn-north-1:123456789012:t.fifo", "arn:aws-us-gov:sns:us-gov-west-1:123456789012:a_b-c"} {
		_, err := NewVerifier(Config{Scheme: SNS, Topics: []string{topic}})
		assert.NoError(t, err, topic)
	}
}
