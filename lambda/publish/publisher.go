// Package publish is the receiver's side of the broker: one long-lived
// connection per process, a small pool of confirm-mode channels, and a Publish
// that returns only once the broker has confirmed the message, or fails fast.
package publish

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"sync"
	"sync/atomic"
	"time"

	amqp "github.com/rabbitmq/amqp091-go"

	"github.com/hookline/hookline/internal/brokertls"
	"github.com/hookline/hookline/internal/envelope"
	"github.com/hookline/hookline/internal/topology"
	"github.com/hookline/hookline/internal/writegroup"
)

// Errors a caller turns into 503 + Retry-After. Each wraps ErrUnavailable.
// (A message AMQP cannot encode fails with envelope.ErrUnencodable instead:
// not the broker's fault, and retrying cannot help.)
var (
	ErrUnavailable = errors.New("broker unavailable")
	ErrBlocked     = fmt.Errorf("%w: connection blocked by a broker resource alarm", ErrUnavailable)
	ErrNacked      = fmt.Errorf("%w: broker refused the message (nack)", ErrUnavailable)
	ErrReturned    = fmt.Errorf("%w: message was unroutable (returned)", ErrUnavailable)
	ErrTimeout     = fmt.Errorf("%w: no confirm before the deadline", ErrUnavailable)
)

// Config tunes a Publisher; zero values take the defaults.
type Config struct {
	URL string
	// Channels is the number of confirm-mode channels requests are spread
	// over (default 1). One channel serialises its publishes, but they are
	// only copies into the connection's write buffer (internal/writegroup),
	// and the broker confirms many of them with one ack; every channel is
	// also a round trip at connect time.
	Channels int
	// ConfirmTimeout bounds a publish from start to confirm.
	ConfirmTimeout time.Duration
	// WriteTimeout bounds one socket write (a group of frames: see
	// internal/writegroup), so a broker that stopped reading (flow control, a dead
	// peer) fails the connection instead of hanging it.
	WriteTimeout time.Duration
	// DialTimeout bounds connecting and the AMQP handshake.
	DialTimeout time.Duration
	// IdleCheck: a connection unused for longer than this is checked before
	// use (Lambda freezes the process between invocations).
	IdleCheck time.Duration
	Logger    *slog.Logger
}

func (c *Config) defaults() {
	if c.Channels <= 0 {
		c.Channels = 1
	}
	if c.ConfirmTimeout <= 0 {
		c.ConfirmTimeout = 5 * time.Second
	}
	if c.WriteTimeout <= 0 {
		c.WriteTimeout = 5 * time.Second
	}
	if c.DialTimeout <= 0 {
		c.DialTimeout = 5 * time.Second
	}
	if c.IdleCheck <= 0 {
		c.IdleCheck = 10 * time.Second
	}
	if c.Logger == nil {
		c.Logger = slog.Default()
	}
}

// Publisher publishes envelopes with confirms. Safe for concurrent use.
type Publisher struct {
	cfg Config

	mu      sync.Mutex // guards session and dialing
	session *session
	dialing chan struct{} // closed when the dial in progress ends

	next     atomic.Uint64
	lastUsed atomic.Int64 // unix nanos
	closed   atomic.Bool
}

// session is one connection and its channels; replaced whole on failure.
type session struct {
	conn    *amqp.Connection
	chans   []*pubChannel
	blocked atomic.Bool
	dead    chan struct{} // closed when the connection is gone
	probing *probe        // the idle check in progress (guarded by Publisher.mu)
	once    sync.Once
	done    sync.WaitGroup
}

type pubChannel struct {
	ch      *amqp.Channel
	returns chan amqp.Return

	mu       sync.Mutex
	returned map[string]time.Time // x-request-id of returned messages
}

// New returns a Publisher and tries to connect; a broker that is down at
// start is not an error: requests get ErrUnavailable and the Publisher keeps
// trying on later calls.
func New(ctx context.Context, cfg Config) *Publisher {
	cfg.defaults()
	p := &Publisher{cfg: cfg}
	if _, err := p.current(ctx); err != nil {
		cfg.Logger.Warn("broker not reachable at start; will retry on demand", "err", err)
	}
	return p
}

