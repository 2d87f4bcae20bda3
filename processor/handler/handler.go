// Package handler is where business logic plugs into the processor: a small
// interface selected by source and event type. The processor calls the
// selected handler inside the database transaction that records the event,
// once per new (source, event_id); duplicates never reach a handler.
//
// To add logic, edit handlers.go (one file): register a Handler for a source
// and event type there. A handler that returns an error has its event retried
// with exponential backoff through the retry queues and dead-lettered after
// MAX_ATTEMPTS; its writes in tx are rolled back, the rest of the batch is not
// affected.
package handler

import (
	"context"
	"database/sql"
	"time"

	"github.com/hookline/hookline/internal/sources"
)

// Event is one webhook as the processor sees it.
type Event struct {
	ID        string // (source, ID) is unique: the dedupe key
	Source    string
	EventType string
	EntityKey string // value at the source's entity_key; "" when the body has none
	// Order is the value at the source's order_key (the sender's order of
	// events); nil when the source has none or the body had no usable one.
	Order       *sources.Order
	ReceivedAt  time.Time
	RequestID   string
	ContentType string
	Body        []byte // the raw request body, byte for byte
	Attempt     int    // earlier attempts that ended in a handler error
}

// Tx is the transaction a handler runs in. Writes through it commit or roll
// back together with the event row. Always pass values as arguments
// (placeholders), never build them into the SQL text: the connection allows
// multi-statement queries (the processor uses them to save round trips).
type Tx interface {
	ExecContext(ctx context.Context, query string, args ...any) (sql.Result, error)
	QueryContext(ctx context.Context, query string, args ...any) (*sql.Rows, error)
	QueryRowContext(ctx context.Context, query string, args ...any) *sql.Row
	// SetEntityState records state as ev's entity's state. The write is
	// fenced: it applies only if ev is newer than what the entity already
	// holds (the sender's order when both have one, then received_at, then
	// event id; docs/ordering.md), so neither a late retry of an older event
	// nor a worker whose lock expired can overwrite newer state. Writes are
	// flushed together just before commit.
	SetEntityState(ev *Event, state []byte)
}

// Handler processes one event.
type Handler interface {
	Handle(ctx context.Context, tx Tx, ev *Event) error
}

// Func adapts a function to Handler.
type Func func(ctx context.Context, tx Tx, ev *Event) error

// Handle calls f.
func (f Func) Handle(ctx context.Context, tx Tx, ev *Event) error { return f(ctx, tx, ev) }

// Default stores the event's body as its entity's state (the event row itself
// is always stored by the processor: it is the dedupe record).
var Default Handler = Func(func(_ context.Context, tx Tx, ev *Event) error {
	if ev.EntityKey != "" {
		tx.SetEntityState(ev, ev.Body)
	}
	return nil
})

// Any matches every source or every event type in Register.
const Any = "*"

// Registry selects a handler by source and event type: an exact match first,
// then (source, Any), then (Any, event type), then (Any, Any), then Default.
type Registry struct {
	m map[[2]string]Handler
}

// NewRegistry returns an empty registry (everything goes to Default).
func NewRegistry() *Registry { return &Registry{m: map[[2]string]Handler{}} }

// Register sets h for source and eventType (either may be Any). Call it before
// the processor starts.
func (r *Registry) Register(source, eventType string, h Handler) {
	r.m[[2]string{source, eventType}] = h
}

// Lookup returns the handler for source and eventType.
func (r *Registry) Lookup(source, eventType string) Handler {
	if r != nil {
		for _, k := range [][2]string{{source, eventType}, {source, Any}, {Any, eventType}, {Any, Any}} {
			if h, ok := r.m[k]; ok {
				return h
			}
		}
	}
	return Default
}
