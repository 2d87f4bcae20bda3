package lock_test

import (
	"context"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"
	"github.com/stretchr/testify/require"

	"github.com/hookline/hookline/internal/testenv"
	"github.com/hookline/hookline/processor/lock"
)

func TestSetTryRefreshRelease(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	rdb := redis.NewClient(&redis.Options{Addr: testenv.RedisAddr()})
	defer rdb.Close()
	l := lock.New(rdb, testenv.Redis(t), 2*time.Second)

	a, err := l.NewSet()
	require.NoError(t, err)
	busy, err := a.Try(ctx, []string{"x", "y"})
	require.NoError(t, err)
	require.Empty(t, busy)

	b, err := l.NewSet()
	require.NoError(t, err)
	busy, err = b.Try(ctx, []string{"y", "z"})
	require.NoError(t, err)
	require.Equal(t, []string{"y"}, busy, "y is held by a")
	require.Equal(t, 1, b.Len())

	lost, err := a.Refresh(ctx)
	require.NoError(t, err)
	require.Zero(t, lost)

	require.NoError(t, b.Release(ctx))
	require.NoError(t, a.Release(ctx))
	c, err := l.NewSet()
	require.NoError(t, err)
	busy, err = c.Try(ctx, []string{"x", "y", "z"})
	require.NoError(t, err)
	require.Empty(t, busy, "released")

	// A set never releases what it does not hold: a's token is stale now.
	require.NoError(t, a.Release(ctx))
	lost, err = c.Refresh(ctx)
	require.NoError(t, err)
	require.Zero(t, lost)
	require.NoError(t, c.Release(ctx))
}

func TestRedisDownIsAnError(t *testing.T) {
	t.Parallel()
	p := testenv.NewProxy(t, testenv.RedisAddr())
	rdb := redis.NewClient(&redis.Options{Addr: p.Addr(), MaxRetries: -1, DialTimeout: time.Second})
	defer rdb.Close()
	l := lock.New(rdb, testenv.Redis(t), time.Second)
	p.Cut()
	s, err := l.NewSet()
	require.NoError(t, err)
	_, err = s.Try(context.Background(), []string{"x"})
	require.Error(t, err)
	require.Zero(t, s.Len())
}

func TestTryAfterHandsBackThePreviousLocks(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	rdb := redis.NewClient(&redis.Options{Addr: testenv.RedisAddr()})
	defer rdb.Close()
	l := lock.New(rdb, testenv.Redis(t), 5*time.Second)
	first, err := l.NewSet()
	require.NoError(t, err)
	busy, err := first.Try(ctx, []string{"a", "b"})
	require.NoError(t, err)
	require.Empty(t, busy)

	next, err := l.NewSet()
	require.NoError(t, err)
	busy, err = next.TryAfter(ctx, first, []string{"b", "c"})
	require.NoError(t, err)
	require.Empty(t, busy, "b was released first in the same round trip")
	require.Zero(t, first.Len())

	other, err := l.NewSet()
	require.NoError(t, err)
	busy, err = other.Try(ctx, []string{"a", "b", "c"})
	require.NoError(t, err)
	require.Equal(t, []string{"b", "c"}, busy, "a is free again, b and c belong to next")
	require.NoError(t, next.Release(ctx))
	require.NoError(t, other.Release(ctx))
}
