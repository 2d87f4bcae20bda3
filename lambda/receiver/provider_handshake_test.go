package receiver_test

import (
	"context"
	"crypto"
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/rsa"
	"crypto/sha256"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"math/big"
	"net"
	"net/http"
	"net/http/httptest"
	"strconv"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/hookline/hookline/internal/envelope"
	"github.com/hookline/hookline/internal/sources"
	"github.com/hookline/hookline/internal/webhooksig"
	"github.com/hookline/hookline/lambda/receiver"
)

// The handshakes of the public-key and token schemes (discord, okta,
// msgraph, sns) through the real handler, in both modes, against the real
// broker (published as the receiver's production user): each is answered
// by the receiver itself and publishes nothing, while the same sources'
// deliveries are published.

var (
	discordSeed = sha256.Sum256([]byte("hookline receiver test discord key"))
	discordKey  = ed25519.NewKeyFromSeed(discordSeed[:])
)

const (
	oktaAuth         = "Bearer okta-hook-secret-0123456789"
	graphClientState = "graph-client-state-0123456789"
	snsTopicARN      = "arn:aws:sns:us-east-1:123456789012:orders"
	snsOtherTopicARN = "arn:aws:sns:us-east-1:123456789012:other"
	snsCertPath      = "/SimpleNotificationService-0123456789abcdef0123456789abcdef.pem"
	snsCertURL       = "https://sns.us-east-1.amazonaws.com" + snsCertPath
)

var handshakeDoc = fmt.Sprintf(`
origin_secrets: [%[1]q]
sources:
  - {name: discord, hosts: [%[2]s], scheme: discord, secrets: [%[3]s]}
  - {name: okta, hosts: [%[2]s], scheme: okta, secrets: [%[4]q]}
  - {name: msgraph, hosts: [%[2]s], scheme: msgraph, secrets: [%[5]q]}
  - {name: sns, hosts: [%[2]s], scheme: sns, topics: [%[6]s]}
`, originSecret, host, hex.EncodeToString(discordKey.Public().(ed25519.PublicKey)), oktaAuth, graphClientState, snsTopicARN)

// discordRequest signs body as Discord does: Ed25519 over timestamp + body.
func discordRequest(body string, now time.Time) *http.Request {
	ts := strconv.FormatInt(now.Unix(), 10)
	r := request(http.MethodPost, "/webhooks/discord", []byte(body))
	r.Header.Set("Content-Type", "application/json")
	r.Header.Set("X-Signature-Timestamp", ts)
	r.Header.Set("X-Signature-Ed25519", hex.EncodeToString(ed25519.Sign(discordKey, []byte(ts+body))))
	return r
}

