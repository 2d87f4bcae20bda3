package callback_test

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"net/netip"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/hookline/hookline/internal/sources"
	"github.com/hookline/hookline/internal/testenv"
	"github.com/hookline/hookline/internal/webhooksig"
	"github.com/hookline/hookline/processor/callback"
	"github.com/hookline/hookline/processor/handler"
	"github.com/hookline/hookline/processor/metrics"
	"github.com/hookline/hookline/processor/store"
)

const cbSecret = "whsec_Y2FsbGJhY2stc2VjcmV0LTAxMjM0NTY3ODlhYg=="

// dest is one source of a test document and where its callbacks go.
type dest struct {
	source, url  string
	allowPrivate bool
}

// outbox is one test's database with the sources of dests.
type outbox struct {
	st   *store.Store
	srcs *sources.Set
}

func newOutbox(t *testing.T, dests ...dest) *outbox {
	t.Helper()
	var doc strings.Builder
	doc.WriteString("sources:\n")
	for _, d := range dests {
		fmt.Fprintf(&doc, "  - name: %s\n    hosts: [localhost]\n    scheme: github\n    secrets: [inbound-secret]\n    callback_url: %q\n    callback_secret: %s\n    callback_allow_private: %v\n",
			d.source, d.url, cbSecret, d.allowPrivate)
	}
	set, err := sources.Parse([]byte(doc.String()))
	require.NoError(t, err)
	dsn := testenv.MySQLDSN("", testenv.MySQL(t))
	_, err = store.Migrate(context.Background(), dsn)
	require.NoError(t, err)
	st, err := store.Open(dsn, 8)
	require.NoError(t, err)
	t.Cleanup(func() { st.Close() })
	st.WantsCallback = func(src string) bool { s, ok := set.Lookup(src); return ok && s.CallbackURL != "" }
	return &outbox{st: st, srcs: set}
}

// commit stores events of source with ids (and so their outbox rows).
func (o *outbox) commit(t *testing.T, source string, ids ...string) {
	t.Helper()
	var evs []*handler.Event
	for _, id := range ids {
		evs = append(evs, &handler.Event{ID: id, Source: source, EventType: "push", EntityKey: "o/r", ReceivedAt: time.Now(), Body: []byte("{}")})
	}
	res, err := o.st.Apply(context.Background(), evs, func(*handler.Event) handler.Handler { return handler.Default })
	require.NoError(t, err)
	for _, r := range res.Outcomes {
		require.Equal(t, store.Stored, r)
	}
}

// run starts a sender; it stops at the test's end (or when stop is called).
func (o *outbox) run(t *testing.T, opts callback.Options) (m *metrics.Metrics, stop func()) {
	t.Helper()
	m = metrics.New()
	opts.Metrics = m
	s := callback.New(o.st, o.srcs, opts)
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { s.Run(ctx); close(done) }()
	stop = sync.OnceFunc(func() { cancel(); <-done })
	t.Cleanup(stop)
	return m, stop
}

