// Package simulate replays load traces through the processor's scaling
// rules as the recorded plan declares them (alarms, metric math, step
// policies, min/max) and a model of the service: per-task throughput, task
// start-up delay, one-minute CloudWatch periods and alarm evaluation, and
// Application Auto Scaling's cooldowns and "largest capacity wins".
package simulate

import (
	"bufio"
	"fmt"
	"io"
	"math"
	"strconv"
	"strings"

	"github.com/hookline/hookline/internal/queuemetrics"
)

// Point is one minute of a trace.
type Point struct {
	Minute int
	Ingest float64  // messages/s published into webhooks.inbound
	CPU    *float64 // when set, the service's average CPU that minute
}

// ReadTrace reads `minute,ingest_per_s[,cpu_pct]` CSV with a header.
func ReadTrace(r io.Reader) ([]Point, error) {
	sc := bufio.NewScanner(r)
	var pts []Point
	line := 0
	cpuCol := -1
	for sc.Scan() {
		line++
		f := strings.Split(strings.TrimSpace(sc.Text()), ",")
		if line == 1 {
			if len(f) < 2 || strings.TrimSpace(f[0]) != "minute" || strings.TrimSpace(f[1]) != "ingest_per_s" {
				return nil, fmt.Errorf("trace: header %q; want minute,ingest_per_s[,cpu_pct]", sc.Text())
			}
			if len(f) > 2 && strings.TrimSpace(f[2]) == "cpu_pct" {
				cpuCol = 2
			}
			continue
		}
		if len(f) == 1 && f[0] == "" {
			continue
		}
		if len(f) < 2 {
			return nil, fmt.Errorf("trace line %d: want minute,ingest_per_s[,cpu_pct]", line)
		}
		m, err := strconv.Atoi(strings.TrimSpace(f[0]))
		if err != nil {
			return nil, fmt.Errorf("trace line %d: minute %q", line, f[0])
		}
		in, err := strconv.ParseFloat(strings.TrimSpace(f[1]), 64)
		if err != nil || in < 0 {
			return nil, fmt.Errorf("trace line %d: ingest_per_s %q", line, f[1])
		}
		p := Point{Minute: m, Ingest: in}
		if cpuCol > 0 && len(f) > cpuCol && strings.TrimSpace(f[cpuCol]) != "" {
			c, err := strconv.ParseFloat(strings.TrimSpace(f[cpuCol]), 64)
			if err != nil || c < 0 || c > 100 {
				return nil, fmt.Errorf("trace line %d: cpu_pct %q", line, f[cpuCol])
			}
			p.CPU = &c
		}
		if len(pts) > 0 && m != pts[len(pts)-1].Minute+1 {
			return nil, fmt.Errorf("trace line %d: minute %d does not follow %d", line, m, pts[len(pts)-1].Minute)
		}
		pts = append(pts, p)
	}
	return pts, sc.Err()
}

// Params are the service model's knobs.
type Params struct {
	PerTask        float64 // messages/s one task processes at full CPU
	StartupMinutes int     // from a scale-out to the new task consuming
	LatencySec     float64 // a message's time in flight (delivered, not yet acked): depth never reads 0 under traffic
	IdleCPU        float64 // CPU % of a task with nothing to do
}

// BenchEventsPerSec is the processor benchmark's drain rate (issue
// "processor performance", docs/decisions.md: ~3,400 events/s with the
// processor on two shared cores); DefaultPerTask scales it to a task's CPU.
const BenchEventsPerSec, benchCPUUnits = 3400.0, 2048

// DefaultParams are the model's defaults for a task of cpuUnits.
func DefaultParams(cpuUnits int) Params {
	return Params{PerTask: BenchEventsPerSec * float64(cpuUnits) / benchCPUUnits, StartupMinutes: 2, LatencySec: 0.1, IdleCPU: 2}
}

// Minute is one simulated minute (the JSON the simulator writes).
type Minute struct {
	Minute  int      `json:"minute"`
	Ingest  float64  `json:"ingest_per_s"`
	Consume float64  `json:"consume_per_s"`
	Backlog float64  `json:"backlog"` // depth = ready + unacked, as the collector reports it
	Tasks   int      `json:"tasks"`   // running (consuming) tasks
	Desired int      `json:"desired"` // Application Auto Scaling's desired count
	CPU     *float64 `json:"cpu_pct"`
	Alarms  []string `json:"alarms"` // rule alarms in ALARM this minute
}

// Result is one trace's simulation.
type Result struct {
	Minutes    []Minute
	FirstFired map[string]int // rule → first minute in ALARM
}

type task struct{ readyAt int }

