package receiver

import (
	"bufio"
	"math"
	"net/http"
	"runtime"
	"slices"
	"strconv"
	"sync"
	"sync/atomic"
)

// The local /metrics exposition, written here in the Prometheus text format
// (version 0.0.4) instead of through client_golang: the Lambda binary is the
// same binary, and client_golang's package initialisation (its default
// registry's Go and process collectors, protobuf descriptors) was the
// largest single item of the receiver's cold start (docs/decisions.md,
// "Receiver Lambda cold start"). Six fixed families, labelled by source
// (and status for rejections), each series created on a source's first
// request; observing never allocates.

// Bucket upper bounds: confirm latency 1 ms … 8.2 s (×2), body 256 B … 4 MiB (×4).
var (
	confirmBounds = exponential(0.001, 2, 14)
	bodyBounds    = exponential(256, 4, 8)
)

func exponential(start, factor float64, n int) []float64 {
	b := make([]float64, n)
	for i := range b {
		b[i] = start * math.Pow(factor, float64(i))
	}
	return b
}

// histogram counts observations per bucket (not cumulative; summed when
// written) with their sum.
type histogram struct {
	bounds []float64
	counts []atomic.Uint64 // len(bounds)+1: the last is +Inf
	sum    atomic.Uint64   // float64 bits
}

func newHistogram(bounds []float64) *histogram {
	return &histogram{bounds: bounds, counts: make([]atomic.Uint64, len(bounds)+1)}
}

func (h *histogram) observe(v float64) {
	i, _ := slices.BinarySearch(h.bounds, v) // first bound >= v: le is inclusive
	h.counts[i].Add(1)
	for {
		old := h.sum.Load()
		if h.sum.CompareAndSwap(old, math.Float64bits(math.Float64frombits(old)+v)) {
			return
		}
	}
}

// series are one source's counters.
type series struct {
	accepted, publishFailures, internalErrors atomic.Uint64
	handshakes, verifyUnavailable             atomic.Uint64
	confirm, body                             *histogram

	mu       sync.RWMutex
	rejected map[int]*atomic.Uint64 // by HTTP status
}

func newSeries() *series {
	return &series{confirm: newHistogram(confirmBounds), body: newHistogram(bodyBounds), rejected: map[int]*atomic.Uint64{}}
}

func (s *series) reject(status int) {
	s.mu.RLock()
	c := s.rejected[status]
	s.mu.RUnlock()
	if c == nil {
		s.mu.Lock()
		if c = s.rejected[status]; c == nil {
			c = new(atomic.Uint64)
			s.rejected[status] = c
		}
		s.mu.Unlock()
	}
	c.Add(1)
}

// promSet is every source's series.
type promSet struct{ bySource sync.Map } // string → *series

func (p *promSet) of(src string) *series {
	if s, ok := p.bySource.Load(src); ok {
		return s.(*series)
	}
	s, _ := p.bySource.LoadOrStore(src, newSeries())
	return s.(*series)
}

// promFamily is one metric family of the exposition.
type promFamily struct {
	name, help, kind string
	write            func(w *promWriter, name, src string, s *series)
}

// ServeHTTP writes the text format, families and series in a fixed order.
func (p *promSet) ServeHTTP(w http.ResponseWriter, _ *http.Request, families []promFamily) {
	var srcs []string
	p.bySource.Range(func(k, _ any) bool { srcs = append(srcs, k.(string)); return true })
	slices.Sort(srcs)
	w.Header().Set("Content-Type", "text/plain; version=0.0.4; charset=utf-8")
	pw := &promWriter{w: bufio.NewWriter(w)}
	for _, f := range families {
		pw.line("# HELP ", f.name, " ", f.help)
		pw.line("# TYPE ", f.name, " ", f.kind)
		for _, src := range srcs {
			s, _ := p.bySource.Load(src)
			f.write(pw, f.name, src, s.(*series))
		}
	}
	// The one runtime figure, under client_golang's name: a leak shows
	// here first (the soak reads it per interval).
	pw.line("# HELP go_goroutines Number of goroutines that currently exist.")
	pw.line("# TYPE go_goroutines gauge")
	pw.line("go_goroutines ", strconv.Itoa(runtime.NumGoroutine()))
	_ = pw.w.Flush()
}

type promWriter struct{ w *bufio.Writer }

func (pw *promWriter) line(parts ...string) {
	for _, p := range parts {
		_, _ = pw.w.WriteString(p)
	}
	_ = pw.w.WriteByte('\n')
}

// sample writes name{source="src"[,k="v"]} value.
func (pw *promWriter) sample(name, src, k, v, value string) {
	w := pw.w
	_, _ = w.WriteString(name)
	_, _ = w.WriteString(`{source="`)
	writeLabelValue(w, src)
	if k != "" {
		_, _ = w.WriteString(`",` + k + `="`)
		writeLabelValue(w, v)
	}
	_, _ = w.WriteString(`"} `)
	_, _ = w.WriteString(value)
	_ = w.WriteByte('\n')
}

func (pw *promWriter) counter(name, src string, c *atomic.Uint64) {
	pw.sample(name, src, "", "", strconv.FormatUint(c.Load(), 10))
}

func (pw *promWriter) histogram(name, src string, h *histogram) {
	var cum uint64
	for i := range h.counts {
		cum += h.counts[i].Load()
		le := "+Inf"
		if i < len(h.bounds) {
			le = formatFloat(h.bounds[i])
		}
		pw.sample(name+"_bucket", src, "le", le, strconv.FormatUint(cum, 10))
	}
	pw.sample(name+"_sum", src, "", "", formatFloat(math.Float64frombits(h.sum.Load())))
	pw.sample(name+"_count", src, "", "", strconv.FormatUint(cum, 10))
}

func formatFloat(v float64) string { return strconv.FormatFloat(v, 'g', -1, 64) }

// writeLabelValue escapes \, " and newline, as the text format requires.
func writeLabelValue(w *bufio.Writer, v string) {
	for i := 0; i < len(v); i++ {
		switch c := v[i]; c {
		case '\\':
			_, _ = w.WriteString(`\\`)
		case '"':
			_, _ = w.WriteString(`\"`)
		case '\n':
			_, _ = w.WriteString(`\n`)
		default:
			_ = w.WriteByte(c)
		}
	}
}
