package publish_test

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	amqp "github.com/rabbitmq/amqp091-go"
	"github.com/stretchr/testify/require"

	"github.com/hookline/hookline/internal/envelope"
	"github.com/hookline/hookline/internal/testenv"
	"github.com/hookline/hookline/internal/topology"
	"github.com/hookline/hookline/internal/webhooksig"
	"github.com/hookline/hookline/lambda/publish"
)

var quiet = slog.New(slog.NewJSONHandler(io.Discard, nil))

func newPublisher(t *testing.T, addr, vhost string, cfg publish.Config) *publish.Publisher {
	t.Helper()
	cfg.URL = testenv.AMQPURLAs(addr, vhost, topology.Receiver)
	cfg.Logger = quiet
	p := publish.New(context.Background(), cfg)
	t.Cleanup(p.Close)
	return p
}

func msg(i int) envelope.Envelope {
	return envelope.New("src", webhooksig.Delivery{ID: fmt.Sprintf("id-%06d", i), IDSigned: true, EventType: "t"}, fmt.Sprintf("req-%06d", i), "", []byte(fmt.Sprintf("body-%d", i)), time.Now())
}

// queued returns the message ids in the inbound queue (draining it).
func queued(t *testing.T, vhost string) map[string]int {
	t.Helper()
	got := map[string]int{}
	drain(t, vhost, func(d amqp.Delivery) { got[d.MessageId]++ })
	return got
}

// queuedBodies returns the body of each message id in the inbound queue
// (draining it).
func queuedBodies(t *testing.T, vhost string) map[string]string {
	t.Helper()
	got := map[string]string{}
	drain(t, vhost, func(d amqp.Delivery) { got[d.MessageId] = string(d.Body) })
	return got
}

func drain(t *testing.T, vhost string, each func(amqp.Delivery)) {
	t.Helper()
	conn, err := amqp.Dial(testenv.AMQPURL("", vhost))
	require.NoError(t, err)
	defer conn.Close()
	ch, err := conn.Channel()
	require.NoError(t, err)
	for {
		d, ok, err := ch.Get(topology.Queue, true)
		require.NoError(t, err)
		if !ok {
			return
		}
		each(d)
	}
}

// TestConnectionCutMidTraffic: 8 senders publish while the proxy cuts every
// connection twice. Every publish that returned nil is in the queue; the
// publisher recovers by itself.
func TestConnectionCutMidTraffic(t *testing.T) {
	t.Parallel()
	vhost := testenv.RabbitMQ(t)
	proxy := testenv.NewProxy(t, testenv.RabbitMQAddr())
	p := newPublisher(t, proxy.Addr(), vhost, publish.Config{ConfirmTimeout: 2 * time.Second})

	var (
		mu       sync.Mutex
		accepted []string
		failed   atomic.Int64
		next     atomic.Int64
		wg       sync.WaitGroup
	)
	stop := make(chan struct{})
	for range 8 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for {
				select {
				case <-stop:
					return
				default:
				}
				e := msg(int(next.Add(1)))
				if err := p.Publish(context.Background(), e); err != nil {
					require.ErrorIs(t, err, publish.ErrUnavailable)
					failed.Add(1)
					continue
				}
				mu.Lock()
				accepted = append(accepted, e.ID)
				mu.Unlock()
			}
		}()
	}
	count := func() int { mu.Lock(); defer mu.Unlock(); return len(accepted) }
	for range 2 {
		n := count()
		require.Eventually(t, func() bool { return count() > n+200 }, 20*time.Second, 10*time.Millisecond)
		proxy.Cut()
		time.Sleep(300 * time.Millisecond)
		proxy.Restore()
	}
	n := count()
	require.Eventually(t, func() bool { return count() > n+200 }, 20*time.Second, 10*time.Millisecond, "publisher recovers by itself")
	close(stop)
	wg.Wait()

	got := queued(t, vhost)
	for _, id := range accepted {
		require.GreaterOrEqual(t, got[id], 1, "accepted message %s lost", id)
	}
	t.Logf("accepted %d, refused %d during cuts, queued %d distinct", len(accepted), failed.Load(), len(got))
	require.Positive(t, failed.Load(), "the cuts were felt")
}

