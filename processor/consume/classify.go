package consume

import (
	"context"
	"fmt"
	"runtime/debug"

	"github.com/hookline/hookline/processor/handler"
	"github.com/hookline/hookline/processor/health"
	"github.com/hookline/hookline/processor/store"
)

// class is how a failure is retried. Every failure of a batch is classified
// once, here; docs/decisions.md has the table (failure, class, what
// happens, bound).
type class int

const (
	// outage: a dependency is down. Parked without counting an attempt,
	// unbounded in time, counted in x-parked and retried_total{outage}.
	outage class = iota
	// contention: a lock another holder has. Parked on the short tiers,
	// never dead-lettered for it.
	contention
	// deterministic: the message's own fault (bad data, a constraint, a
	// handler that keeps failing or panics). A counted attempt; the DLQ with
	// the reason after MaxAttempts.
	deterministic
	// suspect: the database answers a ping but refused this batch with an
	// error that names no culprit. The batch is split; alone, a message that
	// still fails so is deterministic, so it cannot loop forever as an
	// "outage" only it has.
	suspect
)

// classifyStore classifies an error of Store.Apply (not nil, ctx not done).
func (c *Consumer) classifyStore(ctx context.Context, err error) class {
	switch {
	case store.IsDeterministic(err):
		return deterministic
	case store.IsContention(err):
		return contention
	case store.IsUnavailable(err):
		return outage
	}
	if c.ping(ctx, health.MySQL) != nil {
		return outage
	}
	return suspect
}

// panicError is a recovered panic, reported as the failure of the message
// that caused it.
type panicError struct {
	v any
}

func (e *panicError) Error() string { return fmt.Sprintf("panic: %v", e.v) }

// pick selects ev's handler, wrapped so that a panic is that handler's
// error (a counted attempt, then the DLQ), never a crash of the process
// that would return the whole prefetch window to the queue.
func (c *Consumer) pick(ev *handler.Event) handler.Handler {
	h := c.Handlers.Lookup(ev.Source, ev.EventType)
	return handler.Func(func(ctx context.Context, tx handler.Tx, ev *handler.Event) (err error) {
		defer func() {
			if v := recover(); v != nil {
				err = c.recovered(v, "handler", ev.ID)
			}
		}()
		return h.Handle(ctx, tx, ev)
	})
}

// recovered logs a recovered panic with its stack and returns it as an error.
func (c *Consumer) recovered(v any, where, messageID string) error {
	c.Metrics.Panicked()
	c.Log.Error("recovered a panic", "where", where, "message_id", messageID, "panic", fmt.Sprint(v), "stack", string(debug.Stack()))
	return &panicError{v: v}
}
