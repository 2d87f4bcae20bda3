package probe

import (
	"context"
	"encoding/json"
	"log/slog"

	"github.com/hookline/hookline/internal/metricnames"
)

// record writes the run's EMF line and log line.
func (p *Prober) record(ctx context.Context, res Result) {
	failures := 1
	if res.OK() {
		failures = 0
	}
	level := slog.LevelInfo
	if failures > 0 {
		level = slog.LevelError
	}
	p.cfg.Log.Log(ctx, level, "canary run", "message_id", res.ID, "status", res.Status,
		"status_class", res.Class, "latency_ms", res.LatencyMillis, "err", res.Err, "url", p.cfg.URL)
	if p.cfg.EMF == nil {
		return
	}
	names := []string{metricnames.CanaryRuns, metricnames.CanaryFailures}
	if res.sent { // a run that sent nothing has no latency: a 0 would be a false one
		names = append(names, metricnames.CanaryLatency)
	}
	metrics := []map[string]string{}
	for _, m := range names {
		metrics = append(metrics, map[string]string{"Name": m, "Unit": metricnames.CanaryUnits[m]})
	}
	doc := map[string]any{
		"_aws": map[string]any{
			"Timestamp": p.cfg.Now().UnixMilli(),
			"CloudWatchMetrics": []map[string]any{{
				"Namespace": metricnames.CanaryNamespace,
				// Stack alone is what the alarms read; with the class, a
				// dashboard splits runs by answer.
				"Dimensions": [][]string{{metricnames.StackDimension}, {metricnames.StackDimension, metricnames.StatusClassDimension}},
				"Metrics":    metrics,
			}},
		},
		metricnames.StackDimension:       p.cfg.Stack,
		metricnames.StatusClassDimension: res.Class,
		metricnames.CanaryRuns:           1,
		metricnames.CanaryFailures:       failures,
		"Status":                         res.Status,
		"message_id":                     res.ID,
	}
	if res.sent {
		doc[metricnames.CanaryLatency] = res.LatencyMillis
	}
	if p.cfg.Function != "" {
		doc["FunctionName"] = p.cfg.Function
	}
	b, err := json.Marshal(doc)
	if err != nil {
		p.cfg.Log.Error("canary EMF line", "err", err)
		return
	}
	if _, err := p.cfg.EMF.Write(append(b, '\n')); err != nil {
		p.cfg.Log.Error("canary EMF line", "err", err)
	}
}
