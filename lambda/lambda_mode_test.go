package main

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	amqp "github.com/rabbitmq/amqp091-go"
	"github.com/stretchr/testify/require"

	"github.com/hookline/hookline/internal/testenv"
	"github.com/hookline/hookline/internal/topology"
	"github.com/hookline/hookline/internal/webhooksig"
	"github.com/hookline/hookline/lambda/receiver"
)

func writeSources(t *testing.T, doc string) string {
	t.Helper()
	f := filepath.Join(t.TempDir(), "sources.yaml")
	require.NoError(t, os.WriteFile(f, []byte(doc), 0o600))
	return f
}

// drain takes every message off the vhost's inbound queue as the admin user.
func drain(t *testing.T, vhost string) []amqp.Delivery {
	t.Helper()
	conn, err := amqp.Dial(testenv.AMQPURL("", vhost))
	require.NoError(t, err)
	defer conn.Close()
	ch, err := conn.Channel()
	require.NoError(t, err)
	var got []amqp.Delivery
	for {
		d, ok, err := ch.Get(topology.Queue, true /* autoAck */)
		require.NoError(t, err)
		if !ok {
			return got
		}
		got = append(got, d)
	}
}

// TestLambdaModeBinary runs the real receiver binary in Lambda mode under the
// Runtime API harness and the real broker: a signed webhook gets 202 and
// lands in the queue, an unsigned one gets 401 and does not.
func TestLambdaModeBinary(t *testing.T) {
	if testing.Short() {
		t.Skip("builds the binary")
	}
	t.Parallel()
	bin := buildBinary(t, ".")
	vhost := testenv.RabbitMQ(t)
	p := startLambda(t, bin,
		"RABBITMQ_URL="+testenv.AMQPURLAs("", vhost, topology.Receiver),
		"WEBHOOK_SOURCES_FILE="+writeSources(t, srcDoc))

	body := `{"repository":{"full_name":"o/r"}}`
	hdr, err := webhooksig.Sign(webhooksig.GitHub, "s", "delivery-1", time.Now(), []byte(body))
	require.NoError(t, err)
	// A 300-byte delivery id and Content-Type: AMQP short strings hold 255.
	longID := strings.Repeat("d", 300)
	hdrLong, err := webhooksig.Sign(webhooksig.GitHub, "s", longID, time.Now(), []byte(body))
	require.NoError(t, err)
	hdrLong.Set("Content-Type", "application/json; x="+strings.Repeat("p", 280))
	for _, c := range []struct {
		id     string
		h      http.Header
		status int
	}{{"a", hdr, 202}, {"b", nil, 401}, {"c", hdrLong, 202}} {
		resp, _ := p.invoke(t, apiEvent(c.id, "/webhooks/gh", body, c.h))
		require.Equal(t, c.status, resp.StatusCode, resp.Body)
	}

	var got []string
	for _, d := range drain(t, vhost) {
		got = append(got, fmt.Sprintf("%s %s %s", d.MessageId, d.ContentType, d.Body))
	}
	// X-GitHub-Delivery is unsigned: both ids come from the source and the
	// MAC of the (same) body, whatever the delivery header says.
	mac, err := hex.DecodeString(strings.TrimPrefix(hdr.Get("X-Hub-Signature-256"), "sha256="))
	require.NoError(t, err)
	sum := sha256.Sum256(append([]byte("gh\x00"), mac...))
	id := "mac:" + hex.EncodeToString(sum[:])
	require.Equal(t, []string{id + "  " + body, id + " application/json " + body}, got)
}

// TestLambdaBrokerUnreachableAtColdStart: a broker that cannot be reached at
// cold start does not fail init (API Gateway would answer 500); every
// invocation answers 503 with Retry-After and publishes nothing until the
// broker is back, and the first one after that is accepted.
func TestLambdaBrokerUnreachableAtColdStart(t *testing.T) {
	if testing.Short() {
		t.Skip("builds the binary")
	}
	t.Parallel()
	bin := buildBinary(t, ".")
	for _, c := range []struct {
		name       string
		cut, heal  func(*testenv.Proxy)
		upToAnswer time.Duration // dial refused: fast; blackholed: the 5 s confirm timeout
	}{
		{"refused", (*testenv.Proxy).Cut, (*testenv.Proxy).Restore, 5 * time.Second},
		{"blackholed", (*testenv.Proxy).Blackhole, (*testenv.Proxy).Heal, 15 * time.Second},
	} {
		t.Run(c.name, func(t *testing.T) {
			t.Parallel()
			vhost := testenv.RabbitMQ(t)
			proxy := testenv.NewProxy(t, testenv.RabbitMQAddr())
			c.cut(proxy)
			p := startLambda(t, bin,
				"RABBITMQ_URL="+testenv.AMQPURLAs(proxy.Addr(), vhost, topology.Receiver),
				"WEBHOOK_SOURCES_FILE="+writeSources(t, srcDoc))
			ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
			defer cancel()
			_, err := p.api.WaitNext(ctx, p.exited)
			require.NoError(t, err, "init must succeed without the broker")

			body := `{"zen":"x"}`
			for i := range 2 {
				hdr, err := webhooksig.Sign(webhooksig.GitHub, "s", "", time.Now(), []byte(body))
				require.NoError(t, err)
				resp, res := p.invoke(t, apiEvent(fmt.Sprint("down-", i), "/webhooks/gh", body, hdr))
				require.Equal(t, http.StatusServiceUnavailable, resp.StatusCode, resp.Body)
				require.Equal(t, fmt.Sprint(receiver.RetryAfterSeconds), resp.Headers["Retry-After"])
				require.Less(t, res.Answered.Sub(res.Delivered), c.upToAnswer)
			}
			require.Empty(t, drain(t, vhost), "nothing is published while the broker is away")

			c.heal(proxy)
			body = `{"zen":"back"}`
			hdr, err := webhooksig.Sign(webhooksig.GitHub, "s", "", time.Now(), []byte(body))
			require.NoError(t, err)
			resp, _ := p.invoke(t, apiEvent("up", "/webhooks/gh", body, hdr))
			require.Equal(t, http.StatusAccepted, resp.StatusCode, resp.Body)
			got := drain(t, vhost)
			require.Len(t, got, 1)
			require.Equal(t, body, string(got[0].Body))
		})
	}
}

