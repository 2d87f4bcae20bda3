package e2e

import (
	"context"
	"fmt"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/hookline/hookline/internal/canary"
	"github.com/hookline/hookline/internal/envelope"
	canaryprobe "github.com/hookline/hookline/lambda/canary/probe"
)

// canaryE2E reads the canary end-to-end histogram of p: observations and
// their sum in seconds.
func canaryE2E(t *testing.T, p *proc) (n uint64, sum float64) {
	mfs, err := p.metrics.Registry.Gather()
	require.NoError(t, err)
	for _, mf := range mfs {
		if mf.GetName() == "hookline_processor_canary_end_to_end_seconds" {
			h := mf.GetMetric()[0].GetHistogram()
			return h.GetSampleCount(), h.GetSampleSum()
		}
	}
	t.Fatal("no canary end-to-end histogram")
	return 0, 0
}

// TestCanaryEndToEnd: the canary's own run, against the real receiver on
// its hostname, is accepted (202), published, consumed and stored like
// any webhook, and the processor counts its arrival with a latency from
// the canary's signed time; a delivery of the canary source that is not a
// ping is stored but not counted, so the arrivals alarm does not take it
// for the canary.
func TestCanaryEndToEnd(t *testing.T) {
	t.Parallel()
	e := newEnv(t, envOpts{})
	doc := fmt.Sprintf("sources:\n  - name: %s\n    hosts: [localhost]\n    scheme: %s\n    secrets: [%q]\n", canary.Source, canary.Scheme, secret)
	require.NoError(t, os.WriteFile(e.sourcesFile, []byte(doc), 0o600))
	srv := e.receiverWith(t, []byte(doc))
	p := e.start(e.config(addrs{}), nil)

	pr, err := canaryprobe.New(canaryprobe.Config{
		// The public hostname the source accepts; the port is the test's.
		URL:     strings.Replace(srv.URL, "127.0.0.1", "localhost", 1) + canaryprobe.Path,
		Stack:   "hookline-e2e",
		Timeout: 30 * time.Second,
		Secret:  func(context.Context) (string, error) { return secret, nil },
	})
	require.NoError(t, err)
	before := time.Now()
	res := pr.Run(context.Background())
	require.True(t, res.OK(), "%+v", res)
	require.Equal(t, 202, res.Status)

	require.Eventually(t, func() bool { return metricValue(t, p, "canary_arrivals_total") == 1 }, time.Minute, 20*time.Millisecond,
		"the processor counts the canary's arrival")
	require.Equal(t, 1, e.count("SELECT COUNT(*) FROM webhook_events WHERE source = ? AND event_id = ? AND event_type = ?",
		canary.Source, res.ID, canary.EventType), "stored like any webhook, under the run id")
	n, sum := canaryE2E(t, p)
	require.Equal(t, uint64(1), n)
	require.True(t, sum > 0 && sum <= time.Since(before).Seconds(), "latency %v s: from the signed time to commit", sum)

	// Not a ping: stored, logged, not an arrival.
	odd := envelope.Envelope{ID: "not-a-ping", Source: canary.Source, EventType: "unknown", ReceivedAt: time.Now(),
		RequestID: "req-odd", ContentType: "application/json", Body: []byte(`{"type":"order.created"}`)}
	e.publishRaw(odd.RoutingKey(), odd.Publishing())
	require.Eventually(t, func() bool {
		return e.count("SELECT COUNT(*) FROM webhook_events WHERE source = ? AND event_id = 'not-a-ping'", canary.Source) == 1
	}, time.Minute, 20*time.Millisecond)
	require.Equal(t, 1.0, metricValue(t, p, "canary_arrivals_total"), "a delivery that is not a ping is no arrival")
}
