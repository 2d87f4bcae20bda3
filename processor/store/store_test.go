package store_test

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/hookline/hookline/internal/testenv"
	"github.com/hookline/hookline/processor/handler"
	"github.com/hookline/hookline/processor/store"
)

func open(t *testing.T) *store.Store {
	t.Helper()
	dsn := testenv.MySQLDSN("", testenv.MySQL(t))
	applied, err := store.Migrate(context.Background(), dsn)
	require.NoError(t, err)
	require.NotEmpty(t, applied)
	again, err := store.Migrate(context.Background(), dsn)
	require.NoError(t, err)
	require.Empty(t, again, "migrations are versioned: a second run applies nothing")
	s, err := store.Open(dsn, 4)
	require.NoError(t, err)
	t.Cleanup(func() { s.Close() })
	return s
}

var t0 = time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)

func ev(id, entity string, at time.Duration) *handler.Event {
	return &handler.Event{ID: id, Source: "s", EventType: "t", EntityKey: entity, ReceivedAt: t0.Add(at), Body: []byte(`{"id":"` + id + `"}`)}
}

func pickDefault(*handler.Event) handler.Handler { return handler.Default }

func state(t *testing.T, s *store.Store, entity string) (id string, version int) {
	t.Helper()
	require.NoError(t, s.DB.QueryRow("SELECT last_event_id, version FROM webhook_entities WHERE source='s' AND entity_key=?", entity).Scan(&id, &version))
	return id, version
}

func TestApplyDedupeAndFence(t *testing.T) {
	t.Parallel()
	s := open(t)
	ctx := context.Background()
	for _, tc := range []struct {
		name     string
		batch    []*handler.Event
		outcomes []store.Outcome
		stale    int
		wantID   string
		wantVer  int
		wantRows int
	}{
		{"first event", []*handler.Event{ev("a", "X", 2*time.Second)}, []store.Outcome{store.Stored}, 0, "a", 1, 1},
		{"redelivery is a duplicate", []*handler.Event{ev("a", "X", 2*time.Second)}, []store.Outcome{store.Duplicate}, 0, "a", 1, 1},
		{"older event is stored but fenced out", []*handler.Event{ev("b", "X", time.Second)}, []store.Outcome{store.Stored}, 1, "a", 1, 2},
		{"newer event applies", []*handler.Event{ev("c", "X", 3*time.Second)}, []store.Outcome{store.Stored}, 0, "c", 2, 3},
		{"same batch: newest wins, repeat is a duplicate", []*handler.Event{ev("e", "X", 5*time.Second), ev("d", "X", 4*time.Second), ev("e", "X", 5*time.Second)},
			[]store.Outcome{store.Stored, store.Stored, store.Duplicate}, 0, "e", 3, 5},
		{"equal times: event id breaks the tie", []*handler.Event{ev("f", "X", 5*time.Second)}, []store.Outcome{store.Stored}, 0, "f", 4, 6},
	} {
		res, err := s.Apply(ctx, tc.batch, pickDefault)
		require.NoError(t, err, tc.name)
		require.Equal(t, tc.outcomes, res.Outcomes, tc.name)
		require.Equal(t, tc.stale, res.Stale, tc.name)
		id, ver := state(t, s, "X")
		require.Equal(t, tc.wantID, id, tc.name)
		require.Equal(t, tc.wantVer, ver, tc.name)
		var n int
		require.NoError(t, s.DB.QueryRow("SELECT COUNT(*) FROM webhook_events").Scan(&n))
		require.Equal(t, tc.wantRows, n, tc.name)
	}
}

func TestHandlerErrorFailsOnlyItsEvent(t *testing.T) {
	t.Parallel()
	s := open(t)
	boom := errors.New("boom")
	pick := func(e *handler.Event) handler.Handler {
		return handler.Func(func(ctx context.Context, tx handler.Tx, e *handler.Event) error {
			if _, err := tx.ExecContext(ctx, "SELECT 1"); err != nil {
				return err
			}
			if e.ID == "bad" {
				return boom
			}
			return handler.Default.Handle(ctx, tx, e)
		})
	}
	res, err := s.Apply(context.Background(), []*handler.Event{ev("ok1", "A", 0), ev("bad", "B", 0), ev("ok2", "C", 0)}, pick)
	require.NoError(t, err)
	require.Equal(t, []store.Outcome{store.Stored, store.Failed, store.Stored}, res.Outcomes)
	require.ErrorIs(t, res.Errs[1], boom)
	var n int
	require.NoError(t, s.DB.QueryRow("SELECT COUNT(*) FROM webhook_events WHERE event_id = 'bad'").Scan(&n))
	require.Zero(t, n, "the failed event's row was rolled back")
	require.NoError(t, s.DB.QueryRow("SELECT COUNT(*) FROM webhook_entities").Scan(&n))
	require.Equal(t, 2, n)
}

func TestEntityKeyColumn(t *testing.T) {
	long := string(make([]byte, 300))
	require.Equal(t, "k", store.EntityKeyColumn("k"))
	require.LessOrEqual(t, len(store.EntityKeyColumn(long)), store.MaxEntityKeyLen)
	require.Equal(t, store.EntityKeyColumn(long), store.EntityKeyColumn(long))
}

func TestCheckSchema(t *testing.T) {
	t.Parallel()
	dsn := testenv.MySQLDSN("", testenv.MySQL(t))
	s, err := store.Open(dsn, 2)
	require.NoError(t, err)
	defer s.Close()
	require.ErrorIs(t, s.CheckSchema(context.Background()), store.ErrNoSchema)
	_, err = store.Migrate(context.Background(), dsn)
	require.NoError(t, err)
	require.NoError(t, s.CheckSchema(context.Background()))
}

func TestHandlerWritesAnotherEntity(t *testing.T) {
	t.Parallel()
	s := open(t)
	// A handler that also keeps a per-source summary entity: its row is
	// locked and fenced like the event's own.
	pick := func(*handler.Event) handler.Handler {
		return handler.Func(func(ctx context.Context, tx handler.Tx, e *handler.Event) error {
			if err := handler.Default.Handle(ctx, tx, e); err != nil {
				return err
			}
			summary := *e
			summary.EntityKey = "summary"
			tx.SetEntityState(&summary, []byte(`{"last":"`+e.ID+`"}`))
			return nil
		})
	}
	res, err := s.Apply(context.Background(), []*handler.Event{ev("a", "A", time.Second), ev("b", "B", 2*time.Second)}, pick)
	require.NoError(t, err)
	require.Equal(t, []store.Outcome{store.Stored, store.Stored}, res.Outcomes)
	id, ver := state(t, s, "summary")
	require.Equal(t, "b", id)
	require.Equal(t, 1, ver)
	res, err = s.Apply(context.Background(), []*handler.Event{ev("c", "C", 0)}, pick)
	require.NoError(t, err)
	require.Equal(t, 1, res.Stale, "an older event does not move the summary back")
	id, _ = state(t, s, "summary")
	require.Equal(t, "b", id)
}
