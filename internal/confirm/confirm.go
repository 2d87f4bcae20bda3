// Package confirm publishes on one AMQP channel in confirm mode with every
// message mandatory, and tells the caller the whole truth: a publish counts
// as done only when the broker confirmed it AND did not return it as
// unroutable (a missing queue or binding). A returned copy is "not
// confirmed", so its caller must not ack the original.
package confirm

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"time"

	amqp "github.com/rabbitmq/amqp091-go"
)

// ErrReturned: the broker could not route the message (basic.return).
var ErrReturned = errors.New("returned by the broker as unroutable")

// ErrNacked: the broker refused the message (basic.nack).
var ErrNacked = errors.New("nacked by the broker")

// Channel is a confirm-mode channel whose publishes are mandatory.
//
// RabbitMQ sends the basic.return of an unroutable mandatory message before
// its basic.ack, and amqp091-go's reader hands the return to the
// NotifyReturn channel before it processes the ack. So once a confirm has
// arrived, the return that preceded it is already in that channel's buffer:
// Publish drains the buffer after each confirm and looks its message up.
// The buffer must hold every return not yet drained; publishes here are
// sequential per caller, so a buffer larger than the number of concurrent
// callers suffices.
type Channel struct {
	ch      *amqp.Channel
	returns chan amqp.Return

	mu       sync.Mutex
	returned map[returnKey]returnEntry
}

type returnKey struct{ exchange, key, messageID string }

type returnEntry struct {
	n    int
	seen time.Time
}

// New puts ch in confirm mode. capacity bounds the returns not yet
// drained: at least the number of goroutines publishing at once.
func New(ch *amqp.Channel, capacity int) (*Channel, error) {
	if err := ch.Confirm(false /* noWait */); err != nil {
		return nil, fmt.Errorf("confirm mode: %w", err)
	}
	return &Channel{
		ch:       ch,
		returns:  ch.NotifyReturn(make(chan amqp.Return, max(capacity, 16))),
		returned: map[returnKey]returnEntry{},
	}, nil
}

// Publish sends p to exchange with key, mandatory, and waits for the
// broker's verdict until ctx ends. nil means confirmed and routed.
func (c *Channel) Publish(ctx context.Context, exchange, key string, p amqp.Publishing) error {
	dc, err := c.ch.PublishWithDeferredConfirmWithContext(ctx, exchange, key, true /* mandatory */, false /* immediate */, p)
	if err != nil {
		return err
	}
	ok, err := dc.WaitContext(ctx)
	if err != nil {
		return err
	}
	if c.takeReturn(returnKey{exchange, key, p.MessageId}) {
		return fmt.Errorf("%s %q: %w", exchange, key, ErrReturned)
	}
	if !ok {
		return fmt.Errorf("%s %q: %w", exchange, key, ErrNacked)
	}
	return nil
}

// takeReturn moves every buffered return into the map and consumes one for
// k. Identical (exchange, key, message id) copies published at once are
// routed alike, so counting them is enough. Entries a caller gave up on
// (its context ended first) are dropped after a minute.
func (c *Channel) takeReturn(k returnKey) bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	now := time.Now()
drain:
	for {
		select {
		case r, ok := <-c.returns:
			if !ok {
				break drain
			}
			rk := returnKey{r.Exchange, r.RoutingKey, r.MessageId}
			e := c.returned[rk]
			c.returned[rk] = returnEntry{n: e.n + 1, seen: now}
		default:
			break drain
		}
	}
	e, found := c.returned[k]
	if found {
		if e.n <= 1 {
			delete(c.returned, k)
		} else {
			c.returned[k] = returnEntry{n: e.n - 1, seen: e.seen}
		}
	}
	for rk, re := range c.returned {
		if now.Sub(re.seen) > time.Minute {
			delete(c.returned, rk)
		}
	}
	return found
}
