package receiver_test

import (
	"bytes"
	"context"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/aws/aws-lambda-go/events"
	amqp "github.com/rabbitmq/amqp091-go"
	"github.com/stretchr/testify/require"

	"github.com/hookline/hookline/internal/envelope"
	"github.com/hookline/hookline/internal/sources"
	"github.com/hookline/hookline/internal/testenv"
	"github.com/hookline/hookline/internal/topology"
	"github.com/hookline/hookline/internal/webhooksig"
	"github.com/hookline/hookline/lambda/publish"
	"github.com/hookline/hookline/lambda/receiver"
)

const (
	host         = "hooks.example.com"
	originSecret = "origin-0123456789abcdef0123456789"
	// newOriginSecret is the one a rotation adds; both are accepted.
	newOriginSecret = "origin-new-0123456789abcdef012345"
	stdSecret       = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"
)

// doc accepts two origin secrets, as during a rotation: requests carry
// originSecret (the older one) unless a test says otherwise.
var doc = fmt.Sprintf(`
origin_secrets: [%q, %q]
sources:
  - {name: std, hosts: [%[3]s], scheme: standard, secrets: [%q], max_body_bytes: 2048}
  - {name: gh, hosts: [%[3]s], scheme: github, secrets: ["new-secret", "old-secret"], max_body_bytes: 2048}
  - {name: stripe, hosts: [%[3]s], scheme: stripe, secrets: ["whsec_stripe_test"], max_body_bytes: 2048}
  - {name: plain, hosts: [%[3]s], scheme: hmac-sha256, secrets: ["k"], max_body_bytes: 2048}
  - {name: dbx, hosts: [%[3]s], scheme: dropbox, secrets: ["dbx-new", "dbx-old"], max_body_bytes: 2048}
`, newOriginSecret, originSecret, host, stdSecret)

var secretOf = map[string]string{"std": stdSecret, "gh": "old-secret", "stripe": "whsec_stripe_test", "plain": "k"}
var schemeOf = map[string]string{"std": "standard", "gh": "github", "stripe": "stripe", "plain": "hmac-sha256"}

// env is one test's receiver wired to its own vhost.
type env struct {
	logs  *syncBuffer
	h     *receiver.Handler
	srv   *httptest.Server
	ch    *amqp.Channel
	vhost string
}

func newEnv(t *testing.T, brokerAddr string) *env {
	t.Helper()
	return newEnvDoc(t, brokerAddr, doc)
}

// newEnvDoc is newEnv with another sources document.
func newEnvDoc(t *testing.T, brokerAddr, doc string) *env {
	t.Helper()
	set, err := sources.Parse([]byte(doc))
	require.NoError(t, err)
	vhost := testenv.RabbitMQ(t)
	logs := &syncBuffer{}
	log := slog.New(slog.NewJSONHandler(logs, nil))
	pub := publish.New(context.Background(), publish.Config{URL: testenv.AMQPURLAs(brokerAddr, vhost, topology.Receiver), Logger: log, ConfirmTimeout: 2 * time.Second})
	t.Cleanup(pub.Close)
	h := receiver.New(set, pub, log)
	srv := httptest.NewServer(h)
	t.Cleanup(srv.Close)

	conn, err := amqp.Dial(testenv.AMQPURL("", vhost))
	require.NoError(t, err)
	t.Cleanup(func() { conn.Close() })
	ch, err := conn.Channel()
	require.NoError(t, err)
	return &env{logs: logs, h: h, srv: srv, ch: ch, vhost: vhost}
}

type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

// drain returns every message in the inbound queue.
func (e *env) drain(t *testing.T) []amqp.Delivery {
	t.Helper()
	var out []amqp.Delivery
	for {
		d, ok, err := e.ch.Get(topology.Queue, true)
		require.NoError(t, err)
		if !ok {
			return out
		}
		out = append(out, d)
	}
}

