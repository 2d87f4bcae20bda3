package consume

import (
	"context"
	"fmt"

	"github.com/hookline/hookline/internal/envelope"
	"github.com/hookline/hookline/internal/topology"
)

// Parks back off tier by tier up to a ceiling: outages to the 30 s tier,
// lock contention to the 5 s tier.
var (
	outageCeiling     = topology.Retry30s
	contentionCeiling = topology.Retry5s
)

// parkTier is the tier for a message parked parked times before.
func parkTier(parked int, ceiling topology.RetryTier) topology.RetryTier {
	if t := topology.Backoff(parked + 1); t.Delay < ceiling.Delay {
		return t
	}
	return ceiling
}

// failed handles a deterministic failure (what says whose: "handler
// failed", "store refused it"): a delayed retry with the attempt counted, or
// the DLQ once MAX_ATTEMPTS attempts have failed.
func (c *Consumer) failed(ctx context.Context, s *session, it *item, what string, err error) {
	attempt := it.ev.Attempt + 1
	if attempt >= c.o.MaxAttempts {
		c.deadLetter(ctx, s, it, "attempts", fmt.Sprintf("%s %d times: %v", what, attempt, err))
		return
	}
	c.Log.Info(what+": retrying later", "source", it.ev.Source, "message_id", it.ev.ID, "attempt", attempt, "err", err)
	pub := envelope.Republish(it.d)
	pub.Headers[envelope.HeaderAttempt] = int64(attempt)
	if c.publish(ctx, s, topology.RetryExchange, topology.Backoff(attempt).Queue(), pub) {
		c.Metrics.Retried("handler")
		c.ack(it)
	} else {
		c.giveBack(it)
	}
}

func (c *Consumer) parkAll(ctx context.Context, s *session, items []*item, reason string) {
	for _, it := range items {
		c.park(ctx, s, it, reason, parkTier(it.parked, outageCeiling))
	}
}

// park sends a copy to the tier's retry queue without counting an attempt,
// then acks the original.
func (c *Consumer) park(ctx context.Context, s *session, it *item, reason string, tier topology.RetryTier) {
	pub := envelope.Republish(it.d)
	pub.Headers[envelope.HeaderParked] = int64(it.parked + 1)
	if c.publish(ctx, s, topology.RetryExchange, tier.Queue(), pub) {
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

// release gives a settled delivery's bytes back to the budget.
func (it *item) release() {
	if it.flow != nil {
		it.flow.give(it.size)
		it.flow = nil
	}
}

func (c *Consumer) ack(it *item) {
	it.settled = true
	it.release()
	if err := it.d.Ack(false /* multiple */); err != nil {
		c.Log.Debug("ack failed (channel gone; the broker redelivers and dedupe absorbs it)", "message_id", it.d.MessageId, "err", err)
	} else {
		c.Metrics.Acked()
	}
	c.Metrics.Settled()
}

// giveBack returns a delivery to the queue when it could not be parked.
func (c *Consumer) giveBack(it *item) {
	it.settled = true
	it.release()
	if err := it.d.Nack(false /* multiple */, true /* requeue */); err == nil {
		c.Metrics.Requeued()
	}
	c.Metrics.Settled()
}
