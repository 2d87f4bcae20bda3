package metrics

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/hookline/hookline/internal/metricnames"
)

// validateEMF checks one line against the EMF specification's document
// structure (CloudWatch User Guide, "Specification: Embedded metric
// format"): a JSON object whose _aws member has an integer Timestamp and a
// CloudWatchMetrics array of directives, each with a Namespace, Dimensions
// (arrays of at most 30 names, each a string member of the root) and
// Metrics (at most 100, each a Name whose root member is a number or an
// array of at most 100 numbers, with a CloudWatch unit).
func validateEMF(line []byte) (map[string]any, error) {
	var root map[string]any
	if err := json.Unmarshal(line, &root); err != nil {
		return nil, fmt.Errorf("not a JSON object: %w", err)
	}
	aws, ok := root["_aws"].(map[string]any)
	if !ok {
		return nil, errors.New("no _aws object")
	}
	ts, ok := aws["Timestamp"].(float64)
	if !ok || ts != float64(int64(ts)) || ts <= 0 {
		return nil, fmt.Errorf("Timestamp %v: want epoch milliseconds", aws["Timestamp"])
	}
	dirs, ok := aws["CloudWatchMetrics"].([]any)
	if !ok || len(dirs) == 0 {
		return nil, errors.New("CloudWatchMetrics: want a non-empty array")
	}
	units := map[string]bool{"Seconds": true, "Milliseconds": true, "Bytes": true, "Count": true, "Count/Second": true, "Percent": true, "None": true}
	for _, d := range dirs {
		dir, ok := d.(map[string]any)
		if !ok {
			return nil, errors.New("directive: want an object")
		}
		if ns, ok := dir["Namespace"].(string); !ok || ns == "" || len(ns) > 1024 {
			return nil, fmt.Errorf("Namespace %v", dir["Namespace"])
		}
		sets, ok := dir["Dimensions"].([]any)
		if !ok {
			return nil, errors.New("Dimensions: want an array")
		}
		for _, s := range sets {
			set, ok := s.([]any)
			if !ok || len(set) > 30 {
				return nil, fmt.Errorf("dimension set %v", s)
			}
			for _, n := range set {
				name, ok := n.(string)
				if !ok {
					return nil, fmt.Errorf("dimension name %v", n)
				}
				if v, ok := root[name].(string); !ok || v == "" {
					return nil, fmt.Errorf("dimension %s: no string member", name)
				}
			}
		}
		ms, ok := dir["Metrics"].([]any)
		if !ok || len(ms) == 0 || len(ms) > 100 {
			return nil, fmt.Errorf("Metrics: %d, want 1–100", len(ms))
		}
		for _, m := range ms {
			def, ok := m.(map[string]any)
			if !ok {
				return nil, errors.New("metric definition: want an object")
			}
			name, _ := def["Name"].(string)
			if name == "" {
				return nil, errors.New("metric without Name")
			}
			if u, ok := def["Unit"].(string); ok && !units[u] {
				return nil, fmt.Errorf("%s: unit %q", name, u)
			}
			switch v := root[name].(type) {
			case float64:
			case []any:
				if len(v) == 0 || len(v) > 100 {
					return nil, fmt.Errorf("%s: %d values", name, len(v))
				}
				for _, x := range v {
					if _, ok := x.(float64); !ok {
						return nil, fmt.Errorf("%s: value %v", name, x)
					}
				}
			default:
				return nil, fmt.Errorf("%s: member %v is not a number or an array of numbers", name, root[name])
			}
		}
	}
	return root, nil
}

func lines(t *testing.T, b *bytes.Buffer) []map[string]any {
	t.Helper()
	var out []map[string]any
	sc := bufio.NewScanner(b)
	for sc.Scan() {
		doc, err := validateEMF(sc.Bytes())
		if err != nil {
			t.Fatalf("%v: %s", err, sc.Text())
		}
		out = append(out, doc)
	}
	b.Reset()
	return out
}

func dims(doc map[string]any) []any {
	return doc["_aws"].(map[string]any)["CloudWatchMetrics"].([]any)[0].(map[string]any)["Dimensions"].([]any)[0].([]any)
}