// signed builds a valid request for source; mutate may spoil it.
func signed(t *testing.T, source string, body []byte, mutate func(*http.Request)) *http.Request {
	t.Helper()
	r := httptest.NewRequest(http.MethodPost, "/webhooks/"+source, bytes.NewReader(body))
	r.Host = host
	r.Header.Set(receiver.OriginHeader, originSecret)
	r.Header.Set("Content-Type", "application/json")
	hdr, err := webhooksig.Sign(schemeOf[source], secretOf[source], "msg_"+source, time.Now(), body)
	require.NoError(t, err)
	for k, v := range hdr {
		r.Header[k] = v
	}
	if mutate != nil {
		mutate(r)
	}
	return r
}

type transport func(t *testing.T, e *env, r *http.Request) (int, http.Header, []byte)

// transports are the receiver's two front doors, each test runs through
// both: local HTTP and the Lambda handler behind API Gateway.
var transports = []struct {
	name string
	send transport
}{{"http", overHTTP}, {"lambda", overLambda}}

// overHTTP sends r to the real local HTTP server.
func overHTTP(t *testing.T, e *env, r *http.Request) (int, http.Header, []byte) {
	t.Helper()
	body, _ := io.ReadAll(r.Body)
	var rd io.Reader = bytes.NewReader(body)
	if r.ContentLength < 0 { // keep "unknown length" requests chunked
		rd = io.MultiReader(bytes.NewReader(body))
	}
	target := e.srv.URL + r.URL.Path
	if r.URL.RawQuery != "" {
		target += "?" + r.URL.RawQuery
	}
	req, err := http.NewRequest(r.Method, target, rd)
	require.NoError(t, err)
	req.Header = r.Header.Clone()
	req.Host = r.Host
	resp, err := e.srv.Client().Do(req)
	require.NoError(t, err)
	defer resp.Body.Close()
	out, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, resp.Header, out
}

// overLambda sends r as an API Gateway HTTP API v2 event (base64 body).
func overLambda(t *testing.T, e *env, r *http.Request) (int, http.Header, []byte) {
	t.Helper()
	body, _ := io.ReadAll(r.Body)
	ev := events.APIGatewayV2HTTPRequest{
		RawPath: r.URL.Path, RawQueryString: r.URL.RawQuery, Headers: map[string]string{"host": r.Host},
		Body: base64.StdEncoding.EncodeToString(body), IsBase64Encoded: true,
	}
	ev.RequestContext.HTTP.Method = r.Method
	ev.RequestContext.RequestID = "apigw-req-1"
	for k, v := range r.Header {
		ev.Headers[strings.ToLower(k)] = strings.Join(v, ",")
	}
	resp, err := e.h.HandleAPIGateway(context.Background(), ev)
	require.NoError(t, err)
	h := http.Header{}
	for k, v := range resp.Headers {
		h.Set(k, v)
	}
	return resp.StatusCode, h, []byte(resp.Body)
}