// TestConfirmTimeout: a broker that stops answering gets ErrTimeout within
// the deadline, not a hang; after it heals, publishing works again.
func TestConfirmTimeout(t *testing.T) {
	t.Parallel()
	vhost := testenv.RabbitMQ(t)
	proxy := testenv.NewProxy(t, testenv.RabbitMQAddr())
	p := newPublisher(t, proxy.Addr(), vhost, publish.Config{ConfirmTimeout: 500 * time.Millisecond})
	require.NoError(t, p.Publish(context.Background(), msg(1)))

	proxy.Blackhole()
	done := make(chan error, 1)
	go func() { done <- p.Publish(context.Background(), msg(2)) }()
	select {
	case err := <-done:
		require.ErrorIs(t, err, publish.ErrUnavailable)
	case <-time.After(10 * time.Second):
		t.Fatal("publish hung past its deadline")
	}
	proxy.Heal()
	proxy.Cut() // the blackholed connection is useless now; drop it
	proxy.Restore()
	require.Eventually(t, func() bool { return p.Publish(context.Background(), msg(3)) == nil }, 20*time.Second, 50*time.Millisecond)
	got := queued(t, vhost)
	require.Equal(t, 1, got["id-000001"])
	require.Equal(t, 1, got["id-000003"])
}

// TestUnreachableAtStartThenRecovers: New does not fail; Publish fails fast
// with ErrUnavailable, then succeeds once the broker is there.
func TestUnreachableAtStartThenRecovers(t *testing.T) {
	t.Parallel()
	vhost := testenv.RabbitMQ(t)
	proxy := testenv.NewProxy(t, testenv.RabbitMQAddr())
	proxy.Cut()
	p := newPublisher(t, proxy.Addr(), vhost, publish.Config{ConfirmTimeout: time.Second})
	require.False(t, p.Ready())
	err := p.Publish(context.Background(), msg(1))
	require.ErrorIs(t, err, publish.ErrUnavailable)
	proxy.Restore()
	require.NoError(t, p.Publish(context.Background(), msg(2)))
	require.True(t, p.Ready())
	require.Equal(t, map[string]int{"id-000002": 1}, queued(t, vhost))
}

// TestUnroutableIsNotAccepted: with the inbound queue gone, a mandatory
// publish comes back and is reported as not accepted.
func TestUnroutableIsNotAccepted(t *testing.T) {
	t.Parallel()
	vhost := testenv.RabbitMQ(t)
	p := newPublisher(t, "", vhost, publish.Config{})
	require.NoError(t, p.Publish(context.Background(), msg(1)))

	conn, err := amqp.Dial(testenv.AMQPURL("", vhost))
	require.NoError(t, err)
	defer conn.Close()
	ch, err := conn.Channel()
	require.NoError(t, err)
	require.NoError(t, ch.QueueUnbind(topology.Queue, "#", topology.Exchange, nil))

	err = p.Publish(context.Background(), msg(2))
	require.True(t, errors.Is(err, publish.ErrReturned), "%v", err)
}

// TestIdleConnectionIsChecked: after IdleCheck, a connection the broker
// dropped while the process was "frozen" is noticed and replaced.
func TestIdleConnectionIsChecked(t *testing.T) {
	t.Parallel()
	vhost := testenv.RabbitMQ(t)
	proxy := testenv.NewProxy(t, testenv.RabbitMQAddr())
	p := newPublisher(t, proxy.Addr(), vhost, publish.Config{IdleCheck: 50 * time.Millisecond})
	require.NoError(t, p.Publish(context.Background(), msg(1)))
	proxy.Cut()
	proxy.Restore()
	time.Sleep(100 * time.Millisecond)
	require.NoError(t, p.Publish(context.Background(), msg(2)))
	require.Len(t, queued(t, vhost), 2)
}

