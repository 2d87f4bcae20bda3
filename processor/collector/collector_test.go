package collector

import (
	"context"
	"crypto/x509"
	"encoding/json"
	"encoding/pem"
	"errors"
	"fmt"
	"io"
	"log"
	"log/slog"
	"math"
	"net/http"
	"net/http/httptest"
	"net/http/httputil"
	"net/url"
	"os"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	amqp "github.com/rabbitmq/amqp091-go"
	"github.com/redis/go-redis/v9"

	"github.com/hookline/hookline/internal/queuemetrics"
	"github.com/hookline/hookline/internal/testenv"
	"github.com/hookline/hookline/internal/topology"
)

// prometheusURL is the local broker's rabbitmq_prometheus endpoint
// (`make services` enables the plugin).
var prometheusURL = envOr("TEST_RABBITMQ_PROMETHEUS", "http://127.0.0.1:15692")

func envOr(k, def string) string {
	if v := os.Getenv(k); v != "" {
		return v
	}
	return def
}

// interval is the tests' sampling slot: short, but longer than a scrape.
const interval = 2 * time.Second

type rig struct {
	vhost  string
	ch     *amqp.Channel
	rdb    *redis.Client
	prefix string
	cw     *fakeCloudWatch
	user   string // the collector role's broker user
	pass   string
}

func newRig(t *testing.T) *rig {
	t.Helper()
	vhost := testenv.RabbitMQ(t)
	conn, err := amqp.Dial(testenv.AMQPURL("", vhost))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { conn.Close() })
	ch, err := conn.Channel()
	if err != nil {
		t.Fatal(err)
	}
	rdb := redis.NewClient(&redis.Options{Addr: testenv.RedisAddr()})
	t.Cleanup(func() { rdb.Close() })
	// The collector's own user: tag monitoring, no vhost permissions.
	user, pass := testenv.Credentials(t, vhost, topology.Collector)
	return &rig{vhost: vhost, ch: ch, rdb: rdb, prefix: testenv.Redis(t), cw: newFakeCloudWatch(t), user: user, pass: pass}
}

func (r *rig) options(endpoint string) Options {
	return Options{
		Endpoints: []string{endpoint}, Username: r.user, Password: r.pass,
		Vhost: r.vhost, Stack: "hookline-test", Interval: interval,
		Redis: r.rdb, KeyPrefix: r.prefix, Publisher: r.cw.publisher("hookline-test"),
		Log: slog.New(slog.NewTextHandler(io.Discard, nil)),
	}
}

// start runs a collector until the test ends (or stop is called).
func start(t *testing.T, o Options) (stop func()) {
	t.Helper()
	c, err := New(o)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { defer close(done); c.Run(ctx) }()
	var once atomic.Bool
	stop = func() {
		if once.CompareAndSwap(false, true) {
			cancel()
			<-done
		}
	}
	t.Cleanup(stop)
	return stop
}

func waitFor(t *testing.T, timeout time.Duration, what string, cond func() bool, show ...*fakeCloudWatch) {
	t.Helper()
	deadline := time.Now().Add(timeout)
	for !cond() {
		if time.Now().After(deadline) {
			for _, cw := range show {
				for _, d := range cw.data() {
					t.Logf("%s %s %v", d.At.Format("15:04:05.000"), d.Name, d.Value)
				}
			}
			t.Fatalf("timed out after %v waiting for %s", timeout, what)
		}
		time.Sleep(100 * time.Millisecond)
	}
}

func (r *rig) publish(t *testing.T, n int) {
	t.Helper()
	for i := 0; i < n; i++ {
		if err := r.ch.PublishWithContext(context.Background(), topology.Exchange, "test.event", false, false,
			amqp.Publishing{DeliveryMode: amqp.Persistent, MessageId: fmt.Sprint(i), Body: []byte("{}")}); err != nil {
			t.Fatal(err)
		}
	}
}