func TestStatusTable(t *testing.T) {
	t.Parallel()
	body := []byte(`{"id":"evt_1","type":"invoice.paid","data":{"n":1}}`)
	cases := []struct {
		name   string
		source string
		mutate func(*http.Request)
		status int
	}{
		{"standard accepted", "std", nil, 202},
		{"svix aliases accepted", "std", func(r *http.Request) {
			for _, k := range []string{"Id", "Timestamp", "Signature"} {
				r.Header["Svix-"+k] = r.Header["Webhook-"+k]
				delete(r.Header, "Webhook-"+k)
			}
		}, 202},
		{"github accepted with the older secret", "gh", nil, 202},
		{"stripe accepted", "stripe", nil, 202},
		{"hmac accepted", "plain", nil, 202},
		{"unknown path", "std", func(r *http.Request) { r.URL.Path = "/other" }, 404},
		{"unknown source", "std", func(r *http.Request) { r.URL.Path = "/webhooks/nope" }, 404},
		{"nested path", "std", func(r *http.Request) { r.URL.Path = "/webhooks/std/x" }, 404},
		{"GET", "std", func(r *http.Request) { r.Method = http.MethodGet }, 405},
		{"PUT", "gh", func(r *http.Request) { r.Method = http.MethodPut }, 405},
		{"wrong host", "std", func(r *http.Request) { r.Host = "evil.example.com" }, 403},
		{"missing origin header", "gh", func(r *http.Request) { r.Header.Del(receiver.OriginHeader) }, 403},
		{"wrong origin header", "gh", func(r *http.Request) { r.Header.Set(receiver.OriginHeader, originSecret+"x") }, 403},
		{"the new origin secret accepted", "gh", func(r *http.Request) { r.Header.Set(receiver.OriginHeader, newOriginSecret) }, 202},
		{"origin secret prefix", "gh", func(r *http.Request) { r.Header.Set(receiver.OriginHeader, originSecret[:20]) }, 403},
		// What a request straight to the API Gateway domain looks like:
		// its own Host and no X-Origin-Verify, since Cloudflare adds it.
		{"bypassing Cloudflare", "gh", func(r *http.Request) {
			r.Host = "abc123.execute-api.us-east-1.amazonaws.com"
			r.Header.Del(receiver.OriginHeader)
		}, 403},
		{"bypassing Cloudflare with the right Host", "gh", func(r *http.Request) { r.Header.Del(receiver.OriginHeader) }, 403},
		{"body too large", "std", func(r *http.Request) {
			big := bytes.Repeat([]byte("a"), 4096)
			r.Body, r.ContentLength = io.NopCloser(bytes.NewReader(big)), int64(len(big))
		}, 413},
		{"body too large, length unknown", "std", func(r *http.Request) {
			r.Body, r.ContentLength = io.NopCloser(bytes.NewReader(bytes.Repeat([]byte("a"), 4096))), -1
		}, 413},
		{"headers too large", "gh", func(r *http.Request) { r.Header.Set("X-Pad", strings.Repeat("p", 11000)) }, 431},
		{"missing signature", "gh", func(r *http.Request) { r.Header.Del("X-Hub-Signature-256") }, 401},
		{"tampered body", "plain", func(r *http.Request) {
			b := bytes.Replace(body, []byte("1"), []byte("2"), 1)
			r.Body, r.ContentLength = io.NopCloser(bytes.NewReader(b)), int64(len(b))
		}, 401},
		{"stale timestamp", "std", func(r *http.Request) {
			hdr, _ := webhooksig.Sign("standard", stdSecret, "m", time.Now().Add(-time.Hour), body)
			for k, v := range hdr {
				r.Header[k] = v
			}
		}, 401},
		{"future stripe timestamp", "stripe", func(r *http.Request) {
			hdr, _ := webhooksig.Sign("stripe", "whsec_stripe_test", "", time.Now().Add(time.Hour), body)
			r.Header.Set("Stripe-Signature", hdr.Get("Stripe-Signature"))
		}, 401},
	}
	for _, tr := range transports {
		t.Run(tr.name, func(t *testing.T) {
			t.Parallel()
			e := newEnv(t, "")
			want := 0
			var secretsSeen []string
			for _, c := range cases {
				if tr.name == "lambda" && strings.Contains(c.name, "length unknown") {
					continue // API Gateway always delivers a whole body
				}
				r := signed(t, c.source, body, c.mutate)
				for _, k := range []string{"Webhook-Signature", "Svix-Signature", "X-Hub-Signature-256", "Stripe-Signature", "X-Signature", receiver.OriginHeader} {
					if v := r.Header.Get(k); v != "" {
						secretsSeen = append(secretsSeen, v)
					}
				}
				status, hdr, out := tr.send(t, e, r)
				require.Equal(t, c.status, status, "%s: %s", c.name, out)
				require.Equal(t, "application/json", hdr.Get("Content-Type"), c.name)
				var js map[string]string
				require.NoError(t, json.Unmarshal(out, &js), c.name)
				if status == 202 {
					want++
					require.NotEmpty(t, js["id"], c.name)
				} else {
					require.NotEmpty(t, js["error"], c.name)
				}
				if status == 405 {
					require.Equal(t, "POST", hdr.Get("Allow"))
				}
			}
			msgs := e.drain(t)
			require.Len(t, msgs, want, "one message per accepted request, none for rejected ones")

			logs := e.logs.String()
			require.Contains(t, logs, `"request_id"`)
			for _, line := range strings.Split(strings.TrimSpace(logs), "\n") {
				if strings.Contains(line, `"webhook `) {
					require.Contains(t, line, `"request_id"`, "every line about a request names it")
				}
			}
			for _, secret := range append(secretsSeen, stdSecret, "old-secret", "whsec_stripe_test", `"n":1`) {
				require.NotContains(t, logs, secret, "logs must not contain secrets, signatures or bodies")
			}
			for _, m := range msgs {
				require.Equal(t, body, m.Body, "body byte for byte")
				require.Equal(t, uint8(amqp.Persistent), m.DeliveryMode)
				got, err := envelope.FromDelivery(m)
				require.NoError(t, err)
				require.Contains(t, []string{"std", "gh", "stripe", "plain"}, got.Source)
				require.Equal(t, got.Source+"."+got.EventType, m.RoutingKey)
			}
		})
	}
}

