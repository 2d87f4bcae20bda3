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
// one shard (channel) per worker, routed by lock name.
type workers struct {
	shards    []chan *item
	wg        sync.WaitGroup
	closeOnce sync.Once
	done      chan struct{} // closed once every worker returned, after close
	cancel    context.CancelFunc
	idle      func() // called once every worker returned
}

// startWorkers starts one worker per shard on s.
func (c *Consumer) startWorkers(s *session) *workers {
	ctx, cancel := context.WithCancel(context.Background())
	w := &workers{shards: make([]chan *item, c.o.Workers), done: make(chan struct{}), cancel: cancel, idle: c.Metrics.NoneInFlight}
	for i := range w.shards {
		// Never more than Prefetch deliveries are unacked, so a shard
		// of that capacity never blocks the dispatcher.
		w.shards[i] = make(chan *item, c.o.Prefetch)
		w.wg.Add(1)
		go func() { defer w.wg.Done(); c.work(ctx, s, w.shards[i], c.workerLoops[i]) }()
	}
	return w
}

// close closes the shards: each worker finishes what it holds and returns;
// done is closed after the last one.
func (w *workers) close() {
	w.closeOnce.Do(func() {
		for _, sh := range w.shards {
			close(sh)
		}
		go func() { w.wg.Wait(); w.idle(); close(w.done) }()
	})
}

// abandon cancels the workers' context: what they have not finished is
// left unacked and returns to the queue with the connection.
func (w *workers) abandon() { w.cancel() }

// dispatch hands a delivery to the worker of its lock name.
func (c *Consumer) dispatch(w *workers, d amqp.Delivery) {
	c.Metrics.Consumed()
	it := c.prepareRecovering(d)
	c.Log.Debug("delivery", "message_id", d.MessageId, "lock", it.lockName, "invalid", it.invalid)
	w.shards[shardOf(it.lockName, len(w.shards))] <- it
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
	for {
		select {
		case d, ok := <-s.deliveries:
			if !ok {
				// The channel or connection went away; whatever the
				// workers hold can no longer be acked.
				w.abandon()
				w.close()
				<-w.done
				return ctx.Err() == nil
			}
			c.dispatcher.Progress()
			c.dispatch(w, d)
			c.dispatcher.Idle()
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
	if err := s.ch.Cancel(s.tag, false /* noWait */); err != nil {
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
			c.dispatch(w, d)
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
