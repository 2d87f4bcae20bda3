package simulate_test

import (
	"fmt"
	"strings"
	"sync"
	"testing"

	"github.com/hookline/hookline/infra/config"
	"github.com/hookline/hookline/infra/plan"
	"github.com/hookline/hookline/infra/scaling/simulate"
	"github.com/hookline/hookline/infra/stack"
)

var (
	rulesMu sync.Mutex
	rules   = map[string]*simulate.Rules{}
)

// stackRules are the rules the stack's offline plan declares: the
// simulator never sees a copy of the constants.
func stackRules(t *testing.T, name string) *simulate.Rules {
	t.Helper()
	rulesMu.Lock()
	defer rulesMu.Unlock()
	if r, ok := rules[name]; ok {
		return r
	}
	root, err := config.FindRoot(".")
	if err != nil {
		t.Fatal(err)
	}
	res, err := plan.Run(stack.Program, plan.Options{Root: root, Stack: name})
	if err != nil {
		t.Fatal(err)
	}
	r, err := simulate.FromPlan(res.File())
	if err != nil {
		t.Fatal(err)
	}
	rules[name] = r
	return r
}

// trace builds a trace from runs of (minutes, ingest, cpu); cpu < 0: modelled.
func trace(t *testing.T, runs ...[3]float64) []simulate.Point {
	t.Helper()
	var b strings.Builder
	b.WriteString("minute,ingest_per_s,cpu_pct\n")
	m := 1
	for _, r := range runs {
		for range int(r[0]) {
			cpu := ""
			if r[2] >= 0 {
				cpu = fmt.Sprint(r[2])
			}
			fmt.Fprintf(&b, "%d,%v,%s\n", m, r[1], cpu)
			m++
		}
	}
	pts, err := simulate.ReadTrace(strings.NewReader(b.String()))
	if err != nil {
		t.Fatal(err)
	}
	return pts
}

// params: 100 messages/s per task, tasks consume the minute after their
// scale-out, in-flight depth 0 at these rates (latency 0).
var params = simulate.Params{PerTask: 100, StartupMinutes: 1, LatencySec: 0, IdleCPU: 2}

func fired(r simulate.Result, rule string) (int, bool) {
	m, ok := r.FirstFired[rule]
	return m, ok
}

func desiredAt(r simulate.Result, minute int) int {
	for _, m := range r.Minutes {
		if m.Minute == minute {
			return m.Desired
		}
	}
	return -1
}

// "Rising for more than 5 minutes": 5 rising minutes do not scale, the 6th
// does, at that minute. The CPU is held low so that only rule 1 can act.
func TestBacklogRisingFiresOnTheSixthMinute(t *testing.T) {
	for _, st := range []string{"dev", "prod"} {
		t.Run(st, func(t *testing.T) {
			rs := stackRules(t, st)
			ingest := float64(rs.MinTasks)*params.PerTask + 50 // 50/s above what the minimum consumes
			five := simulate.Run(rs, trace(t, [3]float64{1, 0, 10}, [3]float64{5, ingest, 10}, [3]float64{10, 0, 10}), params)
			if m, ok := fired(five, "backlog-rising"); ok {
				t.Errorf("5 rising minutes fired rule 1 at minute %d", m)
			}
			for _, m := range five.Minutes {
				if m.Desired != rs.MinTasks {
					t.Fatalf("minute %d: %d tasks after 5 rising minutes; want the minimum %d", m.Minute, m.Desired, rs.MinTasks)
				}
			}
			six := simulate.Run(rs, trace(t, [3]float64{1, 0, 10}, [3]float64{6, ingest, 10}, [3]float64{10, 0, 10}), params)
			m, ok := fired(six, "backlog-rising")
			if !ok || m != 7 { // minute 1 is flat, minutes 2..7 rise
				t.Fatalf("rule 1 first fired at %d (%v); want minute 7, the 6th rising minute", m, ok)
			}
			step := rs.Alarm("backlog-rising").Policy.Adjustment
			if desiredAt(six, 6) != rs.MinTasks || desiredAt(six, 7) != rs.MinTasks+step {
				t.Errorf("tasks at minutes 6, 7: %d, %d; want %d then %d", desiredAt(six, 6), desiredAt(six, 7), rs.MinTasks, rs.MinTasks+step)
			}
		})
	}
}