// rows waits until source's outbox rows are all finished and returns them.
func (o *outbox) finished(t *testing.T, source string, n int) []store.CallbackRow {
	t.Helper()
	var rows []store.CallbackRow
	require.Eventually(t, func() bool {
		var err error
		rows, err = o.st.Callbacks(context.Background(), source)
		require.NoError(t, err)
		for _, r := range rows {
			if r.Status == store.CallbackPending {
				return false
			}
		}
		return len(rows) == n
	}, 30*time.Second, 10*time.Millisecond)
	return rows
}

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
		status   store.CallbackStatus
	}{
		{"retries until 2xx", []int{500, 503, 200}, 3, "ok", store.CallbackSent},
		{"410 stops", []int{410}, 1, "gone", store.CallbackGone},
		{"gives up after the attempts", []int{500}, 4, "failed", store.CallbackFailed},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			rec := &recorder{}
			srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				n := rec.add(r)
				w.WriteHeader(tc.statuses[min(n, len(tc.statuses))-1])
			}))
			defer srv.Close()
			o := newOutbox(t, dest{"gh", srv.URL, true})
			m, _ := o.run(t, callback.Options{Timeout: 5 * time.Second, Attempts: 4, Backoff: 5 * time.Millisecond, Poll: 10 * time.Millisecond})
			o.commit(t, "gh", "e.1")
			rows := o.finished(t, "gh", 1)
			require.Equal(t, tc.status, rows[0].Status)
			require.Equal(t, tc.want, rows[0].Attempts)
			require.Equal(t, tc.want, rec.n())
			waitCounter(t, m, tc.result, 1)

			v, err := webhooksig.New(webhooksig.Standard, []string{cbSecret}, 0)
			require.NoError(t, err)
			rec.mu.Lock()
			defer rec.mu.Unlock()
			for i, r := range rec.reqs {
				require.Equal(t, callback.MessageID("gh", "e.1"), r.Header.Get("webhook-id"), "stable id across retries")
				_, err := v.Verify(context.Background(), &webhooksig.Request{Method: r.Method, URL: r.URL, Header: r.Header, Body: rec.bodies[i]}, time.Now())
				require.NoError(t, err, "signed with Standard Webhooks v1")
				var p callback.Payload
				require.NoError(t, json.Unmarshal(rec.bodies[i], &p))
				require.Equal(t, "e.1", p.Data.EventID)
				require.Equal(t, "processed", p.Data.Status)
				require.Equal(t, "o/r", p.Data.EntityKey)
			}
		})
	}
}

func TestTimeoutIsRetried(t *testing.T) {
	t.Parallel()
	var calls atomic.Int64
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		_, _ = io.Copy(io.Discard, r.Body)
		if calls.Add(1) == 1 {
			select { // hang past the client's timeout
			case <-r.Context().Done():
			case <-time.After(5 * time.Second):
			}
			return
		}
		w.WriteHeader(http.StatusNoContent)
	}))
	defer srv.Close()
	o := newOutbox(t, dest{"s", srv.URL, true})
	m, _ := o.run(t, callback.Options{Timeout: 100 * time.Millisecond, Attempts: 3, Backoff: 5 * time.Millisecond, Poll: 10 * time.Millisecond})
	o.commit(t, "s", "1")
	rows := o.finished(t, "s", 1)
	require.Equal(t, store.CallbackSent, rows[0].Status)
	require.Equal(t, int64(2), calls.Load())
	waitCounter(t, m, "ok", 1)
}

// TestRedirectIsRefused: a redirect to 127.0.0.1 is never followed, even
// for a source allowed to reach private addresses.
func TestRedirectIsRefused(t *testing.T) {
	t.Parallel()
	var internal atomic.Int64
	target := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { internal.Add(1) }))
	defer target.Close()
	var redirects atomic.Int64
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		redirects.Add(1)
		http.Redirect(w, r, target.URL+"/latest/meta-data/", http.StatusTemporaryRedirect)
	}))
	defer srv.Close()
	o := newOutbox(t, dest{"s", srv.URL, true})
	m, _ := o.run(t, callback.Options{Attempts: 2, Backoff: 5 * time.Millisecond, Poll: 10 * time.Millisecond})
	o.commit(t, "s", "1")
	rows := o.finished(t, "s", 1)
	require.Equal(t, store.CallbackFailed, rows[0].Status)
	require.Contains(t, rows[0].LastError, "redirect refused")
	require.Equal(t, int64(2), redirects.Load(), "each try reached the endpoint once")
	require.Zero(t, internal.Load(), "the redirect's target was never contacted")
	waitCounter(t, m, "failed", 1)
}

// TestNonPublicAddressRefusedAtDial: without callback_allow_private, a
// callback to 127.0.0.1, or to a name that resolves to it, is refused when
// the connection is dialled, and not retried.
func TestNonPublicAddressRefusedAtDial(t *testing.T) {
	t.Parallel()
	var hits atomic.Int64
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { hits.Add(1) }))
	defer srv.Close()
	port := srv.URL[strings.LastIndex(srv.URL, ":")+1:]
	o := newOutbox(t, dest{"ip", srv.URL, false}, dest{"name", "http://localhost:" + port, false})
	m, _ := o.run(t, callback.Options{Attempts: 5, Backoff: 5 * time.Millisecond, Poll: 10 * time.Millisecond})
	o.commit(t, "ip", "1")
	o.commit(t, "name", "1")
	for _, src := range []string{"ip", "name"} {
		rows := o.finished(t, src, 1)
		require.Equal(t, store.CallbackFailed, rows[0].Status, src)
		require.Equal(t, 1, rows[0].Attempts, "%s: a refused address is not retried", src)
		require.Contains(t, rows[0].LastError, "non-public address", src)
	}
	require.Zero(t, hits.Load(), "nothing reached the loopback server")
	waitCounter(t, m, "refused", 2)
}