// Publish sends e and waits for the broker's confirm. A nil error means the
// broker has taken responsibility for the message.
func (p *Publisher) Publish(ctx context.Context, e envelope.Envelope) error {
	ctx, cancel := context.WithTimeout(ctx, p.cfg.ConfirmTimeout)
	defer cancel()
	msg := e.Publishing()
	var err error
	// One retry on a connection that turned out to be dead (a broker restart,
	// a Lambda thawed after the broker dropped it). A retry may duplicate a
	// message whose confirm was lost; the id is the same, and the processor
	// dedupes on it.
	for attempt := 0; attempt < 2; attempt++ {
		var s *session
		if s, err = p.current(ctx); err != nil {
			return err
		}
		if err = p.publishOn(ctx, s, e.RoutingKey(), e.RequestID, msg); err == nil {
			p.lastUsed.Store(time.Now().UnixNano())
			return nil
		}
		if !s.isDead() || ctx.Err() != nil {
			return err
		}
		p.cfg.Logger.Warn("broker connection lost during publish; redialling", "err", err, "request_id", e.RequestID)
	}
	return err
}

func (p *Publisher) publishOn(ctx context.Context, s *session, key, requestID string, msg amqp.Publishing) error {
	if s.blocked.Load() {
		return ErrBlocked
	}
	// A short string over 255 bytes would make amqp091 shut the whole
	// connection down while encoding, failing every publish on it: refuse
	// this one message instead.
	if err := envelope.CheckPublishing(topology.Exchange, key, msg); err != nil {
		return fmt.Errorf("publish: %w", err)
	}
	pc := s.chans[p.next.Add(1)%uint64(len(s.chans))]
	dc, err := pc.ch.PublishWithDeferredConfirmWithContext(ctx,
		topology.Exchange,
		key,
		true,  // mandatory: an unroutable message comes back and is not accepted
		false, // immediate
		msg,
	)
	if err != nil {
		return fmt.Errorf("%w: publish: %w", ErrUnavailable, err)
	}
	select {
	case <-dc.Done():
	case <-s.dead:
		// The confirm may never come; the broker may or may not have the
		// message. Not confirmed means not accepted: the sender retries.
		return fmt.Errorf("%w: connection closed before confirm", ErrUnavailable)
	case <-ctx.Done():
		return ErrTimeout
	}
	if !dc.Acked() {
		return ErrNacked
	}
	if pc.wasReturned(requestID) {
		return ErrReturned
	}
	return nil
}

// wasReturned reports whether the broker returned the message with this
// request id. amqp091 hands a basic.return to the NotifyReturn channel before
// it processes the basic.ack that follows it, so once the ack is seen any
// return for the message is already buffered there.
func (pc *pubChannel) wasReturned(requestID string) bool {
	pc.mu.Lock()
	defer pc.mu.Unlock()
	pc.drainLocked()
	_, ok := pc.returned[requestID]
	delete(pc.returned, requestID)
	return ok
}

func (pc *pubChannel) drainLocked() {
	for {
		select {
		case r, ok := <-pc.returns:
			if !ok {
				return
			}
			id, _ := r.Headers[envelope.HeaderRequestID].(string)
			pc.returned[id] = time.Now()
		default:
			// Forget returns nobody asked about (their publisher timed out).
			for id, at := range pc.returned {
				if time.Since(at) > time.Minute {
					delete(pc.returned, id)
				}
			}
			return
		}
	}
}

