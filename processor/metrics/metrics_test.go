package metrics

import (
	"bytes"
	"sort"
	"strings"
	"sync"
	"testing"

	dto "github.com/prometheus/client_model/go"

	"github.com/hookline/hookline/internal/metricnames"
)

// TestRegistryMatchesTable: every metric of metricnames.Processor is
// registered with its kind, and every hookline_processor_ series the
// registry has is in the table, so /metrics, the EMF lines and what the
// infra reads cannot drift.
func TestRegistryMatchesTable(t *testing.T) {
	fams, err := New().Registry.Gather()
	if err != nil {
		t.Fatal(err)
	}
	got := map[string]dto.MetricType{}
	for _, f := range fams {
		got[f.GetName()] = f.GetType()
	}
	kinds := map[metricnames.Kind]dto.MetricType{
		metricnames.Counter: dto.MetricType_COUNTER, metricnames.Gauge: dto.MetricType_GAUGE, metricnames.Histogram: dto.MetricType_HISTOGRAM,
	}
	listed := map[string]bool{}
	for _, pm := range metricnames.Processor {
		listed[pm.Prom] = true
		typ, ok := got[pm.Prom]
		if !ok {
			t.Errorf("%s listed but not registered", pm.Prom)
			continue
		}
		if typ != kinds[pm.Kind] {
			t.Errorf("%s: registered as %v, listed as kind %d", pm.Prom, typ, pm.Kind)
		}
	}
	for name := range got {
		if strings.HasPrefix(name, "hookline_processor_") && !listed[name] {
			t.Errorf("%s registered but not in metricnames.Processor", name)
		}
	}
}

// TestLabelValuesMatchTable: a labelled counter has exactly the table's
// label values as series from the start, the values alarms and the
// dashboard name (an alarm on a value the code never counts never fires).
func TestLabelValuesMatchTable(t *testing.T) {
	fams, err := New().Registry.Gather()
	if err != nil {
		t.Fatal(err)
	}
	byName := map[string]*dto.MetricFamily{}
	for _, f := range fams {
		byName[f.GetName()] = f
	}
	for _, pm := range metricnames.Processor {
		f := byName[pm.Prom]
		if f == nil {
			continue // TestRegistryMatchesTable names it
		}
		var got []string
		for _, m := range f.GetMetric() {
			for _, l := range m.GetLabel() {
				if l.GetName() == pm.Label {
					got = append(got, l.GetValue())
				}
			}
		}
		want := append([]string(nil), pm.Values...)
		sort.Strings(got)
		sort.Strings(want)
		if strings.Join(got, ",") != strings.Join(want, ",") {
			t.Errorf("%s: series %v from the start; the table lists %v", pm.Prom, got, want)
		}
	}
}

type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) bytes() []byte {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]byte(nil), s.b.Bytes()...)
}
