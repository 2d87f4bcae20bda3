package callback_test

import (
	"context"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/hookline/hookline/internal/webhooksig"
	"github.com/hookline/hookline/processor/callback"
	"github.com/hookline/hookline/processor/metrics"
)

type recorder struct {
	mu     sync.Mutex
	reqs   []*http.Request
	bodies [][]byte
}

func (r *recorder) add(req *http.Request) int {
	b, _ := io.ReadAll(req.Body)
	r.mu.Lock()
	defer r.mu.Unlock()
	r.reqs = append(r.reqs, req)
	r.bodies = append(r.bodies, b)
	return len(r.reqs)
}

func (r *recorder) n() int { r.mu.Lock(); defer r.mu.Unlock(); return len(r.reqs) }

func TestDeliveryRetriesSignsAndStopsOn410(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name     string
		statuses []int // answers in order; the last repeats
		want     int   // requests
		result   string
	}{
		{"retries until 2xx", []int{500, 503, 200}, 3, "ok"},
		{"410 stops", []int{410}, 1, "gone"},
		{"gives up after the attempts", []int{500}, 4, "failed"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			rec := &recorder{}
			srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				n := rec.add(r)
				w.WriteHeader(tc.statuses[min(n, len(tc.statuses))-1])
			}))
			defer srv.Close()
			m := metrics.New()
			s := callback.New(callback.Options{Timeout: 5 * time.Second, Attempts: 4, Backoff: 5 * time.Millisecond, Metrics: m})
			ctx, cancel := context.WithCancel(context.Background())
			done := make(chan struct{})
			go func() { s.Run(ctx); close(done) }()
			defer func() { cancel(); <-done }()
			secret := "whsec_Y2FsbGJhY2stc2VjcmV0LTAxMjM0NTY3ODlhYg=="
			s.Enqueue(callback.Job{URL: srv.URL, Secret: secret, Source: "gh", EventID: "e.1",
				EventType: "push", EntityKey: "o/r", ReceivedAt: time.Now(), ProcessedAt: time.Now()})
			require.Eventually(t, func() bool { return counter(t, m, tc.result) == 1 }, 30*time.Second, 5*time.Millisecond)
			require.Equal(t, tc.want, rec.n())

			v, err := webhooksig.New(webhooksig.Standard, []string{secret}, 0)
			require.NoError(t, err)
			rec.mu.Lock()
			defer rec.mu.Unlock()
			for i, r := range rec.reqs {
				require.Equal(t, callback.MessageID("gh", "e.1"), r.Header.Get("webhook-id"), "stable id across retries")
				_, err := v.Verify(r.Header, rec.bodies[i], time.Now())
				require.NoError(t, err, "signed with Standard Webhooks v1")
				var p callback.Payload
				require.NoError(t, json.Unmarshal(rec.bodies[i], &p))
				require.Equal(t, "e.1", p.Data.EventID)
				require.Equal(t, "processed", p.Data.Status)
			}
		})
	}
}

func TestTimeoutIsRetried(t *testing.T) {
	t.Parallel()
	var calls atomic.Int64
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if calls.Add(1) == 1 {
			select { // hang past the client's timeout
			case <-r.Context().Done():
			case <-time.After(2 * time.Second):
			}
			return
		}
		w.WriteHeader(http.StatusNoContent)
	}))
	defer srv.Close()
	m := metrics.New()
	s := callback.New(callback.Options{Timeout: 100 * time.Millisecond, Attempts: 3, Backoff: 5 * time.Millisecond, Metrics: m})
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { s.Run(ctx); close(done) }()
	defer func() { cancel(); <-done }()
	s.Enqueue(callback.Job{URL: srv.URL, Secret: "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw", Source: "s", EventID: "1"})
	require.Eventually(t, func() bool { return counter(t, m, "ok") == 1 }, 30*time.Second, 5*time.Millisecond)
	require.Equal(t, int64(2), calls.Load())
}

func counter(t *testing.T, m *metrics.Metrics, result string) float64 {
	mfs, err := m.Registry.Gather()
	require.NoError(t, err)
	for _, mf := range mfs {
		if mf.GetName() != "hookline_processor_callbacks_total" {
			continue
		}
		for _, x := range mf.GetMetric() {
			for _, l := range x.GetLabel() {
				if l.GetName() == "result" && l.GetValue() == result {
					return x.GetCounter().GetValue()
				}
			}
		}
	}
	return 0
}