// CPU >= 90 % for more than 5 minutes fires on the 6th; >= 80 % for more
// than 15 on the 16th; a minute below breaks the run.
func TestCPURulesFireAtTheirMinute(t *testing.T) {
	rs := stackRules(t, "prod")
	for _, tc := range []struct {
		name  string
		tr    []simulate.Point
		rule  string
		at    int // 0: must not fire
		other string
	}{
		{"90 % for 5 minutes", trace(t, [3]float64{5, 0, 95}, [3]float64{5, 0, 10}), "cpu-90", 0, ""},
		{"90 % for 6 minutes", trace(t, [3]float64{6, 0, 95}, [3]float64{5, 0, 10}), "cpu-90", 6, ""},
		{"90 % broken by one minute at 89", trace(t, [3]float64{3, 0, 95}, [3]float64{1, 0, 89}, [3]float64{3, 0, 95}, [3]float64{3, 0, 10}), "cpu-90", 0, ""},
		{"80 % for 15 minutes", trace(t, [3]float64{15, 0, 85}, [3]float64{5, 0, 10}), "cpu-80", 0, "cpu-90"},
		{"80 % for 16 minutes", trace(t, [3]float64{16, 0, 85}, [3]float64{5, 0, 10}), "cpu-80", 16, "cpu-90"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			r := simulate.Run(rs, tc.tr, params)
			m, ok := fired(r, tc.rule)
			if tc.at == 0 && ok {
				t.Errorf("%s fired at minute %d", tc.rule, m)
			}
			if tc.at != 0 && (!ok || m != tc.at) {
				t.Errorf("%s first fired at %d (%v); want %d", tc.rule, m, ok, tc.at)
			}
			if tc.other != "" {
				if m, ok := fired(r, tc.other); ok {
					t.Errorf("%s fired at %d at 85 %% CPU", tc.other, m)
				}
			}
			if tc.at != 0 {
				step := rs.Alarm(tc.rule).Policy.Adjustment
				if got := desiredAt(r, tc.at); got != rs.MinTasks+step {
					t.Errorf("tasks at minute %d: %d; want %d", tc.at, got, rs.MinTasks+step)
				}
			}
		})
	}
}

// Rule 4: back to the minimum at the 5th consecutive minute at depth 0,
// not before, and never while the queue holds anything.
func TestScaleInAfterFiveMinutesAtZero(t *testing.T) {
	rs := stackRules(t, "dev")
	// A backlog that scales out, then nothing arrives: the queue drains.
	r := simulate.Run(rs, trace(t, [3]float64{1, 0, 10}, [3]float64{12, 300, 10}, [3]float64{40, 0, 10}), params)
	if _, ok := fired(r, "backlog-rising"); !ok {
		t.Fatal("the backlog never scaled out; the test needs added tasks")
	}
	firstZero := -1
	for _, m := range r.Minutes {
		if m.Minute > 13 && m.Backlog == 0 && firstZero < 0 {
			firstZero = m.Minute
		}
	}
	if firstZero < 0 {
		t.Fatal("the queue never drained")
	}
	for _, m := range r.Minutes {
		if m.Minute > 2 && m.Minute < firstZero+4 && m.Desired == rs.MinTasks && m.Minute > 8 {
			t.Errorf("minute %d: back at the minimum before 5 minutes at depth 0 (first 0 at %d)", m.Minute, firstZero)
		}
		if m.Backlog > 0 && m.Minute > 8 && desiredAt(r, m.Minute) < desiredAt(r, m.Minute-1) {
			t.Errorf("minute %d: scaled in with %v messages in the queue", m.Minute, m.Backlog)
		}
	}
	if got, ok := fired(r, "queue-empty"); !ok || got != firstZero+4 {
		t.Errorf("rule 4 first fired at %d (%v); want %d, the 5th minute at 0 from %d", got, ok, firstZero+4, firstZero)
	}
	if desiredAt(r, firstZero+3) == rs.MinTasks || desiredAt(r, firstZero+4) != rs.MinTasks {
		t.Errorf("tasks at minutes %d, %d: %d, %d; want added tasks, then the minimum %d",
			firstZero+3, firstZero+4, desiredAt(r, firstZero+3), desiredAt(r, firstZero+4), rs.MinTasks)
	}

	// Steady traffic keeps messages in flight: the depth never reads 0,
	// and the added tasks stay (the specification's rule, at its cost).
	steady := simulate.Run(rs, trace(t, [3]float64{1, 0, 10}, [3]float64{12, 300, 10}, [3]float64{40, 150, 10}),
		simulate.Params{PerTask: 100, StartupMinutes: 1, LatencySec: 0.1, IdleCPU: 2})
	if m, ok := fired(steady, "queue-empty"); ok {
		t.Errorf("rule 4 fired at %d under steady traffic", m)
	}
	last := steady.Minutes[len(steady.Minutes)-1]
	if last.Desired == rs.MinTasks {
		t.Errorf("back at the minimum under steady traffic; depth %v", last.Backlog)
	}
}

