package stack_test

import (
	"encoding/json"
	"fmt"
	"strings"
	"testing"

	"github.com/pulumi/pulumi/sdk/v3/go/common/resource"

	"github.com/hookline/hookline/infra/plan"
)

// undrawn are the alarms no dashboard graph draws as CloudWatch evaluates
// them: the graph titled with the alarm's name must show each of its
// metrics (namespace, name, dimensions and statistic), its expression if
// it has one, and its threshold as a horizontal annotation.
func undrawn(alarms []plan.Resource, widgets []dashboardWidget) []string {
	byTitle := map[string]dashboardWidget{}
	for _, w := range widgets {
		if name, _, ok := strings.Cut(w.Properties.Title, " (alarm "); ok && w.Type == "metric" {
			byTitle[name] = w
		}
	}
	var out []string
	for _, a := range alarms {
		w, ok := byTitle[a.Name]
		if !ok {
			out = append(out, a.Name+": no graph on the dashboard")
			continue
		}
		threshold, _ := a.Input("threshold").(float64)
		annotated := false
		for _, h := range w.Properties.Annotations.Horizontal {
			annotated = annotated || h.Value == threshold
		}
		if !annotated {
			out = append(out, fmt.Sprintf("%s: the graph has no annotation at the threshold %g", a.Name, threshold))
		}
		drawn := map[string]bool{}
		exprs := map[string]bool{}
		for _, m := range w.Properties.Metrics {
			key, expr := lineKey(m)
			if expr != "" {
				exprs[expr] = true
			} else {
				drawn[key] = true
			}
		}
		for _, want := range alarmLines(a) {
			if !drawn[want] {
				out = append(out, fmt.Sprintf("%s: the graph does not show %s", a.Name, want))
			}
		}
		if expr := alarmExpression(a); expr != "" && !exprs[expr] {
			out = append(out, fmt.Sprintf("%s: the graph does not show the expression %s", a.Name, expr))
		}
	}
	return out
}

// lineKey is a dashboard line as "namespace name k=v,… stat", or its
// expression.
func lineKey(m []any) (key, expr string) {
	var strs []string
	stat := ""
	for _, e := range m {
		switch x := e.(type) {
		case string:
			strs = append(strs, x)
		case map[string]any:
			if s, ok := x["expression"].(string); ok {
				return "", s
			}
			stat, _ = x["stat"].(string)
		}
	}
	if len(strs) < 2 {
		return "", ""
	}
	dims := map[string]string{}
	for i := 2; i+1 < len(strs); i += 2 {
		dims[strs[i]] = strs[i+1]
	}
	return seriesKey(strs[0], strs[1], dims, stat), ""
}

func seriesKey(ns, name string, dims map[string]string, stat string) string {
	b, _ := json.Marshal(dims) // sorted keys
	return fmt.Sprintf("%s %s %s %s", ns, name, b, stat)
}

// alarmLines are an alarm's metrics as lineKey writes them.
func alarmLines(a plan.Resource) []string {
	if a.Has("metricName") {
		stat := a.Str("statistic")
		if stat == "" {
			stat = a.Str("extendedStatistic")
		}
		return []string{seriesKey(a.Str("namespace"), a.Str("metricName"), strMap(a.Input("dimensions")), stat)}
	}
	var out []string
	queries, _ := a.Input("metricQueries").([]any)
	for _, q := range queries {
		m, _ := q.(map[string]any)
		if metric, ok := m["metric"].(map[string]any); ok {
			ns, _ := metric["namespace"].(string)
			name, _ := metric["metricName"].(string)
			stat, _ := metric["stat"].(string)
			out = append(out, seriesKey(ns, name, strMap(metric["dimensions"]), stat))
		}
	}
	return out
}

func alarmExpression(a plan.Resource) string {
	queries, _ := a.Input("metricQueries").([]any)
	for _, q := range queries {
		m, _ := q.(map[string]any)
		if e, ok := m["expression"].(string); ok {
			return e
		}
	}
	return ""
}

