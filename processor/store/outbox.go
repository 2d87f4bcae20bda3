package store

import (
	"context"
	"fmt"
	"strings"
	"time"

	"github.com/hookline/hookline/processor/handler"
)

// The callback outbox (table webhook_callbacks, migration 00004): Apply
// writes a row for every event it stores whose source wants a callback, in
// the event's own transaction; processor/callback claims due rows, sends
// them and finishes them. Times are the database's (UTC_TIMESTAMP), so
// processors with skewed clocks agree on what is due.

// CallbackStatus is an outbox row's state.
type CallbackStatus int

// Statuses (the column's values).
const (
	CallbackPending CallbackStatus = iota // to send (due at next_attempt_at)
	CallbackSent                          // the endpoint answered 2xx
	CallbackGone                          // the endpoint answered 410 Gone
	CallbackFailed                        // every attempt failed
	CallbackDropped                       // the source has no callback_url any more
)

// Callback is one claimed outbox row.
type Callback struct {
	ID          int64
	Source      string
	EventID     string
	EventType   string
	EntityKey   string
	ReceivedAt  time.Time
	ProcessedAt time.Time
	Attempts    int // tries made before this one
}

// outboxStatements insert the outbox rows of the events idx whose source
// wants a callback. They run in the batch's transaction, after the events'
// INSERTs (a duplicate event fails those first, so a duplicate never gets a
// second row).
func (s *Store) outboxStatements(evs []*handler.Event, idx []int, now time.Time) []stmt {
	if s.WantsCallback == nil {
		return nil
	}
	var want []int
	for _, i := range idx {
		if s.WantsCallback(evs[i].Source) {
			want = append(want, i)
		}
	}
	const head = "INSERT INTO webhook_callbacks (source, event_id, event_type, entity_key, received_at, processed_at, next_attempt_at, created_at) VALUES "
	var out []stmt
	for start := 0; start < len(want); start += maxRowsPerInsert {
		chunk := want[start:min(start+maxRowsPerInsert, len(want))]
		var q strings.Builder
		q.WriteString(head)
		args := make([]any, 0, 6*len(chunk))
		for n, i := range chunk {
			if n > 0 {
				q.WriteByte(',')
			}
			q.WriteString("(?,?,?,?,?,?,UTC_TIMESTAMP(6),UTC_TIMESTAMP(6))")
			ev := evs[i]
			args = append(args, ev.Source, ev.ID, ev.EventType, ev.EntityKey, ev.ReceivedAt.UTC(), now)
		}
		// The row of an event is written once, with the event; the
		// clause only keeps a retried transaction from failing on it.
		q.WriteString(" ON DUPLICATE KEY UPDATE id = id")
		out = append(out, stmt{q: q.String(), args: args})
	}
	return out
}

// Pending is one source's pending outbox rows.
type Pending struct {
	Due  time.Duration // until its earliest row is due (zero or less: due now)
	Rows int           // how many rows are pending
}

// PendingCallbacks returns, for each source with pending outbox rows, how
// long until its earliest one is due and how many there are.
func (s *Store) PendingCallbacks(ctx context.Context) (map[string]Pending, error) {
	rows, err := s.DB.QueryContext(ctx, "SELECT source, TIMESTAMPDIFF(MICROSECOND, UTC_TIMESTAMP(6), MIN(next_attempt_at)), COUNT(*) FROM webhook_callbacks WHERE status = 0 GROUP BY source")
	if err != nil {
		return nil, fmt.Errorf("pending callbacks: %w", err)
	}
	defer rows.Close()
	out := map[string]Pending{}
	for rows.Next() {
		var src string
		var us int64
		var n int
		if err := rows.Scan(&src, &us, &n); err != nil {
			return nil, fmt.Errorf("pending callbacks: %w", err)
		}
		out[src] = Pending{Due: time.Duration(us) * time.Microsecond, Rows: n}
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("pending callbacks: %w", err)
	}
	return out, nil
}

// ClaimCallbacks claims up to n due rows of srcs, oldest due first, for
// lease: their next_attempt_at moves to the end of the lease and their
// claim column to claim. Rows another sender is claiming at the same moment
// are skipped (FOR UPDATE SKIP LOCKED: MySQL 8, MariaDB 10.6), and a row
// whose sender died becomes due again when its lease ends.
func (s *Store) ClaimCallbacks(ctx context.Context, claim []byte, srcs []string, n int, lease time.Duration) (_ []Callback, err error) {
	if n <= 0 || len(srcs) == 0 {
		return nil, nil
	}
	conn, err := s.DB.Conn(ctx)
	if err != nil {
		return nil, fmt.Errorf("claim callbacks: %w", err)
	}
	defer func() {
		if err != nil {
			rollback(ctx, conn)
		}
		conn.Close()
	}()
	var q strings.Builder
	args := make([]any, 0, len(srcs)+1)
	q.WriteString("START TRANSACTION; SELECT id, source, event_id, event_type, entity_key, received_at, processed_at, attempts FROM webhook_callbacks WHERE status = 0 AND source IN (")
	for i, src := range srcs {
		if i > 0 {
			q.WriteByte(',')
		}
		q.WriteByte('?')
		args = append(args, src)
	}
	q.WriteString(") AND next_attempt_at <= UTC_TIMESTAMP(6) ORDER BY next_attempt_at LIMIT ? FOR UPDATE SKIP LOCKED")
	args = append(args, n)
	rows, err := conn.QueryContext(ctx, q.String(), args...)
	if err != nil {
		return nil, fmt.Errorf("claim callbacks: %w", err)
	}
	var out []Callback
	for {
		for rows.Next() {
			var c Callback
			if err := rows.Scan(&c.ID, &c.Source, &c.EventID, &c.EventType, &c.EntityKey, &c.ReceivedAt, &c.ProcessedAt, &c.Attempts); err != nil {
				rows.Close()
				return nil, fmt.Errorf("claim callbacks: %w", err)
			}
			out = append(out, c)
		}
		if !rows.NextResultSet() {
			break
		}
	}
	if err := rows.Err(); err != nil {
		rows.Close()
		return nil, fmt.Errorf("claim callbacks: %w", err)
	}
	rows.Close()
	if len(out) == 0 {
		if _, err := conn.ExecContext(ctx, "COMMIT"); err != nil {
			return nil, fmt.Errorf("claim callbacks: %w", err)
		}
		return nil, nil
	}
	q.Reset()
	args = []any{claim, lease.Microseconds()}
	q.WriteString("UPDATE webhook_callbacks SET claim = ?, next_attempt_at = UTC_TIMESTAMP(6) + INTERVAL ? MICROSECOND WHERE id IN (")
	for i, c := range out {
		if i > 0 {
			q.WriteByte(',')
		}
		q.WriteByte('?')
		args = append(args, c.ID)
	}
	q.WriteString("); COMMIT")
	if _, err := conn.ExecContext(ctx, q.String(), args...); err != nil {
		return nil, fmt.Errorf("claim callbacks: %w", err)
	}
	return out, nil
}