// TestEMFLines: the first line carries every metric of the table under
// Stack, counters as their increase since the previous line, gauges as
// their value, histograms as their new observations; each label value of a
// labelled counter gets a line of its own with its dimension.
func TestEMFLines(t *testing.T) {
	m := New()
	var buf bytes.Buffer
	e := NewEMF(m, &buf, "hookline-dev", time.Minute)
	e.now = func() time.Time { return time.UnixMilli(1_700_000_000_123) }

	for range 3 {
		m.Consumed()
	}
	m.Retried("lock")
	m.Retried("lock")
	m.Retried("outage")
	m.Requeued()
	m.LockContention(4)
	m.CallbacksPending(7)
	m.Batch(3, 20*time.Millisecond, 3*time.Millisecond)
	if err := e.Write(); err != nil {
		t.Fatal(err)
	}
	docs := lines(t, &buf)
	main := docs[0]
	if got := dims(main); len(got) != 1 || got[0] != metricnames.StackDimension || main["Stack"] != "hookline-dev" {
		t.Fatalf("main line dimensions %v, Stack %v", got, main["Stack"])
	}
	if ts := main["_aws"].(map[string]any)["Timestamp"]; ts != float64(1_700_000_000_123) {
		t.Errorf("Timestamp %v", ts)
	}
	want := map[string]any{
		metricnames.ProcConsumed: 3.0, metricnames.ProcRetried: 3.0, metricnames.ProcRequeued: 1.0,
		metricnames.ProcLockContention: 4.0, metricnames.ProcCallbacksPending: 7.0, metricnames.ProcInFlight: 3.0,
		metricnames.ProcAcked: 0.0, metricnames.ProcDeadLettered: 0.0,
	}
	for k, v := range want {
		if main[k] != v {
			t.Errorf("%s = %v, want %v", k, main[k], v)
		}
	}
	if v, ok := main[metricnames.ProcBatchSize].([]any); !ok || len(v) != 1 || v[0] != 5.0 {
		t.Errorf("BatchSize %v: want [5] (3 counts in the bucket up to 5)", main[metricnames.ProcBatchSize])
	}
	if v, ok := main[metricnames.ProcBatchDuration].([]any); !ok || len(v) != 1 || v[0] != 0.025 {
		t.Errorf("BatchDuration %v: want [0.025]", main[metricnames.ProcBatchDuration])
	}
	if _, ok := main[metricnames.ProcEndToEnd]; ok {
		t.Error("EndToEnd without observations must be left out, not zero")
	}
	declared := map[string]bool{}
	for _, d := range main["_aws"].(map[string]any)["CloudWatchMetrics"].([]any)[0].(map[string]any)["Metrics"].([]any) {
		declared[d.(map[string]any)["Name"].(string)] = true
	}
	for _, pm := range metricnames.Processor {
		if pm.Kind != metricnames.Histogram && !declared[pm.CloudWatch] {
			t.Errorf("%s missing from the main line", pm.CloudWatch)
		}
	}
	byReason := map[string]float64{}
	for _, d := range docs[1:] {
		if got := dims(d); len(got) != 2 || got[0] != metricnames.StackDimension {
			t.Fatalf("labelled line dimensions %v", got)
		}
		if v, ok := d[metricnames.ProcRetried].(float64); ok {
			byReason[d[metricnames.ReasonDimension].(string)] = v
		}
	}
	if byReason["lock"] != 2 || byReason["outage"] != 1 || byReason["handler"] != 0 {
		t.Errorf("Retried by Reason %v", byReason)
	}

	// The next line has the increase since this one only.
	m.Consumed()
	if err := e.Write(); err != nil {
		t.Fatal(err)
	}
	main = lines(t, &buf)[0]
	if main[metricnames.ProcConsumed] != 1.0 || main[metricnames.ProcRetried] != 0.0 || main[metricnames.ProcCallbacksPending] != 7.0 {
		t.Errorf("second line: Consumed %v Retried %v CallbacksPending %v", main[metricnames.ProcConsumed], main[metricnames.ProcRetried], main[metricnames.ProcCallbacksPending])
	}
	if _, ok := main[metricnames.ProcBatchSize]; ok {
		t.Error("a histogram reported the previous minute's observations again")
	}
}

// TestEMFManyObservations: more than 100 observations become 100 quantiles
// of them, so the line stays within the specification's limit.
func TestEMFManyObservations(t *testing.T) {
	m := New()
	var buf bytes.Buffer
	e := NewEMF(m, &buf, "s", time.Minute)
	for i := range 1000 {
		d := 2 * time.Millisecond
		if i%10 == 0 {
			d = 3 * time.Second
		}
		m.EndToEnd(d)
	}
	if err := e.Write(); err != nil {
		t.Fatal(err)
	}
	v := lines(t, &buf)[0][metricnames.ProcEndToEnd].([]any)
	if len(v) != 100 {
		t.Fatalf("%d values", len(v))
	}
	slow := 0
	for _, x := range v {
		if x.(float64) == 5 {
			slow++
		} else if x.(float64) != 0.0025 {
			t.Fatalf("value %v outside the observed buckets", x)
		}
	}
	if slow != 10 {
		t.Errorf("%d of 100 quantiles slow, want 10 (10%% of observations)", slow)
	}
}