func TestDiscordThroughReceiver(t *testing.T) {
	t.Parallel()
	for _, tr := range transports {
		t.Run(tr.name, func(t *testing.T) {
			t.Parallel()
			e := newEnvDoc(t, "", handshakeDoc)

			// Interaction PING: PONG, nothing published.
			status, hdr, out := tr.send(t, e, discordRequest(`{"application_id":"1","id":"1100","token":"tok","type":1,"version":1}`, time.Now()))
			require.Equal(t, 200, status, string(out))
			require.JSONEq(t, `{"type":1}`, string(out))
			require.Equal(t, "application/json", hdr.Get("Content-Type"))
			require.Empty(t, e.drain(t), "a PING publishes nothing")

			// A PING with a bad signature is refused: Discord checks this
			// before it saves the endpoint.
			bad := discordRequest(`{"application_id":"1","id":"1100","token":"tok","type":1,"version":1}`, time.Now())
			bad.Header.Set("X-Signature-Ed25519", hex.EncodeToString(make([]byte, 64)))
			status, _, out = tr.send(t, e, bad)
			require.Equal(t, 401, status, string(out))

			// Webhook-event PING (type 0): 204, empty body, nothing published.
			status, _, out = tr.send(t, e, discordRequest(`{"version":1,"application_id":"1","type":0}`, time.Now()))
			require.Equal(t, 204, status, string(out))
			require.Empty(t, out)
			require.Empty(t, e.drain(t), "a webhook-event PING publishes nothing")

			// An application command: published, then answered with the
			// deferred response from Delivery.Reply.
			cmd := `{"application_id":"1","id":"1234567890","token":"tok","type":2,"data":{"name":"ping"},"version":1}`
			status, hdr, out = tr.send(t, e, discordRequest(cmd, time.Now()))
			require.Equal(t, 200, status, string(out))
			require.JSONEq(t, `{"type":5}`, string(out))
			require.Equal(t, "application/json", hdr.Get("Content-Type"))
			msgs := e.drain(t)
			require.Len(t, msgs, 1, "the command is published")
			require.Equal(t, cmd, string(msgs[0].Body))
			require.Equal(t, "1234567890", msgs[0].MessageId, "the interaction id is the event id")
			got, err := envelope.FromDelivery(msgs[0])
			require.NoError(t, err)
			require.Equal(t, "discord", got.Source)

			// A webhook event: published, answered 204.
			ev := `{"version":1,"application_id":"1","type":1,"event":{"type":"APPLICATION_AUTHORIZED","timestamp":"2026-01-01T00:00:00Z","data":{}}}`
			status, _, out = tr.send(t, e, discordRequest(ev, time.Now()))
			require.Equal(t, 204, status, string(out))
			require.Empty(t, out)
			require.Len(t, e.drain(t), 1)

			// A stale command: 401, nothing published.
			status, _, _ = tr.send(t, e, discordRequest(cmd, time.Now().Add(-10*time.Minute)))
			require.Equal(t, 401, status)
			require.Empty(t, e.drain(t))
		})
	}
}

func TestOktaAndGraphHandshakesThroughReceiver(t *testing.T) {
	t.Parallel()
	for _, tr := range transports {
		t.Run(tr.name, func(t *testing.T) {
			t.Parallel()
			e := newEnvDoc(t, "", handshakeDoc)

			okta := func(auth, challenge string) *http.Request {
				r := request(http.MethodGet, "/webhooks/okta", nil)
				if auth != "" {
					r.Header.Set("Authorization", auth)
				}
				if challenge != "" {
					r.Header.Set("X-Okta-Verification-Challenge", challenge)
				}
				return r
			}
			status, hdr, out := tr.send(t, e, okta(oktaAuth, `chal"lenge-<1>`))
			require.Equal(t, 200, status, string(out))
			require.Equal(t, "application/json", hdr.Get("Content-Type"))
			var js map[string]string
			require.NoError(t, json.Unmarshal(out, &js))
			require.Equal(t, map[string]string{"verification": `chal"lenge-<1>`}, js, "the challenge echoed as JSON")

			status, _, _ = tr.send(t, e, okta("Bearer wrong", "c"))
			require.Equal(t, 401, status, "the verification GET carries the hook's Authorization")
			status, _, _ = tr.send(t, e, okta("", "c"))
			require.Equal(t, 401, status)
			status, _, _ = tr.send(t, e, okta(oktaAuth, ""))
			require.Equal(t, 400, status, "a GET without the challenge is malformed")

			// Graph's validation: a POST with ?validationToken=, answered
			// with the decoded token as text/plain.
			status, hdr, out = tr.send(t, e, request(http.MethodPost, "/webhooks/msgraph?validationToken=Validation%3A+Testing+client+application", nil))
			require.Equal(t, 200, status, string(out))
			require.Equal(t, "Validation: Testing client application", string(out))
			require.Equal(t, "text/plain; charset=utf-8", hdr.Get("Content-Type"))
			require.Equal(t, "nosniff", hdr.Get("X-Content-Type-Options"))
			status, _, _ = tr.send(t, e, request(http.MethodPost, "/webhooks/msgraph?validationToken=", nil))
			require.Equal(t, 400, status)

			require.Empty(t, e.drain(t), "handshakes publish nothing")

			// The same sources' deliveries are published.
			od := request(http.MethodPost, "/webhooks/okta", []byte(`{"eventId":"okta-ev-1","eventType":"com.okta.event_hook","data":{"events":[]}}`))
			od.Header.Set("Authorization", oktaAuth)
			status, _, out = tr.send(t, e, od)
			require.Equal(t, 202, status, string(out))
			gd := request(http.MethodPost, "/webhooks/msgraph", []byte(`{"value":[{"id":"graph-1","clientState":"`+graphClientState+`","changeType":"created"}]}`))
			status, _, out = tr.send(t, e, gd)
			require.Equal(t, 202, status, string(out))
			msgs := e.drain(t)
			require.Len(t, msgs, 2)
			require.Equal(t, "okta-ev-1", msgs[0].MessageId)
			require.Equal(t, "graph-1", msgs[1].MessageId)
		})
	}
}

