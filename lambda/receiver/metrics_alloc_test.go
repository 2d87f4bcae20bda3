package receiver

import (
	"io"
	"net/http"
	"testing"
	"time"
)

// TestObserveAllocations: counting a request stays cheap on the hot path:
// the EMF line reuses a pooled buffer and the Prometheus children exist
// after the first request of a source, so a steady request allocates at
// most the Status label's string.
func TestObserveAllocations(t *testing.T) {
	m := NewMetrics(MetricsConfig{EMF: io.Discard, Stack: "hookline-test", Function: "f"})
	for _, res := range []result{
		{status: http.StatusAccepted, accepted: true, source: "std", bytes: 512, published: true, confirm: 3 * time.Millisecond},
		{status: http.StatusUnauthorized, source: "std"},
	} {
		m.observe(res) // creates the series
		allocs := testing.AllocsPerRun(200, func() { m.observe(res) })
		t.Logf("status %d: %.1f allocs per request", res.status, allocs)
		if allocs > 2 {
			t.Errorf("status %d: %.1f allocs per observed request; want at most 2", res.status, allocs)
		}
	}
}
