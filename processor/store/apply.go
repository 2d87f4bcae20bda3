package store

import (
	"cmp"
	"context"
	"database/sql"
	"database/sql/driver"
	"errors"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/hookline/hookline/internal/sources"
	"github.com/hookline/hookline/processor/handler"
)

// Outcome is what happened to one event of a batch.
type Outcome int

// Outcomes.
const (
	Stored    Outcome = iota // recorded now: ack it
	Duplicate                // already recorded (or twice in this batch): ack it
	Failed                   // its handler failed: retry or dead-letter it
)

// Result reports a committed batch, index by index with the input.
type Result struct {
	Outcomes []Outcome
	Errs     []error // the handler error for Failed events
	Stale    int     // entity writes skipped by the fence (a newer event already applied)
}

// Limits for the statements of one batch.
const (
	maxRowsPerInsert  = 200
	maxBytesPerInsert = 4 << 20 // well under MariaDB's 16 MiB max_allowed_packet default
	maxConflictRetry  = 8
)

// MaxEventIDLen and MaxEntityKeyLen are the column widths; longer values are
// invalid (event id) or hashed (entity key) by the caller.
const (
	MaxEventIDLen   = 255
	MaxEntityKeyLen = 255
)

var errFenceRace = errors.New("entity rows changed concurrently")

// HandlerError wraps an error a handler returned.
type HandlerError struct {
	Index int
	Err   error
}

func (e *HandlerError) Error() string { return fmt.Sprintf("handler: %v", e.Err) }
func (e *HandlerError) Unwrap() error { return e.Err }

// Apply records a batch of events in one transaction: events already stored
// (UNIQUE(source, event_id) is the truth) or repeated in the batch are
// Duplicate; each new one is inserted and handed to its handler; entity writes
// are flushed with the fence; then it commits. A handler error marks that
// event Failed and the transaction is redone without it, so one bad event
// does not hold back the others. Conflicts (deadlock, a concurrent insert of
// the same key) are retried here; any other error fails the whole batch and
// nothing of it is committed.
func (s *Store) Apply(ctx context.Context, evs []*handler.Event, pick func(*handler.Event) handler.Handler) (Result, error) {
	res := Result{Outcomes: make([]Outcome, len(evs)), Errs: make([]error, len(evs))}
	seen := make(map[[2]string]bool, len(evs))
	var todo []int
	for i, ev := range evs {
		k := [2]string{ev.Source, ev.ID}
		if seen[k] {
			res.Outcomes[i] = Duplicate
			continue
		}
		seen[k] = true
		todo = append(todo, i)
	}
	conflicts := 0
	checkFirst := false // optimistic: insert first, look for duplicates only if the insert hits one
	for {
		stale, dups, err := s.applyOnce(ctx, evs, todo, pick, checkFirst)
		var he *HandlerError
		switch {
		case isDuplicateKey(err) && !checkFirst:
			checkFirst = true
			continue
		case errors.As(err, &he):
			res.Outcomes[he.Index], res.Errs[he.Index] = Failed, he.Err
			todo = slices.DeleteFunc(todo, func(i int) bool { return i == he.Index })
			continue
		case err != nil && isConflict(err) && conflicts >= maxConflictRetry && !isLockWait(err):
			return res, fmt.Errorf("%w (%d attempts): %w", ErrConflictRetries, conflicts+1, err)
		case err != nil && isConflict(err) && conflicts < maxConflictRetry:
			conflicts++
			select {
			case <-ctx.Done():
				return res, ctx.Err()
			case <-time.After(time.Duration(conflicts*conflicts) * 5 * time.Millisecond):
			}
			continue
		case err != nil:
			return res, err
		}
		for _, i := range todo {
			res.Outcomes[i] = Stored
		}
		for _, i := range dups {
			res.Outcomes[i] = Duplicate
		}
		res.Stale = stale
		return res, nil
	}
}