// snsAWS plays AWS for the receiver's sns source: a TLS server with a
// certificate for sns.us-east-1.amazonaws.com from a test CA, reached by
// the HTTP client injected into the source's verifier (which dials it for
// any host, as the sns tests of internal/webhooksig do), serving an RSA
// signing certificate and counting ConfirmSubscription calls.
type snsAWS struct {
	client    *http.Client
	signer    *rsa.PrivateKey
	certPEM   []byte
	confirms  atomic.Int64
	mu        sync.Mutex
	lastQuery string
	subStatus int
}

func newSNSAWS(t *testing.T) *snsAWS {
	t.Helper()
	a := &snsAWS{}
	caKey, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	require.NoError(t, err)
	caTmpl := &x509.Certificate{SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "hookline receiver test CA"},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour),
		IsCA: true, BasicConstraintsValid: true, KeyUsage: x509.KeyUsageCertSign}
	caDER, err := x509.CreateCertificate(rand.Reader, caTmpl, caTmpl, &caKey.PublicKey, caKey)
	require.NoError(t, err)
	ca, err := x509.ParseCertificate(caDER)
	require.NoError(t, err)
	srvKey, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	require.NoError(t, err)
	srvDER, err := x509.CreateCertificate(rand.Reader, &x509.Certificate{SerialNumber: big.NewInt(2),
		DNSNames:  []string{"sns.us-east-1.amazonaws.com"},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour),
		KeyUsage: x509.KeyUsageDigitalSignature, ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth}}, ca, &srvKey.PublicKey, caKey)
	require.NoError(t, err)
	a.signer, err = rsa.GenerateKey(rand.Reader, 2048)
	require.NoError(t, err)
	sigDER, err := x509.CreateCertificate(rand.Reader, &x509.Certificate{SerialNumber: big.NewInt(3),
		Subject:   pkix.Name{CommonName: "sns.amazonaws.com"},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour),
		KeyUsage: x509.KeyUsageDigitalSignature}, ca, &a.signer.PublicKey, caKey)
	require.NoError(t, err)
	a.certPEM = pemCert(sigDER)

	srv := httptest.NewUnstartedServer(http.HandlerFunc(a.serve))
	srv.TLS = &tls.Config{Certificates: []tls.Certificate{{Certificate: [][]byte{srvDER}, PrivateKey: srvKey}}}
	srv.StartTLS()
	t.Cleanup(srv.Close)
	pool := x509.NewCertPool()
	pool.AddCert(ca)
	addr := srv.Listener.Addr().String()
	a.client = &http.Client{Timeout: 5 * time.Second, Transport: &http.Transport{
		TLSClientConfig: &tls.Config{RootCAs: pool, MinVersion: tls.VersionTLS12},
		DialContext: func(ctx context.Context, network, _ string) (net.Conn, error) {
			var d net.Dialer
			return d.DialContext(ctx, network, addr)
		},
	}}
	t.Cleanup(a.client.CloseIdleConnections)
	return a
}