// Run simulates a trace.
func Run(r *Rules, trace []Point, p Params) Result {
	res := Result{FirstFired: map[string]int{}}
	metrics := map[string]map[int]float64{} // namespace/name → minute index → value
	put := func(name string, t int, v float64) {
		if metrics[name] == nil {
			metrics[name] = map[int]float64{}
		}
		metrics[name][t] = v
	}
	tasks := make([]task, r.MinTasks) // the service starts at its minimum, running
	desired := r.MinTasks
	lastOut, lastIn := math.MinInt32, math.MinInt32
	backlog := 0.0 // messages waiting or in flight
	for t, pt := range trace {
		running := 0
		for _, tk := range tasks {
			if tk.readyAt <= t {
				running++
			}
		}
		capacity := float64(running) * p.PerTask
		demand := pt.Ingest*60 + backlog
		processed := math.Min(capacity*60, demand)
		backlog = demand - processed
		consume := processed / 60
		inflight := math.Round(consume * p.LatencySec)
		depth := math.Round(backlog) + inflight
		var cpu *float64
		if pt.CPU != nil {
			c := *pt.CPU
			cpu = &c
		} else if running > 0 {
			c := math.Min(100, p.IdleCPU+(100-p.IdleCPU)*consume/capacity)
			cpu = &c
		}
		put(queuemetrics.Namespace+"/"+queuemetrics.InboundDepth, t, depth)
		put(queuemetrics.Namespace+"/"+queuemetrics.IngestRate, t, pt.Ingest)
		put(queuemetrics.Namespace+"/"+queuemetrics.ConsumeRate, t, consume)
		if cpu != nil { // ECS publishes no CPU for a service without tasks
			put("AWS/ECS/CPUUtilization", t, *cpu)
		}

		var inAlarm []string
		var proposals []int
		outFired := false
		for _, a := range r.Alarms {
			if !a.inAlarm(metrics, t) {
				continue
			}
			inAlarm = append(inAlarm, a.Name)
			if _, ok := res.FirstFired[a.Name]; !ok {
				res.FirstFired[a.Name] = pt.Minute
			}
			if a.Policy == nil {
				continue
			}
			// An alarm in ALARM invokes its policy every minute. During a
			// scale-out cooldown the capacity the previous scale-out added
			// counts as part of the next one (Application Auto Scaling's
			// step scaling): the invocation holds the current capacity,
			// which a concurrent scale-in cannot undercut (largest wins).
			switch a.Policy.AdjustmentType {
			case "ChangeInCapacity":
				if (t-lastOut)*60 >= a.Policy.CooldownSec {
					proposals = append(proposals, desired+a.Policy.Adjustment)
					outFired = true
				} else {
					proposals = append(proposals, desired)
				}
			case "ExactCapacity":
				if (t-lastIn)*60 >= a.Policy.CooldownSec {
					proposals = append(proposals, a.Policy.Adjustment)
				}
			}
		}
		if len(proposals) > 0 {
			want := proposals[0]
			for _, v := range proposals[1:] { // conflicting policies: the largest capacity wins
				want = max(want, v)
			}
			want = min(max(want, r.MinTasks), r.MaxTasks)
			switch {
			case want > desired:
				for range want - desired {
					tasks = append(tasks, task{readyAt: t + p.StartupMinutes})
				}
				lastOut = t
			case want < desired:
				tasks = tasks[:want] // ECS stops the newest tasks first
				lastIn = t
			case outFired:
				// at max: no activity, no cooldown
			}
			desired = want
		}
		res.Minutes = append(res.Minutes, Minute{
			Minute: pt.Minute, Ingest: pt.Ingest, Consume: round2(consume), Backlog: depth,
			Tasks: running, Desired: desired, CPU: roundp(cpu), Alarms: nonNil(inAlarm),
		})
	}
	return res
}

// inAlarm evaluates the alarm at minute index t: of the last
// EvaluationPeriods datapoints, at least DatapointsToAlarm breach; a
// missing datapoint breaches only when missing data is "breaching".
func (a *Alarm) inAlarm(metrics map[string]map[int]float64, t int) bool {
	get := func(q query, t int) (float64, bool) {
		v, ok := metrics[q.namespace+"/"+q.name][t]
		if q.stat == "SampleCount" {
			return b2f(ok), true // one datum per minute when present; CloudWatch reports 0 samples as no datapoint for SampleCount < 1 alarms too
		}
		return v, ok
	}
	value := func(t int) (float64, bool) {
		if t < 0 {
			return 0, false
		}
		if a.single != nil {
			return get(*a.single, t)
		}
		return a.expr.eval(func(id string, t int) (float64, bool) {
			if t < 0 {
				return 0, false
			}
			q, ok := a.queries[id]
			if !ok {
				return 0, false
			}
			return get(q, t)
		}, t)
	}
	breaching := 0
	for i := t - a.EvaluationPeriods + 1; i <= t; i++ {
		v, ok := value(i)
		if !ok {
			if a.TreatMissingData == "breaching" {
				breaching++
			}
			continue
		}
		if a.breaches(v) {
			breaching++
		}
	}
	return breaching >= a.DatapointsToAlarm
}

func (a *Alarm) breaches(v float64) bool {
	switch a.Comparison {
	case "GreaterThanOrEqualToThreshold":
		return v >= a.Threshold
	case "GreaterThanThreshold":
		return v > a.Threshold
	case "LessThanThreshold":
		return v < a.Threshold
	case "LessThanOrEqualToThreshold":
		return v <= a.Threshold
	}
	return false
}

func round2(v float64) float64 { return math.Round(v*100) / 100 }

func roundp(v *float64) *float64 {
	if v == nil {
		return nil
	}
	r := round2(*v)
	return &r
}

func nonNil(s []string) []string {
	if s == nil {
		return []string{}
	}
	return s
}
