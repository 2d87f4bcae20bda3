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
	"hash/fnv"
	"log/slog"
	"math/rand/v2"
	"sync"
	"sync/atomic"
	"time"

	amqp "github.com/rabbitmq/amqp091-go"
	"github.com/redis/go-redis/v9"

	"github.com/hookline/hookline/internal/envelope"
	"github.com/hookline/hookline/internal/sources"
	"github.com/hookline/hookline/internal/topology"
	"github.com/hookline/hookline/processor/callback"
	"github.com/hookline/hookline/processor/handler"
	"github.com/hookline/hookline/processor/health"
	"github.com/hookline/hookline/processor/lock"
	"github.com/hookline/hookline/processor/metrics"
	"github.com/hookline/hookline/processor/store"
)

// Park tiers: outages back off to the 30 s tier, contention to the 5 s tier.
const (
	maxOutageTier     = 3
	maxContentionTier = 2
	publishTimeout    = 15 * time.Second
)

// Options are the pipeline's knobs (see processor/config).
type Options struct {
	URL             string
	Prefetch        int
	Workers         int
	BatchSize       int
	MaxAttempts     int
	LockWait        time.Duration
	ShutdownTimeout time.Duration
}

// Deps are the pipeline's collaborators.
type Deps struct {
	Store     *store.Store
	Redis     redis.UniversalClient
	Locker    *lock.Locker
	Sources   *sources.Set
	Handlers  *handler.Registry
	Callbacks *callback.Sender // nil: no callbacks
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
	return &Consumer{o: o, Deps: d}
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

// session is two AMQP connections: one consuming, one publishing retries
// and dead letters with confirms. Separate connections, as RabbitMQ
// recommends: when a resource alarm blocks publishers, the consuming
// connection keeps receiving and acking.
type session struct {
	conn, pubConn *amqp.Connection
	ch, pub       *amqp.Channel
	deliveries    <-chan amqp.Delivery
	pubClosed     chan *amqp.Error
	blocked       chan amqp.Blocking
	isBlocked     atomic.Bool // the broker blocked the publishing connection (resource alarm)
	tag           string
}

func (s *session) close() {
	if s.pubConn != nil {
		_ = s.pubConn.Close()
	}
	_ = s.conn.Close()
}

func (c *Consumer) dial() (_ *session, err error) {
	dial := func(name string) (*amqp.Connection, error) {
		return amqp.DialConfig(c.o.URL, amqp.Config{Heartbeat: 10 * time.Second, Properties: amqp.Table{"connection_name": name}})
	}
	conn, err := dial("hookline-processor-consume")
	if err != nil {
		return nil, err
	}
	s := &session{conn: conn, tag: fmt.Sprintf("processor-%d", rand.Int64())}
	defer func() {
		if err != nil {
			s.close()
		}
	}()
	if s.pubConn, err = dial("hookline-processor-publish"); err != nil {
		return nil, err
	}
	// Notification channels are buffered and drained (amqp091-go
	// deadlocks otherwise); a close is sent once, so one slot is enough.
	s.blocked = s.pubConn.NotifyBlocked(make(chan amqp.Blocking, 4))
	if s.ch, err = conn.Channel(); err != nil {
		return nil, err
	}
	if err = topology.Declare(s.ch); err != nil {
		return nil, err
	}
	if s.pub, err = s.pubConn.Channel(); err != nil {
		return nil, err
	}
	if err = s.pub.Confirm(false); err != nil {
		return nil, err
	}
	s.pubClosed = s.pub.NotifyClose(make(chan *amqp.Error, 1))
	// Per-consumer prefetch: quorum queues refuse global QoS.
	if err = s.ch.Qos(c.o.Prefetch, 0, false); err != nil {
		return nil, err
	}
	if s.deliveries, err = s.ch.Consume(topology.Queue, s.tag, false, false, false, false, nil); err != nil {
		return nil, err
	}
	return s, nil
}

// serve dispatches deliveries to the workers until the session breaks
// (returns true) or ctx ends and the graceful stop is done (returns false).
func (c *Consumer) serve(ctx context.Context, s *session) (lost bool) {
	workCtx, cancelWork := context.WithCancel(context.Background())
	defer cancelWork()
	shards := make([]chan *item, c.o.Workers)
	var wg sync.WaitGroup
	for i := range shards {
		// Never more than Prefetch deliveries are unacked, so a shard
		// of that capacity never blocks the dispatcher.
		shards[i] = make(chan *item, c.o.Prefetch)
		wg.Add(1)
		go func() { defer wg.Done(); c.work(workCtx, s, shards[i]) }()
	}
	workersDone := make(chan struct{})
	closeShards := sync.OnceFunc(func() {
		for _, sh := range shards {
			close(sh)
		}
		go func() { wg.Wait(); c.Metrics.NoneInFlight(); close(workersDone) }()
	})
	dispatch := func(d amqp.Delivery) {
		c.Metrics.Consumed()
		it := c.prepare(d)
		c.Log.Debug("delivery", "id", d.MessageId, "lock", it.lockName, "invalid", it.invalid)
		shards[shardOf(it.lockName, len(shards))] <- it
	}
	for {
		select {
		case d, ok := <-s.deliveries:
			if !ok {
				// The channel or connection went away; whatever the
				// workers hold can no longer be acked.
				cancelWork()
				closeShards()
				<-workersDone
				return ctx.Err() == nil
			}
			dispatch(d)
		case <-s.pubClosed:
			// Without the publishing channel nothing can be parked or
			// dead-lettered: start over with a new connection.
			c.Log.Warn("rabbitmq publishing channel closed")
			s.close()
			s.pubClosed = nil
		case b := <-s.blocked:
			s.isBlocked.Store(b.Active)
			if b.Active {
				c.Log.Warn("rabbitmq blocked the connection (resource alarm)", "reason", b.Reason)
			}
		case <-ctx.Done():
			c.shutdown(s, dispatch, closeShards, workersDone, cancelWork)
			return false
		}
	}
}

// shutdown stops taking deliveries, lets the workers finish what they hold
// within ShutdownTimeout, then abandons the rest (closing the connection
// requeues it).
func (c *Consumer) shutdown(s *session, dispatch func(amqp.Delivery), closeShards func(), workersDone chan struct{}, cancelWork func()) {
	c.Health.Stopping()
	deadline := time.NewTimer(max(c.o.ShutdownTimeout-time.Second, c.o.ShutdownTimeout/2))
	defer deadline.Stop()
	c.Log.Info("shutting down: finishing in-flight deliveries", "timeout", c.o.ShutdownTimeout)
	if err := s.ch.Cancel(s.tag, false); err != nil {
		c.Log.Warn("cancel consumer", "err", err)
	}
	// Deliveries already on their way arrive until the library closes
	// the channel after basic.cancel-ok; they join the shards.
drain:
	for {
		select {
		case d, ok := <-s.deliveries:
			if !ok {
				break drain
			}
			dispatch(d)
		case <-deadline.C:
			cancelWork()
			break drain
		}
	}
	closeShards()
	select {
	case <-workersDone:
		c.Log.Info("in-flight deliveries finished")
	case <-deadline.C:
		c.Log.Warn("shutdown timeout: abandoning unfinished deliveries (they return to the queue)")
		cancelWork()
		<-workersDone
	}
}

func shardOf(key string, n int) int {
	h := fnv.New32a()
	h.Write([]byte(key))
	return int(h.Sum32() % uint32(n))
}

// item is one delivery on its way through a worker.
type item struct {
	d        amqp.Delivery
	ev       *handler.Event
	src      *sources.Source
	lockName string
	invalid  string // non-empty: dead-letter with this reason
	reason   string // DLQ metric label for invalid
	parked   int
}

// prepare reads the envelope and finds the source and entity.
func (c *Consumer) prepare(d amqp.Delivery) *item {
	it := &item{d: d, parked: envelope.HeaderInt(d.Headers, envelope.HeaderParked)}
	env, err := envelope.FromDelivery(d)
	if err != nil {
		it.invalid, it.reason, it.lockName = err.Error(), "invalid", d.MessageId
		return it
	}
	if len(env.ID) > store.MaxEventIDLen {
		it.invalid, it.reason, it.lockName = fmt.Sprintf("%v: message_id longer than %d bytes", envelope.ErrInvalid, store.MaxEventIDLen), "invalid", env.ID[:16]
		return it
	}
	for _, f := range []struct {
		name, v string
		max     int
	}{{envelope.HeaderEventType, env.EventType, envelope.MaxEventType}, {envelope.HeaderRequestID, env.RequestID, 255}, {"content_type", env.ContentType, 255}} {
		if len(f.v) > f.max { // the column would refuse it on every attempt
			it.invalid, it.reason, it.lockName = fmt.Sprintf("%v: %s longer than %d bytes", envelope.ErrInvalid, f.name, f.max), "invalid", env.ID
			return it
		}
	}
	src, ok := c.Sources.Lookup(env.Source)
	if !ok {
		it.invalid, it.reason, it.lockName = fmt.Sprintf("unknown source %q", env.Source), "unknown_source", env.ID
		return it
	}
	it.src = src
	it.ev = &handler.Event{
		ID: env.ID, Source: env.Source, EventType: env.EventType, ReceivedAt: env.ReceivedAt,
		RequestID: env.RequestID, ContentType: env.ContentType, Body: env.Body, Attempt: env.Attempt,
	}
	if k, err := src.Entity(env.Body); err == nil {
		it.ev.EntityKey = store.EntityKeyColumn(k)
		it.lockName = env.Source + ":" + it.ev.EntityKey
	} else {
		// No entity: nothing to serialise on but the event itself.
		it.lockName = env.Source + "#event:" + env.ID
	}
	return it
}

// work runs batches from one shard until it is closed.
func (c *Consumer) work(ctx context.Context, s *session, in <-chan *item) {
	batch := make([]*item, 0, c.o.BatchSize)
	var held *lock.Set // the last batch's locks, not yet released
	defer func() {
		if held != nil {
			_ = held.Release(context.WithoutCancel(ctx))
		}
	}()
	for {
		it, ok := <-in
		if !ok {
			return
		}
		batch = append(batch[:0], it)
	fill:
		for len(batch) < c.o.BatchSize {
			select {
			case it, ok := <-in:
				if !ok {
					break fill
				}
				batch = append(batch, it)
			default:
				break fill
			}
		}
		var dep string
		held, dep = c.process(ctx, s, batch, held)
		if held != nil && len(in) == 0 {
			// Idle: hand the locks back now. Busy: the next batch's
			// lock round trip releases them.
			_ = held.Release(context.WithoutCancel(ctx))
			held = nil
		}
		if dep != "" {
			c.waitFor(ctx, dep)
		}
	}
}

// process handles one batch; it returns the dependency that failed, if any.
// prev holds the previous batch's locks (released in this batch's lock round
// trip, or here); after a committed batch its own locks are returned still
// held (held), for the caller to release.
func (c *Consumer) process(ctx context.Context, s *session, batch []*item, prev *lock.Set) (held *lock.Set, failed string) {
	defer func() {
		if prev != nil {
			_ = prev.Release(context.WithoutCancel(ctx))
		}
	}()
	if ctx.Err() != nil {
		return nil, "" // abandoned: unacked, they return to the queue
	}
	var valid []*item
	for _, it := range batch {
		if it.invalid != "" {
			c.deadLetter(ctx, s, it, it.reason, it.invalid)
			continue
		}
		valid = append(valid, it)
	}
	if len(valid) == 0 || ctx.Err() != nil {
		return nil, ""
	}
	start := time.Now()
	set, err := c.Locker.NewSet()
	if err != nil {
		c.parkAll(ctx, s, valid, "outage")
		return nil, ""
	}
	defer func() {
		if held == nil {
			_ = set.Release(context.WithoutCancel(ctx))
		}
	}()
	names := distinct(valid)
	busy, err := set.TryAfter(ctx, prev, names)
	prev = nil // released by TryAfter (or left to expire if Redis failed)
	if err != nil {
		if ctx.Err() != nil {
			return nil, ""
		}
		c.Health.Set(health.Redis, false)
		c.Log.Warn("redis unavailable: parking batch for a delayed retry", "err", err, "n", len(valid))
		c.parkAll(ctx, s, valid, "outage")
		return nil, health.Redis
	}
	c.Health.Set(health.Redis, true)
	for wait := 5 * time.Millisecond; len(busy) > 0 && time.Since(start)+wait <= c.o.LockWait; wait = min(wait*2, 200*time.Millisecond) {
		select {
		case <-ctx.Done():
			return nil, ""
		case <-time.After(wait):
		}
		if busy, err = set.Try(ctx, busy); err != nil {
			c.Health.Set(health.Redis, false)
			c.parkAll(ctx, s, valid, "outage")
			return nil, health.Redis
		}
	}
	if len(busy) > 0 {
		isBusy := make(map[string]bool, len(busy))
		for _, b := range busy {
			isBusy[b] = true
		}
		var got []*item
		for _, it := range valid {
			if isBusy[it.lockName] {
				c.park(ctx, s, it, "lock", min(it.parked+1, maxContentionTier))
			} else {
				got = append(got, it)
			}
		}
		valid = got
		if len(valid) == 0 {
			return nil, ""
		}
	}
	lockWait := time.Since(start)
	stop := set.Keep(ctx, func(n int) {
		c.Metrics.LockLost(n)
		c.Log.Warn("entity locks lost while work ran; the fenced write decides", "n", n)
	})
	failed = c.apply(ctx, s, valid)
	stop()
	if failed != "" {
		return nil, failed
	}
	c.Metrics.Batch(len(valid), time.Since(start), lockWait)
	return set, ""
}

func distinct(items []*item) []string {
	seen := make(map[string]bool, len(items))
	var out []string
	for _, it := range items {
		if !seen[it.lockName] {
			seen[it.lockName] = true
			out = append(out, it.lockName)
		}
	}
	return out
}

// apply commits the batch and settles each delivery.
func (c *Consumer) apply(ctx context.Context, s *session, items []*item) (failed string) {
	evs := make([]*handler.Event, len(items))
	for i, it := range items {
		evs[i] = it.ev
	}
	res, err := c.Store.Apply(ctx, evs, func(ev *handler.Event) handler.Handler {
		return c.Handlers.Lookup(ev.Source, ev.EventType)
	})
	if err != nil {
		if ctx.Err() != nil {
			return "" // shutting down or connection lost: leave unacked, they come back
		}
		if store.IsPermanent(err) {
			if len(items) > 1 { // find the culprit: one transaction per event
				for i, it := range items {
					if f := c.apply(ctx, s, []*item{it}); f != "" {
						c.parkAll(ctx, s, items[i+1:], "outage") // the rest wait out the outage too
						return f
					}
				}
				return ""
			}
			c.failed(ctx, s, items[0], err)
			return ""
		}
		c.Health.Set(health.MySQL, false)
		c.Log.Warn("mysql unavailable: parking batch for a delayed retry", "err", err, "n", len(items))
		c.parkAll(ctx, s, items, "outage")
		return health.MySQL
	}
	c.Health.Set(health.MySQL, true)
	now := time.Now()
	if res.Stale > 0 {
		c.Metrics.Stale(res.Stale)
		c.Log.Info("fenced entity writes skipped: newer state already applied", "n", res.Stale)
	}
	for i, it := range items {
		switch res.Outcomes[i] {
		case store.Stored:
			c.ack(it)
			c.Metrics.EndToEnd(now.Sub(it.ev.ReceivedAt))
			if c.Committed != nil {
				c.Committed(it.ev, now)
			}
			c.callback(it, now)
		case store.Duplicate:
			c.Metrics.Duplicate()
			c.ack(it)
		case store.Failed:
			c.failed(ctx, s, it, res.Errs[i])
		}
	}
	return ""
}

func (c *Consumer) callback(it *item, now time.Time) {
	if c.Callbacks == nil || it.src.CallbackURL == "" {
		return
	}
	// Signed with the source's own callback_secret (sources requires one with
	// callback_url): never an inbound secret, so a callback cannot be
	// replayed into the receiver as a valid webhook.
	c.Callbacks.Enqueue(callback.Job{
		URL: it.src.CallbackURL, Secret: it.src.CallbackSecret,
		Source: it.ev.Source, EventID: it.ev.ID, EventType: it.ev.EventType, EntityKey: it.ev.EntityKey,
		ReceivedAt: it.ev.ReceivedAt, ProcessedAt: now,
	})
}

// failed handles a handler error: a delayed retry with the attempt counted,
// or the DLQ once MAX_ATTEMPTS attempts have failed.
func (c *Consumer) failed(ctx context.Context, s *session, it *item, err error) {
	attempt := it.ev.Attempt + 1
	if attempt >= c.o.MaxAttempts {
		c.deadLetter(ctx, s, it, "attempts", fmt.Sprintf("handler failed %d times: %v", attempt, err))
		return
	}
	c.Log.Info("handler failed: retrying later", "source", it.ev.Source, "event_id", it.ev.ID, "attempt", attempt, "err", err)
	pub := envelope.Republish(it.d)
	pub.Headers[envelope.HeaderAttempt] = int64(attempt)
	if c.publish(ctx, s, "", topology.RetryQueue(attempt), pub) {
		c.Metrics.Retried("handler")
		c.ack(it)
	} else {
		c.giveBack(it)
	}
}

func (c *Consumer) parkAll(ctx context.Context, s *session, items []*item, reason string) {
	for _, it := range items {
		c.park(ctx, s, it, reason, min(it.parked+1, maxOutageTier))
	}
}

// park sends a copy to the tier's retry queue without counting an attempt,
// then acks the original.
func (c *Consumer) park(ctx context.Context, s *session, it *item, reason string, tier int) {
	pub := envelope.Republish(it.d)
	pub.Headers[envelope.HeaderParked] = int64(it.parked + 1)
	if c.publish(ctx, s, "", topology.RetryQueue(tier), pub) {
		c.Metrics.Retried(reason)
		c.ack(it)
	} else {
		c.giveBack(it)
	}
}

// deadLetter publishes a copy with the reason to the dead-letter exchange,
// then acks the original.
func (c *Consumer) deadLetter(ctx context.Context, s *session, it *item, label, reason string) {
	pub := envelope.Republish(it.d)
	pub.Headers[envelope.HeaderDeadReason] = reason
	if c.publish(ctx, s, topology.DeadLetters, it.d.RoutingKey, pub) {
		c.Log.Warn("dead-lettered", "message_id", it.d.MessageId, "reason", reason)
		c.Metrics.DeadLettered(label)
		c.ack(it)
	} else {
		c.giveBack(it)
	}
}

// publish sends with a broker confirm; false when it was not confirmed.
func (c *Consumer) publish(ctx context.Context, s *session, exchange, key string, p amqp.Publishing) bool {
	// A publish cut short by shutdown may still reach the broker: the
	// original then stays unacked too, and dedupe absorbs the extra copy.
	ctx, cancel := context.WithTimeout(ctx, publishTimeout)
	defer cancel()
	// A blocked connection would hang the write (amqp091-go #111): wait
	// for the alarm to clear instead, within the publish timeout.
	for s.isBlocked.Load() {
		select {
		case <-ctx.Done():
			c.Log.Warn("publish: connection blocked by the broker", "exchange", exchange, "key", key)
			return false
		case <-time.After(100 * time.Millisecond):
		}
	}
	dc, err := s.pub.PublishWithDeferredConfirmWithContext(ctx, exchange, key, false, false, p)
	if err != nil {
		c.Log.Warn("publish", "exchange", exchange, "key", key, "err", err)
		return false
	}
	ok, err := dc.WaitContext(ctx)
	if err != nil || !ok {
		c.Log.Warn("publish not confirmed", "exchange", exchange, "key", key, "err", err)
		return false
	}
	return true
}

func (c *Consumer) ack(it *item) {
	if err := it.d.Ack(false); err != nil {
		c.Log.Debug("ack failed (channel gone; the broker redelivers and dedupe absorbs it)", "message_id", it.d.MessageId, "err", err)
	} else {
		c.Metrics.Acked()
	}
	c.Metrics.Settled()
}

// giveBack returns a delivery to the queue when it could not be parked.
func (c *Consumer) giveBack(it *item) {
	_ = it.d.Nack(false, true)
	c.Metrics.Settled()
}

// waitFor pauses the worker until dep answers again (at most 10 s), so an
// outage does not spin every held delivery through the retry queues.
func (c *Consumer) waitFor(ctx context.Context, dep string) {
	deadline := time.Now().Add(10 * time.Second)
	for wait := 100 * time.Millisecond; time.Now().Before(deadline); wait = min(wait*2, 2*time.Second) {
		if c.ping(ctx, dep) == nil {
			return
		}
		select {
		case <-ctx.Done():
			return
		case <-time.After(wait):
		}
	}
}

func (c *Consumer) ping(ctx context.Context, dep string) error {
	ctx, cancel := context.WithTimeout(ctx, 2*time.Second)
	defer cancel()
	var err error
	switch dep {
	case health.Redis:
		err = c.Redis.Ping(ctx).Err()
	case health.MySQL:
		err = c.Store.Ping(ctx)
	}
	c.Health.Set(dep, err == nil)
	return err
}

// pingLoop keeps the Redis and MySQL health current while idle.
func (c *Consumer) pingLoop(ctx context.Context) {
	t := time.NewTicker(2 * time.Second)
	defer t.Stop()
	for {
		_ = c.ping(ctx, health.Redis)
		_ = c.ping(ctx, health.MySQL)
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
	}
}

// backoff is exponential with full jitter.
type backoff struct {
	min, max, cur time.Duration
}

func newBackoff(lo, hi time.Duration) *backoff { return &backoff{min: lo, max: hi, cur: lo} }

func (b *backoff) next() time.Duration {
	d := b.cur
	b.cur = min(b.cur*2, b.max)
	return d/2 + time.Duration(rand.Int64N(int64(d/2)+1))
}

func (b *backoff) reset() { b.cur = b.min }