func pemCert(der []byte) []byte {
	b64 := base64.StdEncoding.EncodeToString(der)
	out := "-----BEGIN CERTIFICATE-----\n"
	for len(b64) > 64 {
		out += b64[:64] + "\n"
		b64 = b64[64:]
	}
	return []byte(out + b64 + "\n-----END CERTIFICATE-----\n")
}

func (a *snsAWS) serve(w http.ResponseWriter, r *http.Request) {
	switch {
	case r.URL.Path == snsCertPath:
		_, _ = w.Write(a.certPEM)
	case r.URL.Path == "/" && r.URL.Query().Get("Action") == "ConfirmSubscription":
		a.confirms.Add(1)
		a.mu.Lock()
		a.lastQuery = r.URL.RawQuery
		status := a.subStatus
		a.mu.Unlock()
		if status != 0 {
			w.WriteHeader(status)
			return
		}
		_, _ = w.Write([]byte(`<ConfirmSubscriptionResponse/>`))
	default:
		http.NotFound(w, r)
	}
}

func (a *snsAWS) setSubStatus(s int) {
	a.mu.Lock()
	a.subStatus = s
	a.mu.Unlock()
}

// message is an SNS envelope of typ for topic, signed (SignatureVersion 2)
// over the string to sign written out from AWS's documentation.
func (a *snsAWS) message(t *testing.T, typ, topic string) map[string]string {
	t.Helper()
	ts := time.Now().UTC().Format("2006-01-02T15:04:05.000Z")
	m := map[string]string{"Type": typ, "MessageId": "msg-" + typ, "TopicArn": topic, "Timestamp": ts,
		"SignatureVersion": "2", "SigningCertURL": snsCertURL}
	var sts string
	if typ == "Notification" {
		m["Message"] = `{"order":42}`
		sts = "Message\n" + m["Message"] + "\nMessageId\n" + m["MessageId"] + "\nTimestamp\n" + ts + "\nTopicArn\n" + topic + "\nType\n" + typ + "\n"
	} else {
		m["Token"] = "2336412f37fb687f5d51e6e241d09c805a5a57b30d712f794cc5f6a9886"
		m["Message"] = "You have chosen to subscribe to the topic " + topic + "."
		m["SubscribeURL"] = "https://sns.us-east-1.amazonaws.com/?Action=ConfirmSubscription&TopicArn=" + topic + "&Token=" + m["Token"]
		sts = "Message\n" + m["Message"] + "\nMessageId\n" + m["MessageId"] + "\nSubscribeURL\n" + m["SubscribeURL"] +
			"\nTimestamp\n" + ts + "\nToken\n" + m["Token"] + "\nTopicArn\n" + topic + "\nType\n" + typ + "\n"
	}
	d := sha256.Sum256([]byte(sts))
	sig, err := rsa.SignPKCS1v15(rand.Reader, a.signer, crypto.SHA256, d[:])
	require.NoError(t, err)
	m["Signature"] = base64.StdEncoding.EncodeToString(sig)
	return m
}

func snsRequest(t *testing.T, m map[string]string) *http.Request {
	t.Helper()
	body, err := json.Marshal(m)
	require.NoError(t, err)
	r := request(http.MethodPost, "/webhooks/sns", body)
	r.Header.Set("X-Amz-Sns-Message-Type", m["Type"])
	r.Header.Set("Content-Type", "text/plain; charset=UTF-8")
	return r
}

