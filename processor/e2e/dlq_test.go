package e2e

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	amqp "github.com/rabbitmq/amqp091-go"
	"github.com/stretchr/testify/require"

	"github.com/hookline/hookline/internal/envelope"
	"github.com/hookline/hookline/internal/testenv"
	"github.com/hookline/hookline/internal/topology"
	"github.com/hookline/hookline/processor/consume"
	"github.com/hookline/hookline/processor/dlq"
	"github.com/hookline/hookline/processor/handler"
)

// TestPoisonToDLQAndReplay: a handler that keeps failing sends its event to
// the DLQ after MAX_ATTEMPTS with the reason; so do an invalid envelope, at
// once, and an unknown source once it has been parked its bound. `dlq replay --id` puts the event back and,
// the bug fixed, it is processed once.
func TestPoisonToDLQAndReplay(t *testing.T) {
	t.Parallel()
	e := newEnv(t, envOpts{})
	var failing atomic.Bool
	failing.Store(true)
	var poisonCalls, poisonOK atomic.Int64
	reg := handler.NewRegistry()
	reg.Register("shop", handler.Any, handler.Func(func(ctx context.Context, tx handler.Tx, ev *handler.Event) error {
		if strings.HasPrefix(ev.ID, "poison") {
			poisonCalls.Add(1)
			if failing.Load() {
				return errors.New("cannot parse order: boom")
			}
			poisonOK.Add(1)
		}
		return handler.Default.Handle(ctx, tx, ev)
	}))
	cfg := e.config(addrs{})
	cfg.MaxAttempts = 3
	e.start(cfg, reg)

	good, _ := workload("good", 50, 5)
	e.publish(good...)
	e.publish(event{id: "poison-1", entity: "p", at: base})
	e.publishRaw("shop.order.updated", amqp.Publishing{MessageId: "no-time", Body: []byte(`{}`),
		Headers: amqp.Table{envelope.HeaderSource: "shop", envelope.HeaderEventType: "order.updated"}})
	// An unknown source is parked while the sources document may still
	// gain it (TestSourceAddedAtRuntime); this one has waited its bound.
	stranger := envelope.Envelope{ID: "stranger-1", Source: "nobody", EventType: "x", ReceivedAt: base, Body: []byte(`{}`)}
	sp := stranger.Publishing()
	sp.Headers[envelope.HeaderParked] = int64(consume.MaxUnknownParks)
	e.publishRaw(stranger.RoutingKey(), sp)
	long := envelope.Envelope{ID: "long-type", Source: "shop", EventType: strings.Repeat("t", 200), ReceivedAt: base, Body: []byte(`{}`)}
	e.publishRaw("shop.long", long.Publishing())

	require.Eventually(t, func() bool { return e.depth(topology.DeadQueue) == 4 && e.settled() }, 2*time.Minute, 100*time.Millisecond)
	require.Equal(t, int64(3), poisonCalls.Load(), "MAX_ATTEMPTS attempts, then the DLQ")
	require.Equal(t, len(good), e.events(), "the good events are stored, the poison one is not")

	var out bytes.Buffer
	n, err := dlq.List(context.Background(), testenv.AMQPURLAs("", e.vhost, topology.Processor), &out)
	require.NoError(t, err)
	require.Equal(t, 4, n)
	reasons := map[string]string{}
	dec := json.NewDecoder(&out)
	for dec.More() {
		var m dlq.Message
		require.NoError(t, dec.Decode(&m))
		reasons[m.ID] = m.Reason
	}
	require.Contains(t, reasons["poison-1"], "handler failed 3 times: cannot parse order")
	require.Contains(t, reasons["no-time"], "x-received-at")
	require.Contains(t, reasons["stranger-1"], `unknown source "nobody"`)
	require.Contains(t, reasons["long-type"], "x-event-type longer than 128 bytes")
	require.Eventually(t, func() bool { return e.depth(topology.DeadQueue) == 4 }, 30*time.Second, 50*time.Millisecond,
		"listing leaves the dead letters in place")

	failing.Store(false)
	replayed, err := dlq.Replay(context.Background(), testenv.AMQPURLAs("", e.vhost, topology.Processor), false, "poison-1")
	require.NoError(t, err)
	require.Equal(t, 1, replayed)
	require.Eventually(t, func() bool {
		return e.count("SELECT COUNT(*) FROM webhook_events WHERE event_id = 'poison-1'") == 1 && e.settled()
	},
		time.Minute, 100*time.Millisecond)
	require.Equal(t, int64(1), poisonOK.Load(), "processed once after the replay")
	require.Eventually(t, func() bool { return e.depth(topology.DeadQueue) == 3 }, 30*time.Second, 50*time.Millisecond,
		"the others stay dead")

	_, err = dlq.Replay(context.Background(), testenv.AMQPURLAs("", e.vhost, topology.Processor), false, "poison-1")
	require.ErrorIs(t, err, dlq.ErrNoMatch)
}
