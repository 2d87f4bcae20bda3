package consume

import (
	"fmt"
	"math"
	"math/rand/v2"
	"sync/atomic"

	amqp "github.com/rabbitmq/amqp091-go"

	"github.com/hookline/hookline/internal/topology"
)

// flow keeps the bodies the pipeline holds under a byte budget (issue 9
// item 6). RabbitMQ refuses a prefetch in bytes, so the consumer does the
// accounting: a delivery's body is counted when the dispatcher takes it and
// released when it is settled (acked, parked, dead-lettered, given back).
// Over budget, the dispatcher cancels its consumer (the broker stops sending;
// what it already sent is still taken and counted) and starts a new one once
// the bodies held are back under half the budget. The prefetch of each new
// consumer follows the bodies seen: budget / the largest of the last ones,
// at most PREFETCH, so 1 KiB bodies keep the full prefetch while 4 MiB
// bodies get a handful. Before any body is seen the estimate is the largest
// body a source accepts (sources' max_body_bytes), so a restart in front of
// a backlog of large bodies never asks for more than the budget holds.
type flow struct {
	limit int64 // bytes; math.MaxInt64 when there is no budget
	max   int   // PREFETCH
	gauge func(held int64)

	held   atomic.Int64 // body bytes taken and not yet settled
	peak   atomic.Int64 // the most held at once (a test and metrics read it)
	count  atomic.Int64 // deliveries taken and not yet settled
	paused atomic.Bool  // the dispatcher waits for held to come down
	wake   chan struct{}

	// The dispatcher's own (no locking).
	prefetch   int     // the running consumer's
	recent     []int64 // sizes of the last bodies, a ring
	next       int
	estimate   int64 // the largest of recent (or the initial guess)
	cancelling bool  // a consumer was cancelled; its deliveries channel closes when drained
}

// minEstimate keeps tiny bodies from asking for an absurd prefetch.
const minEstimate = 1 << 10

func newFlow(limit int64, prefetch int, largest int64, gauge func(held int64)) *flow {
	if limit <= 0 {
		limit = math.MaxInt64
	}
	gauge(0)
	return &flow{limit: limit, max: prefetch, gauge: gauge, wake: make(chan struct{}, 1),
		recent: make([]int64, 0, 128), estimate: max(largest, minEstimate)}
}

// size is what a delivery counts for: its body (headers and the rest are
// small and bounded by the broker's frame limits).
func size(d amqp.Delivery) int64 { return int64(len(d.Body)) }

// take counts a delivery the dispatcher took.
func (f *flow) take(n int64) {
	h := f.held.Add(n)
	f.count.Add(1)
	f.gauge(h)
	for p := f.peak.Load(); h > p && !f.peak.CompareAndSwap(p, h); p = f.peak.Load() {
	}
	if len(f.recent) < cap(f.recent) {
		f.recent = append(f.recent, n)
	} else {
		f.recent[f.next] = n
		f.next = (f.next + 1) % len(f.recent)
	}
	if n > f.estimate {
		f.estimate = n // a larger body counts at once
	} else if f.next == 0 && len(f.recent) == cap(f.recent) {
		f.estimate = minEstimate // a full window: the largest in it
		for _, x := range f.recent {
			f.estimate = max(f.estimate, x)
		}
	}
}

// give releases a settled delivery's bytes (any goroutine).
func (f *flow) give(n int64) {
	h := f.held.Add(-n)
	f.count.Add(-1)
	f.gauge(h)
	if f.paused.Load() && h <= f.limit/2 {
		select {
		case f.wake <- struct{}{}:
		default:
		}
	}
}

// target is the prefetch for the bodies seen: what the budget holds of the
// largest of them, at most PREFETCH, at least 1.
func (f *flow) target() int {
	if f.limit == math.MaxInt64 {
		return f.max
	}
	return int(max(1, min(int64(f.max), f.limit/f.estimate)))
}

// over reports whether the bodies held reach the budget.
func (f *flow) over() bool { return f.held.Load() >= f.limit }

// startConsumer starts consuming with prefetch p (per consumer: quorum
// queues refuse global QoS; it applies to consumers started after it).
func (s *session) startConsumer(p int) error {
	if err := s.ch.Qos(
		p,     // prefetchCount
		0,     // prefetchSize: RabbitMQ refuses anything else
		false, // global
	); err != nil {
		return err
	}
	tag := fmt.Sprintf("processor-%d", rand.Int64())
	d, err := s.ch.Consume(
		topology.Queue,
		tag,   // consumer
		false, // autoAck
		false, // exclusive
		false, // noLocal
		false, // noWait
		nil,   // args
	)
	if err != nil {
		return err
	}
	s.tag, s.deliveries, s.flow.prefetch = tag, d, p
	return nil
}

// adjust runs on the dispatcher after each delivery and each wake: it
// cancels the consumer over budget or when the prefetch should change by
// half or double, and starts one again when there is room. It returns an
// error only when the channel refused (the session is then lost).
func (c *Consumer) adjust(s *session) error {
	f := s.flow
	if f.cancelling {
		return nil // wait for the cancelled consumer's deliveries to drain
	}
	if s.deliveries == nil { // paused
		// Paused is set before the check: a settle after it wakes us,
		// one before it is in what we read.
		f.paused.Store(true)
		if f.held.Load() > f.limit/2 || f.count.Load() >= int64(f.max) {
			return nil
		}
		f.paused.Store(false)
		p := f.target()
		c.Metrics.Prefetch(p)
		return s.startConsumer(p)
	}
	t := f.target()
	switch {
	case f.over():
		c.Log.Debug("bodies over budget: pausing the consumer", "held", f.held.Load(), "budget", f.limit)
	case t*2 <= f.prefetch || t >= f.prefetch*2:
		c.Log.Debug("prefetch follows the body sizes", "from", f.prefetch, "to", t, "largest_recent", f.estimate)
	default:
		return nil
	}
	f.cancelling = true
	c.Metrics.FlowPause()
	return s.ch.Cancel(s.tag, false /* noWait */)
}

// drained is called when a cancelled consumer's deliveries channel closed.
func (c *Consumer) drained(s *session) error {
	s.flow.cancelling = false
	s.deliveries = nil
	return c.adjust(s)
}