func (s *Store) applyOnce(ctx context.Context, evs []*handler.Event, todo []int, pick func(*handler.Event) handler.Handler, checkFirst bool) (stale int, dups []int, err error) {
	if len(todo) == 0 {
		return 0, nil, nil
	}
	// One pooled connection carries the transaction, opened and ended by
	// statements of ours so that opening it shares a round trip with the
	// inserts (READ COMMITTED is the session's level, set at connect).
	conn, err := s.DB.Conn(ctx)
	if err != nil {
		return 0, nil, fmt.Errorf("begin: %w", err)
	}
	defer func() {
		if err != nil {
			rollback(ctx, conn)
		}
		conn.Close()
	}()
	begin := []stmt{{q: "START TRANSACTION"}}
	fresh := todo
	if checkFirst {
		existing, err := existingEvents(ctx, conn, begin, evs, todo)
		if err != nil {
			return 0, nil, err
		}
		begin = nil
		fresh = nil
		for _, i := range todo {
			if existing[[2]string{evs[i].Source, evs[i].ID}] {
				dups = append(dups, i)
			} else {
				fresh = append(fresh, i)
			}
		}
	}
	now := time.Now().UTC()
	w := &txWriter{Conn: conn, writes: map[[2]string]*entityWrite{}, current: map[[2]string]entityRow{}, read: map[[2]string]bool{}}
	// Round trip: [START TRANSACTION;] INSERT the events; lock and read the
	// rows of the entities they name (the default handler writes those).
	stmts := append(begin, insertStatements(evs, fresh, now)...)
	stmts = append(stmts, s.outboxStatements(evs, fresh, now)...)
	keys := entityKeys(evs, fresh)
	stmts = append(stmts, lockStatements(keys)...)
	if err := w.run(ctx, stmts); err != nil {
		return 0, nil, err // a duplicate key here sends Apply to the checkFirst path
	}
	for _, k := range keys {
		w.read[k] = true
	}
	for _, i := range fresh {
		ev := evs[i]
		if herr := pick(ev).Handle(ctx, w, ev); herr != nil {
			if isConnection(herr) || ctx.Err() != nil {
				return 0, nil, herr // the database went away under the handler, or shutdown: not its fault
			}
			return 0, nil, &HandlerError{Index: i, Err: herr}
		}
	}
	if stale, err = w.flush(ctx, now); err != nil {
		return 0, nil, err
	}
	if _, err := conn.ExecContext(ctx, "COMMIT"); err != nil {
		return 0, nil, fmt.Errorf("commit: %w", err)
	}
	// A duplicate found in the database is not "stored now": report it.
	return stale, dups, nil
}

// rollback ends conn's transaction; a connection that cannot roll back is
// discarded, never returned to the pool mid-transaction.
func rollback(ctx context.Context, conn *sql.Conn) {
	rctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 5*time.Second)
	defer cancel()
	if _, err := conn.ExecContext(rctx, "ROLLBACK"); err != nil {
		_ = conn.Raw(func(any) error { return driver.ErrBadConn })
	}
}

// stmt is one statement with its arguments.
type stmt struct {
	q    string
	args []any
	size int // bytes of large arguments, for grouping
}

// run sends stmts in as few round trips as fit maxBytesPerInsert each
// (multi-statement queries) and reads every result set that has columns as
// entity rows (the columns of lockStatements).
func (w *txWriter) run(ctx context.Context, stmts []stmt) error {
	for len(stmts) > 0 {
		n, size := 0, 0
		for n < len(stmts) && (n == 0 || size+stmts[n].size <= maxBytesPerInsert) {
			size += stmts[n].size
			n++
		}
		var q strings.Builder
		var args []any
		for i, st := range stmts[:n] {
			if i > 0 {
				q.WriteString("; ")
			}
			q.WriteString(st.q)
			args = append(args, st.args...)
		}
		if err := w.query(ctx, q.String(), args); err != nil {
			return err
		}
		stmts = stmts[n:]
	}
	return nil
}

func (w *txWriter) query(ctx context.Context, q string, args []any) error {
	rows, err := w.QueryContext(ctx, q, args...)
	if err != nil {
		return fmt.Errorf("write events: %w", err)
	}
	defer rows.Close()
	for {
		for rows.Next() {
			var s, k string
			var r entityRow
			var order sql.NullString
			if err := rows.Scan(&s, &k, &r.version, &order, &r.at, &r.id); err != nil {
				return fmt.Errorf("read entities: %w", err)
			}
			if order.Valid {
				o, err := sources.ParseOrder(order.String)
				if err != nil {
					return fmt.Errorf("read entities: last_order: %w", err)
				}
				r.order = &o
			}
			w.current[[2]string{s, k}] = r
		}
		if !rows.NextResultSet() {
			break
		}
	}
	if err := rows.Err(); err != nil {
		return fmt.Errorf("write events: %w", err)
	}
	return nil
}

// entityKeys lists the (source, entity_key) of events, sorted (one lock
// order for every transaction), without empties and repeats.
func entityKeys(evs []*handler.Event, idx []int) [][2]string {
	seen := map[[2]string]bool{}
	var keys [][2]string
	for _, i := range idx {
		k := [2]string{evs[i].Source, evs[i].EntityKey}
		if k[1] != "" && !seen[k] {
			seen[k] = true
			keys = append(keys, k)
		}
	}
	slices.SortFunc(keys, func(a, b [2]string) int { return cmp.Or(strings.Compare(a[0], b[0]), strings.Compare(a[1], b[1])) })
	return keys
}

