package publish_test

import (
	"context"
	"encoding/binary"
	"io"
	"net"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/hookline/hookline/internal/testenv"
	"github.com/hookline/hookline/lambda/publish"
)

// frameProxy forwards AMQP between a client and the real broker and can slip
// a connection-level frame into the broker→client stream between frames: the
// way to make the client see connection.blocked without raising a resource
// alarm on the shared broker.
type frameProxy struct {
	t        *testing.T
	l        net.Listener
	upstream string

	mu      sync.Mutex
	clients []*lockedConn
}

type lockedConn struct {
	mu sync.Mutex
	net.Conn
}

func newFrameProxy(t *testing.T, upstream string) *frameProxy {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	p := &frameProxy{t: t, l: l, upstream: upstream}
	var wg sync.WaitGroup
	t.Cleanup(func() {
		l.Close()
		p.mu.Lock()
		for _, c := range p.clients {
			c.Close()
		}
		p.mu.Unlock()
		wg.Wait()
	})
	wg.Add(1)
	go func() {
		defer wg.Done()
		for {
			c, err := l.Accept()
			if err != nil {
				return
			}
			b, err := net.Dial("tcp", upstream)
			if err != nil {
				c.Close()
				continue
			}
			lc := &lockedConn{Conn: c}
			p.mu.Lock()
			p.clients = append(p.clients, lc)
			p.mu.Unlock()
			wg.Add(2)
			go func() { defer wg.Done(); _, _ = io.Copy(b, c); b.Close() }()
			go func() { defer wg.Done(); copyFrames(lc, b); c.Close() }()
		}
	}()
	return p
}

// copyFrames copies whole frames (7-byte header, payload, end octet), each
// under the client's write lock, so injected frames land between them.
func copyFrames(dst *lockedConn, src net.Conn) {
	hdr := make([]byte, 7)
	for {
		if _, err := io.ReadFull(src, hdr); err != nil {
			return
		}
		rest := make([]byte, binary.BigEndian.Uint32(hdr[3:])+1)
		if _, err := io.ReadFull(src, rest); err != nil {
			return
		}
		dst.mu.Lock()
		_, err := dst.Write(append(append([]byte{}, hdr...), rest...))
		dst.mu.Unlock()
		if err != nil {
			return
		}
	}
}

// inject sends connection.blocked (reason != "") or connection.unblocked.
func (p *frameProxy) inject(blocked bool, reason string) {
	payload := []byte{0, 10, 0, 61} // connection.unblocked
	if blocked {
		payload = append([]byte{0, 10, 0, 60, byte(len(reason))}, reason...)
	}
	frame := []byte{1, 0, 0, 0, 0, 0, 0}
	binary.BigEndian.PutUint32(frame[3:], uint32(len(payload)))
	frame = append(append(frame, payload...), 0xCE)
	p.mu.Lock()
	defer p.mu.Unlock()
	for _, c := range p.clients {
		c.mu.Lock()
		_, _ = c.Write(frame)
		c.mu.Unlock()
	}
}

// TestBlockedConnectionFailsFast: while the broker says the connection is
// blocked (a memory or disk alarm), publishes fail at once with ErrBlocked
// instead of hanging; after connection.unblocked they succeed again.
func TestBlockedConnectionFailsFast(t *testing.T) {
	t.Parallel()
	vhost := testenv.RabbitMQ(t)
	fp := newFrameProxy(t, testenv.RabbitMQAddr())
	p := newPublisher(t, fp.l.Addr().String(), vhost, publish.Config{ConfirmTimeout: 5 * time.Second})
	require.NoError(t, p.Publish(context.Background(), msg(1)))

	fp.inject(true, "low on memory")
	require.Eventually(t, func() bool { return !p.Ready() }, 5*time.Second, 10*time.Millisecond)
	start := time.Now()
	err := p.Publish(context.Background(), msg(2))
	require.ErrorIs(t, err, publish.ErrBlocked)
	require.Less(t, time.Since(start), time.Second, "a blocked publish must fail fast, not wait for the deadline")

	fp.inject(false, "")
	require.Eventually(t, p.Ready, 5*time.Second, 10*time.Millisecond)
	require.NoError(t, p.Publish(context.Background(), msg(3)))
	got := queued(t, vhost)
	require.Equal(t, map[string]int{"id-000001": 1, "id-000003": 1}, got)
}
