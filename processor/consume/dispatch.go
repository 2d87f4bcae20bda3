package consume

import (
	"context"
	"hash/fnv"
	"sync"
	"time"

	amqp "github.com/rabbitmq/amqp091-go"

	"github.com/hookline/hookline/processor/health"
)

// workers are one session's worker goroutines as the dispatcher sees them:
// decoders that read each delivery's envelope and entity key (so the one
// dispatcher goroutine never parses a body), then one shard (channel) per
// worker, routed by lock name.
type workers struct {
	raw       chan *item // taken deliveries, not yet decoded
	shards    []chan *item
	decoders  sync.WaitGroup
	wg        sync.WaitGroup
	closeOnce sync.Once
	done      chan struct{} // closed once every worker returned, after close
	cancel    context.CancelFunc
	idle      func() // called once every worker returned
}

// startWorkers starts the decoders and one worker per shard on s.
func (c *Consumer) startWorkers(s *session) *workers {
	ctx, cancel := context.WithCancel(context.Background())
	// At most 2×Prefetch deliveries are unacked (flow.adjust starts a new
	// consumer only while fewer than Prefetch are held, and a consumer
	// gets at most Prefetch), so channels of that capacity never block the
	// dispatcher.
	capacity := 2 * c.o.Prefetch
	w := &workers{raw: make(chan *item, capacity), shards: make([]chan *item, c.o.Workers), done: make(chan struct{}), cancel: cancel, idle: c.Metrics.NoneInFlight}
	for i := range w.shards {
		w.shards[i] = make(chan *item, capacity)
		w.wg.Add(1)
		go func() { defer w.wg.Done(); c.work(ctx, s, w.shards[i], c.workerLoops[i]) }()
	}
	for range c.o.Workers {
		w.decoders.Add(1)
		go func() {
			defer w.decoders.Done()
			for it := range w.raw {
				c.decode(it)
				c.Log.Debug("delivery", "message_id", it.d.MessageId, "lock", it.lockName, "invalid", it.invalid)
				w.shards[shardOf(it.lockName, len(w.shards))] <- it
			}
		}()
	}
	return w
}

// close stops the decoders once they have handed on what they hold, then
// closes the shards: each worker finishes what it holds and returns; done is
// closed after the last one.
func (w *workers) close() {
	w.closeOnce.Do(func() {
		close(w.raw)
		go func() {
			w.decoders.Wait()
			for _, sh := range w.shards {
				close(sh)
			}
			w.wg.Wait()
			w.idle()
			close(w.done)
		}()
	})
}

// abandon cancels the workers' context: what they have not finished is
// left unacked and returns to the queue with the connection.
func (w *workers) abandon() { w.cancel() }

// dispatch counts a delivery against the byte budget and hands it to the
// decoders.
func (c *Consumer) dispatch(w *workers, s *session, d amqp.Delivery) {
	c.Metrics.Consumed()
	n := size(d)
	s.flow.take(n)
	w.raw <- &item{d: d, size: n, flow: s.flow}
}

// decode fills in it from its delivery (envelope, source, entity key),
// keeping its place in the byte budget.
func (c *Consumer) decode(it *item) {
	p := c.prepareRecovering(it.d)
	p.size, p.flow = it.size, it.flow
	*it = *p
}

// prepareRecovering is prepare that turns a panic (a body that trips the
// entity-key decoder, say) into an invalid delivery, dead-lettered with the
// panic as its reason, instead of a crash of the dispatcher.
func (c *Consumer) prepareRecovering(d amqp.Delivery) (it *item) {
	defer func() {
		if v := recover(); v != nil {
			err := c.recovered(v, "prepare", d.MessageId)
			it = &item{d: d, invalid: err.Error(), reason: "invalid", lockName: d.MessageId}
		}
	}()
	return c.prepare(d)
}

// serve dispatches deliveries to the workers until the session breaks
// (returns true) or ctx ends and the graceful stop is done (returns false).
func (c *Consumer) serve(ctx context.Context, s *session) (lost bool) {
	w := c.startWorkers(s)
	defer w.abandon()
	lose := func() bool {
		// The channel or connection went away; whatever the workers
		// hold can no longer be acked.
		w.abandon()
		w.close()
		<-w.done
		return ctx.Err() == nil
	}
	for {
		select {
		case d, ok := <-s.deliveries: // nil while the byte budget pauses the consumer
			if !ok {
				if s.flow.cancelling { // cancelled by the budget, drained
					c.dispatcher.Progress()
					err := c.drained(s)
					c.dispatcher.Idle()
					if err != nil {
						c.Log.Warn("rabbitmq refused a new consumer", "err", err)
						return lose()
					}
					continue
				}
				return lose()
			}
			c.dispatcher.Progress() // adjust's broker calls can hang on a stuck socket
			c.dispatch(w, s, d)
			err := c.adjust(s)
			c.dispatcher.Idle()
			if err != nil {
				c.Log.Warn("rabbitmq refused to change the consumer", "err", err)
				return lose()
			}
		case <-s.flow.wake:
			c.dispatcher.Progress()
			err := c.adjust(s)
			c.dispatcher.Idle()
			if err != nil {
				c.Log.Warn("rabbitmq refused a new consumer", "err", err)
				return lose()
			}
		case <-s.pubClosed:
			// Without the publishing channel nothing can be parked or
			// dead-lettered: start over with a new connection.
			c.Log.Warn("rabbitmq publishing channel closed")
			c.dispatcher.Progress() // a close can hang on a stuck socket
			s.close()
			c.dispatcher.Idle()
			s.pubClosed = nil
		case b := <-s.blocked:
			s.isBlocked.Store(b.Active)
			// A resource alarm is the broker's outage: publishes waiting
			// it out are not wedged.
			c.Health.Set(health.RabbitMQ, !b.Active)
			if b.Active {
				c.Log.Warn("rabbitmq blocked the connection (resource alarm)", "reason", b.Reason)
			}
		case <-ctx.Done():
			c.shutdown(s, w)
			return false
		}
	}
}

// shutdown stops taking deliveries, lets the workers finish what they hold
// within ShutdownTimeout, then abandons the rest (closing the connection
// requeues it).
func (c *Consumer) shutdown(s *session, w *workers) {
	c.Health.Stopping()
	deadline := time.NewTimer(max(c.o.ShutdownTimeout-time.Second, c.o.ShutdownTimeout/2))
	defer deadline.Stop()
	c.Log.Info("shutting down: finishing in-flight deliveries", "timeout", c.o.ShutdownTimeout)
	if s.deliveries != nil && !s.flow.cancelling { // paused or cancelled: no consumer to cancel
		if err := s.ch.Cancel(s.tag, false /* noWait */); err != nil {
			c.Log.Warn("cancel consumer", "err", err)
		}
	}
	// Deliveries already on their way arrive until the library closes
	// the channel after basic.cancel-ok; they join the shards.
drain:
	for s.deliveries != nil {
		select {
		case d, ok := <-s.deliveries:
			if !ok {
				break drain
			}
			c.dispatch(w, s, d)
		case <-deadline.C:
			w.abandon()
			break drain
		}
	}
	w.close()
	select {
	case <-w.done:
		c.Log.Info("in-flight deliveries finished")
	case <-deadline.C:
		c.Log.Warn("shutdown timeout: abandoning unfinished deliveries (they return to the queue)")
		w.abandon()
		<-w.done
	}
}

func shardOf(key string, n int) int {
	h := fnv.New32a()
	h.Write([]byte(key))
	return int(h.Sum32() % uint32(n))
}
