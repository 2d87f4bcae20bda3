package simulate

import (
	"strings"
	"testing"
)

func TestReadTrace(t *testing.T) {
	pts, err := ReadTrace(strings.NewReader("minute,ingest_per_s,cpu_pct\n0,10,\n1,20.5,95\n"))
	if err != nil || len(pts) != 2 || pts[0].CPU != nil || *pts[1].CPU != 95 || pts[1].Ingest != 20.5 {
		t.Fatalf("%+v %v", pts, err)
	}
	for _, bad := range []string{
		"ingest_per_s,minute\n0,1\n",             // header order
		"minute,ingest_per_s\n0,-1\n",            // negative rate
		"minute,ingest_per_s\n0,1\n2,1\n",        // a gap
		"minute,ingest_per_s,cpu_pct\n0,1,101\n", // CPU over 100
		"minute,ingest_per_s\nx,1\n",
		"minute,ingest_per_s\n5\n", // one field
	} {
		if _, err := ReadTrace(strings.NewReader(bad)); err == nil {
			t.Errorf("accepted %q", bad)
		}
	}
}

func TestMetricMath(t *testing.T) {
	vals := map[string][]float64{"depth": {0, 5, 5, 9}, "ingest": {1, 3, 3, 2}, "consume": {1, 2, 4, 1}}
	s := func(id string, t int) (float64, bool) {
		v, ok := vals[id]
		if !ok || t < 0 || t >= len(v) {
			return 0, false
		}
		return v[t], true
	}
	n, err := parseExpr("IF(DIFF(depth) > 0 AND ingest > consume, 1, 0)")
	if err != nil {
		t.Fatal(err)
	}
	for i, want := range []struct {
		v  float64
		ok bool
	}{{0, false}, {1, true}, {0, true}, {1, true}} { // the first minute has no DIFF
		v, ok := n.eval(s, i)
		if v != want.v || ok != want.ok {
			t.Errorf("minute %d: %v %v; want %v %v", i, v, ok, want.v, want.ok)
		}
	}
	for src, want := range map[string]float64{"1 + 2 * 3": 7, "(1 + 2) * 3": 9, "NOT 0 OR 0": 1, "-2 + 5 >= 3": 1, "IF(0, 1, 2)": 2, "4 / 2 != 2": 0} {
		n, err := parseExpr(src)
		if err != nil {
			t.Fatalf("%s: %v", src, err)
		}
		if v, _ := n.eval(s, 0); v != want {
			t.Errorf("%s = %v; want %v", src, v, want)
		}
	}
	for _, bad := range []string{"RATE(depth)", "IF(1, 2)", "(1 + 2", "1 +"} {
		if _, err := parseExpr(bad); err == nil {
			t.Errorf("%q parsed", bad)
		}
	}
}

// Traces are files people write: never a panic.
func FuzzReadTrace(f *testing.F) {
	f.Add("minute,ingest_per_s,cpu_pct\n0,10,\n1,20.5,95\n")
	f.Add("minute,ingest_per_s\n0,1\n")
	f.Fuzz(func(t *testing.T, s string) {
		_, _ = ReadTrace(strings.NewReader(s))
	})
}
