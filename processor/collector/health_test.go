package collector

import (
	"bytes"
	"context"
	"encoding/json"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"net/http/httputil"
	"net/url"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/hookline/hookline/internal/queuemetrics"
	"github.com/hookline/hookline/internal/testenv"
	"github.com/hookline/hookline/internal/topology"
)

// healthNames are the five broker health counts.
var healthNames = []string{queuemetrics.BrokerMemoryAlarm, queuemetrics.BrokerDiskAlarm,
	queuemetrics.QuorumMembersMissing, queuemetrics.QueuesWithoutLeader, queuemetrics.Partitions}

// mgmtBase is the local management API without the admin's credentials:
// the collector sends its own.
func mgmtBase(t *testing.T) string {
	t.Helper()
	u, err := url.Parse(testenv.RabbitMQMgmt())
	if err != nil {
		t.Fatal(err)
	}
	return u.Scheme + "://" + u.Host
}

// healthErrors records Options.HealthError's calls and the collector's log.
type healthErrors struct {
	mu     sync.Mutex
	counts map[string]int
	log    bytes.Buffer
}

func (h *healthErrors) add(reason string) {
	h.mu.Lock()
	defer h.mu.Unlock()
	if h.counts == nil {
		h.counts = map[string]int{}
	}
	h.counts[reason]++
}

func (h *healthErrors) count(reason string) int {
	h.mu.Lock()
	defer h.mu.Unlock()
	return h.counts[reason]
}

func (h *healthErrors) Write(p []byte) (int, error) {
	h.mu.Lock()
	defer h.mu.Unlock()
	return h.log.Write(p)
}

func (h *healthErrors) logged() string {
	h.mu.Lock()
	defer h.mu.Unlock()
	return h.log.String()
}

// watch points o's health error hook and log at a recorder.
func watch(o *Options) *healthErrors {
	h := &healthErrors{}
	o.HealthError = h.add
	o.Log = slog.New(slog.NewTextHandler(h, nil))
	return h
}

func names(data []recordedDatum) map[string]int {
	n := map[string]int{}
	for _, d := range data {
		n[d.Name]++
	}
	return n
}

// Against the local 3.10 broker, as the collector's production user
// (monitoring tag, no grant in the vhost): no resource alarm, no partition
// and every quorum queue whole on the one node: all five counts 0, one
// datum each per slot, and no health error.
func TestHealthCountsFromRealBroker(t *testing.T) {
	t.Parallel()
	r := newRig(t)
	o := r.options(prometheusURL)
	o.Management = []string{mgmtBase(t)}
	h := watch(&o)
	start(t, o)
	waitFor(t, 10*interval, "two slots of all five health counts", func() bool {
		n := names(r.cw.data())
		for _, name := range healthNames {
			if n[name] < 2 {
				return false
			}
		}
		return true
	}, r.cw)
	for _, d := range r.cw.data() {
		if slices.Contains(healthNames, d.Name) && d.Value != 0 {
			t.Errorf("%s = %v; want 0 on a healthy single node", d.Name, d.Value)
		}
	}
	for _, reason := range queuemetrics.HealthReasons {
		if n := h.count(reason); n != 0 {
			t.Errorf("%d %s errors against a healthy broker; log: %s", n, reason, h.logged())
		}
	}

	// What the counts rest on, as the collector's user reads it: the vhost's
	// quorum queues, each with its one member online and leading (3.10 adds
	// the state only once the queue's first stats arrived).
	c, err := New(o)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	body, err := c.get(ctx, mgmtBase(t)+"/api/overview?columns=node", "application/json")
	if err != nil {
		t.Fatal(err)
	}
	var ov struct{ Node string }
	if err := json.Unmarshal(body, &ov); err != nil || ov.Node == "" {
		t.Fatalf("overview %s: %v", body, err)
	}
	body, err = c.get(ctx, mgmtBase(t)+"/api/queues/"+url.PathEscape(r.vhost)+"?columns=name,type,state,leader,members,online", "application/json")
	if err != nil {
		t.Fatal(err)
	}
	var qs []queueInfo
	if err := json.Unmarshal(body, &qs); err != nil {
		t.Fatal(err)
	}
	quorum := 0
	for _, q := range qs {
		if q.Type != "quorum" {
			continue
		}
		quorum++
		if q.Leader == nil || *q.Leader != ov.Node || q.Members == nil || !slices.Equal(*q.Members, []string{ov.Node}) ||
			q.Online == nil || !slices.Equal(*q.Online, []string{ov.Node}) || (q.State != "running" && q.State != "") {
			t.Errorf("queue %s: %s", q.Name, body)
		}
	}
	if quorum < 2 { // webhooks.inbound, webhooks.dead, the retry queues
		t.Errorf("%d quorum queues in %s: %s", quorum, r.vhost, body)
	}
}