// consume acks n messages of the inbound queue on a channel of its own
// and leaves it open (its per-channel counters stay, on 3.10).
func (r *rig) consume(t *testing.T, n int) {
	t.Helper()
	conn, err := amqp.Dial(testenv.AMQPURL("", r.vhost))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { conn.Close() })
	ch, err := conn.Channel()
	if err != nil {
		t.Fatal(err)
	}
	if err := ch.Qos(n, 0, false); err != nil {
		t.Fatal(err)
	}
	d, err := ch.Consume(topology.Queue, "", false /* autoAck */, false, false, false, nil)
	if err != nil {
		t.Fatal(err)
	}
	for i := 0; i < n; i++ {
		m := <-d
		if err := m.Ack(false); err != nil {
			t.Fatal(err)
		}
	}
}

// last is the newest recorded value of a metric.
func last(data []recordedDatum, name string) (recordedDatum, bool) {
	for i := len(data) - 1; i >= 0; i-- {
		if data[i].Name == name {
			return data[i], true
		}
	}
	return recordedDatum{}, false
}

// tolerance is how far from a whole count the reconstruction may land:
// CloudWatch timestamps carry milliseconds, the collector's rates use the
// exact time between its samples.
const tolerance = 0.05

// counted is how many messages the published rates account for:
// Σ rate × seconds since the previous sample.
func counted(data []recordedDatum, rate string) float64 {
	var sum float64
	var at []time.Time
	for _, d := range data {
		if d.Name == queuemetrics.InboundDepth {
			at = append(at, d.At)
		}
	}
	i := 0
	for _, d := range data {
		if d.Name != rate {
			continue
		}
		for i < len(at) && !at[i].Equal(d.At) {
			i++
		}
		if i == 0 || i >= len(at) {
			continue
		}
		sum += d.Value * at[i].Sub(at[i-1]).Seconds()
	}
	return sum
}

// Against the real broker: depth of both queues, and the rates whose sum
// over the samples is exactly what was published and acked; every datum in
// the namespace with the stack dimension, the right unit, one-minute
// storage resolution, one per metric per slot.
func TestPublishesQueueFiguresFromRealBroker(t *testing.T) {
	t.Parallel()
	r := newRig(t)
	start(t, r.options(prometheusURL))
	waitFor(t, 10*interval, "a first sample", func() bool { _, ok := last(r.cw.data(), queuemetrics.InboundDepth); return ok })

	r.publish(t, 30)
	r.consume(t, 10)
	// Quorum queues report their depth every few seconds; rates count
	// exactly once the counters moved.
	waitFor(t, 30*time.Second, "depth 20 and rates accounting for 30 published, 10 acked", func() bool {
		data := r.cw.data()
		d, _ := last(data, queuemetrics.InboundDepth)
		return d.Value == 20 && math.Abs(counted(data, queuemetrics.IngestRate)-30) < tolerance &&
			math.Abs(counted(data, queuemetrics.ConsumeRate)-10) < tolerance
	}, r.cw)

	data := r.cw.data()
	perSlot := map[string]map[time.Time]int{}
	for _, d := range data {
		if d.Dimensions[queuemetrics.StackDimension] != "hookline-test" || len(d.Dimensions) != 1 {
			t.Errorf("%s dimensions %v; want only Stack=hookline-test", d.Name, d.Dimensions)
		}
		if d.Unit != queuemetrics.Units[d.Name] || d.Resolution != 60 {
			t.Errorf("%s unit %q resolution %d; want %q, 60", d.Name, d.Unit, d.Resolution, queuemetrics.Units[d.Name])
		}
		if perSlot[d.Name] == nil {
			perSlot[d.Name] = map[time.Time]int{}
		}
		perSlot[d.Name][d.At.Truncate(interval)]++
	}
	for name, slots := range perSlot {
		for s, n := range slots {
			if n != 1 {
				t.Errorf("%s: %d data in slot %v; want one per slot", name, n, s)
			}
		}
	}
	if d, _ := last(data, queuemetrics.DeadDepth); d.Value != 0 {
		t.Errorf("dead depth %v; want 0", d.Value)
	}
	r.cw.mu.Lock()
	for _, c := range r.cw.calls {
		if c.Namespace != queuemetrics.Namespace {
			t.Errorf("namespace %q; want %q", c.Namespace, queuemetrics.Namespace)
		}
	}
	r.cw.mu.Unlock()
}

