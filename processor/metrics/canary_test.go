package metrics

import (
	"bufio"
	"bytes"
	"testing"
	"time"

	"github.com/hookline/hookline/internal/metricnames"
)

// TestCanaryArrivalsEMF: a stored canary delivery is one CanaryArrivals
// in the next EMF line and one CanaryEndToEnd value at its bucket's upper
// bound (a clock skew that makes it negative counts at 0); the line after
// says CanaryArrivals 0 and carries no CanaryEndToEnd, so the
// arrivals-missing alarm sees data (zeros) for as long as a task runs and
// missing data only when none does.
func TestCanaryArrivalsEMF(t *testing.T) {
	m := New()
	var out bytes.Buffer
	e := NewEMF(m, &out, "hookline-test", time.Minute)
	m.CanaryArrived(1700 * time.Millisecond)
	m.CanaryArrived(-time.Second)
	read := func() map[string]any {
		t.Helper()
		out.Reset()
		if err := e.Write(); err != nil {
			t.Fatal(err)
		}
		sc := bufio.NewScanner(&out)
		sc.Buffer(nil, 1<<20)
		if !sc.Scan() {
			t.Fatal("no EMF line")
		}
		root, err := validateEMF(sc.Bytes())
		if err != nil {
			t.Fatalf("%v: %s", err, sc.Bytes())
		}
		return root
	}
	first := read()
	if got := first[metricnames.ProcCanaryArrivals]; got != 2.0 {
		t.Errorf("CanaryArrivals = %v; want 2", got)
	}
	vals, _ := first[metricnames.ProcCanaryEndToEnd].([]any)
	if len(vals) != 2 || vals[0] != 0.001 || vals[1] != 2.5 {
		t.Errorf("CanaryEndToEnd = %v; want [0.001 2.5] (the 0 s and 1.7 s buckets' upper bounds)", first[metricnames.ProcCanaryEndToEnd])
	}
	second := read()
	if got, ok := second[metricnames.ProcCanaryArrivals]; !ok || got != 0.0 {
		t.Errorf("next line CanaryArrivals = %v (present %v); want a 0", got, ok)
	}
	if v, ok := second[metricnames.ProcCanaryEndToEnd]; ok {
		t.Errorf("next line CanaryEndToEnd = %v; want none without arrivals", v)
	}
}
