package receiver

import (
	"io"
	"net/http"
	"slices"
	"strconv"
	"sync"
	"time"

	"github.com/hookline/hookline/internal/metricnames"
)

// UnknownSource is the Source of a request whose path names no source: a
// sender cannot create dimension values by probing paths.
const UnknownSource = "unknown"

// Metrics counts every request's outcome: always as Prometheus metrics (GET
// /metrics in local mode) and, when EMF is set (Lambda mode), as one
// CloudWatch Embedded Metric Format line per request on that writer
// (stdout, which Lambda ships to CloudWatch Logs; no API call on the
// request path).
type Metrics struct {
	emf      io.Writer
	stack    string
	function string
	now      func() time.Time

	mu   sync.Mutex // serialises EMF lines on emf
	bufs sync.Pool  // *[]byte, one EMF line each

	prom promSet
}

// MetricsConfig says where EMF lines go and what fixed dimensions they carry.
type MetricsConfig struct {
	// EMF receives one JSON line per request; nil writes none (local mode).
	EMF io.Writer
	// Stack is the Stack dimension (HOOKLINE_STACK); empty leaves it out.
	Stack string
	// Function is the function's name (AWS_LAMBDA_FUNCTION_NAME), a
	// property of each line, not a dimension.
	Function string
}

// NewMetrics returns the receiver's metrics.
func NewMetrics(cfg MetricsConfig) *Metrics {
	return &Metrics{emf: cfg.EMF, stack: cfg.Stack, function: cfg.Function, now: time.Now,
		bufs: sync.Pool{New: func() any { b := make([]byte, 0, 1024); return &b }}}
}

// promFamilies is the exposition of GET /metrics, in order.
var promFamilies = []promFamily{
	{metricnames.PromAccepted, "Webhooks answered 202 after the broker confirmed them.", "counter",
		func(w *promWriter, n, src string, s *series) { w.counter(n, src, &s.accepted) }},
	{metricnames.PromRejected, "Webhooks refused by the sender's fault, by HTTP status.", "counter",
		func(w *promWriter, n, src string, s *series) {
			s.mu.RLock()
			statuses := make([]int, 0, len(s.rejected))
			for st := range s.rejected {
				statuses = append(statuses, st)
			}
			slices.Sort(statuses)
			for _, st := range statuses {
				w.sample(n, src, "status", strconv.Itoa(st), strconv.FormatUint(s.rejected[st].Load(), 10))
			}
			s.mu.RUnlock()
		}},
	{metricnames.PromPublishFailures, "Webhooks answered 503 because the broker did not confirm.", "counter",
		func(w *promWriter, n, src string, s *series) { w.counter(n, src, &s.publishFailures) }},
	{metricnames.PromInternalErrors, "Webhooks answered 500 (a receiver defect).", "counter",
		func(w *promWriter, n, src string, s *series) { w.counter(n, src, &s.internalErrors) }},
	{metricnames.PromPublishConfirmSeconds, "Publish to broker confirm (or failure).", "histogram",
		func(w *promWriter, n, src string, s *series) { w.histogram(n, src, s.confirm) }},
	{metricnames.PromBodyBytes, "Accepted webhook body sizes.", "histogram",
		func(w *promWriter, n, src string, s *series) { w.histogram(n, src, s.body) }},
	{metricnames.PromHandshakes, "Provider endpoint handshakes answered by the receiver (nothing published).", "counter",
		func(w *promWriter, n, src string, s *series) { w.counter(n, src, &s.handshakes) }},
	{metricnames.PromVerifyUnavailable, "Webhooks answered 503 because a verification dependency (JWKS, SNS certificate) was unreachable.", "counter",
		func(w *promWriter, n, src string, s *series) { w.counter(n, src, &s.verifyUnavailable) }},
}

// Handler serves the Prometheus text format.
func (m *Metrics) Handler() http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { m.prom.ServeHTTP(w, r, promFamilies) })
}

// WithMetrics makes h count every request in m.
func (h *Handler) WithMetrics(m *Metrics) *Handler {
	h.metrics = m
	return h
}