func TestQuantiles(t *testing.T) {
	for _, tc := range []struct {
		bounds, counts []float64
		want           string
	}{
		{nil, nil, "[]"},
		{[]float64{1, 2}, []float64{0, 0}, "[]"},
		{[]float64{2, 1}, []float64{1, 2}, "[1 1 2]"},
		{[]float64{1, 10}, []float64{150, 50}, "75×1 25×10"},
	} {
		got := quantiles(tc.bounds, tc.counts)
		s := fmt.Sprint(got)
		if got == nil {
			s = "[]"
		}
		if strings.Contains(tc.want, "×") {
			n1 := 0
			for _, v := range got {
				if v == 1 {
					n1++
				}
			}
			s = fmt.Sprintf("%d×1 %d×10", n1, len(got)-n1)
		}
		if s != tc.want {
			t.Errorf("quantiles(%v, %v) = %s, want %s", tc.bounds, tc.counts, s, tc.want)
		}
	}
}

// TestValidatorRejects: the shape check fails on documents that break the
// specification, so TestEMFLines can fail.
func TestValidatorRejects(t *testing.T) {
	for _, bad := range []string{
		`not json`,
		`{"Stack":"s","Consumed":1}`,
		`{"_aws":{"CloudWatchMetrics":[{"Namespace":"N","Dimensions":[["Stack"]],"Metrics":[{"Name":"Consumed"}]}]},"Stack":"s","Consumed":1}`,
		`{"_aws":{"Timestamp":1,"CloudWatchMetrics":[{"Namespace":"N","Dimensions":[["Stack"]],"Metrics":[{"Name":"Consumed"}]}]},"Consumed":1}`,
		`{"_aws":{"Timestamp":1,"CloudWatchMetrics":[{"Namespace":"N","Dimensions":[["Stack"]],"Metrics":[{"Name":"Consumed"}]}]},"Stack":"s","Consumed":"1"}`,
		`{"_aws":{"Timestamp":1,"CloudWatchMetrics":[{"Namespace":"N","Dimensions":[["Stack"]],"Metrics":[{"Name":"Consumed","Unit":"Furlongs"}]}]},"Stack":"s","Consumed":1}`,
		`{"_aws":{"Timestamp":1,"CloudWatchMetrics":[{"Dimensions":[["Stack"]],"Metrics":[{"Name":"Consumed"}]}]},"Stack":"s","Consumed":1}`,
	} {
		if _, err := validateEMF([]byte(bad)); err == nil {
			t.Errorf("accepted %s", bad)
		}
	}
	if _, err := validateEMF([]byte(`{"_aws":{"Timestamp":1,"CloudWatchMetrics":[{"Namespace":"N","Dimensions":[["Stack"]],"Metrics":[{"Name":"V","Unit":"Seconds"}]}]},"Stack":"s","V":[1,2]}`)); err != nil {
		t.Errorf("refused a valid document: %v", err)
	}
}

// TestEMFRunWritesOnStop: Run writes every interval and once more when its
// context ends.
func TestEMFRunWritesOnStop(t *testing.T) {
	m := New()
	var buf syncBuffer
	e := NewEMF(m, &buf, "s", 20*time.Millisecond)
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { defer close(done); e.Run(ctx, func(err error) { t.Error(err) }) }()
	time.Sleep(70 * time.Millisecond)
	m.Consumed()
	cancel()
	<-done
	total, mains := 0.0, 0
	for _, l := range bytes.Split(bytes.TrimSpace(buf.bytes()), []byte("\n")) {
		doc, err := validateEMF(l)
		if err != nil {
			t.Fatal(err)
		}
		if len(dims(doc)) == 1 {
			mains++
			total += doc[metricnames.ProcConsumed].(float64)
		}
	}
	if mains < 2 {
		t.Fatalf("%d main lines, want the ticks' and the final one", mains)
	}
	if total != 1 {
		t.Errorf("Consumed over all lines %v, want 1 (counted once, by the final line)", total)
	}
}

// TestEMFWriteError: a writer that fails makes Write fail, and Run
// reports it and goes on.
func TestEMFWriteError(t *testing.T) {
	e := NewEMF(New(), failWriter{}, "s", 10*time.Millisecond)
	if err := e.Write(); err == nil {
		t.Fatal("no error from a failing writer")
	}
	ctx, cancel := context.WithCancel(context.Background())
	var mu sync.Mutex
	n := 0
	done := make(chan struct{})
	go func() {
		defer close(done)
		e.Run(ctx, func(error) { mu.Lock(); n++; mu.Unlock() })
	}()
	time.Sleep(55 * time.Millisecond)
	cancel()
	<-done
	if n < 2 {
		t.Errorf("%d errors reported, want one per tick and the final write", n)
	}
}

type failWriter struct{}

func (failWriter) Write([]byte) (int, error) { return 0, errors.New("closed") }
