package store_test

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/hookline/hookline/internal/sources"
	"github.com/hookline/hookline/processor/handler"
	"github.com/hookline/hookline/processor/store"
)

func ord(t *testing.T, s string) *sources.Order {
	t.Helper()
	o, err := sources.ParseOrder(s)
	require.NoError(t, err)
	return &o
}

// withOrder is ev with the sender's order value ("" = none).
func withOrder(t *testing.T, id, entity string, at time.Duration, order string) *handler.Event {
	e := ev(id, entity, at)
	if order != "" {
		e.Order = ord(t, order)
	}
	return e
}

// The fence compares the sender's order first, then arrival, then event id
// (docs/ordering.md). Each step applies one batch to entity X and says which
// event the entity must hold after it.
func TestFenceSenderOrder(t *testing.T) {
	t.Parallel()
	s := open(t)
	ctx := context.Background()
	for _, tc := range []struct {
		name   string
		batch  []*handler.Event
		stale  int
		wantID string
	}{
		{"B stored", []*handler.Event{withOrder(t, "B", "X", 1*time.Second, "200")}, 0, "B"},
		{"older A arrives later: B stays", []*handler.Event{withOrder(t, "A", "X", 5*time.Second, "100")}, 1, "B"},
		{"newer C arrives before B's arrival time: C wins", []*handler.Event{withOrder(t, "C", "X", 0, "300")}, 0, "C"},
		{"tie on order, later arrival wins", []*handler.Event{withOrder(t, "D", "X", 6*time.Second, "300")}, 0, "D"},
		{"tie on order, earlier arrival loses", []*handler.Event{withOrder(t, "E", "X", 2*time.Second, "300")}, 1, "D"},
		{"tie on order and arrival: higher event id wins", []*handler.Event{withOrder(t, "Z", "X", 6*time.Second, "300")}, 0, "Z"},
		{"tie on order and arrival: lower event id loses", []*handler.Event{withOrder(t, "F", "X", 6*time.Second, "300")}, 1, "Z"},
		{"no order value (malformed or missing): arrival decides, later wins", []*handler.Event{withOrder(t, "G", "X", 7*time.Second, "")}, 0, "G"},
		{"stored has no order: arrival decides, earlier loses", []*handler.Event{withOrder(t, "H", "X", 3*time.Second, "999")}, 1, "G"},
		{"order again once both have one", []*handler.Event{withOrder(t, "I", "X", 8*time.Second, "400")}, 0, "I"},
		{"fractional order (RFC 3339 times, ns)", []*handler.Event{withOrder(t, "J", "X", 1*time.Second, "400.000000001")}, 0, "J"},
		{"same batch: highest order wins whatever the arrival", []*handler.Event{
			withOrder(t, "K", "X", 20*time.Second, "500"), withOrder(t, "L", "X", 9*time.Second, "600"), withOrder(t, "M", "X", 30*time.Second, "550"),
		}, 0, "L"},
	} {
		res, err := s.Apply(ctx, tc.batch, pickDefault)
		require.NoError(t, err, tc.name)
		for i, o := range res.Outcomes {
			require.Equal(t, store.Stored, o, "%s: event %d is recorded", tc.name, i)
		}
		require.Equal(t, tc.stale, res.Stale, tc.name)
		id, _ := state(t, s, "X")
		require.Equal(t, tc.wantID, id, tc.name)
	}
	var order string
	require.NoError(t, s.DB.QueryRow("SELECT last_order FROM webhook_entities WHERE source='s' AND entity_key='X'").Scan(&order))
	require.Equal(t, "600.000000000", order)
}

// An event without order value fenced against one with it, and back, keeps
// the state consistent with what the database holds (the stored row's order
// is NULL after an arrival-ordered write).
func TestFenceOrderNullStored(t *testing.T) {
	t.Parallel()
	s := open(t)
	ctx := context.Background()
	_, err := s.Apply(ctx, []*handler.Event{withOrder(t, "a", "Y", time.Second, "")}, pickDefault)
	require.NoError(t, err)
	var order *string
	require.NoError(t, s.DB.QueryRow("SELECT last_order FROM webhook_entities WHERE entity_key='Y'").Scan(&order))
	require.Nil(t, order)
	res, err := s.Apply(ctx, []*handler.Event{withOrder(t, "b", "Y", 2*time.Second, "-5.5")}, pickDefault)
	require.NoError(t, err)
	require.Zero(t, res.Stale)
	require.NoError(t, s.DB.QueryRow("SELECT last_order FROM webhook_entities WHERE entity_key='Y'").Scan(&order))
	require.Equal(t, "-5.500000000", *order)
	id, ver := state(t, s, "Y")
	require.Equal(t, "b", id)
	require.Equal(t, 2, ver)
}

// Writers racing on the same entities without the Redis lock (a lock that
// expired): the fence, decided on locked rows and checked by version, keeps
// for every entity the event with the highest order, whatever the
// interleaving.
func TestFenceConcurrentWriters(t *testing.T) {
	t.Parallel()
	s := open(t)
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	const writers, batches, entities = 4, 25, 3
	errs := make(chan error, writers)
	for w := range writers {
		go func() {
			for b := range batches {
				var batch []*handler.Event
				for e := range entities {
					n := (b*writers+w)*entities + e // distinct, rising with b
					id := fmt.Sprintf("w%d-b%d-e%d", w, b, e)
					// Arrival runs against the order: only the order can pick the winner.
					batch = append(batch, withOrder(t, id, fmt.Sprint("E", e), -time.Duration(n)*time.Millisecond, fmt.Sprint(n)))
				}
				for {
					_, err := s.Apply(ctx, batch, pickDefault)
					if err == nil {
						break
					}
					if !store.IsTransient(err) || ctx.Err() != nil { // deadlocks past the retries: try again
						errs <- err
						return
					}
				}
			}
			errs <- nil
		}()
	}
	for range writers {
		require.NoError(t, <-errs)
	}
	for e := range entities {
		n := ((batches-1)*writers+(writers-1))*entities + e
		var order string
		require.NoError(t, s.DB.QueryRow("SELECT last_order FROM webhook_entities WHERE entity_key = ?", fmt.Sprint("E", e)).Scan(&order))
		require.Equal(t, fmt.Sprintf("%d.000000000", n), order, "entity E%d", e)
		id, _ := state(t, s, fmt.Sprint("E", e))
		require.Equal(t, fmt.Sprintf("w%d-b%d-e%d", writers-1, batches-1, e), id)
	}
}