// lockStatements reads and locks the entity rows of keys (FOR UPDATE):
// until commit nobody else changes them, so the fence decided in Go holds.
func lockStatements(keys [][2]string) []stmt {
	var out []stmt
	for start := 0; start < len(keys); start += maxRowsPerInsert {
		chunk := keys[start:min(start+maxRowsPerInsert, len(keys))]
		var q strings.Builder
		var args []any
		q.WriteString("SELECT source, entity_key, version, last_order, last_received_at, last_event_id FROM webhook_entities WHERE (source, entity_key) IN (")
		for i, k := range chunk {
			if i > 0 {
				q.WriteByte(',')
			}
			q.WriteString("(?,?)")
			args = append(args, k[0], k[1])
		}
		q.WriteString(") FOR UPDATE")
		out = append(out, stmt{q: q.String(), args: args})
	}
	return out
}

// existingEvents returns which (source, event_id) of the batch are stored,
// sending the statements in before first.
func existingEvents(ctx context.Context, conn *sql.Conn, before []stmt, evs []*handler.Event, idx []int) (map[[2]string]bool, error) {
	bySource := map[string][]string{}
	var order []string
	for _, i := range idx {
		s := evs[i].Source
		if _, ok := bySource[s]; !ok {
			order = append(order, s)
		}
		bySource[s] = append(bySource[s], evs[i].ID)
	}
	var q strings.Builder
	var args []any
	for _, st := range before {
		q.WriteString(st.q)
		q.WriteString("; ")
		args = append(args, st.args...)
	}
	q.WriteString("SELECT source, event_id FROM webhook_events WHERE ")
	for n, s := range order {
		if n > 0 {
			q.WriteString(" OR ")
		}
		q.WriteString("(source = ? AND event_id IN (")
		args = append(args, s)
		for j, id := range bySource[s] {
			if j > 0 {
				q.WriteByte(',')
			}
			q.WriteByte('?')
			args = append(args, id)
		}
		q.WriteString("))")
	}
	rows, err := conn.QueryContext(ctx, q.String(), args...)
	if err != nil {
		return nil, fmt.Errorf("dedupe: %w", err)
	}
	defer rows.Close()
	out := map[[2]string]bool{}
	for rows.Next() {
		var s, id string
		if err := rows.Scan(&s, &id); err != nil {
			return nil, fmt.Errorf("dedupe: %w", err)
		}
		out[[2]string{s, id}] = true
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("dedupe: %w", err)
	}
	return out, nil
}

// insertStatements are the INSERTs of the events idx, in chunks.
func insertStatements(evs []*handler.Event, idx []int, now time.Time) []stmt {
	const head = "INSERT INTO webhook_events (source, event_id, event_type, entity_key, request_id, content_type, payload, received_at, processed_at) VALUES "
	var out []stmt
	for len(idx) > 0 {
		var q strings.Builder
		q.WriteString(head)
		var args []any
		n, size := 0, 0
		for n < len(idx) && n < maxRowsPerInsert && (n == 0 || size+len(evs[idx[n]].Body) <= maxBytesPerInsert) {
			ev := evs[idx[n]]
			if n > 0 {
				q.WriteByte(',')
			}
			q.WriteString("(?,?,?,?,?,?,?,?,?)")
			body := ev.Body
			if body == nil {
				body = []byte{}
			}
			args = append(args, ev.Source, ev.ID, ev.EventType, ev.EntityKey, ev.RequestID, ev.ContentType, body, ev.ReceivedAt.UTC(), now)
			size += len(ev.Body)
			n++
		}
		out = append(out, stmt{q: q.String(), args: args, size: size})
		idx = idx[n:]
	}
	return out
}

// txWriter is the handler.Tx of one batch.
type txWriter struct {
	*sql.Conn
	writes  map[[2]string]*entityWrite
	current map[[2]string]entityRow // locked rows as read
	read    map[[2]string]bool      // keys read and locked so far
}

// position is what the fence compares: where an event stands in its
// entity's history.
type position struct {
	order *sources.Order // the sender's order (order_key); nil: none
	at    time.Time      // x-received-at, to the microsecond (DATETIME(6))
	id    string         // event id, compared byte for byte
}

// after is the fence's rule (docs/ordering.md): the sender's order when both
// events have one and they differ; otherwise arrival, then event id. Without
// order_key this is arrival order, as before.
func (p position) after(q position) bool {
	if p.order != nil && q.order != nil {
		if c := p.order.Compare(*q.order); c != 0 {
			return c > 0
		}
	}
	if c := p.at.Compare(q.at); c != 0 {
		return c > 0
	}
	return p.id > q.id
}

// entityRow is a locked entity row as read: its version and the position of
// the event it holds.
type entityRow struct {
	position
	version int64
}

type entityWrite struct {
	position
	source, key, eventType string
	state                  []byte
}

