// Package consume is the processor's pipeline: it consumes webhooks.inbound
// with a per-consumer prefetch, shards deliveries by entity to a bounded set
// of workers, and has each worker take a batch's entity locks in one Redis
// round trip, record the batch in one MySQL transaction and ack after
// commit. Failures are parked in the delayed-retry queues (outages and lock
// contention without consuming attempts; handler errors with exponential
// backoff until MAX_ATTEMPTS, then the DLQ).
package consume

import (
	"context"
	"fmt"
	"log/slog"
	"sync"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/hookline/hookline/internal/sources"
	"github.com/hookline/hookline/internal/topology"
	"github.com/hookline/hookline/processor/callback"
	"github.com/hookline/hookline/processor/handler"
	"github.com/hookline/hookline/processor/health"
	"github.com/hookline/hookline/processor/lock"
	"github.com/hookline/hookline/processor/metrics"
	"github.com/hookline/hookline/processor/store"
)

// Options are the pipeline's knobs (see processor/config).
type Options struct {
	URL             string
	Prefetch        int
	BodyBudget      int64 // bytes of bodies held at once (0: no budget, Prefetch alone bounds them)
	Workers         int
	BatchSize       int
	MaxAttempts     int
	LockWait        time.Duration
	ShutdownTimeout time.Duration
	// WedgeAfter: /health/live fails once a loop has held work this long
	// without progress while every dependency is reachable (0: the
	// health package's default).
	WedgeAfter time.Duration
}

// Deps are the pipeline's collaborators.
type Deps struct {
	Store     *store.Store
	Redis     redis.UniversalClient
	Locker    *lock.Locker
	Sources   *sources.Live
	Handlers  *handler.Registry
	Callbacks *callback.Sender // woken after commits that wrote outbox rows (nil: it polls)
	Metrics   *metrics.Metrics
	Health    *health.State
	Log       *slog.Logger
	// Committed, when set, is called for each stored event right after
	// its transaction committed (benchmarks measure latency with it).
	Committed func(ev *handler.Event, at time.Time)
}

// Consumer runs the pipeline.
type Consumer struct {
	o Options
	Deps
	dispatcher  *health.Loop
	workerLoops []*health.Loop
}

// New returns a Consumer.
func New(o Options, d Deps) *Consumer {
	if o.Workers < 1 {
		o.Workers = 1
	}
	if o.BatchSize < 1 {
		o.BatchSize = 1
	}
	if o.MaxAttempts < 1 {
		o.MaxAttempts = 1
	}
	if d.Log == nil {
		d.Log = slog.Default()
	}
	if d.Metrics == nil {
		d.Metrics = metrics.New()
	}
	if d.Health == nil {
		d.Health = &health.State{}
	}
	d.Health.SetWedgeAfter(o.WedgeAfter)
	c := &Consumer{o: o, Deps: d, dispatcher: d.Health.Loop("dispatcher")}
	for i := range o.Workers {
		c.workerLoops = append(c.workerLoops, d.Health.Loop(fmt.Sprintf("worker-%d", i)))
	}
	return c
}

// Run consumes until ctx ends, reconnecting to RabbitMQ with backoff
// whenever the connection or channel is lost. When ctx ends it stops taking
// deliveries, finishes what it holds within ShutdownTimeout and closes the
// connection, which returns anything unfinished to the queue.
func (c *Consumer) Run(ctx context.Context) error {
	var wg sync.WaitGroup
	pctx, stopPing := context.WithCancel(context.Background())
	wg.Add(1)
	go func() { defer wg.Done(); c.pingLoop(pctx) }()
	defer func() { stopPing(); wg.Wait() }()

	backoff := newBackoff(100*time.Millisecond, 5*time.Second)
	for {
		if ctx.Err() != nil {
			return nil
		}
		s, err := c.dial()
		if err != nil {
			c.Health.Set(health.RabbitMQ, false)
			d := backoff.next()
			c.Log.Warn("rabbitmq unavailable, retrying", "err", err, "in", d)
			select {
			case <-ctx.Done():
				return nil
			case <-time.After(d):
			}
			continue
		}
		backoff.reset()
		c.Health.Set(health.RabbitMQ, true)
		c.Health.Started()
		c.Log.Info("consuming", "queue", topology.Queue, "prefetch", c.o.Prefetch, "workers", c.o.Workers, "batch", c.o.BatchSize)
		lost := c.serve(ctx, s)
		s.close()
		if !lost {
			return nil
		}
		c.Health.Set(health.RabbitMQ, false)
		c.Log.Warn("rabbitmq connection lost, reconnecting")
	}
}