// CPU >= 80 % with an empty queue: the vertical-scaling notice fires, and
// nothing scales.
func TestCPUWithEmptyQueueNotifiesWithoutScaling(t *testing.T) {
	for _, st := range []string{"dev", "prod"} {
		t.Run(st, func(t *testing.T) {
			rs := stackRules(t, st)
			r := simulate.Run(rs, trace(t, [3]float64{3, 0, 20}, [3]float64{10, 0, 85}, [3]float64{5, 0, 20}), params)
			m, ok := fired(r, "cpu-high-queue-empty")
			if !ok || m != 9 { // minutes 4..9: the 6th at 85 %
				t.Errorf("notice first fired at %d (%v); want minute 9", m, ok)
			}
			for _, mm := range r.Minutes {
				if mm.Desired != rs.MinTasks {
					t.Errorf("minute %d: %d tasks; the notice must not scale", mm.Minute, mm.Desired)
				}
			}
			if a := rs.Alarm("cpu-high-queue-empty"); a == nil || a.Policy != nil {
				t.Errorf("the notice has a scaling policy: %+v", a)
			}
			// With traffic in the queue the notice stays quiet.
			busy := simulate.Run(rs, trace(t, [3]float64{13, float64(rs.MinTasks) * 50, 85}),
				simulate.Params{PerTask: 100, StartupMinutes: 1, LatencySec: 0.1, IdleCPU: 2})
			if m, ok := fired(busy, "cpu-high-queue-empty"); ok {
				t.Errorf("notice fired at %d with messages in flight", m)
			}
		})
	}
}

// The plan's alarms are what the simulator runs: the six rules, each with
// its policy or none.
func TestRulesComeFromThePlan(t *testing.T) {
	rs := stackRules(t, "prod")
	want := map[string]string{"backlog-rising": "ChangeInCapacity", "cpu-80": "ChangeInCapacity", "cpu-90": "ChangeInCapacity",
		"queue-empty": "ExactCapacity", "cpu-high-queue-empty": "", "queue-metrics-missing": ""}
	if len(rs.Alarms) != len(want) {
		t.Fatalf("%d alarms; want %d", len(rs.Alarms), len(want))
	}
	for name, kind := range want {
		a := rs.Alarm(name)
		if a == nil {
			t.Fatalf("no alarm %s", name)
		}
		if got := ""; a.Policy != nil {
			got = a.Policy.AdjustmentType
			if got != kind {
				t.Errorf("%s policy %s; want %s", name, got, kind)
			}
		} else if kind != "" {
			t.Errorf("%s has no policy; want %s", name, kind)
		}
	}
	if rs.MinTasks != 2 || rs.MaxTasks != 20 || rs.TaskCPU != 1024 {
		t.Errorf("prod %d..%d tasks of %d CPU units", rs.MinTasks, rs.MaxTasks, rs.TaskCPU)
	}
}

// Rule 2 in ALARM while the queue has been empty for 5 minutes: the
// scale-out and the scale-in are both due; the larger capacity wins every
// minute, including during the scale-out cooldown, so the tasks do not flap.
func TestConflictingRulesLargestCapacityWins(t *testing.T) {
	rs := stackRules(t, "prod")
	r := simulate.Run(rs, trace(t, [3]float64{25, 0, 85}, [3]float64{5, 0, 20}), params)
	out, ok := fired(r, "cpu-80")
	if !ok || out != 16 {
		t.Fatalf("cpu-80 first fired at %d (%v); want 16", out, ok)
	}
	if _, ok := fired(r, "queue-empty"); !ok {
		t.Fatal("queue-empty never fired; the test needs the conflict")
	}
	for i := 1; i < len(r.Minutes); i++ {
		m, prev := r.Minutes[i], r.Minutes[i-1]
		if m.Minute <= 25 && m.Desired < prev.Desired {
			t.Errorf("minute %d: %d tasks after %d while rule 2 holds; want no scale-in", m.Minute, m.Desired, prev.Desired)
		}
	}
	if got := desiredAt(r, 25); got <= rs.MinTasks {
		t.Errorf("tasks at minute 25: %d; want added tasks", got)
	}
	if got := desiredAt(r, 26); got != rs.MinTasks {
		t.Errorf("tasks at minute 26, CPU back to 20 %% and the queue empty: %d; want the minimum %d", got, rs.MinTasks)
	}
}