// TestUnavailableKeepsTheCause: a refused connection is ErrUnavailable (the
// receiver answers 503 on it) and still carries the broker's own error.
func TestUnavailableKeepsTheCause(t *testing.T) {
	t.Parallel()
	vhost := testenv.RabbitMQ(t) // the broker and the user are there; the vhost below is not
	url := strings.Replace(testenv.AMQPURLAs("", vhost, topology.Receiver), "/"+vhost, "/hookline-no-such-vhost", 1)
	p := publish.New(context.Background(), publish.Config{URL: url, Logger: quiet, ConfirmTimeout: time.Second})
	t.Cleanup(p.Close)
	err := p.Publish(context.Background(), msg(1))
	require.ErrorIs(t, err, publish.ErrUnavailable)
	var aerr *amqp.Error
	require.ErrorAs(t, err, &aerr, "the broker's refusal is visible through the sentinel: %v", err)
	require.Equal(t, amqp.AccessRefused, aerr.Code, "a user without access to the vhost")
}

// TestWithoutDefinitionsNothingIsAccepted: on a broker whose definitions
// were never applied the receiver (which declares nothing) refuses to
// accept, naming the missing exchange; once they are applied, the same
// publisher accepts without a restart.
func TestWithoutDefinitionsNothingIsAccepted(t *testing.T) {
	t.Parallel()
	vhost := testenv.RabbitMQ(t, testenv.WithoutTopology())
	p := newPublisher(t, "", vhost, publish.Config{ConfirmTimeout: 2 * time.Second})
	err := p.Publish(context.Background(), msg(1))
	require.ErrorContains(t, err, "exchange webhooks")
	var aerr *amqp.Error
	require.ErrorAs(t, err, &aerr, "the broker's own answer is kept: %v", err)
	require.Equal(t, amqp.NotFound, aerr.Code, "%v", err)
	testenv.ApplyDefinitions(t, topology.Spec{Vhost: vhost})
	require.NoError(t, p.Publish(context.Background(), msg(2)))
	require.Equal(t, map[string]int{"id-000002": 1}, queued(t, vhost))
}

// TestIdleCheckHonoursTheContext: after a thaw, the check of an idle
// connection that hangs (a broker that stopped answering) neither outlasts
// the request's context nor holds the publisher's lock: other callers go on.
func TestIdleCheckHonoursTheContext(t *testing.T) {
	t.Parallel()
	vhost := testenv.RabbitMQ(t)
	proxy := testenv.NewProxy(t, testenv.RabbitMQAddr())
	// DialTimeout bounds the check itself: far longer than the request's
	// context, so only a check that honours the context returns early.
	p := newPublisher(t, proxy.Addr(), vhost, publish.Config{IdleCheck: 50 * time.Millisecond, DialTimeout: 30 * time.Second, ConfirmTimeout: time.Minute})
	require.NoError(t, p.Publish(context.Background(), msg(1)))
	time.Sleep(100 * time.Millisecond) // idle past IdleCheck (pacing, not an assertion)
	proxy.Blackhole()

	// One caller without a deadline waits on the check...
	go func() { _ = p.Publish(context.Background(), msg(3)) }()
	time.Sleep(50 * time.Millisecond) // let it start the check (pacing)
	// ...while another, with a short deadline, gives up at its deadline.
	done := make(chan error, 1)
	go func() {
		ctx, cancel := context.WithTimeout(context.Background(), 300*time.Millisecond)
		defer cancel()
		done <- p.Publish(ctx, msg(2))
	}()
	select {
	case err := <-done:
		require.ErrorIs(t, err, publish.ErrUnavailable)
		require.ErrorIs(t, err, context.DeadlineExceeded)
	case <-time.After(5 * time.Second): // the check itself may take 30 s
		t.Fatal("the idle check outlived the request's context")
	}
	ready := make(chan bool, 1)
	go func() { ready <- p.Ready() }()
	select {
	case <-ready:
	case <-time.After(5 * time.Second): // the check itself may take 30 s
		t.Fatal("the idle check holds the publisher's lock")
	}
	proxy.Heal()
}
