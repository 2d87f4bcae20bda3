package store_test

import (
	"context"
	"errors"
	"fmt"
	"net"
	"testing"
	"time"

	"github.com/go-sql-driver/mysql"
	"github.com/stretchr/testify/require"

	"github.com/hookline/hookline/internal/testenv"
	"github.com/hookline/hookline/processor/handler"
	"github.com/hookline/hookline/processor/store"
)

// Keys that differ only by trailing spaces are different keys: MariaDB's
// utf8mb4_bin (PAD SPACE) made them one row, Go made them two, and the batch
// looped on the dedupe and fence checks.
func TestKeysCompareByteForByte(t *testing.T) {
	t.Parallel()
	s := open(t)
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second) // bounded: no livelock
	defer cancel()

	res, err := s.Apply(ctx, []*handler.Event{ev("e1", "acme", 0), ev("e2", "acme ", time.Second)}, pickDefault)
	require.NoError(t, err)
	require.Equal(t, []store.Outcome{store.Stored, store.Stored}, res.Outcomes)
	// The other order, in separate batches: the second finds no row.
	res, err = s.Apply(ctx, []*handler.Event{ev("e3", "beta ", 0)}, pickDefault)
	require.NoError(t, err)
	require.Equal(t, []store.Outcome{store.Stored}, res.Outcomes)
	res, err = s.Apply(ctx, []*handler.Event{ev("e4", "beta", 0)}, pickDefault)
	require.NoError(t, err)
	require.Equal(t, []store.Outcome{store.Stored}, res.Outcomes)
	require.Zero(t, res.Stale, "beta is a new entity, not a stale write to 'beta '")
	for _, k := range []struct{ key, id string }{{"acme", "e1"}, {"acme ", "e2"}, {"beta ", "e3"}, {"beta", "e4"}} {
		id, ver := state(t, s, k.key)
		require.Equal(t, k.id, id, "entity %q", k.key)
		require.Equal(t, 1, ver, "entity %q", k.key)
	}
	var n int
	require.NoError(t, s.DB.QueryRow("SELECT COUNT(*) FROM webhook_entities").Scan(&n))
	require.Equal(t, 4, n)

	// Event ids differing only by a trailing space: two events, in one
	// batch and across batches; a redelivery of either is a duplicate.
	res, err = s.Apply(ctx, []*handler.Event{ev("id", "", 0), ev("id ", "", 0)}, pickDefault)
	require.NoError(t, err)
	require.Equal(t, []store.Outcome{store.Stored, store.Stored}, res.Outcomes)
	res, err = s.Apply(ctx, []*handler.Event{ev("x", "", 0)}, pickDefault)
	require.NoError(t, err)
	res, err = s.Apply(ctx, []*handler.Event{ev("x ", "", 0), ev("x", "", 0), ev("id ", "", 0)}, pickDefault)
	require.NoError(t, err)
	require.Equal(t, []store.Outcome{store.Stored, store.Duplicate, store.Duplicate}, res.Outcomes)
	require.NoError(t, s.DB.QueryRow("SELECT COUNT(*) FROM webhook_events WHERE event_id IN ('id', 'id ', 'x', 'x ')").Scan(&n))
	require.Equal(t, 4, n)
	require.NoError(t, ctx.Err())
}

// When keys collide in the database but not in Go (here: event_id put back
// to the PAD SPACE column 00002 replaced), the batch cannot commit; it must
// end with ErrConflictRetries (Deterministic: dead-letter after a bound), not
// loop. This was the livelock; the bound holds for any such collision.
func TestCollidingKeysEndInConflictRetries(t *testing.T) {
	t.Parallel()
	s := open(t)
	_, err := s.DB.Exec("ALTER TABLE webhook_events MODIFY event_id VARCHAR(255) CHARACTER SET utf8mb4 COLLATE utf8mb4_bin NOT NULL")
	require.NoError(t, err)
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	_, err = s.Apply(ctx, []*handler.Event{ev("x", "", 0)}, pickDefault)
	require.NoError(t, err)
	_, err = s.Apply(ctx, []*handler.Event{ev("x ", "", 0)}, pickDefault)
	require.ErrorIs(t, err, store.ErrConflictRetries)
	require.Equal(t, store.Deterministic, store.Classify(err))
	require.True(t, store.IsPermanent(err))
}

