package simulate

import (
	"fmt"
	"io"
	"strings"
)

// Summary is one row of the simulator's table.
type Summary struct {
	Trace          string
	PeakBacklog    float64
	MinutesToDrain int // from the peak to the first minute back at the in-flight level; -1: not within the trace
	MaxTasks       int
	TaskMinutes    int // Σ desired tasks (Fargate bills a task from its start)
	FirstFired     map[string]int
}

// Summarize computes a run's row.
func Summarize(trace string, res Result, p Params) Summary {
	s := Summary{Trace: trace, FirstFired: res.FirstFired}
	peak := 0
	for i, m := range res.Minutes {
		if m.Backlog > s.PeakBacklog {
			s.PeakBacklog, peak = m.Backlog, i
		}
		s.MaxTasks = max(s.MaxTasks, m.Desired)
		s.TaskMinutes += m.Desired
	}
	s.MinutesToDrain = 0
	if s.PeakBacklog > 0 {
		s.MinutesToDrain = -1
		for _, m := range res.Minutes[peak:] {
			if m.Backlog <= inflight(m, p) {
				s.MinutesToDrain = m.Minute - res.Minutes[peak].Minute
				break
			}
		}
	}
	return s
}

func inflight(m Minute, p Params) float64 {
	return float64(int(m.Consume*p.LatencySec + 0.5))
}

// WriteTable prints the rows as a Markdown table.
func WriteTable(w io.Writer, rows []Summary) {
	fmt.Fprintf(w, "| trace | peak backlog | minutes to drain | max tasks | task-minutes | %s |\n", strings.Join(ruleOrder[:5], " | "))
	fmt.Fprintf(w, "|---|---:|---:|---:|---:|%s\n", strings.Repeat("---:|", 5))
	for _, r := range rows {
		drain := fmt.Sprint(r.MinutesToDrain)
		if r.MinutesToDrain < 0 {
			drain = "not drained"
		}
		var fired []string
		for _, n := range ruleOrder[:5] {
			if m, ok := r.FirstFired[n]; ok {
				fired = append(fired, fmt.Sprint(m))
			} else {
				fired = append(fired, "-")
			}
		}
		fmt.Fprintf(w, "| %s | %.0f | %s | %d | %d | %s |\n", r.Trace, r.PeakBacklog, drain, r.MaxTasks, r.TaskMinutes, strings.Join(fired, " | "))
	}
}
