package sources_test

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/hookline/hookline/internal/sources"
)

const liveA = "sources:\n  - {name: a, hosts: [h.example], scheme: github, secrets: [s]}\n"
const liveAB = liveA + "  - {name: b, hosts: [h.example], scheme: github, secrets: [s]}\n"

// TestLiveReadsAgainForUnknownNames: an unknown name re-reads the document,
// at most once per interval however many ask, and a broken document keeps
// the current set.
func TestLiveReadsAgainForUnknownNames(t *testing.T) {
	t.Parallel()
	path := filepath.Join(t.TempDir(), "sources.yaml")
	require.NoError(t, os.WriteFile(path, []byte(liveA), 0o600))
	var loads atomic.Int64
	file := sources.FileLoader(path)
	load := func(ctx context.Context) (*sources.Set, error) { loads.Add(1); return file(ctx) }
	const every = 300 * time.Millisecond
	l, err := sources.NewLive(context.Background(), load, every)
	require.NoError(t, err)
	require.Equal(t, int64(1), loads.Load())

	_, ok, err := l.Find(context.Background(), "b")
	require.False(t, ok)
	require.ErrorIs(t, err, sources.ErrNotYet, "read at start: not again within the interval")

	require.NoError(t, os.WriteFile(path, []byte(liveAB), 0o600))
	time.Sleep(every)
	var wg sync.WaitGroup
	var found atomic.Int64
	for range 20 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			if _, ok, _ := l.Find(context.Background(), "b"); ok {
				found.Add(1)
			}
		}()
	}
	wg.Wait()
	require.Equal(t, int64(20), found.Load(), "every caller sees the new source")
	require.Equal(t, int64(2), loads.Load(), "one read for twenty concurrent lookups")

	_, ok, err = l.Find(context.Background(), "a")
	require.True(t, ok)
	require.NoError(t, err)
	require.Equal(t, int64(2), loads.Load(), "known names never read")

	require.NoError(t, os.WriteFile(path, []byte("sources: [{name: BAD}]\n"), 0o600))
	time.Sleep(every)
	var reloadErr error
	l.OnReload = func(_ *sources.Set, err error) { reloadErr = err }
	_, ok, err = l.Find(context.Background(), "c")
	require.False(t, ok)
	require.Error(t, err)
	require.Equal(t, err, reloadErr)
	_, ok = l.Lookup("b")
	require.True(t, ok, "a broken document leaves the current set in place")
}

func TestSecretLoader(t *testing.T) {
	t.Parallel()
	read := func(_ context.Context, arn string) (string, error) {
		if arn != "arn:sources" {
			return "", errors.New("no such secret")
		}
		return liveAB, nil
	}
	set, err := sources.SecretLoader("arn:sources", read)(context.Background())
	require.NoError(t, err)
	_, ok := set.Lookup("b")
	require.True(t, ok)
	_, err = sources.SecretLoader("arn:other", read)(context.Background())
	require.ErrorContains(t, err, "arn:other")
}