// 00002 runs on a populated database: rows written under 00001 are intact
// after it, byte for byte, and the keys then behave as bytes.
func TestBinaryKeysMigrationKeepsRows(t *testing.T) {
	t.Parallel()
	dsn := testenv.MySQLDSN("", testenv.MySQL(t))
	ctx := context.Background()
	applied, err := store.MigrateTo(ctx, dsn, 1)
	require.NoError(t, err)
	require.Equal(t, []int64{1}, applied)
	s, err := store.Open(dsn, 2)
	require.NoError(t, err)
	defer s.Close()
	// Rows as the 00001 processor wrote them (this code needs the newer
	// schema, so they are inserted directly).
	keys := []string{"acme", "ünïcødé-ключ", "tab\tkey", "padded "}
	for i, k := range keys {
		id := fmt.Sprintf("ev-%d-é", i)
		at := t0.Add(time.Duration(i) * time.Second)
		_, err := s.DB.Exec("INSERT INTO webhook_events (source, event_id, event_type, entity_key, payload, received_at, processed_at) VALUES ('s', ?, 't', ?, ?, ?, ?)",
			id, k, []byte(`{"id":"`+id+`"}`), at, at)
		require.NoError(t, err)
		_, err = s.DB.Exec("INSERT INTO webhook_entities (source, entity_key, version, last_event_id, last_event_type, last_received_at, state, updated_at) VALUES ('s', ?, 1, ?, 't', ?, ?, ?)",
			k, id, at, []byte(`{"id":"`+id+`"}`), at)
		require.NoError(t, err)
	}
	before := dump(t, s)

	applied, err = store.Migrate(ctx, dsn)
	require.NoError(t, err)
	require.Contains(t, applied, int64(2))
	require.Equal(t, before, dump(t, s), "rows intact")
	var typ string
	require.NoError(t, s.DB.QueryRow("SELECT DATA_TYPE FROM information_schema.COLUMNS WHERE TABLE_SCHEMA = DATABASE() AND TABLE_NAME = 'webhook_entities' AND COLUMN_NAME = 'entity_key'").Scan(&typ))
	require.Equal(t, "varbinary", typ)

	// The old rows still deduplicate and fence; "acme " is new.
	res, err := s.Apply(ctx, []*handler.Event{ev("ev-1-é", "ünïcødé-ключ", time.Second), ev("new", "acme ", 0), ev("older", "acme", -time.Second)}, pickDefault)
	require.NoError(t, err)
	require.Equal(t, []store.Outcome{store.Duplicate, store.Stored, store.Stored}, res.Outcomes)
	require.Equal(t, 1, res.Stale)
	id, _ := state(t, s, "acme")
	require.Equal(t, "ev-0-é", id)
	id, _ = state(t, s, "acme ")
	require.Equal(t, "new", id)
}

func dump(t *testing.T, s *store.Store) []string {
	t.Helper()
	var out []string
	for _, q := range []string{
		"SELECT CONCAT_WS('|', HEX(source), HEX(event_id), HEX(entity_key), event_type, HEX(payload), received_at) FROM webhook_events ORDER BY id",
		"SELECT CONCAT_WS('|', HEX(source), HEX(entity_key), version, HEX(last_event_id), last_received_at, HEX(state)) FROM webhook_entities ORDER BY HEX(entity_key)",
	} {
		rows, err := s.DB.Query(q)
		require.NoError(t, err)
		for rows.Next() {
			var r string
			require.NoError(t, rows.Scan(&r))
			out = append(out, r)
		}
		require.NoError(t, rows.Err())
		rows.Close()
	}
	require.NotEmpty(t, out)
	return out
}

func TestClassify(t *testing.T) {
	my := func(n uint16) error { return fmt.Errorf("write events: %w", &mysql.MySQLError{Number: n}) }
	for _, tc := range []struct {
		name string
		err  error
		want store.Kind
	}{
		{"data too long", my(1406), store.Deterministic},
		{"bad string", my(1366), store.Deterministic},
		{"duplicate key after retries", my(1062), store.Deterministic},
		{"foreign key", my(1452), store.Deterministic},
		{"check constraint (MariaDB)", my(4025), store.Deterministic},
		{"conflict retries exhausted", fmt.Errorf("%w: x", store.ErrConflictRetries), store.Deterministic},
		{"deadlock", my(1213), store.Transient},
		{"lock wait timeout", my(1205), store.Transient},
		{"access denied (rotation)", my(1045), store.Transient},
		{"read-only (failover)", my(1290), store.Transient},
		{"table missing (migration pending)", my(1146), store.Transient},
		{"too many connections", my(1040), store.Transient},
		{"bad connection", fmt.Errorf("begin: %w", mysql.ErrInvalidConn), store.Transient},
		{"network", &net.OpError{Op: "dial", Err: errors.New("refused")}, store.Transient},
		{"deadline", context.DeadlineExceeded, store.Transient},
		{"unknown server error", my(1105), store.Transient},
	} {
		require.Equal(t, tc.want, store.Classify(tc.err), tc.name)
		require.Equal(t, tc.want == store.Deterministic, store.IsDeterministic(tc.err), tc.name)
		require.Equal(t, tc.want == store.Transient, store.IsTransient(tc.err), tc.name)
	}
	require.True(t, store.IsAuth(my(1045)))
	require.False(t, store.IsAuth(my(1044)))
	require.False(t, store.IsDeterministic(nil))
	require.False(t, store.IsTransient(nil))
}
