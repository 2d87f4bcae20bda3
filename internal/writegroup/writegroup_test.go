package writegroup

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
)

// gatedConn counts the socket writes under a Conn and holds each one
// until the test lets it through.
type gatedConn struct {
	net.Conn
	gate   chan struct{}
	mu     sync.Mutex
	writes int
}

func (g *gatedConn) Write(b []byte) (int, error) {
	<-g.gate
	g.mu.Lock()
	g.writes++
	g.mu.Unlock()
	return g.Conn.Write(b)
}

// TestGroupsWrites: writes made while a socket write is in progress
// leave in one socket write, complete and in order.
func TestGroupsWrites(t *testing.T) {
	t.Parallel()
	a, b := net.Pipe()
	g := &gatedConn{Conn: a, gate: make(chan struct{})}
	bc := New(g, 5*time.Second)
	t.Cleanup(func() { bc.Close(); b.Close() })

	got := make(chan []byte, 1)
	go func() { all, _ := io.ReadAll(b); got <- all }()

	var want bytes.Buffer
	for i := range 100 {
		frame := fmt.Appendf(nil, "frame-%03d;", i)
		want.Write(frame)
		n, err := bc.Write(frame)
		require.NoError(t, err)
		require.Equal(t, len(frame), n)
		frame[0] = 'X' // the caller reuses its buffer (amqp091's bufio does)
	}
	close(g.gate) // the first socket write may hold one frame, the next the rest
	require.NoError(t, bc.Close())
	require.NoError(t, b.Close())
	require.Equal(t, want.String(), string(<-got))
	g.mu.Lock()
	defer g.mu.Unlock()
	require.LessOrEqual(t, g.writes, 2, "100 writes queued behind one socket write")
}

// TestStalledPeer: a peer that stops reading fails the socket write
// at the deadline; the socket is closed (amqp091's reader sees it), and every
// Write, also one waiting for room, returns the error.
func TestStalledPeer(t *testing.T) {
	t.Parallel()
	a, b := net.Pipe() // unbuffered: a peer that never reads stalls the first write
	t.Cleanup(func() { b.Close() })
	bc := New(a, 100*time.Millisecond)
	t.Cleanup(func() { bc.Close() })

	start := time.Now()
	_, err := bc.Write(make([]byte, maxPending)) // queued: Write does not wait for the socket
	require.NoError(t, err)
	waiting := make(chan error, 1)
	go func() {
		// Fills pending past maxPending: waits for room until the failure.
		_, err := bc.Write(make([]byte, maxPending))
		if err == nil {
			_, err = bc.Write(make([]byte, maxPending))
		}
		waiting <- err
	}()
	select {
	case err := <-waiting:
		require.ErrorIs(t, err, os.ErrDeadlineExceeded)
	case <-time.After(5 * time.Second):
		t.Fatal("a Write waiting for room outlived the failed socket write")
	}
	require.Less(t, time.Since(start), 3*time.Second)
	_, err = bc.Write([]byte("x"))
	require.ErrorIs(t, err, os.ErrDeadlineExceeded, "the failure sticks")

	// The socket itself is closed: the reader side ends.
	_, err = b.Read(make([]byte, 1))
	require.ErrorIs(t, err, io.EOF)
	_, err = a.Read(make([]byte, 1))
	require.ErrorIs(t, err, io.ErrClosedPipe)
}

// TestClose: Close hands what is pending to the socket, stops the
// writer goroutine, and later Writes fail; a Close with a stalled peer ends
// within closeFlush.
func TestClose(t *testing.T) {
	t.Parallel()
	t.Run("flushes", func(t *testing.T) {
		t.Parallel()
		a, b := net.Pipe()
		t.Cleanup(func() { b.Close() })
		got := make(chan []byte, 1)
		go func() { all, _ := io.ReadAll(b); got <- all }()
		bc := New(a, 5*time.Second)
		_, err := bc.Write([]byte("connection.close-ok"))
		require.NoError(t, err)
		require.NoError(t, bc.Close())
		require.Equal(t, "connection.close-ok", string(<-got))
		<-bc.done // the writer goroutine has returned
		_, err = bc.Write([]byte("late"))
		require.True(t, errors.Is(err, ErrClosed), "%v", err)
		require.NoError(t, bc.Close(), "a second Close is harmless")
	})
	t.Run("stalled peer", func(t *testing.T) {
		t.Parallel()
		a, b := net.Pipe()
		t.Cleanup(func() { b.Close() })
		bc := New(a, time.Minute)
		_, err := bc.Write([]byte("never read"))
		require.NoError(t, err)
		start := time.Now()
		require.NoError(t, bc.Close())
		require.Less(t, time.Since(start), 2*time.Second, "Close is bounded by closeFlush, not the write timeout")
	})
	t.Run("no timeout, stalled peer", func(t *testing.T) {
		t.Parallel()
		a, b := net.Pipe()
		t.Cleanup(func() { b.Close() })
		bc := New(a, 0)
		_, err := bc.Write([]byte("never read"))
		require.NoError(t, err)
		start := time.Now()
		require.NoError(t, bc.Close())
		require.Less(t, time.Since(start), 2*time.Second, "Close is bounded by closeFlush without a write timeout too")
	})
}

// TestNoTimeout: with timeout 0 a slow reader is waited for, as a plain
// socket would be: no deadline is set.
func TestNoTimeout(t *testing.T) {
	t.Parallel()
	a, b := net.Pipe()
	bc := New(a, 0)
	t.Cleanup(func() { bc.Close(); b.Close() })
	_, err := bc.Write([]byte("slow"))
	require.NoError(t, err)
	time.Sleep(200 * time.Millisecond) // the peer reads late (pacing, not an assertion)
	got := make([]byte, 4)
	_, err = io.ReadFull(b, got)
	require.NoError(t, err)
	require.Equal(t, "slow", string(got))
	_, err = bc.Write([]byte("more"))
	require.NoError(t, err, "no deadline failed the socket")
}
