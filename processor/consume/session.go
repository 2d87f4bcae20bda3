package consume

import (
	"context"
	"fmt"
	"math/rand/v2"
	"sync/atomic"
	"time"

	amqp "github.com/rabbitmq/amqp091-go"

	"github.com/hookline/hookline/internal/topology"
)

const publishTimeout = 15 * time.Second

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
	if err = s.pub.Confirm(false /* noWait */); err != nil {
		return nil, err
	}
	s.pubClosed = s.pub.NotifyClose(make(chan *amqp.Error, 1))
	// Per-consumer prefetch: quorum queues refuse global QoS.
	if err = s.ch.Qos(
		c.o.Prefetch, // prefetchCount
		0,            // prefetchSize
		false,        // global
	); err != nil {
		return nil, err
	}
	if s.deliveries, err = s.ch.Consume(
		topology.Queue,
		s.tag, // consumer
		false, // autoAck
		false, // exclusive
		false, // noLocal
		false, // noWait
		nil,   // args
	); err != nil {
		return nil, err
	}
	return s, nil
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
	dc, err := s.pub.PublishWithDeferredConfirmWithContext(ctx,
		exchange,
		key,
		false, // mandatory
		false, // immediate
		p,
	)
	if err != nil {
		c.Log.Warn("publish", "exchange", exchange, "key", key, "err", err)
		return false
	}
	ok, err := dc.WaitContext(ctx)
	progress(ctx) // confirmed or not, the publish is over
	if err != nil || !ok {
		c.Log.Warn("publish not confirmed", "exchange", exchange, "key", key, "err", err)
		return false
	}
	return true
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