// FinishCallback records a row's final state after attempts tries (it is no
// longer pending, whoever holds it).
func (s *Store) FinishCallback(ctx context.Context, id int64, status CallbackStatus, attempts int, lastErr string) error {
	_, err := s.DB.ExecContext(ctx, "UPDATE webhook_callbacks SET status = ?, attempts = ?, last_error = ?, claim = NULL, finished_at = UTC_TIMESTAMP(6) WHERE id = ? AND status = 0",
		int(status), attempts, truncate(lastErr, 255), id)
	if err != nil {
		return fmt.Errorf("finish callback: %w", err)
	}
	return nil
}

// RetryCallback records a failed try of a row held under claim and makes it
// due again after delay. It reports false when the claim had been lost (the
// lease ended and another sender took the row).
func (s *Store) RetryCallback(ctx context.Context, id int64, claim []byte, attempts int, delay time.Duration, lastErr string) (bool, error) {
	r, err := s.DB.ExecContext(ctx, "UPDATE webhook_callbacks SET attempts = ?, last_error = ?, claim = NULL, next_attempt_at = UTC_TIMESTAMP(6) + INTERVAL ? MICROSECOND WHERE id = ? AND claim = ? AND status = 0",
		attempts, truncate(lastErr, 255), delay.Microseconds(), id, claim)
	if err != nil {
		return false, fmt.Errorf("retry callback: %w", err)
	}
	n, err := r.RowsAffected()
	return n == 1, err
}

// ReleaseCallbacks hands back rows claimed under claim that were not tried
// (shutdown): they are due at once for any sender.
func (s *Store) ReleaseCallbacks(ctx context.Context, claim []byte, ids []int64) error {
	if len(ids) == 0 {
		return nil
	}
	var q strings.Builder
	args := []any{claim}
	q.WriteString("UPDATE webhook_callbacks SET claim = NULL, next_attempt_at = UTC_TIMESTAMP(6) WHERE status = 0 AND claim = ? AND id IN (")
	for i, id := range ids {
		if i > 0 {
			q.WriteByte(',')
		}
		q.WriteByte('?')
		args = append(args, id)
	}
	q.WriteByte(')')
	if _, err := s.DB.ExecContext(ctx, q.String(), args...); err != nil {
		return fmt.Errorf("release callbacks: %w", err)
	}
	return nil
}

// PurgeCallbacks deletes up to limit finished rows: sent ones older than
// sent, the others (gone, failed, dropped: kept longer for an operator to
// look at) older than other. It returns how many it deleted.
func (s *Store) PurgeCallbacks(ctx context.Context, sent, other time.Duration, limit int) (int64, error) {
	var total int64
	for _, p := range []struct {
		cond string
		age  time.Duration
	}{{"status = 1", sent}, {"status > 1", other}} {
		r, err := s.DB.ExecContext(ctx, "DELETE FROM webhook_callbacks WHERE finished_at < UTC_TIMESTAMP(6) - INTERVAL ? MICROSECOND AND "+p.cond+" LIMIT ?",
			p.age.Microseconds(), limit)
		if err != nil {
			return total, fmt.Errorf("purge callbacks: %w", err)
		}
		n, _ := r.RowsAffected()
		total += n
	}
	return total, nil
}

// CallbackRow is an outbox row as an operator (or a test) reads it.
type CallbackRow struct {
	Source, EventID string
	Status          CallbackStatus
	Attempts        int
	LastError       string
}

// Callbacks lists the outbox rows of source, oldest first.
func (s *Store) Callbacks(ctx context.Context, source string) ([]CallbackRow, error) {
	rows, err := s.DB.QueryContext(ctx, "SELECT source, event_id, status, attempts, last_error FROM webhook_callbacks WHERE source = ? ORDER BY id", source)
	if err != nil {
		return nil, fmt.Errorf("callbacks: %w", err)
	}
	defer rows.Close()
	var out []CallbackRow
	for rows.Next() {
		var r CallbackRow
		if err := rows.Scan(&r.Source, &r.EventID, &r.Status, &r.Attempts, &r.LastError); err != nil {
			return nil, fmt.Errorf("callbacks: %w", err)
		}
		out = append(out, r)
	}
	return out, rows.Err()
}

func truncate(s string, n int) string {
	if len(s) <= n {
		return s
	}
	// Cut on a rune boundary: the column is utf8mb4.
	for n > 0 && n < len(s) && s[n]&0xC0 == 0x80 {
		n--
	}
	return s[:n]
}