// TestEveryAlarmIsOnTheDashboard: for every shipped stack, every metric
// alarm of the plan (the watch's, the broker nodes', the scaling rules')
// has its graph on the dashboard, its threshold as the annotation; and the
// dashboard stays within CloudWatch's widget limit.
func TestEveryAlarmIsOnTheDashboard(t *testing.T) {
	forEachStack(t, func(t *testing.T, v variant, r *plan.Result) {
		alarms := r.OfType("aws:cloudwatch/metricAlarm:MetricAlarm")
		widgets := dashboardWidgets(t, r)
		if len(alarms) < 40 {
			t.Fatalf("%d alarms: too few to mean anything", len(alarms))
		}
		for _, e := range undrawn(alarms, widgets) {
			t.Error(e)
		}
		// CloudWatch service quotas: up to 500 widgets per dashboard
		// (docs.aws.amazon.com/AmazonCloudWatch/latest/monitoring/cloudwatch_limits.html;
		// older API references said 100).
		if len(widgets) > 500 {
			t.Errorf("%d widgets; CloudWatch takes at most 500", len(widgets))
		}
	})
}

// TestUndrawnNamesTheAlarm: an alarm without a graph, a graph without the
// threshold, a graph of another dimension or statistic, and a math alarm
// whose expression is not drawn each fail, naming the alarm.
func TestUndrawnNamesTheAlarm(t *testing.T) {
	alarm := func(name string, inputs map[string]any) plan.Resource {
		return plan.Resource{Type: "aws:cloudwatch/metricAlarm:MetricAlarm", Name: name, Inputs: resource.NewPropertyMapFromMap(inputs)}
	}
	single := func(name string, threshold float64) plan.Resource {
		return alarm(name, map[string]any{"namespace": "Hookline/Receiver", "metricName": "VerifyUnavailable", "statistic": "Sum",
			"threshold": threshold, "dimensions": map[string]any{"Stack": "hookline-dev"}})
	}
	math := alarm("math", map[string]any{"threshold": 1.0, "metricQueries": []any{
		map[string]any{"id": "e1", "expression": "FILL(failed, 0) + FILL(refused, 0)", "returnData": true},
		map[string]any{"id": "failed", "metric": map[string]any{"namespace": "Hookline/Processor", "metricName": "Callbacks", "stat": "Sum",
			"dimensions": map[string]any{"Stack": "hookline-dev", "Result": "failed"}}},
	}})
	body := `[
	  {"type": "metric", "properties": {"title": "drawn (alarm >= 1)", "annotations": {"horizontal": [{"value": 1}]},
	    "metrics": [["Hookline/Receiver", "VerifyUnavailable", "Stack", "hookline-dev", {"stat": "Sum"}]]}},
	  {"type": "metric", "properties": {"title": "wrong-threshold (alarm >= 1)", "annotations": {"horizontal": [{"value": 1}]},
	    "metrics": [["Hookline/Receiver", "VerifyUnavailable", "Stack", "hookline-dev", {"stat": "Sum"}]]}},
	  {"type": "metric", "properties": {"title": "wrong-series (alarm >= 1)", "annotations": {"horizontal": [{"value": 1}]},
	    "metrics": [["Hookline/Receiver", "VerifyUnavailable", "Stack", "hookline-prod", {"stat": "Average"}]]}},
	  {"type": "metric", "properties": {"title": "math (alarm >= 1)", "annotations": {"horizontal": [{"value": 1}]},
	    "metrics": [["Hookline/Processor", "Callbacks", "Result", "failed", "Stack", "hookline-dev", {"stat": "Sum", "id": "failed"}]]}}
	]`
	var widgets []dashboardWidget
	if err := json.Unmarshal([]byte(body), &widgets); err != nil {
		t.Fatal(err)
	}
	got := undrawn([]plan.Resource{single("drawn", 1), single("missing", 1), single("wrong-threshold", 5), single("wrong-series", 1), math}, widgets)
	want := []string{
		"missing: no graph on the dashboard",
		"wrong-threshold: the graph has no annotation at the threshold 5",
		`wrong-series: the graph does not show Hookline/Receiver VerifyUnavailable {"Stack":"hookline-dev"} Sum`,
		"math: the graph does not show the expression FILL(failed, 0) + FILL(refused, 0)",
	}
	if strings.Join(got, "\n") != strings.Join(want, "\n") {
		t.Errorf("undrawn:\n%s\nwant:\n%s", strings.Join(got, "\n"), strings.Join(want, "\n"))
	}
}
