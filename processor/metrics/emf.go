package metrics

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"math"
	"sort"
	"time"

	dto "github.com/prometheus/client_model/go"

	"github.com/hookline/hookline/internal/metricnames"
)

// EMF writes the processor's metrics as CloudWatch Embedded Metric Format
// lines: every Interval, one line with every metric of
// metricnames.Processor under the Stack dimension (a counter's increase
// since the previous line, a gauge's value now, a histogram's observations
// since the previous line as an array of values), then one line per label
// value of each labelled counter, with its label as a second dimension
// (Reason, Result). The lines go to stdout, which the ECS awslogs driver
// ships to CloudWatch Logs, which turns them into metrics: no API call, no
// sidecar (docs/decisions.md, "Processor metrics to CloudWatch").
type EMF struct {
	m        *Metrics
	w        io.Writer
	stack    string
	interval time.Duration
	now      func() time.Time

	prev map[string]float64 // series → counter value (or histogram bucket count) at the previous line
}

// NewEMF returns a writer of m's metrics to w for stack. The first Write
// reports the increase since m was created.
func NewEMF(m *Metrics, w io.Writer, stack string, interval time.Duration) *EMF {
	if interval <= 0 {
		interval = time.Minute
	}
	return &EMF{m: m, w: w, stack: stack, interval: interval, now: time.Now, prev: map[string]float64{}}
}

// Run writes a set of lines every interval until ctx ends, and one last
// set then, so the minute a task stops in is not lost. A failed write is
// reported to onErr and the next interval tries again (a counter's
// increase then shows in the next line).
func (e *EMF) Run(ctx context.Context, onErr func(error)) {
	t := time.NewTicker(e.interval)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			if err := e.Write(); err != nil {
				onErr(err)
			}
			return
		case <-t.C:
			if err := e.Write(); err != nil {
				onErr(err)
			}
		}
	}
}

// Write writes one set of lines.
func (e *EMF) Write() error {
	fams, err := e.m.Registry.Gather()
	if err != nil {
		return fmt.Errorf("emf: gather: %w", err)
	}
	byName := make(map[string]*dto.MetricFamily, len(fams))
	for _, f := range fams {
		byName[f.GetName()] = f
	}
	ts := e.now().UnixMilli()
	main := e.doc(ts, []string{metricnames.StackDimension})
	var labelled []map[string]any
	for _, pm := range metricnames.Processor {
		f := byName[pm.Prom]
		if f == nil {
			return fmt.Errorf("emf: %s is not registered", pm.Prom)
		}
		switch pm.Kind {
		case metricnames.Counter:
			total := 0.0
			perLabel := map[string]float64{}
			for _, s := range f.GetMetric() {
				d := e.increase(pm.Prom+seriesOf(s), s.GetCounter().GetValue())
				total += d
				if pm.Label != "" {
					perLabel[labelValue(s, pm.Label)] += d
				}
			}
			addMetric(main, pm, total)
			values := make([]string, 0, len(perLabel))
			for l := range perLabel {
				values = append(values, l)
			}
			sort.Strings(values)
			for _, l := range values {
				doc := e.doc(ts, []string{metricnames.StackDimension, pm.Dimension})
				doc[pm.Dimension] = l
				addMetric(doc, pm, perLabel[l])
				labelled = append(labelled, doc)
			}
		case metricnames.Gauge:
			v := 0.0
			for _, s := range f.GetMetric() {
				v += s.GetGauge().GetValue()
			}
			addMetric(main, pm, v)
		case metricnames.Histogram:
			addMetric(main, pm, e.histogram(pm.Prom, f))
		}
	}
	for _, doc := range append([]map[string]any{main}, labelled...) {
		b, err := json.Marshal(doc)
		if err != nil {
			return fmt.Errorf("emf: %w", err)
		}
		if _, err := e.w.Write(append(b, '\n')); err != nil {
			return fmt.Errorf("emf: write: %w", err)
		}
	}
	return nil
}

// increase is how much the running count v of series key (a counter, a
// histogram bucket) grew since the previous line, and remembers v. A
// running count never goes down, so a smaller one is a reset: all of it
// is new.
func (e *EMF) increase(key string, v float64) float64 {
	d := v - e.prev[key]
	if d < 0 {
		d = v
	}
	e.prev[key] = v
	return d
}

