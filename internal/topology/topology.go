// Package topology owns hookline's RabbitMQ topology. The receiver and the
// processor both call Declare at start-up; declarations are idempotent, so
// whichever side starts first creates it and the other finds it in place.
package topology

import (
	"fmt"
	"strconv"
	"time"

	amqp "github.com/rabbitmq/amqp091-go"
)

// Names from DESIGN.md.
const (
	Exchange    = "webhooks"         // topic; routing key <source>.<event type>
	Queue       = "webhooks.inbound" // quorum, bound with "#"
	DeadLetters = "webhooks.dlx"     // fanout exchange for dead letters
	DeadQueue   = "webhooks.dead"    // quorum
	retryPrefix = "webhooks.retry."  // + seconds; TTL queues dead-lettering to Exchange
)

// DeliveryLimit is set explicitly on Queue: RabbitMQ 3.10 has no default and
// 4.x defaults to 20. It only bounds redeliveries (crashes, lost connections,
// requeues); handler errors and outages go through the retry queues, which
// republish and so do not count.
const DeliveryLimit = 20

// deadDeliveryLimit is set on DeadQueue so that 4.x's default of 20 cannot
// drop a dead letter (the dead queue has no dead-letter exchange of its own)
// after an operator inspected it a few times: before 4.3 every requeue of a
// basic.get counts.
const deadDeliveryLimit = 1_000_000

// RetryDelays are the delayed-retry tiers, shortest first. A message waiting
// for its n-th retry goes to the tier RetryQueue(n) picks.
var RetryDelays = []time.Duration{time.Second, 5 * time.Second, 30 * time.Second, 2 * time.Minute, 10 * time.Minute}

// RetryQueue names the retry queue for a message's attempt (1-based): the
// n-th tier, or the longest one past the end.
func RetryQueue(attempt int) string {
	i := min(max(attempt-1, 0), len(RetryDelays)-1)
	return RetryQueueFor(RetryDelays[i])
}

// RetryQueueFor names the retry queue with the given delay.
func RetryQueueFor(d time.Duration) string {
	return retryPrefix + strconv.Itoa(int(d/time.Second))
}

// quorum returns the arguments every queue here shares: a quorum queue whose
// dead letters are not lost (at-least-once dead-lettering needs
// reject-publish overflow; RabbitMQ 3.10 supports both with the stream_queue
// feature flag, 4.x natively).
func quorum(extra amqp.Table) amqp.Table {
	t := amqp.Table{"x-queue-type": "quorum"}
	for k, v := range extra {
		t[k] = v
	}
	return t
}

// Declare creates (or confirms) the whole topology on ch. It is safe to call
// any number of times from any number of processes.
func Declare(ch *amqp.Channel) error {
	for _, x := range []struct{ name, kind string }{{Exchange, amqp.ExchangeTopic}, {DeadLetters, amqp.ExchangeFanout}} {
		if err := ch.ExchangeDeclare(x.name, x.kind, true, false, false, false, nil); err != nil {
			return fmt.Errorf("declare exchange %s: %w", x.name, err)
		}
	}
	queues := []struct {
		name string
		args amqp.Table
	}{
		{Queue, quorum(amqp.Table{
			"x-delivery-limit":       int64(DeliveryLimit),
			"x-dead-letter-exchange": DeadLetters,
			"x-dead-letter-strategy": "at-least-once",
			"x-overflow":             "reject-publish",
		})},
		{DeadQueue, quorum(amqp.Table{"x-delivery-limit": int64(deadDeliveryLimit)})},
	}
	for _, d := range RetryDelays {
		queues = append(queues, struct {
			name string
			args amqp.Table
		}{RetryQueueFor(d), quorum(amqp.Table{
			"x-message-ttl":          d.Milliseconds(),
			"x-dead-letter-exchange": Exchange,
			"x-dead-letter-strategy": "at-least-once",
			"x-overflow":             "reject-publish",
		})})
	}
	for _, q := range queues {
		if _, err := ch.QueueDeclare(q.name, true, false, false, false, q.args); err != nil {
			return fmt.Errorf("declare queue %s: %w", q.name, err)
		}
	}
	if err := ch.QueueBind(Queue, "#", Exchange, false, nil); err != nil {
		return fmt.Errorf("bind %s to %s: %w", Queue, Exchange, err)
	}
	if err := ch.QueueBind(DeadQueue, "", DeadLetters, false, nil); err != nil {
		return fmt.Errorf("bind %s to %s: %w", DeadQueue, DeadLetters, err)
	}
	return nil
}