func TestEnvelopeFromProviderIDs(t *testing.T) {
	t.Parallel()
	e := newEnv(t, "")
	body := []byte(`{"id":"evt_42","type":"invoice.paid"}`)
	for _, c := range []struct{ source, id, typ string }{
		{"std", "msg_std", "invoice.paid"},
		{"stripe", "evt_42", "invoice.paid"},
	} {
		status, _, out := overHTTP(t, e, signed(t, c.source, body, nil))
		require.Equal(t, 202, status, string(out))
		var js map[string]string
		require.NoError(t, json.Unmarshal(out, &js))
		require.Equal(t, c.id, js["id"])
		msgs := e.drain(t)
		require.Len(t, msgs, 1)
		require.Equal(t, c.id, msgs[0].MessageId)
		require.Equal(t, c.typ, msgs[0].Headers[envelope.HeaderEventType])
		_, err := time.Parse(time.RFC3339Nano, msgs[0].Headers[envelope.HeaderReceivedAt].(string))
		require.NoError(t, err)
		require.NotEmpty(t, msgs[0].Headers[envelope.HeaderRequestID])
	}
}

func TestLambdaRequestIDAndPlainBody(t *testing.T) {
	t.Parallel()
	e := newEnv(t, "")
	body := []byte(`{"a":1}`)
	r := signed(t, "gh", body, nil)
	ev := events.APIGatewayV2HTTPRequest{RawPath: "/webhooks/gh", Body: string(body), Headers: map[string]string{}}
	ev.RequestContext.HTTP.Method = "POST"
	ev.RequestContext.RequestID = "apigw-42"
	ev.RequestContext.DomainName = host // no Host header: the domain name is used
	for k, v := range r.Header {
		ev.Headers[strings.ToLower(k)] = v[0]
	}
	resp, err := e.h.HandleAPIGateway(context.Background(), ev)
	require.NoError(t, err)
	require.Equal(t, 202, resp.StatusCode, resp.Body)
	require.Equal(t, "apigw-42", resp.Headers["X-Request-Id"])
	msgs := e.drain(t)
	require.Len(t, msgs, 1)
	require.Equal(t, "apigw-42", msgs[0].Headers[envelope.HeaderRequestID])
}

func TestBrokerUnreachable503(t *testing.T) {
	t.Parallel()
	p := testenv.NewProxy(t, testenv.RabbitMQAddr())
	p.Cut() // down before the receiver starts
	e := newEnv(t, p.Addr())
	body := []byte(`{"a":1}`)
	for _, send := range []transport{overHTTP, overLambda} {
		status, hdr, out := send(t, e, signed(t, "gh", body, nil))
		require.Equal(t, 503, status, string(out))
		require.Equal(t, "5", hdr.Get("Retry-After"))
	}
	p.Restore()
	// Recovers by itself: the next request dials again.
	require.Eventually(t, func() bool {
		status, _, _ := overHTTP(t, e, signed(t, "gh", body, nil))
		return status == 202
	}, 20*time.Second, 100*time.Millisecond)
	require.Len(t, e.drain(t), 1, "nothing was published while the broker was away")
}
