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

// githubSecret is source "plain"'s secret (newEnv's sources document).
const githubSecret = "a-github-secret-that-is-long-enough"

// githubMACID is the event id of a GitHub delivery: derived from the source
// and the MAC, computed here from the signature header.
func githubMACID(t *testing.T, source string, hdr http.Header) string {
	t.Helper()
	mac, err := hex.DecodeString(strings.TrimPrefix(hdr.Get("X-Hub-Signature-256"), "sha256="))
	require.NoError(t, err)
	sum := sha256.Sum256(append([]byte(source+"\x00"), mac...))
	return "mac:" + hex.EncodeToString(sum[:])
}

// receiverFor runs the real receiver handler over HTTP against the test's
// vhost and sources document.
func (e *env) receiverFor(t *testing.T) *httptest.Server {
	t.Helper()
	doc, err := os.ReadFile(e.sourcesFile)
	require.NoError(t, err)
	return e.receiverWith(t, doc)
}

// receiverWith runs the real receiver with its own sources document.
func (e *env) receiverWith(t *testing.T, doc []byte) *httptest.Server {
	t.Helper()
	set, err := sources.Parse(doc)
	require.NoError(t, err)
	log := slog.New(slog.NewJSONHandler(testWriter{t}, nil))
	pub := publish.New(context.Background(), publish.Config{URL: testenv.AMQPURLAs("", e.vhost, topology.Receiver), Logger: log})
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
// 255-byte column; for GitHub the id comes from the MAC since the delivery
// id is unsigned), with the media type as content type.
func TestOverlongIDsStoredOnce(t *testing.T) {
	t.Parallel()
	e := newEnv(t, envOpts{})
	srv := e.receiverFor(t)
	e.start(e.config(addrs{}), nil)

	longID := "id_" + strings.Repeat("x", 297)
	contentType := "application/json; pad=" + strings.Repeat("p", 300-22)
	want := map[string]string{}
	for _, c := range []struct{ source, scheme, secret string }{
		{"shop", webhooksig.Standard, secret},
		{"plain", webhooksig.GitHub, githubSecret},
	} {
		body := []byte(`{"entity":"e-1","type":"order.updated"}`)
		hdr, err := webhooksig.Sign(c.scheme, c.secret, longID, time.Now(), body)
		require.NoError(t, err)
		hdr.Set("Content-Type", contentType)
		sum := sha256.Sum256([]byte(c.source + "\x00" + longID))
		want[c.source] = "sha256:" + hex.EncodeToString(sum[:])
		if c.scheme == webhooksig.GitHub {
			want[c.source] = githubMACID(t, c.source, hdr)
		}
		for range 2 {
			require.Equal(t, want[c.source], send(t, srv, c.source, hdr, body))
		}
	}
	require.Eventually(t, func() bool { return e.events() == 2 && e.settled() }, time.Minute, 100*time.Millisecond)
	for _, source := range []string{"shop", "plain"} {
		require.Equal(t, 1, e.count("SELECT COUNT(*) FROM webhook_events WHERE source = ? AND event_id = ? AND content_type = 'application/json'", source, want[source]), source)
	}
	require.Equal(t, 0, e.depth(topology.DeadQueue), "nothing dead-lettered")
}

// TestGitHubReplayNewDeliveryIDOneEffect (issue 9 item 2): GitHub signs
// neither its delivery id nor a timestamp, so a captured request can be
// resent with any X-GitHub-Delivery. The same signed body sent three times
// with three different delivery ids, through the real receiver and
// processor, is stored once; a different body is another event.
func TestGitHubReplayNewDeliveryIDOneEffect(t *testing.T) {
	t.Parallel()
	e := newEnv(t, envOpts{})
	srv := e.receiverFor(t)
	p := e.start(e.config(addrs{}), nil)

	body := []byte(`{"action":"opened","pull_request":{"number":7}}`)
	var id string
	for _, delivery := range []string{"72d3162e-cc78-11e3-81ab-4c9367dc0958", "72d3162e-cc78-11e3-81ab-4c9367dc0959", "replayed"} {
		hdr, err := webhooksig.Sign(webhooksig.GitHub, githubSecret, delivery, time.Now(), body)
		require.NoError(t, err)
		hdr.Set("X-GitHub-Event", "pull_request")
		got := send(t, srv, "plain", hdr, body)
		if id == "" {
			id = githubMACID(t, "plain", hdr)
		}
		require.Equal(t, id, got, "delivery %s", delivery)
	}
	other := []byte(`{"action":"closed","pull_request":{"number":7}}`)
	hdr, err := webhooksig.Sign(webhooksig.GitHub, githubSecret, "72d3162e-cc78-11e3-81ab-4c9367dc0958", time.Now(), other)
	require.NoError(t, err)
	otherID := send(t, srv, "plain", hdr, other)
	require.NotEqual(t, id, otherID, "another body is another event, even under a reused delivery id")

	// All four deliveries settled (acked), two of them as duplicates.
	require.Eventually(t, func() bool { return p.metrics.Totals()["acked"] == 4 && e.settled() }, time.Minute, 100*time.Millisecond)
	require.Equal(t, int64(2), p.metrics.Totals()["duplicates"])
	require.Equal(t, 1, e.count("SELECT COUNT(*) FROM webhook_events WHERE source = 'plain' AND event_id = ?", id))
	require.Equal(t, 1, e.count("SELECT COUNT(*) FROM webhook_events WHERE source = 'plain' AND event_id = ?", otherID))
	require.Equal(t, 2, e.events())
	require.Equal(t, 0, e.depth(topology.DeadQueue), "nothing dead-lettered")
}
