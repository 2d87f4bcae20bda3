// Package collector publishes the broker's queue metrics to CloudWatch every
// minute from inside the VPC: depth of webhooks.inbound and webhooks.dead,
// the ingestion and consumption rates of webhooks.inbound, and the
// broker's five health counts (resource alarms, quorum members missing,
// queues without a leader, partitions; health.go), all named by
// internal/queuemetrics. It runs inside every processor task;
// a Redis lease elects the one that collects, so the figures keep coming
// while the service runs at its minimum and move to another task when the
// leader stops. Numbers come from rabbitmq_prometheus (every broker node's
// endpoint, summed), read as the collector's own broker user (monitoring
// tag only), over TLS when the endpoint is https. Rates are counter
// increases between two samples; the previous sample lives in Redis next to
// the lease, so a new leader computes rates from its predecessor's last
// sample, and a broker restart (counters back to zero) costs no datapoint.
package collector

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"os"
	"strings"
	"sync"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/hookline/hookline/internal/queuemetrics"
	"github.com/hookline/hookline/internal/topology"
)

// Options configure a Collector.
type Options struct {
	// Endpoints are the base URLs of every broker node's Prometheus
	// endpoint (http://host:15692, https://host:15691).
	Endpoints []string
	// Username and Password are the collector's broker user, sent as basic
	// auth (the endpoint admits users tagged monitoring when its
	// authentication is on).
	Username, Password string
	// CA is a PEM bundle (or the path of one) that https endpoints'
	// certificates must chain to; empty: the system roots.
	CA string
	// Management are the base URLs of every broker node's management API
	// (https://host:15671), in any order: the quorum queues' membership
	// and leaders and the nodes' partitions are read there (health.go).
	// Empty: those three counts are not published.
	Management []string
	// HealthError, when set, is called once per health count source
	// (queuemetrics.HealthReasons) that could not be read in a
	// slot: its counts are not published for that slot.
	HealthError func(reason string)
	// Vhost whose queues are measured.
	Vhost string
	// Stack is the value of the Stack dimension.
	Stack string
	// Interval between samples (queuemetrics.Interval; tests shorten it).
	// Samples are taken once per Interval-aligned wall-clock slot, so each
	// CloudWatch minute gets exactly one datum per metric.
	Interval time.Duration
	// Redis holds the lease and the previous sample under KeyPrefix.
	Redis     redis.UniversalClient
	KeyPrefix string
	Publisher Publisher
	Log       *slog.Logger
	HTTP      *http.Client // nil: built from CA with a 10 s timeout
}

// Publisher sends data to CloudWatch (CloudWatch in production, a fake in tests).
type Publisher interface {
	Publish(ctx context.Context, data []Datum) error
}

// Datum is one metric value at one time.
type Datum struct {
	Name  string
	Value float64
	At    time.Time
}

// Collector is the leader-elected sampling loop.
type Collector struct {
	o       Options
	lease   *lease
	stateK  string
	healthK string // the slot whose health counts were read last
	tick    time.Duration
	mu      sync.Mutex
	pending []Datum // not yet accepted by the publisher
}

// maxPending bounds what waits for CloudWatch while it fails (CloudWatch
// accepts timestamps up to two weeks old; an hour of minutes is plenty).
const maxPending = 60 * 9

// New validates the options.
func New(o Options) (*Collector, error) {
	if len(o.Endpoints) == 0 {
		return nil, errors.New("collector: no Prometheus endpoint")
	}
	if o.Redis == nil || o.Publisher == nil {
		return nil, errors.New("collector: Redis and Publisher are required")
	}
	if o.Interval <= 0 {
		o.Interval = queuemetrics.Interval
	}
	if o.Log == nil {
		o.Log = slog.Default()
	}
	if o.HTTP == nil {
		c, err := HTTPClient(o.CA)
		if err != nil {
			return nil, err
		}
		o.HTTP = c
	}
	// Ticks well inside each slot; the lease outlives a few missed renewals
	// (at least 5 s of them: a stalled process must not lose it to a
	// pause) but lets a successor take over within the same minute.
	tick := o.Interval / 12
	return &Collector{
		o:       o,
		lease:   newLease(o.Redis, o.KeyPrefix+"collector:lease", max(o.Interval/2, 5*time.Second)),
		stateK:  o.KeyPrefix + "collector:last",
		healthK: o.KeyPrefix + "collector:health",
		tick:    tick,
	}, nil
}

