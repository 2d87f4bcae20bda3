// Package writegroup groups a connection's writes into fewer socket writes,
// for AMQP clients that flush after every frame group (amqp091-go does).
package writegroup

import (
	"errors"
	"net"
	"sync"
	"time"
)

// maxPending bounds the bytes a Conn holds for the socket; a Write that
// would go past it waits (the broker is not keeping up, or not reading).
const maxPending = 256 << 10

// closeFlush bounds how long Close spends handing the last frames (a
// connection.close-ok) to the socket.
const closeFlush = 100 * time.Millisecond

// ErrClosed is what a Write after Close returns.
var ErrClosed = errors.New("connection closed")

// Conn groups writes into fewer socket writes. amqp091 flushes its buffer
// (one write syscall) at the end of every publish, ack or other method,
// while holding the connection's send lock, so concurrent callers queue for
// one syscall each. Here Write only copies the bytes; one goroutine writes
// everything that piled up meanwhile in one call, with one write deadline
// for the lot. A confirm or any other answer cannot come before the broker
// has read the bytes, so grouping changes when bytes leave, never what a
// caller is told.
//
// A failed socket write (the deadline passed: a broker that stopped reading,
// a half-dead peer) closes the socket, so amqp091's reader fails and the
// connection shuts down; every later Write returns the error.
type Conn struct {
	net.Conn
	timeout time.Duration

	mu      sync.Mutex
	room    sync.Cond // broadcast when pending is taken, on failure and on Close
	pending []byte
	spare   []byte // the buffer the last socket write used, for reuse
	err     error
	closing bool
	closeBy time.Time

	kick chan struct{} // there is something pending (or closing); buffered 1
	done chan struct{} // closed when the writer goroutine has returned
	once sync.Once
}

// New wraps c. Each socket write gets a deadline of timeout from its
// start; 0 sets none. The writer goroutine runs until Close or a failed
// write, and Close waits for it.
func New(c net.Conn, timeout time.Duration) *Conn {
	bc := &Conn{Conn: c, timeout: timeout, kick: make(chan struct{}, 1), done: make(chan struct{})}
	bc.room.L = &bc.mu
	go bc.writeLoop()
	return bc
}

// Write queues b (copied: the caller reuses it) for the writer goroutine.
func (c *Conn) Write(b []byte) (int, error) {
	c.mu.Lock()
	for c.err == nil && !c.closing && len(c.pending) > 0 && len(c.pending)+len(b) > maxPending {
		c.room.Wait()
	}
	switch {
	case c.err != nil:
		err := c.err
		c.mu.Unlock()
		return 0, err
	case c.closing:
		c.mu.Unlock()
		return 0, ErrClosed
	}
	c.pending = append(c.pending, b...)
	c.wake()
	c.mu.Unlock()
	return len(b), nil
}

// wake tells the writer goroutine there is work; c.mu is held.
func (c *Conn) wake() {
	select {
	case c.kick <- struct{}{}:
	default: // already told: it will find these bytes too
	}
}

func (c *Conn) writeLoop() {
	defer close(c.done)
	defer c.Conn.Close()
	for range c.kick {
		for {
			c.mu.Lock()
			buf := c.pending
			if len(buf) == 0 {
				closing := c.closing
				c.mu.Unlock()
				if closing {
					return
				}
				break
			}
			c.pending = c.spare[:0]
			c.room.Broadcast()
			// The deadline is set under mu, so Close's shorter one is
			// never overwritten by a longer one.
			var deadline time.Time // none
			if c.timeout > 0 {
				deadline = time.Now().Add(c.timeout)
			}
			if c.closing && (deadline.IsZero() || c.closeBy.Before(deadline)) {
				deadline = c.closeBy
			}
			var err error
			if c.timeout > 0 || c.closing {
				err = c.Conn.SetWriteDeadline(deadline)
			}
			c.mu.Unlock()
			if err == nil {
				_, err = c.Conn.Write(buf)
			}

			c.mu.Lock()
			if cap(buf) <= 4*maxPending { // keep a normal buffer, not a huge body's
				c.spare = buf[:0]
			}
			if err != nil && c.err == nil {
				c.err = err
			}
			c.room.Broadcast()
			c.mu.Unlock()
			if err != nil {
				return // the deferred Close makes amqp091's reader fail
			}
		}
	}
}

// Close hands what is pending to the socket within closeFlush (a peer that
// stopped reading gets nothing more), then closes it and waits for the
// writer goroutine.
func (c *Conn) Close() error {
	c.once.Do(func() {
		c.mu.Lock()
		c.closing = true
		c.closeBy = time.Now().Add(closeFlush)
		if c.timeout > 0 && c.timeout < closeFlush {
			c.closeBy = time.Now().Add(c.timeout)
		}
		// Cut a write in progress short; the loop uses closeBy for the rest.
		_ = c.Conn.SetWriteDeadline(c.closeBy)
		c.room.Broadcast()
		c.wake()
		close(c.kick) // under mu: no Write sends on it after this
		c.mu.Unlock()
	})
	<-c.done
	return nil
}
