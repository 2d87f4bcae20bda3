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
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-lambda-go/events"
	amqp "github.com/rabbitmq/amqp091-go"
	"github.com/stretchr/testify/require"

	"github.com/hookline/hookline/internal/testenv"
	"github.com/hookline/hookline/internal/topology"
	"github.com/hookline/hookline/internal/webhooksig"
)

// fakeRuntime is the Lambda Runtime API as the real binary sees it: it hands
// out the queued events one by one and collects the responses.
type fakeRuntime struct {
	events    chan events.APIGatewayV2HTTPRequest
	responses chan events.APIGatewayV2HTTPResponse
}

func (f *fakeRuntime) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	switch {
	case r.Method == http.MethodGet && r.URL.Path == "/2018-06-01/runtime/invocation/next":
		select {
		case ev := <-f.events:
			w.Header().Set("Lambda-Runtime-Aws-Request-Id", "inv-"+ev.RequestContext.RequestID)
			w.Header().Set("Lambda-Runtime-Deadline-Ms", strconv.FormatInt(time.Now().Add(30*time.Second).UnixMilli(), 10))
			w.Header().Set("Lambda-Runtime-Invoked-Function-Arn", "arn:aws:lambda:us-east-1:123456789012:function:receiver")
			_ = json.NewEncoder(w).Encode(ev)
		case <-r.Context().Done():
		}
	case r.Method == http.MethodPost && filepath.Base(r.URL.Path) == "response":
		var resp events.APIGatewayV2HTTPResponse
		_ = json.NewDecoder(r.Body).Decode(&resp)
		f.responses <- resp
		w.WriteHeader(http.StatusAccepted)
	default:
		body, _ := io.ReadAll(r.Body)
		f.responses <- events.APIGatewayV2HTTPResponse{StatusCode: -1, Body: r.URL.Path + " " + string(body)}
		w.WriteHeader(http.StatusAccepted)
	}
}

// TestLambdaModeBinary runs the real receiver binary in Lambda mode against a
// fake Runtime API and the real broker: a signed webhook gets 202 and lands
// in the queue, an unsigned one gets 401 and does not.
func TestLambdaModeBinary(t *testing.T) {
	if testing.Short() {
		t.Skip("builds the binary")
	}
	t.Parallel()
	dir := t.TempDir()
	bin := filepath.Join(dir, "bootstrap")
	build := exec.Command("go", "build", "-tags", "lambda.norpc", "-o", bin, ".")
	build.Stderr = os.Stderr
	require.NoError(t, build.Run())

	sourcesFile := filepath.Join(dir, "sources.yaml")
	require.NoError(t, os.WriteFile(sourcesFile, []byte(srcDoc), 0o600))
	vhost := testenv.RabbitMQ(t)

	rt := &fakeRuntime{events: make(chan events.APIGatewayV2HTTPRequest, 2), responses: make(chan events.APIGatewayV2HTTPResponse, 2)}
	api := httptest.NewServer(rt)
	t.Cleanup(api.Close)

	ctx, cancel := context.WithCancel(context.Background())
	t.Cleanup(cancel)
	cmd := exec.CommandContext(ctx, bin)
	cmd.Env = append(os.Environ(),
		"AWS_LAMBDA_RUNTIME_API="+api.Listener.Addr().String(),
		"RABBITMQ_URL="+testenv.AMQPURLAs("", vhost, topology.Receiver),
		"WEBHOOK_SOURCES_FILE="+sourcesFile,
	)
	cmd.Stdout, cmd.Stderr = io.Discard, os.Stderr
	require.NoError(t, cmd.Start())
	t.Cleanup(func() { cancel(); _ = cmd.Wait() })

	body := `{"repository":{"full_name":"o/r"}}`
	hdr, err := webhooksig.Sign(webhooksig.GitHub, "s", "delivery-1", time.Now(), []byte(body))
	require.NoError(t, err)
	// A 300-byte delivery id and Content-Type: AMQP short strings hold 255.
	longID := strings.Repeat("d", 300)
	hdrLong, err := webhooksig.Sign(webhooksig.GitHub, "s", longID, time.Now(), []byte(body))
	require.NoError(t, err)
	hdrLong.Set("Content-Type", "application/json; x="+strings.Repeat("p", 280))
	event := func(id string, h http.Header) events.APIGatewayV2HTTPRequest {
		ev := events.APIGatewayV2HTTPRequest{RawPath: "/webhooks/gh", Body: body, Headers: map[string]string{"host": "h.example.com"}}
		ev.RequestContext.HTTP.Method = http.MethodPost
		ev.RequestContext.RequestID = id
		for k := range h {
			ev.Headers[k] = h.Get(k)
		}
		return ev
	}
	for _, c := range []struct {
		ev     events.APIGatewayV2HTTPRequest
		status int
	}{{event("a", hdr), 202}, {event("b", nil), 401}, {event("c", hdrLong), 202}} {
		rt.events <- c.ev
		select {
		case resp := <-rt.responses:
			require.Equal(t, c.status, resp.StatusCode, resp.Body)
		case <-time.After(60 * time.Second):
			t.Fatal("no response from the Lambda binary")
		}
	}

	conn, err := amqp.Dial(testenv.AMQPURL("", vhost))
	require.NoError(t, err)
	defer conn.Close()
	ch, err := conn.Channel()
	require.NoError(t, err)
	var got []string
	for {
		d, ok, err := ch.Get(topology.Queue, true)
		require.NoError(t, err)
		if !ok {
			break
		}
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