// current returns a live session, dialling one if needed. Concurrent callers
// share one dial and one idle check; a caller whose context ends first gets
// ErrUnavailable. p.mu is never held across network I/O.
func (p *Publisher) current(ctx context.Context) (*session, error) {
	for {
		if p.closed.Load() {
			return nil, fmt.Errorf("%w: publisher closed", ErrUnavailable)
		}
		p.mu.Lock()
		s := p.session
		if s != nil && !s.isDead() {
			if !p.idle() {
				p.mu.Unlock()
				return s, nil
			}
			pr := s.probing
			if pr == nil {
				pr = &probe{done: make(chan struct{})}
				s.probing = pr
				go p.probe(s, pr)
			}
			p.mu.Unlock()
			select {
			case <-pr.done:
				if pr.ok {
					return s, nil
				}
				continue // marked dead: dial a new one
			case <-ctx.Done():
				return nil, fmt.Errorf("%w: checking the idle connection: %w", ErrUnavailable, ctx.Err())
			}
		}
		if p.dialing == nil {
			p.dialing = make(chan struct{})
			dialing := p.dialing
			p.mu.Unlock()
			ns, err := p.dial(ctx)
			p.mu.Lock()
			if err == nil {
				old := p.session
				p.session = ns
				if old != nil {
					go old.close(p.cfg.WriteTimeout)
				}
			}
			p.dialing = nil
			close(dialing)
			p.mu.Unlock()
			if err != nil {
				return nil, fmt.Errorf("%w: %w", ErrUnavailable, err)
			}
			return ns, nil
		}
		dialing := p.dialing
		p.mu.Unlock()
		select {
		case <-dialing:
		case <-ctx.Done():
			return nil, fmt.Errorf("%w: waiting for connection: %w", ErrUnavailable, ctx.Err())
		}
	}
}

// idle reports whether the connection has gone unused for longer than
// IdleCheck: a Lambda frozen for minutes finds its socket dead only when it
// next uses it.
func (p *Publisher) idle() bool {
	last := p.lastUsed.Load()
	return last != 0 && time.Since(time.Unix(0, last)) >= p.cfg.IdleCheck
}

// probe is one liveness check of an idle session, shared by the callers
// that meet it; done is closed when ok is set.
type probe struct {
	done chan struct{}
	ok   bool
}

// probe checks s with a cheap channel open/close round trip, within
// DialTimeout whatever the callers' contexts (they stop waiting on their
// own), and marks s dead when it fails.
func (p *Publisher) probe(s *session, pr *probe) {
	res := make(chan error, 1)
	go func() {
		ch, err := s.conn.Channel()
		if err == nil {
			err = ch.Close()
		}
		res <- err
	}()
	t := time.NewTimer(p.cfg.DialTimeout)
	defer t.Stop()
	select {
	case err := <-res:
		pr.ok = err == nil
	case <-t.C:
	}
	if pr.ok {
		p.lastUsed.Store(time.Now().UnixNano())
	} else {
		p.cfg.Logger.Warn("idle broker connection failed its check; redialling")
		s.markDead()
	}
	p.mu.Lock()
	s.probing = nil
	p.mu.Unlock()
	close(pr.done)
}

