// Command simulate replays load traces through the processor's scaling
// rules as the stack's offline plan declares them (`make simulate`):
//
//	go run ./infra/scaling/cmd/simulate [-stack dev] [-trace path.csv] [-per-task N] [-startup M] [-latency S]
//
// For each trace it writes build/simulate/<trace>.json and <trace>.png and
// prints one table row. Without -trace it runs every shipped trace
// (infra/scaling/simulate/traces/*.csv).
package main

import (
	"encoding/json"
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"strings"

	"github.com/hookline/hookline/infra/config"
	"github.com/hookline/hookline/infra/plan"
	"github.com/hookline/hookline/infra/scaling/simulate"
	"github.com/hookline/hookline/infra/stack"
)

func main() {
	stackName := flag.String("stack", "dev", "stack whose plan gives min/max, steps, cooldowns and the alarms")
	trace := flag.String("trace", "", "one trace CSV (default: every shipped trace)")
	out := flag.String("out", "", "output directory (default build/simulate under the project root)")
	perTask := flag.Float64("per-task", 0, "messages/s one task processes (default: the benchmark's figure scaled to the task's CPU)")
	startup := flag.Int("startup", -1, "minutes from scale-out to a consuming task (default 2)")
	latency := flag.Float64("latency", -1, "seconds a message is in flight (default 0.1)")
	flag.Parse()
	if err := run(*stackName, *trace, *out, *perTask, *startup, *latency); err != nil {
		fmt.Fprintln(os.Stderr, "simulate:", err)
		os.Exit(1)
	}
}

func run(stackName, trace, out string, perTask float64, startup int, latency float64) error {
	wd, err := os.Getwd()
	if err != nil {
		return err
	}
	root, err := config.FindRoot(wd)
	if err != nil {
		return err
	}
	res, err := plan.Run(stack.Program, plan.Options{Root: root, Stack: stackName})
	if err != nil {
		return err
	}
	rules, err := simulate.FromPlan(res.File())
	if err != nil {
		return err
	}
	p := simulate.DefaultParams(rules.TaskCPU)
	if perTask > 0 {
		p.PerTask = perTask
	}
	if startup >= 0 {
		p.StartupMinutes = startup
	}
	if latency >= 0 {
		p.LatencySec = latency
	}
	traces := []string{trace}
	if trace == "" {
		traces, err = filepath.Glob(filepath.Join(root, "infra", "scaling", "simulate", "traces", "*.csv"))
		if err != nil || len(traces) == 0 {
			return fmt.Errorf("no shipped traces: %v", err)
		}
		sort.Strings(traces)
	}
	if out == "" {
		out = filepath.Join(root, "build", "simulate")
	}
	if err := os.MkdirAll(out, 0o755); err != nil {
		return err
	}
	fmt.Printf("stack %s: %d..%d tasks, %.0f messages/s per task, new tasks consume after %d min, %.2f s in flight\n\n",
		stackName, rules.MinTasks, rules.MaxTasks, p.PerTask, p.StartupMinutes, p.LatencySec)
	var rows []simulate.Summary
	for _, tr := range traces {
		f, err := os.Open(tr)
		if err != nil {
			return err
		}
		pts, err := simulate.ReadTrace(f)
		f.Close()
		if err != nil {
			return fmt.Errorf("%s: %w", tr, err)
		}
		name := strings.TrimSuffix(filepath.Base(tr), filepath.Ext(tr))
		r := simulate.Run(rules, pts, p)
		b, err := json.MarshalIndent(r.Minutes, "", " ")
		if err != nil {
			return err
		}
		if err := os.WriteFile(filepath.Join(out, name+".json"), append(b, '\n'), 0o644); err != nil {
			return err
		}
		img, err := os.Create(filepath.Join(out, name+".png"))
		if err != nil {
			return err
		}
		err = simulate.Chart(img, fmt.Sprintf("%s (stack %s)", name, stackName), r)
		if cerr := img.Close(); err == nil {
			err = cerr
		}
		if err != nil {
			return err
		}
		rows = append(rows, simulate.Summarize(name, r, p))
	}
	simulate.WriteTable(os.Stdout, rows)
	fmt.Printf("\nwrote %s/<trace>.json and .png; rules: first minute in ALARM\n", out)
	return nil
}
