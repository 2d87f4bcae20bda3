package consume

import (
	"testing"

	"github.com/stretchr/testify/require"
)

// TestFlowTarget: the prefetch is the budget over the largest recent body
// (at first the largest a source accepts), at most PREFETCH; a larger body
// counts at once, smaller ones after a full window.
func TestFlowTarget(t *testing.T) {
	t.Parallel()
	var held int64
	f := newFlow(16<<20, 400, 4<<20, func(n int64) { held = n })
	require.Equal(t, 4, f.target(), "cautious before any body: budget / the largest accepted body")
	for range 127 {
		f.take(1 << 10)
	}
	require.Equal(t, 4, f.target(), "an incomplete window keeps the estimate")
	f.take(1 << 10)
	require.Equal(t, 400, f.target(), "a window of 1 KiB bodies: the full PREFETCH")
	f.take(2 << 20)
	require.Equal(t, 8, f.target(), "a larger body lowers it at once")
	require.Equal(t, int64(128<<10+2<<20), held)
	require.Equal(t, int64(129), f.count.Load())

	unlimited := newFlow(0, 400, 4<<20, func(int64) {})
	require.Equal(t, 400, unlimited.target(), "no budget: PREFETCH alone")
	unlimited.take(100 << 20)
	require.False(t, unlimited.over())
}

// TestFlowWake: while paused, a settle that brings the bytes under half the
// budget wakes the dispatcher; above it, or unpaused, nothing is sent.
func TestFlowWake(t *testing.T) {
	t.Parallel()
	f := newFlow(10<<20, 400, 1<<20, func(int64) {})
	for range 10 {
		f.take(1 << 20)
	}
	require.True(t, f.over())
	f.paused.Store(true)
	f.give(1 << 20)
	require.Empty(t, f.wake, "9 MiB of 10: still above half")
	for range 4 {
		f.give(1 << 20)
	}
	require.Len(t, f.wake, 1, "5 MiB: half the budget, wake")
	f.give(1 << 20)
	require.Len(t, f.wake, 1, "one pending wake is enough")
	<-f.wake
	f.paused.Store(false)
	f.give(1 << 20)
	require.Empty(t, f.wake, "not paused: no wake")
	require.Equal(t, int64(3), f.count.Load())
}