func (p *Publisher) dial(ctx context.Context) (*session, error) {
	wt := p.cfg.WriteTimeout
	var bc *writegroup.Conn
	conn, err := amqp.DialConfig(p.cfg.URL, amqp.Config{
		Heartbeat:       10 * time.Second,
		TLSClientConfig: brokertls.Client(), // amqps://: the broker CA of RABBITMQ_CA
		Locale:          "en_US",
		Properties: amqp.Table{
			"connection_name": "hookline-receiver",
		},
		Dial: func(network, addr string) (net.Conn, error) {
			d := net.Dialer{Timeout: p.cfg.DialTimeout}
			c, err := d.DialContext(ctx, network, addr)
			if err != nil {
				return nil, err
			}
			if err := c.SetDeadline(time.Now().Add(p.cfg.DialTimeout)); err != nil {
				c.Close()
				return nil, err
			}
			// Under TLS too: amqp091 wraps this conn, so records are
			// grouped below the encryption.
			bc = writegroup.New(c, wt)
			return bc, nil
		},
	})
	if err != nil {
		if bc != nil {
			// amqp091 does not close the socket on every failed
			// handshake; this also stops the writer goroutine.
			bc.Close()
		}
		return nil, fmt.Errorf("dial broker: %w", err)
	}
	s := &session{conn: conn, dead: make(chan struct{})}
	fail := func(err error) (*session, error) {
		s.markDead()
		s.close(wt)
		return nil, err
	}
	for i := range p.cfg.Channels {
		ch, err := conn.Channel()
		if err != nil {
			return fail(fmt.Errorf("open channel: %w", err))
		}
		if i == 0 {
			// The receiver declares nothing (its grant has no configure):
			// the definitions are applied before any client connects. A
			// passive check of the one exchange it publishes to says
			// clearly at connect time what a publish would only report as
			// a closed channel. No wait for its reply: a missing exchange
			// closes this channel with 404 before the broker answers the
			// confirm.select below, so the check costs no round trip of its
			// own at cold start.
			if err := ch.ExchangeDeclarePassive(topology.Exchange, amqp.ExchangeTopic,
				true,  // durable
				false, // autoDelete
				false, // internal
				true,  // noWait
				nil); err != nil {
				return fail(fmt.Errorf("broker topology: exchange %s: %w", topology.Exchange, err))
			}
			if err := ch.Confirm(false /* noWait */); err != nil {
				return fail(fmt.Errorf("broker topology: exchange %s: %w (apply the broker definitions: see docs/broker-contract.md)", topology.Exchange, err))
			}
		} else if err := ch.Confirm(false /* noWait */); err != nil {
			return fail(fmt.Errorf("confirm mode: %w", err))
		}
		pc := &pubChannel{ch: ch, returns: ch.NotifyReturn(make(chan amqp.Return, 64)), returned: map[string]time.Time{}}
		s.chans = append(s.chans, pc)
	}
	s.watch(p.cfg.Logger)
	p.lastUsed.Store(time.Now().UnixNano())
	p.cfg.Logger.Info("broker connected", "channels", len(s.chans))
	return s, nil
}

// watch owns the notification channels of a session: it drains them (the
// library deadlocks on undrained ones) and marks the session dead when the
// connection or any channel closes, so the next call redials.
func (s *session) watch(log *slog.Logger) {
	closed := s.conn.NotifyClose(make(chan *amqp.Error, 1))
	blocked := s.conn.NotifyBlocked(make(chan amqp.Blocking, 4))
	s.done.Add(1)
	go func() {
		defer s.done.Done()
		// Keep the return buffers from filling when nobody asks: one
		// ticker for the session, not one timer per channel.
		drain := time.NewTicker(time.Second)
		defer drain.Stop()
		for {
			select {
			case <-drain.C:
				for _, pc := range s.chans {
					pc.mu.Lock()
					pc.drainLocked()
					pc.mu.Unlock()
				}
			case b := <-blocked:
				s.blocked.Store(b.Active)
				log.Warn("broker flow control", "blocked", b.Active, "reason", b.Reason)
			case err := <-closed:
				if err != nil {
					log.Warn("broker connection closed", "err", err)
				}
				s.markDead()
				return
			case <-s.dead:
				return
			}
		}
	}()
	for _, pc := range s.chans {
		chClosed := pc.ch.NotifyClose(make(chan *amqp.Error, 1))
		s.done.Add(1)
		go func() {
			defer s.done.Done()
			select {
			case err := <-chClosed:
				if err != nil {
					log.Warn("broker channel closed", "err", err)
				}
				s.markDead()
			case <-s.dead:
			}
		}()
	}
}

func (s *session) isDead() bool {
	select {
	case <-s.dead:
		return true
	default:
		return false
	}
}

func (s *session) markDead() { s.once.Do(func() { close(s.dead) }) }

func (s *session) close(timeout time.Duration) {
	s.markDead()
	_ = s.conn.CloseDeadline(time.Now().Add(timeout))
	s.done.Wait()
}

// Ready reports whether a broker connection is up right now, without dialling.
func (p *Publisher) Ready() bool {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.session != nil && !p.session.isDead() && !p.session.blocked.Load()
}

// Close closes the connection; in-flight publishes fail with ErrUnavailable.
func (p *Publisher) Close() {
	p.closed.Store(true)
	p.mu.Lock()
	s := p.session
	p.session = nil
	p.mu.Unlock()
	if s != nil {
		s.close(p.cfg.WriteTimeout)
	}
}
