package store_test

import (
	"context"
	"errors"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/hookline/hookline/processor/handler"
	"github.com/hookline/hookline/processor/store"
)

// TestOutboxWrittenWithTheEvent: the outbox row is part of the event's
// transaction: stored events get one, duplicates and failed events none,
// sources without callbacks none.
func TestOutboxWrittenWithTheEvent(t *testing.T) {
	t.Parallel()
	s := open(t)
	s.WantsCallback = func(src string) bool { return src == "s" }
	ctx := context.Background()
	fail := errors.New("bad event")
	pick := func(ev *handler.Event) handler.Handler {
		if ev.ID == "bad" {
			return handler.Func(func(context.Context, handler.Tx, *handler.Event) error { return fail })
		}
		return handler.Default
	}
	other := ev("o1", "X", time.Second)
	other.Source = "other"
	res, err := s.Apply(ctx, []*handler.Event{ev("a", "X", time.Second), ev("bad", "Y", time.Second), ev("a ", "X", 2*time.Second), other}, pick)
	require.NoError(t, err)
	require.Equal(t, []store.Outcome{store.Stored, store.Failed, store.Stored, store.Stored}, res.Outcomes)
	res, err = s.Apply(ctx, []*handler.Event{ev("a", "X", time.Second), ev("b", "X", 3*time.Second)}, pick)
	require.NoError(t, err)
	require.Equal(t, []store.Outcome{store.Duplicate, store.Stored}, res.Outcomes)

	rows, err := s.Callbacks(ctx, "s")
	require.NoError(t, err)
	var ids []string
	for _, r := range rows {
		require.Equal(t, store.CallbackPending, r.Status)
		ids = append(ids, r.EventID)
	}
	require.Equal(t, []string{"a", "a ", "b"}, ids, "one row per stored event, none for the failed one or the duplicate")
	rows, err = s.Callbacks(ctx, "other")
	require.NoError(t, err)
	require.Empty(t, rows, "a source without callbacks gets no rows")
}

// TestOutboxClaims: concurrent claimers never get the same row; a lease
// that ends makes a row due again, and the old holder's claim is void.
func TestOutboxClaims(t *testing.T) {
	t.Parallel()
	s := open(t)
	s.WantsCallback = func(string) bool { return true }
	ctx := context.Background()
	var evs []*handler.Event
	for i := range 60 {
		evs = append(evs, ev(string(rune('A'+i%26))+string(rune('a'+i/26)), "", time.Duration(i)*time.Millisecond))
	}
	_, err := s.Apply(ctx, evs, pickDefault)
	require.NoError(t, err)

	var mu sync.Mutex
	got := map[int64]int{}
	var wg sync.WaitGroup
	for w := range 6 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for {
				cs, err := s.ClaimCallbacks(ctx, []byte{byte(w)}, []string{"s"}, 4, time.Minute)
				if !assertNoError(t, err) || len(cs) == 0 {
					return
				}
				mu.Lock()
				for _, c := range cs {
					got[c.ID]++
				}
				mu.Unlock()
			}
		}()
	}
	wg.Wait()
	require.Len(t, got, len(evs), "every row claimed")
	for id, n := range got {
		require.Equal(t, 1, n, "row %d claimed once", id)
	}
	due, err := s.PendingCallbacks(ctx)
	require.NoError(t, err)
	require.Greater(t, due["s"].Due, 50*time.Second, "claimed rows are due only when their lease ends")
	require.Equal(t, len(evs), due["s"].Rows, "claimed rows are still pending")

	// A short lease that ends: the row is due again for someone else, and
	// the first holder can no longer push it back.
	_, err = s.Apply(ctx, []*handler.Event{ev("late", "", time.Hour)}, pickDefault)
	require.NoError(t, err)
	first, err := s.ClaimCallbacks(ctx, []byte("one"), []string{"s"}, 10, 50*time.Millisecond)
	require.NoError(t, err)
	require.Len(t, first, 1)
	require.Eventually(t, func() bool {
		again, err := s.ClaimCallbacks(ctx, []byte("two"), []string{"s"}, 10, time.Minute)
		require.NoError(t, err)
		return len(again) == 1 && again[0].ID == first[0].ID
	}, 10*time.Second, 20*time.Millisecond)
	ok, err := s.RetryCallback(ctx, first[0].ID, []byte("one"), 1, 0, "late")
	require.NoError(t, err)
	require.False(t, ok, "a claim whose lease ended is void")
	ok, err = s.RetryCallback(ctx, first[0].ID, []byte("two"), 1, 0, "503")
	require.NoError(t, err)
	require.True(t, ok)
	again, err := s.ClaimCallbacks(ctx, []byte("three"), []string{"s"}, 10, time.Minute)
	require.NoError(t, err)
	require.Len(t, again, 1)
	require.Equal(t, 1, again[0].Attempts)
	require.NoError(t, s.ReleaseCallbacks(ctx, []byte("three"), []int64{again[0].ID}))
	again, err = s.ClaimCallbacks(ctx, []byte("four"), []string{"s"}, 10, time.Minute)
	require.NoError(t, err)
	require.Len(t, again, 1, "a released row is due at once")
	require.NoError(t, s.FinishCallback(ctx, again[0].ID, store.CallbackSent, 2, ""))
	none, err := s.ClaimCallbacks(ctx, []byte("five"), []string{"s"}, 10, time.Minute)
	require.NoError(t, err)
	require.Empty(t, none, "a finished row is never claimed")

	n, err := s.PurgeCallbacks(ctx, 0, time.Hour, 1000)
	require.NoError(t, err)
	require.Equal(t, int64(1), n, "sent rows older than the retention are purged")
}

func assertNoError(t *testing.T, err error) bool {
	t.Helper()
	if err != nil {
		t.Error(err)
		return false
	}
	return true
}
