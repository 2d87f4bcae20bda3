// Package topology is the one definition of hookline's broker contract: the
// exchanges, queues and bindings, the policies that carry every tunable, the
// broker users and their grants (users.go), and the definitions document
// rendered from all of them (definitions.go) that is applied to a broker
// before any client connects: by the node bootstrap and its reconcile step in
// AWS, by `make services` locally and by internal/testenv per test vhost.
//
// Clients declare nothing: they check the topology passively (Check), so
// they need no configure grant and queues declared by an older version (with
// x-arguments) keep working until migrated (Migrate).
package topology

import (
	"fmt"
	"strconv"
	"time"

	amqp "github.com/rabbitmq/amqp091-go"
)

// Names from DESIGN.md.
const (
	Exchange      = "webhooks"         // topic; routing key <source>.<event type>
	Queue         = "webhooks.inbound" // quorum, bound with "#"
	DeadLetters   = "webhooks.dlx"     // fanout exchange for dead letters
	DeadQueue     = "webhooks.dead"    // quorum
	RetryExchange = "webhooks.retry"   // direct; each retry queue bound by its own name
	retryPrefix   = "webhooks.retry."  // + seconds; TTL queues dead-lettering to Exchange
)

// DeliveryLimit is the inbound queue's default delivery limit, set by policy
// (RabbitMQ 3.10 has no default; 4.x defaults to 20). It only bounds
// redeliveries (crashes, lost connections, requeues); handler errors and
// outages go through the retry queues, which republish and so do not count.
// Stacks may set another value (infra config broker.deliveryLimit).
const DeliveryLimit = 20

// deadDeliveryLimit keeps 4.x's default of 20 from dropping a dead letter
// (the dead queue has no dead-letter exchange of its own) after an operator
// inspected it a few times: before 4.3 every requeue of a basic.get counts.
const deadDeliveryLimit = 1_000_000

// RetryTier is one delayed-retry queue: a message published to it waits
// Delay, then dead-letters back to Exchange.
type RetryTier struct{ Delay time.Duration }

// Queue is the tier's queue name, also its routing key on RetryExchange.
func (r RetryTier) Queue() string { return retryPrefix + strconv.Itoa(int(r.Delay/time.Second)) }

// The retry tiers, named by their delay.
var (
	Retry1s    = RetryTier{time.Second}
	Retry5s    = RetryTier{5 * time.Second}
	Retry30s   = RetryTier{30 * time.Second}
	Retry2m    = RetryTier{2 * time.Minute}
	Retry10m   = RetryTier{10 * time.Minute}
	RetryTiers = []RetryTier{Retry1s, Retry5s, Retry30s, Retry2m, Retry10m}
)

// Backoff picks the tier for a message's n-th retry (1-based): the n-th
// tier, or the longest one past the end.
func Backoff(n int) RetryTier {
	return RetryTiers[min(max(n-1, 0), len(RetryTiers)-1)]
}

// Check confirms, without declaring anything, that the topology a client
// relies on is in place. Passive declares need no configure grant and accept
// a queue whatever arguments an older version declared it with. A missing
// exchange or queue closes ch (404); the error says which one.
func Check(conn *amqp.Connection, exchanges []string, queues []string) error {
	for _, x := range exchanges {
		if err := passive(conn, func(ch *amqp.Channel) error {
			return ch.ExchangeDeclarePassive(x, kindOf(x), true, false, false, false, nil)
		}); err != nil {
			return fmt.Errorf("exchange %s: %w (apply the broker definitions: see docs/broker-contract.md)", x, err)
		}
	}
	for _, q := range queues {
		if err := passive(conn, func(ch *amqp.Channel) error {
			_, err := ch.QueueDeclarePassive(q, true, false, false, false, nil)
			return err
		}); err != nil {
			return fmt.Errorf("queue %s: %w (apply the broker definitions: see docs/broker-contract.md)", q, err)
		}
	}
	return nil
}

// passive runs one passive declare on its own channel: a failed one closes
// the channel, and the caller's channels must survive a check.
func passive(conn *amqp.Connection, f func(*amqp.Channel) error) error {
	ch, err := conn.Channel()
	if err != nil {
		return err
	}
	if err := f(ch); err != nil {
		return err
	}
	return ch.Close()
}

func kindOf(exchange string) string {
	switch exchange {
	case Exchange:
		return amqp.ExchangeTopic
	case DeadLetters:
		return amqp.ExchangeFanout
	default:
		return amqp.ExchangeDirect
	}
}
