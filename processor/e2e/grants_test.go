package e2e

import (
	"context"
	"errors"
	"sync/atomic"
	"testing"
	"time"

	amqp "github.com/rabbitmq/amqp091-go"
	"github.com/stretchr/testify/require"

	"github.com/hookline/hookline/internal/testenv"
	"github.com/hookline/hookline/internal/topology"
	"github.com/hookline/hookline/processor/handler"
)

// TestContentionUnderProductionGrants: two processors, connected as the
// production processor user, contend for a handful of entities from the
// first delivery. Every event is stored once, the broker refuses and
// returns no copy, and nothing is dead-lettered: lock contention is parked
// through the retry exchange, which the grant allows.
func TestContentionUnderProductionGrants(t *testing.T) {
	t.Parallel()
	e := newEnv(t, envOpts{})
	unique, all := workload("cg", 400, 4)
	cfg := e.config(addrs{})
	cfg.BatchSize = 5
	a := e.start(cfg, nil)
	b := e.start(cfg, nil)
	e.publish(all...)
	e.waitDrained(unique, 2*time.Minute)
	e.requireExactlyOnce(unique)
	require.Zero(t, e.depth(topology.DeadQueue), "dead letters")
	for _, p := range []*proc{a, b} {
		require.Zero(t, labelValue(t, p, "publish_failures_total", "returned"), "returned copies")
		require.Zero(t, labelValue(t, p, "publish_failures_total", "refused"), "refused copies")
		require.Zero(t, labelValue(t, p, "dead_lettered_total", "attempts"))
		if labelValue(t, p, "retried_total", "lock") > 0 {
			// A park for contention follows a busy first try.
			require.Positive(t, metricValue(t, p, "lock_contention_total"), "lock contention counted")
		}
	}
	t.Logf("%d events (%d with duplicates) over 4 entities: lock contention parked %v + %v deliveries through %s; 0 refused, 0 returned, 0 dead letters",
		len(unique), len(all), labelValue(t, a, "retried_total", "lock"), labelValue(t, b, "retried_total", "lock"), topology.RetryExchange)
}

// TestReturnedCopyIsNeitherLostNorAcked: with the first retry tier's
// binding deleted while the processor runs, a failed event's retry copy is
// returned as unroutable; the original is not acked (it is not stored, not
// dead-lettered, nowhere but held or back in the inbound queue). Once the
// binding is back the retry goes through and the event is stored once.
func TestReturnedCopyIsNeitherLostNorAcked(t *testing.T) {
	t.Parallel()
	e := newEnv(t, envOpts{})
	guest, err := amqp.Dial(testenv.AMQPURL("", e.vhost))
	require.NoError(t, err)
	defer guest.Close()
	ch, err := guest.Channel()
	require.NoError(t, err)
	tier := topology.Backoff(1)
	require.NoError(t, ch.QueueUnbind(tier.Queue(), tier.Queue(), topology.RetryExchange, nil))

	var failing atomic.Bool
	failing.Store(true)
	reg := handler.NewRegistry()
	reg.Register(handler.Any, handler.Any, handler.Func(func(ctx context.Context, tx handler.Tx, ev *handler.Event) error {
		if failing.Load() {
			return errors.New("downstream says no")
		}
		return handler.Default.Handle(ctx, tx, ev)
	}))
	cfg := e.config(addrs{})
	p := e.start(cfg, reg)
	unique, _ := workload("rt", 1, 1)
	e.publish(unique...)

	require.Eventually(t, func() bool { return labelValue(t, p, "publish_failures_total", "returned") >= 2 }, 30*time.Second, 20*time.Millisecond,
		"the retry copy is returned")
	require.Zero(t, e.events(), "not stored")
	require.Zero(t, e.depth(topology.DeadQueue), "not dead-lettered")
	require.Zero(t, e.depth(tier.Queue()), "no copy anywhere")
	require.Zero(t, metricValue(t, p, "acked_total"), "the original is not acked")
	require.Eventually(t, func() bool { return metricValue(t, p, "requeued_total") >= 1 }, 30*time.Second, 20*time.Millisecond,
		"the original is given back to the queue and counted")

	require.NoError(t, ch.QueueBind(tier.Queue(), tier.Queue(), topology.RetryExchange, false, nil))
	require.Eventually(t, func() bool { return labelValue(t, p, "retried_total", "handler") >= 1 }, 30*time.Second, 20*time.Millisecond)
	failing.Store(false)
	e.waitDrained(unique, time.Minute)
	e.requireExactlyOnce(unique)
	require.Zero(t, e.depth(topology.DeadQueue))
}