// maxValues is the most values one EMF metric may carry (an array of at
// most 100 numbers, EMF specification).
const maxValues = 100

// histogram turns the observations since the previous line into an EMF
// array of values: each new observation counts at its bucket's upper bound
// (so a percentile is an upper bound within one bucket; those above the
// last bound count at that bound). More than maxValues observations are
// resampled to maxValues evenly spaced quantiles, so CloudWatch's
// percentiles and average stay right while its SampleCount is then not the
// number of observations (the counters are). No observation gives no value:
// EMF then records nothing for the metric this minute, where a zero would
// be a false observation.
func (e *EMF) histogram(name string, f *dto.MetricFamily) any {
	var bounds, counts []float64
	for _, s := range f.GetMetric() {
		h := s.GetHistogram()
		key := name + seriesOf(s)
		var below float64 // cumulative count of the buckets before
		last := 0.0
		add := func(bound, n float64, bk string) {
			if d := e.increase(bk, n); d > 0 {
				bounds, counts = append(bounds, bound), append(counts, d)
			}
		}
		for _, b := range h.GetBucket() {
			cum := float64(b.GetCumulativeCount())
			n := cum - below
			below = cum
			if ub := b.GetUpperBound(); !math.IsInf(ub, 1) {
				last = ub
				add(ub, n, fmt.Sprintf("%s|%g", key, ub))
			}
		}
		add(last, float64(h.GetSampleCount())-below, key+"|+Inf")
	}
	return quantiles(bounds, counts)
}

// quantiles lists counts[i] copies of bounds[i] (bounds ascending), or
// maxValues evenly spaced quantiles of them when there are more; nil when
// there are none.
func quantiles(bounds, counts []float64) []float64 {
	total := 0.0
	for _, c := range counts {
		total += c
	}
	if total == 0 {
		return nil
	}
	idx := make([]int, len(bounds))
	for i := range idx {
		idx[i] = i
	}
	sort.SliceStable(idx, func(a, b int) bool { return bounds[idx[a]] < bounds[idx[b]] })
	var out []float64
	if total <= maxValues {
		for _, i := range idx {
			for n := 0; n < int(counts[i]); n++ {
				out = append(out, bounds[i])
			}
		}
		return out
	}
	cum, j := 0.0, 0
	for k := 0; k < maxValues; k++ {
		q := (float64(k) + 0.5) / maxValues * total
		for j < len(idx) && cum+counts[idx[j]] < q {
			cum += counts[idx[j]]
			j++
		}
		out = append(out, bounds[idx[min(j, len(idx)-1)]])
	}
	return out
}

// doc is an EMF document with its metadata and the stack.
func (e *EMF) doc(ts int64, dims []string) map[string]any {
	d := map[string]any{"_aws": map[string]any{
		"Timestamp": ts,
		"CloudWatchMetrics": []map[string]any{{
			"Namespace":  metricnames.ProcessorNamespace,
			"Dimensions": [][]string{dims},
			"Metrics":    []map[string]string{},
		}},
	}}
	d[metricnames.StackDimension] = e.stack
	return d
}

// addMetric declares pm in doc with value v; an empty array (a histogram
// with no observations) declares nothing.
func addMetric(doc map[string]any, pm metricnames.ProcessorMetric, v any) {
	if a, ok := v.([]float64); ok && len(a) == 0 {
		return
	}
	cwm := doc["_aws"].(map[string]any)["CloudWatchMetrics"].([]map[string]any)[0]
	cwm["Metrics"] = append(cwm["Metrics"].([]map[string]string), map[string]string{"Name": pm.CloudWatch, "Unit": pm.Unit})
	doc[pm.CloudWatch] = v
}

func seriesOf(s *dto.Metric) string {
	out := ""
	for _, l := range s.GetLabel() {
		out += "|" + l.GetName() + "=" + l.GetValue()
	}
	return out
}

func labelValue(s *dto.Metric, name string) string {
	for _, l := range s.GetLabel() {
		if l.GetName() == name {
			return l.GetValue()
		}
	}
	return ""
}
