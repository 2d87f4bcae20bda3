package e2e

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/hookline/hookline/internal/sources"
	"github.com/hookline/hookline/internal/testenv"
	"github.com/hookline/hookline/internal/topology"
	"github.com/hookline/hookline/internal/webhooksig"
	"github.com/hookline/hookline/lambda/publish"
	"github.com/hookline/hookline/lambda/receiver"
)

// receiverFor runs the real receiver handler over HTTP against the test's
// vhost and sources document.
func (e *env) receiverFor(t *testing.T) *httptest.Server {
	t.Helper()
	doc, err := os.ReadFile(e.sourcesFile)
	require.NoError(t, err)
	set, err := sources.Parse(doc)
	require.NoError(t, err)
	log := slog.New(slog.NewJSONHandler(testWriter{t}, nil))
	pub := publish.New(context.Background(), publish.Config{URL: testenv.AMQPURL("", e.vhost), Logger: log})
	t.Cleanup(pub.Close)
	srv := httptest.NewServer(receiver.New(set, pub, log))
	t.Cleanup(srv.Close)
	return srv
}

// send POSTs a signed webhook to the receiver and returns its answer's id.
func send(t *testing.T, srv *httptest.Server, source string, hdr http.Header, body []byte) string {
	t.Helper()
	req, err := http.NewRequest(http.MethodPost, srv.URL+"/webhooks/"+source, bytes.NewReader(body))
	require.NoError(t, err)
	req.Header = hdr.Clone()
	req.Host = "localhost"
	resp, err := srv.Client().Do(req)
	require.NoError(t, err)
	defer resp.Body.Close()
	out, _ := io.ReadAll(resp.Body)
	require.Equal(t, http.StatusAccepted, resp.StatusCode, string(out))
	var js struct{ ID string }
	require.NoError(t, json.Unmarshal(out, &js))
	return js.ID
}

// TestOverlongIDsStoredOnce: through the real receiver and processor, a
// standard webhook whose webhook-id is 300 bytes and a GitHub one whose
// X-GitHub-Delivery is 300 bytes, each sent twice with a 300-byte
// Content-Type, are each stored once under their bounded id (which fits the
// 255-wide column), with the media type as content type.
func TestOverlongIDsStoredOnce(t *testing.T) {
	t.Parallel()
	e := newEnv(t, envOpts{})
	srv := e.receiverFor(t)
	e.start(e.config(addrs{}), nil)

	longID := "id_" + strings.Repeat("x", 297)
	contentType := "application/json; pad=" + strings.Repeat("p", 300-22)
	bounded := func(source string) string {
		sum := sha256.Sum256([]byte(source + "\x00" + longID))
		return "sha256:" + hex.EncodeToString(sum[:])
	}
	for _, c := range []struct{ source, scheme, secret string }{
		{"shop", webhooksig.Standard, secret},
		{"plain", webhooksig.GitHub, "a-github-secret-that-is-long-enough"},
	} {
		body := []byte(`{"entity":"e-1","type":"order.updated"}`)
		hdr, err := webhooksig.Sign(c.scheme, c.secret, longID, time.Now(), body)
		require.NoError(t, err)
		hdr.Set("Content-Type", contentType)
		for range 2 {
			require.Equal(t, bounded(c.source), send(t, srv, c.source, hdr, body))
		}
	}
	require.Eventually(t, func() bool { return e.events() == 2 && e.settled() }, time.Minute, 100*time.Millisecond)
	for _, source := range []string{"shop", "plain"} {
		require.Equal(t, 1, e.count("SELECT COUNT(*) FROM webhook_events WHERE source = ? AND event_id = ? AND content_type = 'application/json'", source, bounded(source)), source)
	}
	require.Equal(t, 0, e.depth(topology.DeadQueue), "nothing dead-lettered")
}