// The broker's endpoint unreachable for a while (as in a broker restart),
// then back: the collector keeps its cadence, publishes nothing invented
// while it is down, and resumes with depth and rates; CloudWatch down for a
// while: the data wait and arrive afterwards.
func TestSurvivesBrokerAndCloudWatchOutages(t *testing.T) {
	t.Parallel()
	r := newRig(t)
	u, _ := url.Parse(prometheusURL)
	proxy := testenv.NewProxy(t, u.Host)
	start(t, r.options("http://"+proxy.Addr()))
	waitFor(t, 10*interval, "a first sample", func() bool { _, ok := last(r.cw.data(), queuemetrics.InboundDepth); return ok })

	proxy.Cut()
	before := len(r.cw.data())
	time.Sleep(3 * interval)
	if n := len(r.cw.data()); n > before+6 { // at most the slot in flight (queue figures and alarm counts)
		t.Errorf("%d data published while the broker was unreachable", n-before)
	}
	proxy.Restore()
	restored := time.Now()
	waitFor(t, 10*interval, "a sample after the outage", func() bool {
		d, ok := last(r.cw.data(), queuemetrics.InboundDepth)
		return ok && d.At.After(restored)
	})
	r.publish(t, 7)
	waitFor(t, 30*time.Second, "depth 7 after the outage", func() bool {
		d, ok := last(r.cw.data(), queuemetrics.InboundDepth)
		return ok && d.Value == 7
	})
	waitFor(t, 10*interval, "rates after the outage", func() bool {
		_, ok := last(r.cw.data(), queuemetrics.IngestRate)
		return ok && math.Abs(counted(r.cw.data(), queuemetrics.IngestRate)-7) < tolerance
	})

	r.cw.setFail(true)
	failedAt := time.Now()
	time.Sleep(2 * interval)
	r.cw.setFail(false)
	waitFor(t, 10*interval, "the data of the CloudWatch outage", func() bool {
		for _, d := range r.cw.data() {
			if d.Name == queuemetrics.InboundDepth && d.At.After(failedAt) && d.At.Before(failedAt.Add(interval)) {
				return true
			}
		}
		return false
	})
}

// Two tasks: exactly one publishes per slot; when it stops, the other takes
// over at once (the lease is released) and publishes rates from its first
// sample on, from the predecessor's sample kept in Redis.
func TestOneLeaderAndHandover(t *testing.T) {
	t.Parallel()
	r := newRig(t)
	a, b := r.options(prometheusURL), r.options(prometheusURL)
	cwA, cwB := newFakeCloudWatch(t), newFakeCloudWatch(t)
	a.Publisher, b.Publisher = cwA.publisher("hookline-test"), cwB.publisher("hookline-test")
	stopA := start(t, a)
	waitFor(t, 10*interval, "a leader", func() bool { return len(cwA.data()) > 0 })
	start(t, b)
	time.Sleep(3 * interval)
	if n := len(cwB.data()); n != 0 {
		t.Fatalf("the second task published %d data while the first held the lease", n)
	}
	stopA()
	stoppedAt := time.Now()
	r.publish(t, 5)
	waitFor(t, 5*interval, "the second task's rates", func() bool {
		_, ok := last(cwB.data(), queuemetrics.IngestRate)
		return ok
	})
	first := cwB.data()[0]
	if first.At.Sub(stoppedAt) > 3*interval {
		t.Errorf("takeover after %v; want within the next slot", first.At.Sub(stoppedAt))
	}
	if _, ok := last(cwB.data()[:4], queuemetrics.IngestRate); !ok {
		t.Errorf("the new leader's first sample has no rate: %+v", cwB.data()[:4])
	}
	slots := map[time.Time]int{}
	for _, d := range append(cwA.data(), cwB.data()...) {
		if d.Name == queuemetrics.InboundDepth {
			slots[d.At.Truncate(interval)]++
		}
	}
	for s, n := range slots {
		if n > 1 {
			t.Errorf("slot %v has %d depth data; want one", s, n)
		}
	}
}

