package publish

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"strings"
	"sync"
	"testing"
	"time"

	amqp "github.com/rabbitmq/amqp091-go"
	"github.com/stretchr/testify/require"

	"github.com/hookline/hookline/internal/envelope"
	"github.com/hookline/hookline/internal/testenv"
	"github.com/hookline/hookline/internal/topology"
	"github.com/hookline/hookline/internal/webhooksig"
)

// TestOverlongShortStringFailsOnlyItsPublish: publishes with a 300-byte
// routing key or header name, racing good publishes on the same connection,
// fail alone with envelope.ErrUnencodable; the connection stays up (no
// redial) and every good publish is confirmed and queued. Without the check,
// amqp091-go shuts the connection down while encoding the bad frame.
func TestOverlongShortStringFailsOnlyItsPublish(t *testing.T) {
	t.Parallel()
	vhost := testenv.RabbitMQ(t)
	ctx := context.Background()
	p := New(ctx, Config{URL: testenv.AMQPURLAs("", vhost, topology.Receiver), Channels: 4, Logger: slog.New(slog.NewJSONHandler(io.Discard, nil))})
	t.Cleanup(p.Close)
	s, err := p.current(ctx)
	require.NoError(t, err)

	long := strings.Repeat("k", 300)
	bad := []struct {
		name string
		key  string
		msg  amqp.Publishing
	}{
		{"routing key", long, amqp.Publishing{MessageId: "bad-key", Headers: amqp.Table{envelope.HeaderRequestID: "bad-key"}}},
		{"header name", "src.t", amqp.Publishing{MessageId: "bad-header", Headers: amqp.Table{envelope.HeaderRequestID: "bad-header", long: "v"}}},
	}
	const goodSenders, goodEach, badEach = 4, 25, 20
	var wg sync.WaitGroup
	goodErrs := make(chan error, goodSenders*goodEach)
	badErrs := make(chan error, len(bad)*badEach)
	for g := range goodSenders {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range goodEach {
				n := g*goodEach + i
				e := envelope.New("src", webhooksig.Delivery{ID: fmt.Sprintf("good-%03d", n), IDSigned: true, EventType: "t"}, fmt.Sprintf("req-%03d", n), "", []byte("b"), time.Now())
				goodErrs <- p.Publish(ctx, e)
			}
		}()
	}
	for _, b := range bad {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for range badEach {
				badErrs <- p.publishOn(ctx, s, b.key, b.name, b.msg)
			}
		}()
	}
	wg.Wait()
	close(goodErrs)
	close(badErrs)
	for err := range badErrs {
		require.ErrorIs(t, err, envelope.ErrUnencodable)
		require.NotErrorIs(t, err, ErrUnavailable, "not a 503: retrying cannot help")
	}
	for err := range goodErrs {
		require.NoError(t, err)
	}
	require.False(t, s.isDead(), "the shared connection survived")
	p.mu.Lock()
	same := p.session == s
	p.mu.Unlock()
	require.True(t, same, "no redial")

	conn, err := amqp.Dial(testenv.AMQPURL("", vhost))
	require.NoError(t, err)
	defer conn.Close()
	ch, err := conn.Channel()
	require.NoError(t, err)
	got := map[string]bool{}
	for {
		d, ok, err := ch.Get(topology.Queue, true)
		require.NoError(t, err)
		if !ok {
			break
		}
		got[d.MessageId] = true
	}
	require.Len(t, got, goodSenders*goodEach, "every good publish queued, no bad one")
}