func TestSNSThroughReceiver(t *testing.T) {
	t.Parallel()
	for _, tr := range transports {
		t.Run(tr.name, func(t *testing.T) {
			t.Parallel()
			aws := newSNSAWS(t)
			e := newEnvDoc(t, "", handshakeDoc)
			snsVerifierVia(t, e, aws.client)
			confirms := func() int64 { return aws.confirms.Load() }

			// A forged confirmation (bad signature) is refused and its
			// SubscribeURL is not fetched.
			before := confirms()
			forged := aws.message(t, "SubscriptionConfirmation", snsTopicARN)
			forged["SubscribeURL"] += "&x=1"
			status, _, out := tr.send(t, e, snsRequest(t, forged))
			require.Equal(t, 401, status, string(out))
			// A confirmation for a topic the source does not list: refused,
			// not fetched, though correctly signed.
			status, _, out = tr.send(t, e, snsRequest(t, aws.message(t, "SubscriptionConfirmation", snsOtherTopicARN)))
			require.Equal(t, 401, status, string(out))
			require.Equal(t, before, confirms(), "nothing fetched before the signature and topic check")

			// A verified confirmation for a listed topic: SubscribeURL
			// fetched once, 200.
			m := aws.message(t, "SubscriptionConfirmation", snsTopicARN)
			status, _, out = tr.send(t, e, snsRequest(t, m))
			require.Equal(t, 200, status, string(out))
			require.JSONEq(t, `{"subscribed":true}`, string(out))
			require.Equal(t, before+1, confirms())
			aws.mu.Lock()
			q := aws.lastQuery
			aws.mu.Unlock()
			require.Contains(t, q, "Token="+m["Token"])

			// Unsubscribe confirmation: verified, 200, nothing fetched.
			before = confirms()
			status, _, out = tr.send(t, e, snsRequest(t, aws.message(t, "UnsubscribeConfirmation", snsTopicARN)))
			require.Equal(t, 200, status, string(out))
			require.JSONEq(t, `{"unsubscribed":true}`, string(out))
			require.Equal(t, before, confirms(), "an unsubscription fetches nothing")
			require.Empty(t, e.drain(t), "handshakes publish nothing")

			// A notification is published.
			n := aws.message(t, "Notification", snsTopicARN)
			status, _, out = tr.send(t, e, snsRequest(t, n))
			require.Equal(t, 202, status, string(out))
			msgs := e.drain(t)
			require.Len(t, msgs, 1)
			require.Equal(t, "msg-Notification", msgs[0].MessageId)
		})
	}
}

// snsVerifierVia makes e's sns source verify with the source's own
// configuration (as sources parses it) and client: the one outbound client
// that reaches the fake AWS; every other source keeps its verifier.
func snsVerifierVia(t *testing.T, e *env, client *http.Client) {
	t.Helper()
	set, err := sources.Parse([]byte(handshakeDoc))
	require.NoError(t, err)
	src, ok := set.Lookup("sns")
	require.True(t, ok)
	v, err := webhooksig.NewVerifier(webhooksig.Config{Scheme: src.Scheme, Topics: src.Topics, Tolerance: src.Tolerance, HTTPClient: client})
	require.NoError(t, err)
	receiver.SetVerifier(e.h, func(s *sources.Source) webhooksig.Verifier {
		if s.Name == "sns" {
			return v
		}
		return s.Verifier()
	})
}

// When SNS's ConfirmSubscription endpoint fails, the receiver answers 503
// with Retry-After (SNS resends the confirmation) and publishes nothing.
func TestSNSConfirmationUnavailable(t *testing.T) {
	t.Parallel()
	aws := newSNSAWS(t)
	aws.setSubStatus(http.StatusInternalServerError)
	e := newEnvDoc(t, "", handshakeDoc)
	snsVerifierVia(t, e, aws.client)
	status, hdr, out := overHTTP(t, e, snsRequest(t, aws.message(t, "SubscriptionConfirmation", snsTopicARN)))
	require.Equal(t, 503, status, string(out))
	require.NotEmpty(t, hdr.Get("Retry-After"))
	require.EqualValues(t, 1, aws.confirms.Load())
	require.Empty(t, e.drain(t))
}