func TestCheckAddress(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		ip      string
		refused bool
	}{
		{"93.184.215.14", false}, {"8.8.8.8", false}, {"2606:4700::6810:84e5", false},
		{"127.0.0.1", true}, {"127.1.2.3", true}, {"::1", true},
		{"169.254.169.254", true}, {"169.254.170.2", true}, {"fe80::1", true}, {"fd00:ec2::254", true},
		{"10.0.0.5", true}, {"172.16.0.1", true}, {"172.31.255.255", true}, {"192.168.1.1", true}, {"fc00::1", true},
		{"0.0.0.0", true}, {"::", true}, {"224.0.0.1", true}, {"ff02::1", true}, {"255.255.255.255", true},
		{"100.64.0.1", true}, {"::ffff:127.0.0.1", true}, {"::ffff:169.254.169.254", true},
		{"64:ff9b::a9fe:a9fe", true}, {"64:ff9b::808:808", false}, {"172.32.0.1", false},
	} {
		err := callback.CheckAddress(netip.MustParseAddr(tc.ip))
		if tc.refused {
			require.ErrorIs(t, err, callback.ErrRefusedAddress, tc.ip)
		} else {
			require.NoError(t, err, tc.ip)
		}
	}
}

// TestSlowHostDoesNotDelayOthers: an endpoint that hangs holds at most its
// own host's slots; another source's callbacks, committed after a backlog
// for the hanging one, are delivered while the hanging requests are still
// unanswered.
func TestSlowHostDoesNotDelayOthers(t *testing.T) {
	t.Parallel()
	release := make(chan struct{})
	var hanging, hangMax atomic.Int64
	slow := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		_, _ = io.Copy(io.Discard, r.Body)
		n := hanging.Add(1)
		for m := hangMax.Load(); n > m && !hangMax.CompareAndSwap(m, n); m = hangMax.Load() {
		}
		defer hanging.Add(-1)
		select {
		case <-release:
		case <-r.Context().Done():
		}
	}))
	defer slow.Close()
	defer close(release)
	rec := &recorder{}
	fast := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { rec.add(r) }))
	defer fast.Close()
	o := newOutbox(t, dest{"slow", slow.URL, true}, dest{"fast", fast.URL, true})
	// Four requests in all, two per host: were the limit only global, the
	// slow backlog (older, so claimed first) would take all four.
	o.run(t, callback.Options{Timeout: 2 * time.Minute, PerHost: 2, Workers: 4, Poll: 10 * time.Millisecond})
	var ids []string
	for i := range 20 {
		ids = append(ids, fmt.Sprint("s", i))
	}
	o.commit(t, "slow", ids...)
	require.Eventually(t, func() bool { return hanging.Load() == 2 }, 30*time.Second, 5*time.Millisecond)
	o.commit(t, "fast", "f1", "f2", "f3", "f4", "f5")
	rows := o.finished(t, "fast", 5)
	for _, r := range rows {
		require.Equal(t, store.CallbackSent, r.Status)
	}
	require.Equal(t, 5, rec.n())
	require.Equal(t, int64(2), hanging.Load(), "the slow endpoint's requests are still unanswered")
	require.Equal(t, int64(2), hangMax.Load(), "never more than PerHost requests to one host")
}