// SetEntityState implements handler.Tx: the newest write per entity in the
// batch is kept; flush applies it fenced.
func (w *txWriter) SetEntityState(ev *handler.Event, state []byte) {
	k := [2]string{ev.Source, ev.EntityKey}
	p := position{order: ev.Order, at: ev.ReceivedAt.UTC().Truncate(time.Microsecond), id: ev.ID}
	if cur, ok := w.writes[k]; ok && !p.after(cur.position) {
		return
	}
	if state == nil {
		state = []byte{}
	}
	w.writes[k] = &entityWrite{position: p, source: ev.Source, key: ev.EntityKey, eventType: ev.EventType, state: state}
}

// flush applies the batch's entity writes. Every row that exists was read
// under its row lock (FOR UPDATE, with the inserts, or here), so the fence is
// decided in Go on rows nobody else can change before commit. The upsert
// then writes each applied row only if its version is still the one read
// (version + 1 = the new version; 1 for a row that did not exist), and its
// RowsAffected must equal what the comparison predicted (1 per insert, 2 per
// update): anything else means another transaction created or changed a row
// in between (rows that did not exist are not locked), and the batch is
// redone. A version check instead of repeating the fence in SQL: the fence
// now has three fields, and MySQL evaluates ON DUPLICATE KEY UPDATE
// assignments left to right, each seeing the columns already assigned.
func (w *txWriter) flush(ctx context.Context, now time.Time) (stale int, err error) {
	if len(w.writes) == 0 {
		return 0, nil
	}
	ws := make([]*entityWrite, 0, len(w.writes))
	for _, x := range w.writes {
		ws = append(ws, x)
	}
	slices.SortFunc(ws, func(a, b *entityWrite) int { // one lock order for every transaction
		return cmp.Or(strings.Compare(a.source, b.source), strings.Compare(a.key, b.key))
	})
	// Rows not locked with the inserts (a handler wrote an entity other
	// than its event's): lock and read them now.
	var missing [][2]string
	for _, x := range ws {
		if k := [2]string{x.source, x.key}; !w.read[k] {
			missing = append(missing, k)
			w.read[k] = true
		}
	}
	if len(missing) > 0 {
		if err := w.run(ctx, lockStatements(missing)); err != nil {
			return 0, err
		}
	}
	type applied struct {
		*entityWrite
		version int64 // the row's version after this write
	}
	var apply []applied
	var want int64
	for _, x := range ws {
		c, ok := w.current[[2]string{x.source, x.key}]
		switch {
		case !ok:
			want++
			apply = append(apply, applied{x, 1})
		case x.after(c.position):
			want += 2
			apply = append(apply, applied{x, c.version + 1})
		default:
			stale++
		}
	}
	// Assignments run left to right and see earlier ones: version, which
	// the condition reads, is assigned last.
	const unchanged = "version + 1 = VALUES(version)"
	var got int64
	for len(apply) > 0 {
		var q strings.Builder
		var args []any
		q.WriteString("INSERT INTO webhook_entities (source, entity_key, version, last_order, last_event_id, last_event_type, last_received_at, state, updated_at) VALUES ")
		n, size := 0, 0
		for n < len(apply) && n < maxRowsPerInsert && (n == 0 || size+len(apply[n].state) <= maxBytesPerInsert) {
			x := apply[n]
			if n > 0 {
				q.WriteByte(',')
			}
			q.WriteString("(?,?,?,?,?,?,?,?,?)")
			var order any // NULL
			if x.order != nil {
				order = x.order.String()
			}
			args = append(args, x.source, x.key, x.version, order, x.id, x.eventType, x.at, x.state, now)
			size += len(x.state)
			n++
		}
		q.WriteString(" ON DUPLICATE KEY UPDATE ")
		for _, col := range []string{"last_order", "last_event_id", "last_event_type", "last_received_at", "state", "updated_at", "version"} {
			q.WriteString(col + " = IF(" + unchanged + ", VALUES(" + col + "), " + col + ")")
			if col != "version" {
				q.WriteString(", ")
			}
		}
		r, err := w.ExecContext(ctx, q.String(), args...)
		if err != nil {
			return 0, fmt.Errorf("write entities: %w", err)
		}
		n64, err := r.RowsAffected()
		if err != nil {
			return 0, fmt.Errorf("write entities: %w", err)
		}
		got += n64
		apply = apply[n:]
	}
	if got != want {
		return 0, fmt.Errorf("%w: %d rows affected, want %d", errFenceRace, got, want)
	}
	return stale, nil
}

// EntityKeyColumn fits an entity key into its column: keys longer than the
// column are replaced by a digest (sha256:<hex>), stable and collision-free in
// practice.
func EntityKeyColumn(k string) string {
	if len(k) <= MaxEntityKeyLen {
		return k
	}
	return digest(k)
}