// Production reads the endpoint over TLS as the collector's own broker
// user. The stand-in endpoint terminates TLS with its own certificate and
// admits a request as rabbitmq_prometheus (3.13+) does with
// prometheus.authentication.enabled: the credentials must authenticate
// against the real broker and the user must be tagged monitoring (or
// administrator); then it forwards to the local endpoint. The collector
// verifies the certificate with the CA bundle setting, and is admitted with
// the collector role's user, which has no vhost permissions; the receiver's
// user is refused.
func TestTLSWithCABundleAsMonitoringUser(t *testing.T) {
	t.Parallel()
	r := newRig(t)
	target, _ := url.Parse(prometheusURL)
	var admitted, refused atomic.Int32
	srv := httptest.NewUnstartedServer(http.HandlerFunc(func(w http.ResponseWriter, req *http.Request) {
		u, p, _ := req.BasicAuth()
		if !monitoringUser(t, u, p) {
			refused.Add(1)
			http.Error(w, "unauthorized", http.StatusUnauthorized)
			return
		}
		admitted.Add(1)
		httputil.NewSingleHostReverseProxy(target).ServeHTTP(w, req)
	}))
	srv.Config.ErrorLog = log.New(io.Discard, "", 0) // the refused handshake below is expected
	srv.StartTLS()
	t.Cleanup(srv.Close)
	ca := string(pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: srv.Certificate().Raw}))

	o := r.options(srv.URL)
	// Without the CA bundle the server's certificate is refused.
	if _, err := scrape(context.Background(), mustClient(t, ""), srv.URL, r.vhost, o.Username, o.Password, topology.Queue); err == nil {
		t.Fatal("scrape over TLS succeeded without the CA bundle")
	} else if !isUnknownAuthority(err) {
		t.Logf("without CA: %v", err)
	}
	// Another role's user is not a monitoring user.
	ru, rp := testenv.Credentials(t, r.vhost, topology.Receiver)
	if _, err := scrape(context.Background(), mustClient(t, ca), srv.URL, r.vhost, ru, rp, topology.Queue); err == nil {
		t.Fatal("the receiver's user was admitted to the metrics")
	}
	refusedBefore := refused.Load()

	o.CA = ca
	start(t, o)
	waitFor(t, 10*interval, "a sample over TLS", func() bool { _, ok := last(r.cw.data(), queuemetrics.InboundDepth); return ok })
	if admitted.Load() == 0 || refused.Load() != refusedBefore {
		t.Errorf("collector scrapes admitted %d, refused %d", admitted.Load(), refused.Load()-refusedBefore)
	}
}

// monitoringUser authenticates user against the real broker (management
// API /api/whoami) and reports whether it carries the monitoring or
// administrator tag.
func monitoringUser(t *testing.T, user, pass string) bool {
	mg, err := url.Parse(testenv.RabbitMQMgmt())
	if err != nil {
		t.Error(err)
		return false
	}
	mg.User = url.UserPassword(user, pass)
	resp, err := http.Get(mg.String() + "/api/whoami")
	if err != nil {
		t.Error(err)
		return false
	}
	defer resp.Body.Close()
	var who struct {
		Tags any `json:"tags"` // a list since 3.9, a comma-separated string before
	}
	if resp.StatusCode != http.StatusOK || json.NewDecoder(resp.Body).Decode(&who) != nil {
		return false
	}
	tags := fmt.Sprint(who.Tags)
	return strings.Contains(tags, "monitoring") || strings.Contains(tags, "administrator")
}

func mustClient(t *testing.T, ca string) *http.Client {
	c, err := HTTPClient(ca)
	if err != nil {
		t.Fatal(err)
	}
	return c
}

func isUnknownAuthority(err error) bool {
	var ua x509.UnknownAuthorityError
	return errors.As(err, &ua)
}
