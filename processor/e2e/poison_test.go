package e2e

import (
	"bytes"
	"context"
	"database/sql/driver"
	"encoding/json"
	"errors"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/hookline/hookline/internal/envelope"
	"github.com/hookline/hookline/internal/testenv"
	"github.com/hookline/hookline/internal/topology"
	"github.com/hookline/hookline/processor/command"
	"github.com/hookline/hookline/processor/dlq"
	"github.com/hookline/hookline/processor/handler"
)

// TestPoisonIsSplitOutOfItsBatch: a handler that always fails on one event
// type, whichever way it fails, sends that event to the DLQ after
// MAX_ATTEMPTS counted attempts with the reason, while its batch-mates are
// stored at once (never parked with it) and the process keeps running.
// "outage-like" returns driver.ErrBadConn while MySQL is fine: it used to
// park the whole batch as an outage, forever.
func TestPoisonIsSplitOutOfItsBatch(t *testing.T) {
	for _, c := range []struct {
		name   string
		fail   func()
		calls  int64 // handler calls: the counted attempts, plus the batch's try when that failed as a whole
		reason string
	}{
		{"error", func() {}, 3, "handler failed 3 times: cannot parse order"},
		// The batch fails as a whole (no culprit named): it is split, the
		// poison fails alone, and only then do its attempts count.
		{"outage-like", func() {}, 4, "store refused it 3 times: " + driver.ErrBadConn.Error()},
		{"panic", func() { panic("nil map in the order handler") }, 3, "handler failed 3 times: panic: nil map in the order handler"},
	} {
		t.Run(c.name, func(t *testing.T) {
			t.Parallel()
			e := newEnv(t, envOpts{})
			var calls atomic.Int64
			gate := make(chan struct{})
			var gateOnce sync.Once
			reg := handler.NewRegistry()
			reg.Register("shop", handler.Any, handler.Func(func(ctx context.Context, tx handler.Tx, ev *handler.Event) error {
				switch {
				case ev.ID == "gate":
					// Hold the first batch so that the others queue up
					// behind it and form one batch with the poison.
					gateOnce.Do(func() {
						select {
						case <-gate:
						case <-time.After(time.Second):
						}
					})
				case ev.EventType == "order.poison":
					calls.Add(1)
					c.fail()
					if c.name == "outage-like" {
						return driver.ErrBadConn
					}
					return errors.New("cannot parse order: boom")
				}
				return handler.Default.Handle(ctx, tx, ev)
			}))
			cfg := e.config(addrs{})
			cfg.MaxAttempts = 3
			cfg.Concurrency = 1
			p := e.start(cfg, reg)

			e.publish(event{id: "gate", entity: "g", at: base})
			good, _ := workload("mate", 20, 20)
			e.publish(good[:10]...)
			poison := envelope.Envelope{ID: "poison-1", Source: "shop", EventType: "order.poison", ReceivedAt: base,
				ContentType: "application/json", Body: body(event{id: "poison-1", entity: "p"}, 0)}
			e.publishRaw(poison.RoutingKey(), poison.Publishing())
			e.publish(good[10:]...)
			close(gate)

			require.Eventually(t, func() bool { return e.depth(topology.DeadQueue) == 1 && e.settled() }, 2*time.Minute, 100*time.Millisecond)
			require.Equal(t, c.calls, calls.Load(), "MAX_ATTEMPTS counted attempts, then the DLQ")
			require.Equal(t, len(good)+1, e.events(), "the batch-mates and the gate are stored, the poison is not")
			totals := p.metrics.Totals()
			require.Equal(t, int64(2), totals["retried"], "only the poison's counted retries: no batch-mate was parked")
			require.Equal(t, int64(1), totals["dead_lettered"])
			if c.name == "panic" {
				require.Equal(t, int64(3), totals["panics"])
			}
			reasons := e.deadReasons()
			require.Contains(t, reasons["poison-1"], c.reason)

			// Still running: a later event is stored.
			e.publish(event{id: "after-1", entity: "a", at: base})
			require.Eventually(t, func() bool { return e.events() == len(good)+2 }, 30*time.Second, 50*time.Millisecond)
			select {
			case err := <-p.done:
				t.Fatalf("processor stopped: %v", err)
			default:
			}
		})
	}
}

// TestPanicOutsideHandlers: a panic after a batch committed (here in the
// Committed hook, once) is recovered by the worker; the deliveries it had
// not settled yet fail once (a counted retry) and come back as duplicates,
// so every event is stored once, nothing is dead-lettered, and the process
// keeps running.
func TestPanicOutsideHandlers(t *testing.T) {
	t.Parallel()
	e := newEnv(t, envOpts{})
	var once sync.Once
	cfg := e.config(addrs{})
	cfg.Concurrency = 1
	p := e.startWith(cfg, command.Options{Committed: func(ev *handler.Event, _ time.Time) {
		if ev.ID == "w-00003" {
			once.Do(func() { panic("callback bookkeeping bug") })
		}
	}})
	unique, withDups := workload("w", 40, 8)
	e.publish(withDups...)
	e.waitDrained(unique, time.Minute)
	e.requireExactlyOnce(unique)
	require.Equal(t, int64(1), p.metrics.Totals()["panics"])
	select {
	case err := <-p.done:
		t.Fatalf("processor stopped: %v", err)
	default:
	}
}

// deadReasons lists the DLQ (leaving it in place): message id to reason.
func (e *env) deadReasons() map[string]string {
	e.t.Helper()
	var out bytes.Buffer
	_, err := dlq.List(context.Background(), testenv.AMQPURLAs("", e.vhost, topology.Processor), &out)
	require.NoError(e.t, err)
	reasons := map[string]string{}
	dec := json.NewDecoder(&out)
	for dec.More() {
		var m dlq.Message
		require.NoError(e.t, dec.Decode(&m))
		reasons[m.ID] = m.Reason
	}
	return reasons
}
