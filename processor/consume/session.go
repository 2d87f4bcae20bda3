package consume

import (
	"context"
	"errors"
	"math/rand/v2"
	"net"
	"sync/atomic"
	"time"

	amqp "github.com/rabbitmq/amqp091-go"

	"github.com/hookline/hookline/internal/brokertls"
	"github.com/hookline/hookline/internal/confirm"
	"github.com/hookline/hookline/internal/topology"
	"github.com/hookline/hookline/internal/writegroup"
)

const publishTimeout = 15 * time.Second

// session is two AMQP connections: one consuming, one publishing retries
// and dead letters with confirms. Separate connections, as RabbitMQ
// recommends: when a resource alarm blocks publishers, the consuming
// connection keeps receiving and acking.
type session struct {
	conn, pubConn *amqp.Connection
	ch            *amqp.Channel
	pub           *confirm.Channel // mandatory, confirmed: a returned copy is not confirmed
	deliveries    <-chan amqp.Delivery
	pubClosed     chan *amqp.Error
	blocked       chan amqp.Blocking
	isBlocked     atomic.Bool // the broker blocked the publishing connection (resource alarm)
	tag           string
	flow          *flow // the byte budget; its consumer's tag and deliveries are tag and deliveries
}

func (s *session) close() {
	if s.pubConn != nil {
		_ = s.pubConn.Close()
	}
	_ = s.conn.Close()
}

func (c *Consumer) dial() (_ *session, err error) {
	// amqp091's own dialer (its timeout, or the URL's connection_timeout),
	// with the socket's writes grouped: every ack is a flush of its own, and
	// a worker acks a whole batch back to back. No write deadline, as before.
	timeout := 30 * time.Second
	if uri, err := amqp.ParseURI(c.o.URL); err == nil && uri.ConnectionTimeout > 0 {
		timeout = time.Duration(uri.ConnectionTimeout) * time.Millisecond
	}
	tcp := amqp.DefaultDial(timeout)
	dial := func(name string) (*amqp.Connection, error) {
		var wg *writegroup.Conn
		conn, err := amqp.DialConfig(c.o.URL, amqp.Config{Heartbeat: 10 * time.Second, TLSClientConfig: brokertls.Client(), Properties: amqp.Table{"connection_name": name},
			Dial: func(network, addr string) (net.Conn, error) {
				nc, err := tcp(network, addr)
				if err != nil {
					return nil, err
				}
				wg = writegroup.New(nc, 0)
				return wg, nil
			}})
		if err != nil && wg != nil {
			wg.Close() // amqp091 does not close the socket on every failed handshake
		}
		return conn, err
	}
	conn, err := dial("hookline-processor-consume")
	if err != nil {
		return nil, err
	}
	s := &session{conn: conn}
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
	// The processor declares nothing (its grant has no configure): the
	// broker definitions are applied before clients connect. Check what it
	// consumes and publishes to, so a broker without them fails here, by
	// name, instead of on every park.
	if err = topology.Check(conn, []string{topology.RetryExchange, topology.DeadLetters}, []string{topology.Queue}); err != nil {
		return nil, err
	}
	pub, err := s.pubConn.Channel()
	if err != nil {
		return nil, err
	}
	s.pubClosed = pub.NotifyClose(make(chan *amqp.Error, 1))
	// Each delivery has at most one copy in flight, so the most ever
	// unacked (2×PREFETCH, flow.go) bounds the returns not yet drained.
	if s.pub, err = confirm.New(pub, 2*c.o.Prefetch+16); err != nil {
		return nil, err
	}
	// The consumer's prefetch follows the byte budget (flow.go).
	s.flow = newFlow(c.o.BodyBudget, c.o.Prefetch, c.Sources.Current().MaxBodyBytes(), c.Metrics.BodyBytes)
	p := s.flow.target()
	c.Metrics.Prefetch(p)
	if err = s.startConsumer(p); err != nil {
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
	// Mandatory: a copy nothing routes (a retry queue or binding deleted)
	// comes back as a return and counts as not confirmed, so the original
	// is never acked. A return is retried within the publish timeout (an
	// operator re-creating a queue), so a brief gap does not spin the
	// original through redeliveries, which count toward its delivery limit.
	for wait := 200 * time.Millisecond; ; wait = min(2*wait, 2*time.Second) {
		err := s.pub.Publish(ctx, exchange, key, p)
		progress(ctx) // confirmed or not, the publish is over
		if err == nil {
			return true
		}
		c.Log.Warn("publish not confirmed", "exchange", exchange, "key", key, "message_id", p.MessageId, "err", err)
		if !errors.Is(err, confirm.ErrReturned) {
			c.Metrics.PublishFailed("refused")
			return false
		}
		c.Metrics.PublishFailed("returned")
		select {
		case <-ctx.Done():
			return false
		case <-time.After(wait):
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