// HTTPClient is the client for the Prometheus endpoints: TLS 1.2+ verified
// against ca (PEM or a PEM file's path) when given.
func HTTPClient(ca string) (*http.Client, error) {
	t := http.DefaultTransport.(*http.Transport).Clone()
	t.TLSClientConfig = &tls.Config{MinVersion: tls.VersionTLS12}
	if ca = strings.TrimSpace(ca); ca != "" {
		pemBytes := []byte(ca)
		if !strings.HasPrefix(ca, "-----BEGIN") {
			b, err := os.ReadFile(ca)
			if err != nil {
				return nil, fmt.Errorf("collector: CA: %w", err)
			}
			pemBytes = b
		}
		pool := x509.NewCertPool()
		if !pool.AppendCertsFromPEM(pemBytes) {
			return nil, errors.New("collector: CA: no PEM certificate in it")
		}
		t.TLSClientConfig.RootCAs = pool
	}
	return &http.Client{Transport: t, Timeout: 10 * time.Second}, nil
}

// Run samples and publishes until ctx ends, then releases the lease so
// that another task takes over at once. Its failures are logged, not
// returned: a lost sample or lease is retried on the next tick.
func (c *Collector) Run(ctx context.Context) {
	defer func() {
		rctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 2*time.Second)
		defer cancel()
		if err := c.lease.release(rctx); err != nil {
			c.o.Log.Warn("collector: releasing the lease", "err", err)
		}
	}()
	t := time.NewTicker(c.tick)
	defer t.Stop()
	leader := false
	for {
		held, err := c.lease.hold(ctx)
		if err != nil && ctx.Err() == nil {
			c.o.Log.Warn("collector: lease", "err", err)
		}
		if held != leader {
			c.o.Log.Info("collector: leadership", "leader", held)
			leader = held
		}
		if held {
			if err := c.step(ctx, time.Now()); err != nil && ctx.Err() == nil {
				c.o.Log.Warn("collector: sample", "err", err)
			}
		}
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
	}
}

// state is the previous sample, kept in Redis for the next leader.
type state struct {
	At        time.Time          `json:"at"`
	Published map[string]float64 `json:"published"`
	Acked     map[string]float64 `json:"acked"`
}

// step takes this slot's queue sample and health counts if nobody has yet,
// and publishes what is pending. The two are independent: a broker whose
// management API fails still gets its queue figures, and the other way
// round.
func (c *Collector) step(ctx context.Context, now time.Time) error {
	slot := now.Truncate(c.o.Interval)
	qerr := c.stepQueues(ctx, now, slot)
	herr := c.stepHealth(ctx, now, slot)
	return errors.Join(qerr, herr, c.flush(ctx))
}

// stepQueues samples the queues once per slot; a failed sample is tried
// again on the next tick of the same slot.
func (c *Collector) stepQueues(ctx context.Context, now, slot time.Time) error {
	prev, err := c.loadState(ctx)
	if err != nil {
		return err
	}
	if prev == nil || prev.At.Truncate(c.o.Interval).Before(slot) {
		cur, data, err := c.sample(ctx, now, prev)
		if err != nil {
			return err
		}
		if err := c.saveState(ctx, cur); err != nil {
			return err
		}
		c.queue(data)
	}
	return nil
}

// stepHealth reads the health counts once per slot, whatever the outcome:
// a count that could not be read stays unknown for the slot (health.go).
func (c *Collector) stepHealth(ctx context.Context, now, slot time.Time) error {
	last, err := c.o.Redis.Get(ctx, c.healthK).Int64()
	if err != nil && !errors.Is(err, redis.Nil) {
		return err
	}
	if err == nil && last >= slot.UnixNano() {
		return nil
	}
	data := c.health(ctx, now)
	if err := c.o.Redis.Set(ctx, c.healthK, slot.UnixNano(), 10*c.o.Interval).Err(); err != nil {
		return err
	}
	c.queue(data)
	return nil
}

