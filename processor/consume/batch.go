package consume

import (
	"context"
	"fmt"
	"time"

	amqp "github.com/rabbitmq/amqp091-go"

	"github.com/hookline/hookline/internal/canary"
	"github.com/hookline/hookline/internal/envelope"
	"github.com/hookline/hookline/internal/sources"
	"github.com/hookline/hookline/processor/handler"
	"github.com/hookline/hookline/processor/health"
	"github.com/hookline/hookline/processor/lock"
	"github.com/hookline/hookline/processor/store"
)

// item is one delivery on its way through a worker.
type item struct {
	d        amqp.Delivery
	ev       *handler.Event
	src      *sources.Source
	lockName string
	invalid  string // non-empty: dead-letter with this reason
	unknown  string // non-empty: the source, not (yet) in the sources document
	reason   string // DLQ metric label for invalid
	parked   int
	settled  bool  // acked or given back: nothing more may be done with d
	size     int64 // body bytes counted against flow
	flow     *flow // the byte budget of the session that took it
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
	if !ok { // resolved (or parked) on the worker: resolveSources
		it.unknown, it.lockName = env.Source, env.Source+"#event:"+env.ID
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
	if src.HasOrder() {
		// A missing or malformed order value is not bad data: the event is
		// stored and fenced by arrival (docs/ordering.md).
		if o, err := src.Order(env.Body); err == nil {
			it.ev.Order = &o
		} else {
			c.Log.Warn("order_key: no usable value, ordering by arrival", "source", env.Source, "message_id", env.ID, "err", err)
		}
	}
	return it
}

// work runs batches from one shard until it is closed.
func (c *Consumer) work(ctx context.Context, s *session, in <-chan *item, loop *health.Loop) {
	ctx = withLoop(ctx, loop)
	batch := make([]*item, 0, c.o.BatchSize)
	var held *lock.Set // the last batch's locks, not yet released
	defer func() { release(ctx, held); loop.Idle() }()
	for {
		it, ok := <-in
		if !ok {
			return
		}
		loop.Progress() // holding work from here until Idle
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
		held, dep = c.processRecovering(ctx, s, batch, held)
		if held != nil && len(in) == 0 {
			// Idle: hand the locks back now. Busy: the next batch's
			// lock round trip releases them.
			release(ctx, held)
			held = nil
		}
		loop.Idle() // waitFor is bounded and waits out an outage: not a wedge
		if dep != "" {
			c.waitFor(ctx, dep)
		}
	}
}

// processRecovering is process that survives a panic outside the handlers
// (those are recovered in pick): every delivery of the batch not yet settled
// fails with it, a counted attempt, so a delivery that always panics ends in
// the DLQ instead of crashing the process over and over. The batch's locks
// are left to expire.
func (c *Consumer) processRecovering(ctx context.Context, s *session, batch []*item, prev *lock.Set) (held *lock.Set, failed string) {
	defer func() {
		v := recover()
		if v == nil {
			return
		}
		err := c.recovered(v, "batch", batch[0].d.MessageId)
		held, failed = nil, ""
		for _, it := range batch {
			switch {
			case it.settled:
			case it.invalid != "":
				c.deadLetter(ctx, s, it, it.reason, it.invalid)
			case it.unknown != "":
				c.parkUnknown(ctx, s, it)
			default:
				c.failed(ctx, s, it, "processing panicked", err)
			}
		}
	}()
	return c.process(ctx, s, batch, prev)
}

// process handles one batch: it dead-letters what can never be applied,
// acquires the entity locks of the rest, keeps them refreshed while it
// applies the batch, and returns the dependency that failed, if any. prev
// holds the previous batch's locks (released in this batch's lock round
// trip, or here); after a committed batch its own locks are returned still
// held (held), for the caller to release.
func (c *Consumer) process(ctx context.Context, s *session, batch []*item, prev *lock.Set) (held *lock.Set, failed string) {
	if ctx.Err() != nil {
		release(ctx, prev)
		return nil, "" // abandoned: unacked, they return to the queue
	}
	valid := c.deadLetterInvalid(ctx, s, c.resolveSources(ctx, s, batch))
	if len(valid) == 0 || ctx.Err() != nil {
		release(ctx, prev)
		return nil, ""
	}
	start := time.Now()
	set, valid, failed := c.acquire(ctx, s, valid, prev, start)
	if set == nil {
		return nil, failed
	}
	lockWait := time.Since(start)
	func() {
		defer c.keep(ctx, set)() // stopped even if apply panics
		failed = c.apply(ctx, s, valid)
	}()
	if failed != "" {
		release(ctx, set)
		return nil, failed
	}
	c.Metrics.Batch(len(valid), time.Since(start), lockWait)
	return set, ""
}

// deadLetterInvalid dead-letters the items prepare found invalid and
// returns the others.
func (c *Consumer) deadLetterInvalid(ctx context.Context, s *session, batch []*item) (valid []*item) {
	for _, it := range batch {
		if it.invalid != "" {
			c.deadLetter(ctx, s, it, it.reason, it.invalid)
			continue
		}
		valid = append(valid, it)
	}
	return valid
}

// acquire takes the locks of items in one Redis round trip that also hands
// back prev's (prev is always released or left to expire: the caller no
// longer owns it), then retries the busy ones until LockWait after start.
// Items whose lock stays busy are parked on the contention tiers; when Redis
// fails the whole batch is parked. It returns the held set and the items it
// covers, or a nil set (and the dependency that failed, if any) when nothing
// is left to apply.
func (c *Consumer) acquire(ctx context.Context, s *session, items []*item, prev *lock.Set, start time.Time) (_ *lock.Set, got []*item, failed string) {
	set, err := c.Locker.NewSet()
	if err != nil {
		c.parkAll(ctx, s, items, "outage")
		release(ctx, prev)
		return nil, nil, ""
	}
	keep := false
	defer func() {
		if !keep {
			release(ctx, set)
		}
	}()
	busy, err := set.TryAfter(ctx, prev, distinct(items))
	progress(ctx)
	// prev is released by TryAfter (or left to expire if Redis failed)
	if err != nil {
		if ctx.Err() != nil {
			return nil, nil, ""
		}
		c.Health.Set(health.Redis, false)
		c.Log.Warn("redis unavailable: parking batch for a delayed retry", "err", err, "n", len(items))
		c.parkAll(ctx, s, items, "outage")
		return nil, nil, health.Redis
	}
	c.Health.Set(health.Redis, true)
	if len(busy) > 0 {
		c.Metrics.LockContention(len(busy))
	}
	for wait := 5 * time.Millisecond; len(busy) > 0 && time.Since(start)+wait <= c.o.LockWait; wait = min(wait*2, 200*time.Millisecond) {
		select {
		case <-ctx.Done():
			return nil, nil, ""
		case <-time.After(wait):
		}
		busy, err = set.Try(ctx, busy)
		progress(ctx)
		if err != nil {
			c.Health.Set(health.Redis, false)
			c.parkAll(ctx, s, items, "outage")
			return nil, nil, health.Redis
		}
	}
	if len(busy) > 0 {
		items = c.parkBusy(ctx, s, items, busy)
		if len(items) == 0 {
			return nil, nil, ""
		}
	}
	keep = true
	return set, items, ""
}

// parkBusy parks the items whose lock another holder has and returns the
// others.
func (c *Consumer) parkBusy(ctx context.Context, s *session, items []*item, busy []string) (got []*item) {
	isBusy := make(map[string]bool, len(busy))
	for _, b := range busy {
		isBusy[b] = true
	}
	for _, it := range items {
		if isBusy[it.lockName] {
			c.park(ctx, s, it, "lock", parkTier(it.parked, contentionCeiling))
		} else {
			got = append(got, it)
		}
	}
	return got
}

// keep refreshes the set's locks until the returned stop is called; a lost
// lock is counted and logged, and the fenced write decides.
func (c *Consumer) keep(ctx context.Context, set *lock.Set) (stop func()) {
	return set.Keep(ctx, func(n int) {
		c.Metrics.LockLost(n)
		c.Log.Warn("entity locks lost while work ran; the fenced write decides", "n", n)
	})
}

// release hands a lock set back; nil is nothing to release. It runs even
// when ctx has ended, so a shutdown does not leave locks to expire.
func release(ctx context.Context, set *lock.Set) {
	if set != nil {
		_ = set.Release(context.WithoutCancel(ctx))
	}
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

// apply commits the batch and settles each delivery; it returns the
// dependency that failed, if any. A failure that names no single event is
// classified once (classifyStore): an outage parks the batch, contention
// parks it on the short tiers, and anything else splits it so that the
// event at fault fails alone and its batch-mates are stored.
func (c *Consumer) apply(ctx context.Context, s *session, items []*item) (failed string) {
	evs := make([]*handler.Event, len(items))
	for i, it := range items {
		evs[i] = it.ev
	}
	res, err := c.Store.Apply(ctx, evs, c.pick)
	progress(ctx)
	if err != nil {
		if ctx.Err() != nil {
			return "" // shutting down or connection lost: leave unacked, they come back
		}
		switch cl := c.classifyStore(ctx, err); {
		case cl == outage:
			c.Health.Set(health.MySQL, false)
			c.Log.Warn("mysql unavailable: parking batch for a delayed retry", "err", err, "n", len(items))
			c.parkAll(ctx, s, items, "outage")
			return health.MySQL
		case cl == contention:
			c.Log.Info("database locks held elsewhere: parking batch", "err", err, "n", len(items))
			for _, it := range items {
				c.park(ctx, s, it, "lock", parkTier(it.parked, contentionCeiling))
			}
			return ""
		case len(items) > 1:
			return c.applyEach(ctx, s, items)
		default:
			c.failed(ctx, s, items[0], "store refused it", err)
			return ""
		}
	}
	c.Health.Set(health.MySQL, true)
	now := time.Now()
	if res.Stale > 0 {
		c.Metrics.Stale(res.Stale)
		c.Log.Info("fenced entity writes skipped: newer state already applied", "n", res.Stale)
	}
	callbacks := false
	for i, it := range items {
		switch res.Outcomes[i] {
		case store.Stored:
			c.ack(it)
			c.Metrics.EndToEnd(now.Sub(it.ev.ReceivedAt))
			if it.ev.Source == canary.Source {
				c.canaryArrived(it.ev, now)
			}
			if c.Committed != nil {
				c.Committed(it.ev, now)
			}
			callbacks = callbacks || it.src.CallbackURL != ""
		case store.Duplicate:
			c.Metrics.Duplicate()
			c.ack(it)
		case store.Failed:
			c.failed(ctx, s, it, "handler failed", res.Errs[i])
		}
	}
	if callbacks && c.Callbacks != nil {
		// Their outbox rows committed with the events: wake the
		// sender instead of leaving them to its next poll.
		c.Callbacks.Notify()
	}
	return ""
}

// canaryArrived records a stored canary delivery and its end-to-end
// latency from the time the canary signed into the body. A body of the
// canary source that is not a ping (a canary of another version) is
// stored like any other event and logged, not counted: the arrival alarm
// then says the canary is not arriving, which is the truth.
func (c *Consumer) canaryArrived(ev *handler.Event, now time.Time) {
	sent, err := canary.SentAt(ev.Body)
	if err != nil {
		c.Log.Warn("canary delivery without a canary ping: not counted as an arrival", "message_id", ev.ID, "source", ev.Source, "err", err)
		return
	}
	c.Metrics.CanaryArrived(now.Sub(sent))
}

// applyEach applies items one transaction each, so that the one at fault
// fails alone (a counted attempt) and its batch-mates are stored. An outage
// met on the way parks the rest.
func (c *Consumer) applyEach(ctx context.Context, s *session, items []*item) (failed string) {
	for i, it := range items {
		if f := c.apply(ctx, s, []*item{it}); f != "" {
			c.parkAll(ctx, s, items[i+1:], "outage") // the rest wait out the outage too
			return f
		}
	}
	return ""
}
