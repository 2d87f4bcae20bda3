package consume

import (
	"context"
	"hash/fnv"
	"sync"
	"time"

	amqp "github.com/rabbitmq/amqp091-go"
)

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