// queue adds data to what waits for the publisher, keeping the newest
// maxPending.
func (c *Collector) queue(data []Datum) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.pending = append(c.pending, data...)
	if n := len(c.pending) - maxPending; n > 0 {
		c.pending = c.pending[n:]
	}
}

// sample scrapes every node and turns the figures into data.
func (c *Collector) sample(ctx context.Context, now time.Time, prev *state) (state, []Datum, error) {
	cur := state{At: now, Published: map[string]float64{}, Acked: map[string]float64{}}
	depth := map[string]float64{}
	var errs []error
	ok := 0
	for i, ep := range c.o.Endpoints {
		sctx, cancel := context.WithTimeout(ctx, c.o.Interval/3)
		s, err := scrape(sctx, c.o.HTTP, ep, c.o.Vhost, c.o.Username, c.o.Password, topology.Queue)
		cancel()
		if err != nil {
			errs = append(errs, err)
			continue
		}
		ok++
		for q, v := range s.depth {
			depth[q] += v
		}
		node := fmt.Sprintf("%d|", i)
		for k, v := range s.published {
			cur.Published[node+k] = v
		}
		for k, v := range s.acked {
			cur.Acked[node+k] = v
		}
	}
	if ok == 0 {
		return state{}, nil, fmt.Errorf("no broker node answered: %w", errors.Join(errs...))
	}
	if len(errs) > 0 {
		// A quorum queue's figures come from its leader's node: the
		// nodes that answered still give the depth; counters of the
		// silent node's channels count again when it is back.
		c.o.Log.Warn("collector: some broker nodes did not answer", "err", errors.Join(errs...))
	}
	data := []Datum{
		{queuemetrics.InboundDepth, depth[topology.Queue], now},
		{queuemetrics.DeadDepth, depth[topology.DeadQueue], now},
	}
	if prev != nil {
		// A rate over a longer gap (a broker or Redis outage, a paused
		// process) is still the right average; past a few minutes it says
		// too little about this one.
		if dt := now.Sub(prev.At).Seconds(); dt > 0 && now.Sub(prev.At) <= max(5*c.o.Interval, 30*time.Second) {
			data = append(data,
				Datum{queuemetrics.IngestRate, increase(prev.Published, cur.Published) / dt, now},
				Datum{queuemetrics.ConsumeRate, increase(prev.Acked, cur.Acked) / dt, now},
			)
		}
	}
	return cur, data, nil
}

// increase is how much a set of counters grew, Prometheus's way: a series
// lower than before was reset (broker restart) and counts from zero; a
// series new since the previous sample counts whole (it was created, with
// its first increment, after that sample).
func increase(prev, cur map[string]float64) float64 {
	var sum float64
	for k, v := range cur {
		if p, ok := prev[k]; ok && v >= p {
			sum += v - p
		} else {
			sum += v
		}
	}
	return sum
}

func (c *Collector) loadState(ctx context.Context) (*state, error) {
	b, err := c.o.Redis.Get(ctx, c.stateK).Bytes()
	if errors.Is(err, redis.Nil) {
		return nil, nil
	}
	if err != nil {
		return nil, err
	}
	var s state
	if err := json.Unmarshal(b, &s); err != nil {
		return nil, nil // unreadable: start over, as after a cold start
	}
	return &s, nil
}

func (c *Collector) saveState(ctx context.Context, s state) error {
	b, err := json.Marshal(s)
	if err != nil {
		return err
	}
	return c.o.Redis.Set(ctx, c.stateK, b, 10*c.o.Interval).Err()
}

// flush hands the pending data to the publisher; on failure they wait for
// the next tick.
func (c *Collector) flush(ctx context.Context) error {
	c.mu.Lock()
	data := append([]Datum(nil), c.pending...)
	c.mu.Unlock()
	if len(data) == 0 {
		return nil
	}
	pctx, cancel := context.WithTimeout(ctx, c.o.Interval/3)
	defer cancel()
	if err := c.o.Publisher.Publish(pctx, data); err != nil {
		return fmt.Errorf("publish %d datum(s): %w", len(data), err)
	}
	c.mu.Lock()
	c.pending = c.pending[min(len(data), len(c.pending)):]
	c.mu.Unlock()
	return nil
}