// A node's /metrics that cannot be read (down, an error status, garbage,
// or without the alarm series, as rabbitmq_prometheus answers when the
// node's alarms time out): the two alarm counts are not published at all,
// not as 0, and every slot counts an alarms error and logs it; the queue
// figures and the management counts go on.
func TestAlarmCountsUnknownAreNotPublished(t *testing.T) {
	t.Parallel()
	target, _ := url.Parse(prometheusURL)
	for _, tc := range []struct {
		name    string
		metrics http.HandlerFunc
	}{
		{"error status", func(w http.ResponseWriter, _ *http.Request) { http.Error(w, "boom", http.StatusServiceUnavailable) }},
		{"garbage", func(w http.ResponseWriter, _ *http.Request) {
			_, _ = w.Write([]byte("<html><body>proxy error</body></html>\n"))
		}},
		{"alarm series left out", func(w http.ResponseWriter, _ *http.Request) {
			_, _ = w.Write([]byte("# TYPE rabbitmq_queues gauge\nrabbitmq_queues 7\n"))
		}},
		{"refused", nil},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			r := newRig(t)
			upstream := httputil.NewSingleHostReverseProxy(target)
			srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, req *http.Request) {
				if req.URL.Path == "/metrics" {
					if tc.metrics == nil {
						// The connection dropped mid-answer, as a node going away.
						hj, _ := w.(http.Hijacker)
						conn, _, _ := hj.Hijack()
						conn.Close()
						return
					}
					tc.metrics(w, req)
					return
				}
				upstream.ServeHTTP(w, req) // /metrics/detailed: the real broker's queues
			}))
			t.Cleanup(srv.Close)
			o := r.options(srv.URL)
			o.Management = []string{mgmtBase(t)}
			h := watch(&o)
			start(t, o)
			waitFor(t, 10*interval, "queue figures, management counts and alarm errors in two slots", func() bool {
				n := names(r.cw.data())
				return n[queuemetrics.InboundDepth] >= 2 && n[queuemetrics.QuorumMembersMissing] >= 2 && h.count(queuemetrics.HealthAlarms) >= 2
			}, r.cw)
			n := names(r.cw.data())
			if n[queuemetrics.BrokerMemoryAlarm] != 0 || n[queuemetrics.BrokerDiskAlarm] != 0 {
				t.Errorf("alarm counts published from an unreadable /metrics: %v", n)
			}
			if !strings.Contains(h.logged(), "broker health unknown") || !strings.Contains(h.logged(), "reason=alarms") {
				t.Errorf("no log line for the unknown alarm counts: %s", h.logged())
			}
			if h.count(queuemetrics.HealthQueues) != 0 || h.count(queuemetrics.HealthNodes) != 0 {
				t.Errorf("management errors %d/%d with a working management API; log: %s", h.count(queuemetrics.HealthQueues), h.count(queuemetrics.HealthNodes), h.logged())
			}
		})
	}
}