// TestSeveralSendersSendOnce: senders of several processors share the
// outbox; each callback is sent once.
func TestSeveralSendersSendOnce(t *testing.T) {
	t.Parallel()
	var mu sync.Mutex
	got := map[string]int{}
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		mu.Lock()
		got[r.Header.Get("webhook-id")]++
		mu.Unlock()
	}))
	defer srv.Close()
	o := newOutbox(t, dest{"s", srv.URL, true})
	for range 3 {
		o.run(t, callback.Options{Poll: 5 * time.Millisecond, PerHost: 3})
	}
	var ids []string
	for i := range 90 {
		ids = append(ids, fmt.Sprint("e", i))
	}
	for i := 0; i < len(ids); i += 10 {
		o.commit(t, "s", ids[i:i+10]...)
	}
	o.finished(t, "s", len(ids))
	mu.Lock()
	defer mu.Unlock()
	require.Len(t, got, len(ids))
	for _, id := range ids {
		require.Equal(t, 1, got[callback.MessageID("s", id)], id)
	}
}

// TestStopGivesBackInFlight: a sender stopped mid-request (SIGTERM) gives
// its row back at once; the next sender delivers it.
func TestStopGivesBackInFlight(t *testing.T) {
	t.Parallel()
	var hang atomic.Bool
	hang.Store(true)
	var arrived, ok atomic.Int64
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		_, _ = io.Copy(io.Discard, r.Body) // the server notices a closed connection only once the body is read
		arrived.Add(1)
		if hang.Load() {
			<-r.Context().Done()
			return
		}
		ok.Add(1)
	}))
	defer srv.Close()
	o := newOutbox(t, dest{"s", srv.URL, true})
	// A lease far longer than the test: only the give-back lets the
	// second sender have the row.
	_, stop := o.run(t, callback.Options{Timeout: time.Minute, Lease: time.Hour, Poll: 10 * time.Millisecond})
	o.commit(t, "s", "1")
	require.Eventually(t, func() bool { return arrived.Load() == 1 }, 30*time.Second, 5*time.Millisecond)
	stop()
	rows, err := o.st.Callbacks(context.Background(), "s")
	require.NoError(t, err)
	require.Equal(t, store.CallbackPending, rows[0].Status)
	require.Zero(t, rows[0].Attempts, "an interrupted try is not counted")
	hang.Store(false)
	o.run(t, callback.Options{Poll: 10 * time.Millisecond})
	rows = o.finished(t, "s", 1)
	require.Equal(t, store.CallbackSent, rows[0].Status)
	require.Equal(t, int64(1), ok.Load())
}

// waitCounter waits for the result counter to reach want (a result is
// counted just after its row is finished).
func waitCounter(t *testing.T, m *metrics.Metrics, result string, want float64) {
	t.Helper()
	require.Eventually(t, func() bool { return counter(t, m, result) == want }, 10*time.Second, 5*time.Millisecond, result)
	time.Sleep(20 * time.Millisecond)
	require.Equal(t, want, counter(t, m, result), result)
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

// TestQueueGauges: the pending gauge counts the outbox's pending rows and
// the in-flight gauge this sender's requests; both fall back to zero once
// the destination answers.
func TestQueueGauges(t *testing.T) {
	release := make(chan struct{})
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		<-release
		w.WriteHeader(http.StatusNoContent)
	}))
	defer srv.Close()
	o := newOutbox(t, dest{"s", srv.URL, true})
	o.commit(t, "s", "1", "2", "3", "4", "5", "6")
	m, _ := o.run(t, callback.Options{PerHost: 2, Poll: 10 * time.Millisecond})
	require.Eventually(t, func() bool {
		return gauge(t, m, "hookline_processor_callbacks_pending") == 6 && gauge(t, m, "hookline_processor_callbacks_in_flight") == 2
	}, 10*time.Second, 5*time.Millisecond, "6 pending, 2 in flight (PerHost)")
	close(release)
	o.finished(t, "s", 6)
	require.Eventually(t, func() bool {
		return gauge(t, m, "hookline_processor_callbacks_pending") == 0 && gauge(t, m, "hookline_processor_callbacks_in_flight") == 0
	}, 10*time.Second, 5*time.Millisecond, "nothing pending, nothing in flight")
}

func gauge(t *testing.T, m *metrics.Metrics, name string) float64 {
	mfs, err := m.Registry.Gather()
	require.NoError(t, err)
	for _, mf := range mfs {
		if mf.GetName() == name {
			return mf.GetMetric()[0].GetGauge().GetValue()
		}
	}
	t.Fatalf("%s not registered", name)
	return 0
}