// observe records one request's outcome.
func (m *Metrics) observe(res result) {
	src := res.source
	if src == "" {
		src = UnknownSource
	}
	s := m.prom.of(src)
	var name string
	switch {
	case res.handshake:
		name = metricnames.Handshakes
		s.handshakes.Add(1)
	case res.unavailable:
		name = metricnames.VerifyUnavailable
		s.verifyUnavailable.Add(1)
	case res.accepted:
		name = metricnames.Accepted
		s.accepted.Add(1)
		s.body.observe(float64(res.bytes))
	case res.status == http.StatusServiceUnavailable:
		name = metricnames.PublishFailures
		s.publishFailures.Add(1)
	case res.status >= 500:
		name = metricnames.InternalErrors
		s.internalErrors.Add(1)
	default:
		name = metricnames.Rejected
		s.reject(res.status)
	}
	if res.published {
		s.confirm.observe(res.confirm.Seconds())
	}
	if m.emf != nil {
		m.writeEMF(name, src, res)
	}
}

// writeEMF writes one EMF line: the outcome's count, and the confirm
// latency and body size where they apply. Rejections carry Status as a
// dimension; every metric is also aggregated without Source so a
// stack-wide alarm reads one series.
func (m *Metrics) writeEMF(name, src string, res result) {
	bp := m.bufs.Get().(*[]byte)
	b := (*bp)[:0]
	b = append(b, `{"_aws":{"Timestamp":`...)
	b = strconv.AppendInt(b, m.now().UnixMilli(), 10)
	b = append(b, `,"CloudWatchMetrics":[{"Namespace":"`+metricnames.ReceiverNamespace+`","Dimensions":[`...)
	b = m.appendDims(b, name == metricnames.Rejected)
	b = append(b, `],"Metrics":[`...)
	b = appendMetricDef(b, name)
	if res.published {
		b = append(b, ',')
		b = appendMetricDef(b, metricnames.PublishConfirmLatency)
	}
	if res.accepted {
		b = append(b, ',')
		b = appendMetricDef(b, metricnames.BodySize)
	}
	b = append(b, `]}]}`...)
	if m.stack != "" {
		b = append(b, `,"`+metricnames.StackDimension+`":`...)
		b = appendString(b, m.stack)
	}
	if m.function != "" {
		b = append(b, `,"FunctionName":`...)
		b = appendString(b, m.function)
	}
	b = append(b, `,"`+metricnames.SourceDimension+`":`...)
	b = appendString(b, src)
	if name == metricnames.Rejected {
		b = append(b, `,"`+metricnames.StatusDimension+`":"`...)
		b = strconv.AppendInt(b, int64(res.status), 10)
		b = append(b, '"')
	}
	b = append(b, `,"`...)
	b = append(b, name...)
	b = append(b, `":1`...)
	if res.published {
		b = append(b, `,"`+metricnames.PublishConfirmLatency+`":`...)
		b = strconv.AppendFloat(b, float64(res.confirm.Microseconds())/1000, 'f', -1, 64)
	}
	if res.accepted {
		b = append(b, `,"`+metricnames.BodySize+`":`...)
		b = strconv.AppendInt(b, int64(res.bytes), 10)
	}
	b = append(b, "}\n"...)
	m.mu.Lock()
	_, _ = m.emf.Write(b)
	m.mu.Unlock()
	if cap(b) <= 4096 { // do not pin a rare huge line
		*bp = b
		m.bufs.Put(bp)
	}
}

// appendDims writes the dimension sets: by source and stack-wide, each
// with Status for rejections.
func (m *Metrics) appendDims(b []byte, status bool) []byte {
	for i, withSource := range []bool{true, false} {
		if !withSource && m.stack == "" && !status {
			break // an empty set would add nothing
		}
		if i > 0 {
			b = append(b, ',')
		}
		b = append(b, '[')
		first := true
		add := func(d string) {
			if !first {
				b = append(b, ',')
			}
			first = false
			b = append(b, '"')
			b = append(b, d...)
			b = append(b, '"')
		}
		if m.stack != "" {
			add(metricnames.StackDimension)
		}
		if withSource {
			add(metricnames.SourceDimension)
		}
		if status {
			add(metricnames.StatusDimension)
		}
		b = append(b, ']')
	}
	return b
}

func appendMetricDef(b []byte, name string) []byte {
	b = append(b, `{"Name":"`...)
	b = append(b, name...)
	b = append(b, `","Unit":"`...)
	b = append(b, metricnames.ReceiverUnits[name]...)
	return append(b, `"}`...)
}

// appendString appends s as a JSON string.
func appendString(b []byte, s string) []byte {
	const hex = "0123456789abcdef"
	b = append(b, '"')
	for i := 0; i < len(s); i++ {
		c := s[i]
		switch {
		case c == '"' || c == '\\':
			b = append(b, '\\', c)
		case c < 0x20:
			b = append(b, '\\', 'u', '0', '0', hex[c>>4], hex[c&0xf])
		default:
			b = append(b, c)
		}
	}
	return append(b, '"')
}