// The management API unreachable, refusing the user, or answering garbage:
// members, leaders and partitions are not published (never 0) and each
// slot counts a queues and a nodes error; the alarm counts and the queue
// figures go on. Reachable again, the counts come back.
func TestManagementCountsUnknownAreNotPublished(t *testing.T) {
	t.Parallel()
	mg, _ := url.Parse(mgmtBase(t))
	t.Run("unreachable, then back", func(t *testing.T) {
		t.Parallel()
		r := newRig(t)
		proxy := testenv.NewProxy(t, mg.Host)
		proxy.Cut()
		o := r.options(prometheusURL)
		o.Management = []string{"http://" + proxy.Addr()}
		h := watch(&o)
		start(t, o)
		waitFor(t, 10*interval, "two slots without the management API", func() bool {
			return h.count(queuemetrics.HealthQueues) >= 2 && h.count(queuemetrics.HealthNodes) >= 2 && names(r.cw.data())[queuemetrics.BrokerMemoryAlarm] >= 2
		}, r.cw)
		n := names(r.cw.data())
		for _, name := range []string{queuemetrics.QuorumMembersMissing, queuemetrics.QueuesWithoutLeader, queuemetrics.Partitions} {
			if n[name] != 0 {
				t.Errorf("%s published %d times while the management API was unreachable", name, n[name])
			}
		}
		if n[queuemetrics.InboundDepth] == 0 {
			t.Error("no queue figures while only the management API was away")
		}
		proxy.Restore()
		restored := time.Now()
		waitFor(t, 10*interval, "the management counts after the outage", func() bool {
			got := 0
			for _, d := range r.cw.data() {
				if d.At.After(restored) && (d.Name == queuemetrics.QuorumMembersMissing || d.Name == queuemetrics.Partitions) && d.Value == 0 {
					got++
				}
			}
			return got >= 2
		}, r.cw)
	})
	for _, tc := range []struct {
		name    string
		handler func(t *testing.T, r *rig) http.Handler
	}{
		// The receiver's user has no monitoring tag: 401.
		{"another role's user", func(t *testing.T, r *rig) http.Handler {
			ru, rp := testenv.Credentials(t, r.vhost, topology.Receiver)
			up := httputil.NewSingleHostReverseProxy(mg)
			return http.HandlerFunc(func(w http.ResponseWriter, req *http.Request) {
				req.SetBasicAuth(ru, rp)
				up.ServeHTTP(w, req)
			})
		}},
		{"garbage", func(*testing.T, *rig) http.Handler {
			return http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) { _, _ = w.Write([]byte("<html>maintenance</html>")) })
		}},
		{"fields left out", func(*testing.T, *rig) http.Handler {
			return http.HandlerFunc(func(w http.ResponseWriter, req *http.Request) {
				switch req.URL.Path {
				case "/api/overview":
					_, _ = w.Write([]byte(`{"node":"rabbit@x"}`))
				case "/api/nodes":
					_, _ = w.Write([]byte(`[{"name":"rabbit@x","partitions":[]}]`))
				default:
					_, _ = w.Write([]byte(`[{"name":"webhooks.inbound","type":"quorum","state":"running"}]`))
				}
			})
		}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			r := newRig(t)
			srv := httptest.NewServer(tc.handler(t, r))
			t.Cleanup(srv.Close)
			o := r.options(prometheusURL)
			o.Management = []string{srv.URL}
			h := watch(&o)
			start(t, o)
			waitFor(t, 10*interval, "two slots of management errors", func() bool {
				return h.count(queuemetrics.HealthQueues) >= 2 && h.count(queuemetrics.HealthNodes) >= 2
			}, r.cw)
			n := names(r.cw.data())
			for _, name := range []string{queuemetrics.QuorumMembersMissing, queuemetrics.QueuesWithoutLeader, queuemetrics.Partitions} {
				if n[name] != 0 {
					t.Errorf("%s published %d times from a management API that could not be read", name, n[name])
				}
			}
			if n[queuemetrics.BrokerMemoryAlarm] == 0 {
				t.Error("alarm counts stopped with the management API")
			}
			if !strings.Contains(h.logged(), "reason=queues") || !strings.Contains(h.logged(), "reason=nodes") {
				t.Errorf("log: %s", h.logged())
			}
		})
	}
}

// With several nodes, one node's management API away makes the partition
// count unknown (the other nodes' views cannot say whether it is split
// off), while the queue counts come from the node that answers.
func TestPartitionsNeedEveryNode(t *testing.T) {
	t.Parallel()
	r := newRig(t)
	mg, _ := url.Parse(mgmtBase(t))
	away := testenv.NewProxy(t, mg.Host)
	away.Cut()
	o := r.options(prometheusURL)
	o.Management = []string{"http://" + away.Addr(), mgmtBase(t)}
	h := watch(&o)
	start(t, o)
	waitFor(t, 10*interval, "two slots of queue counts with one node away", func() bool {
		return names(r.cw.data())[queuemetrics.QuorumMembersMissing] >= 2 && h.count(queuemetrics.HealthNodes) >= 2
	}, r.cw)
	if n := names(r.cw.data())[queuemetrics.Partitions]; n != 0 {
		t.Errorf("partitions published %d times without every node's view", n)
	}
	if n := h.count(queuemetrics.HealthQueues); n != 0 {
		t.Errorf("%d queues errors although a node answered", n)
	}
}