// TestLambdaInitErrorReported: a sources document that does not validate is
// a deploy error: the binary reports it through /runtime/init/error, never
// asks for an invocation, and exits non-zero.
func TestLambdaInitErrorReported(t *testing.T) {
	if testing.Short() {
		t.Skip("builds the binary")
	}
	t.Parallel()
	bin := buildBinary(t, ".")
	for _, c := range []struct{ name, env, want string }{
		{"bad scheme", "WEBHOOK_SOURCES_FILE=" + writeSources(t, "sources:\n  - {name: gh, hosts: [h.example.com], scheme: nosuch, secrets: [s]}\n"), "nosuch"},
		{"not a document", "WEBHOOK_SOURCES_FILE=" + writeSources(t, "sources: [\n"), "error converting YAML"},
		{"no sources", "WEBHOOK_SOURCES_FILE=", "WEBHOOK_SOURCES_FILE or WEBHOOK_SOURCES_SECRET_ARN"},
	} {
		t.Run(c.name, func(t *testing.T) {
			t.Parallel()
			// The broker is never reached: the document is read first.
			p := startLambda(t, bin, "RABBITMQ_URL=amqp://u:p@127.0.0.1:1/v", c.env)
			select {
			case ie := <-p.api.InitErrors():
				require.Equal(t, initErrorType, ie.ErrorType)
				require.Contains(t, string(ie.Body), `"errorType":"`+initErrorType+`"`)
				require.Contains(t, string(ie.Body), c.want)
			case <-p.exited:
				t.Fatalf("exited (%v) without reporting an init error", p.waitErr)
			case <-time.After(30 * time.Second):
				t.Fatal("no init error reported")
			}
			select {
			case <-p.exited:
				require.Error(t, p.waitErr, "a failed init exits non-zero")
			case <-time.After(10 * time.Second):
				t.Fatal("still running after reporting an init error")
			}
			select {
			case <-p.api.NextSeen():
				t.Fatal("asked for an invocation after a failed init")
			default:
			}
		})
	}
}

// TestLambdaSourcesFromSecretsManager: in Lambda the sources document is a
// Secrets Manager secret read at cold start with the credentials Lambda puts
// in the environment (a SigV4-checking fake endpoint stands in for the
// service); a secret it cannot read is an init error.
func TestLambdaSourcesFromSecretsManager(t *testing.T) {
	if testing.Short() {
		t.Skip("builds the binary")
	}
	t.Parallel()
	bin := buildBinary(t, ".")
	vhost := testenv.RabbitMQ(t)
	sm := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/x-amz-json-1.1")
		body, _ := io.ReadAll(r.Body)
		if !strings.HasPrefix(r.Header.Get("Authorization"), "AWS4-HMAC-SHA256 Credential=AKIDLAMBDA/") ||
			r.Header.Get("X-Amz-Target") != "secretsmanager.GetSecretValue" || !strings.Contains(string(body), `"arn:sources"`) {
			w.WriteHeader(http.StatusBadRequest)
			_, _ = w.Write([]byte(`{"__type":"AccessDeniedException","message":"not allowed"}`))
			return
		}
		_ = json.NewEncoder(w).Encode(map[string]string{"ARN": "arn:sources", "SecretString": srcDoc})
	}))
	t.Cleanup(sm.Close)
	awsEnv := []string{"AWS_REGION=eu-west-1", "AWS_ACCESS_KEY_ID=AKIDLAMBDA", "AWS_SECRET_ACCESS_KEY=k",
		"AWS_SESSION_TOKEN=t", "AWS_ENDPOINT_URL_SECRETS_MANAGER=" + sm.URL, "RABBITMQ_URL=" + testenv.AMQPURLAs("", vhost, topology.Receiver)}

	p := startLambda(t, bin, append(awsEnv, "WEBHOOK_SOURCES_SECRET_ARN=arn:sources")...)
	body := `{"zen":"from a secret"}`
	hdr, err := webhooksig.Sign(webhooksig.GitHub, "s", "", time.Now(), []byte(body))
	require.NoError(t, err)
	resp, _ := p.invoke(t, apiEvent("a", "/webhooks/gh", body, hdr))
	require.Equal(t, http.StatusAccepted, resp.StatusCode, resp.Body)

	p = startLambda(t, bin, append(awsEnv, "WEBHOOK_SOURCES_SECRET_ARN=arn:other")...)
	select {
	case ie := <-p.api.InitErrors():
		require.Contains(t, string(ie.Body), "WEBHOOK_SOURCES_SECRET_ARN")
		require.Contains(t, string(ie.Body), "AccessDeniedException")
	case <-p.exited:
		t.Fatalf("exited (%v) without reporting an init error", p.waitErr)
	case <-time.After(30 * time.Second):
		t.Fatal("no init error reported")
	}
}
