package stack_test

import (
	"encoding/json"
	"fmt"
	"regexp"
	"strings"
	"testing"

	"github.com/pulumi/pulumi/sdk/v3/go/common/resource"

	"github.com/hookline/hookline/infra/plan"
	"github.com/hookline/hookline/internal/metricnames"
)

// metricRef is one metric the plan reads: an alarm's metric (or one input
// of its expression), or a line of a dashboard graph.
type metricRef struct {
	where           string // the alarm's or the widget's name
	namespace, name string
	dims            map[string]string
	search          bool // a dashboard SEARCH: dims without a value match every value
}

func (m metricRef) String() string {
	return fmt.Sprintf("%s: %s %s %v", m.where, m.namespace, m.name, m.dims)
}

// alarmRefs are the metrics of every metric alarm in the plan, whichever
// component declares it (the watch, the broker nodes, the scaling rules).
func alarmRefs(r *plan.Result) []metricRef {
	var out []metricRef
	for _, a := range r.OfType("aws:cloudwatch/metricAlarm:MetricAlarm") {
		out = append(out, alarmMetrics(a)...)
	}
	return out
}

// alarmMetrics are one alarm's metrics: its own, or its expression's inputs.
func alarmMetrics(a plan.Resource) []metricRef {
	if a.Has("metricName") {
		return []metricRef{{where: a.Name, namespace: a.Str("namespace"), name: a.Str("metricName"), dims: strMap(a.Input("dimensions"))}}
	}
	var out []metricRef
	queries, _ := a.Input("metricQueries").([]any)
	for _, q := range queries {
		m, _ := q.(map[string]any)
		metric, ok := m["metric"].(map[string]any)
		if !ok {
			continue // the expression
		}
		ns, _ := metric["namespace"].(string)
		name, _ := metric["metricName"].(string)
		out = append(out, metricRef{where: a.Name, namespace: ns, name: name, dims: strMap(metric["dimensions"])})
	}
	return out
}

// dashboardWidget is what the tests read of a dashboard widget.
type dashboardWidget struct {
	Type       string
	Properties struct {
		Title       string
		Metrics     [][]any
		Query       string
		Annotations struct {
			Horizontal []struct {
				Label string
				Value float64
			}
		}
	}
}

func dashboardWidgets(t *testing.T, r *plan.Result) []dashboardWidget {
	t.Helper()
	ds := r.OfType("aws:cloudwatch/dashboard:Dashboard")
	if len(ds) != 1 {
		t.Fatalf("%d dashboards; want 1", len(ds))
	}
	var body struct{ Widgets []dashboardWidget }
	if err := json.Unmarshal([]byte(ds[0].Str("dashboardBody")), &body); err != nil {
		t.Fatal(err)
	}
	return body.Widgets
}

// searchTerm reads a SEARCH expression of the form the dashboard writes:
// SEARCH('{Namespace,Dim,…} MetricName="X" Dim="v" …', 'Stat', period).
var (
	searchTerm = regexp.MustCompile(`^SEARCH\('\{([^}]*)\}((?: \w+="[^"]*")*)'`)
	searchKV   = regexp.MustCompile(`(\w+)="([^"]*)"`)
)

// widgetRefs are the metrics of one graph: every metrics-array line, and
// every SEARCH. An entry the reader does not understand is an error, so a
// new form of line cannot slip past the check.
func widgetRefs(w dashboardWidget) ([]metricRef, error) {
	var out []metricRef
	for _, m := range w.Properties.Metrics {
		if len(m) == 0 {
			return nil, fmt.Errorf("%s: an empty metrics line", w.Properties.Title)
		}
		if opts, ok := m[0].(map[string]any); ok {
			expr, _ := opts["expression"].(string)
			if !strings.HasPrefix(expr, "SEARCH(") {
				continue // metric math over the graph's own lines
			}
			s := searchTerm.FindStringSubmatch(expr)
			if s == nil {
				return nil, fmt.Errorf("%s: SEARCH %q is not {namespace,dims} MetricName=… form", w.Properties.Title, expr)
			}
			schema := strings.Split(s[1], ",")
			ref := metricRef{where: w.Properties.Title, namespace: schema[0], dims: map[string]string{}, search: true}
			for _, d := range schema[1:] {
				ref.dims[d] = ""
			}
			for _, kv := range searchKV.FindAllStringSubmatch(s[2], -1) {
				if kv[1] == "MetricName" {
					ref.name = kv[2]
				} else {
					ref.dims[kv[1]] = kv[2]
				}
			}
			out = append(out, ref)
			continue
		}
		ref := metricRef{where: w.Properties.Title, dims: map[string]string{}}
		var strs []string
		for _, e := range m {
			switch x := e.(type) {
			case string:
				strs = append(strs, x)
			case map[string]any: // the line's options, last
			default:
				return nil, fmt.Errorf("%s: line %v has a %T", w.Properties.Title, m, e)
			}
		}
		if len(strs) < 2 || len(strs)%2 != 0 || strs[0] == "." || strs[0] == "..." {
			return nil, fmt.Errorf("%s: line %v is not namespace, name and dimension pairs", w.Properties.Title, m)
		}
		ref.namespace, ref.name = strs[0], strs[1]
		for i := 2; i+1 < len(strs); i += 2 {
			ref.dims[strs[i]] = strs[i+1]
		}
		out = append(out, ref)
	}
	return out, nil
}

func dashboardRefs(t *testing.T, widgets []dashboardWidget) []metricRef {
	t.Helper()
	var out []metricRef
	for _, w := range widgets {
		if w.Type != "metric" {
			continue
		}
		refs, err := widgetRefs(w)
		if err != nil {
			t.Error(err)
		}
		out = append(out, refs...)
	}
	return out
}

// driftErrors are the refs that name a metric the code does not publish
// (internal/metricnames.Check: namespace, name, dimension names, a label's
// value), or that name another stack's series.
func driftErrors(stack string, refs []metricRef) []string {
	var out []string
	for _, ref := range refs {
		dims := ref.dims
		if ref.search {
			// A dimension a SEARCH leaves open matches each value the code gives.
			dims = map[string]string{}
			for d, v := range ref.dims {
				if vals := metricnames.DimensionValues(ref.namespace, ref.name, d); v == "" && len(vals) > 0 {
					v = vals[0]
				}
				dims[d] = v
			}
		}
		if err := metricnames.Check(ref.namespace, ref.name, dims); err != nil {
			out = append(out, ref.where+": "+err.Error())
			continue
		}
		if s, ok := ref.dims[metricnames.StackDimension]; ok && !metricnames.External(ref.namespace) && s != stack {
			out = append(out, fmt.Sprintf("%s: %s %s for stack %q; this stack is %s", ref.where, ref.namespace, ref.name, s, stack))
		}
		if strings.HasPrefix(ref.namespace, metricnames.LogNamespacePrefix) && ref.namespace != metricnames.LogNamespace(stack) {
			out = append(out, fmt.Sprintf("%s: log metric namespace %s; this stack's is %s", ref.where, ref.namespace, metricnames.LogNamespace(stack)))
		}
	}
	return out
}

// unshown are the metrics the code publishes for stack that no dashboard
// line shows.
func unshown(stack string, dashboard []metricRef) []string {
	shown := map[metricnames.Series]bool{}
	for _, ref := range dashboard {
		shown[metricnames.Series{Namespace: ref.namespace, Name: ref.name}] = true
	}
	var out []string
	for _, s := range metricnames.Published(stack) {
		if !shown[s] {
			out = append(out, s.Namespace+" "+s.Name)
		}
	}
	return out
}

// TestMetricNamesDoNotDrift: for every shipped stack, every metric an
// alarm (any component's) or the dashboard reads is one the code
// publishes, in that namespace, under that set of dimensions, for this
// stack; and every metric the code publishes is on the dashboard.
func TestMetricNamesDoNotDrift(t *testing.T) {
	forEachStack(t, func(t *testing.T, v variant, r *plan.Result) {
		stack := "hookline-" + v.stack
		alarmed := alarmRefs(r)
		shown := dashboardRefs(t, dashboardWidgets(t, r))
		if len(alarmed) < 40 || len(shown) < 40 {
			t.Fatalf("%d alarm metrics, %d dashboard lines: the reader found too few to mean anything", len(alarmed), len(shown))
		}
		custom := 0
		for _, ref := range append(alarmed, shown...) {
			if !metricnames.External(ref.namespace) {
				custom++
			}
		}
		if custom < 20 {
			t.Errorf("only %d references to the code's own metrics", custom)
		}
		for _, e := range driftErrors(stack, append(alarmed, shown...)) {
			t.Error(e)
		}
		for _, m := range unshown(stack, shown) {
			t.Errorf("the code publishes %s; the dashboard does not show it", m)
		}
	})
}

// TestDriftCheckNamesTheMistake: the same readers and check, fed an alarm
// and a dashboard with a misspelled namespace, metric name, dimension and
// label value, and another stack's series, fail, each naming the mistake;
// and a dashboard without a metric the code publishes fails naming it.
func TestDriftCheckNamesTheMistake(t *testing.T) {
	const stack = "hookline-dev"
	alarm := func(name string, inputs map[string]any) plan.Resource {
		return plan.Resource{Type: "aws:cloudwatch/metricAlarm:MetricAlarm", Name: name, Inputs: resource.NewPropertyMapFromMap(inputs)}
	}
	alarms := []plan.Resource{
		alarm("typo-namespace", map[string]any{"namespace": "Hookline/Reciever", "metricName": "Accepted", "dimensions": map[string]any{"Stack": stack}}),
		alarm("typo-name", map[string]any{"namespace": "Hookline/Receiver", "metricName": "VerifyUnavaliable", "dimensions": map[string]any{"Stack": stack}}),
		alarm("typo-input", map[string]any{"metricQueries": []any{
			map[string]any{"id": "e1", "expression": "failed + 0", "returnData": true},
			map[string]any{"id": "failed", "metric": map[string]any{"namespace": "Hookline/Processor", "metricName": "Callbacks",
				"stat": "Sum", "period": 300, "dimensions": map[string]any{"Stack": stack, "Result": "Failed"}}},
		}}),
		alarm("other-stack", map[string]any{"namespace": "Hookline/Queues", "metricName": "DeadDepth", "dimensions": map[string]any{"Stack": "hookline-prod"}}),
	}
	var refs []metricRef
	for _, a := range alarms {
		refs = append(refs, alarmMetrics(a)...)
	}
	var w dashboardWidget
	body := `{"properties": {"title": "doctored", "metrics": [
		["Hookline/Processor", "Acked", "Stack", "hookline-dev", "Satck", "x"],
		["hookline/broker", "Booting", "NodeId", "n-1", {"stat": "Maximum"}],
		[{"expression": "SEARCH('{Hookline/Receiver,Stack,Stauts} MetricName=\"Rejected\" Stack=\"hookline-dev\"', 'Sum', 60)"}],
		["Hookline/Logs/hookline-prod", "ReceiverInitFailures"]
	]}}`
	if err := json.Unmarshal([]byte(body), &w); err != nil {
		t.Fatal(err)
	}
	shown, err := widgetRefs(w)
	if err != nil {
		t.Fatal(err)
	}
	got := driftErrors(stack, append(refs, shown...))
	for _, want := range []string{
		`typo-namespace: namespace "Hookline/Reciever"`,
		`typo-name: Hookline/Receiver metric "VerifyUnavaliable"`,
		`typo-input: Hookline/Processor Callbacks dimension Result="Failed"`,
		`other-stack: Hookline/Queues DeadDepth for stack "hookline-prod"`,
		`doctored: Hookline/Processor Acked dimensions [Satck Stack]`,
		`doctored: hookline/broker Booting dimensions [NodeId]`,
		`doctored: Hookline/Receiver Rejected dimensions [Stack Stauts]`,
		`doctored: log metric namespace Hookline/Logs/hookline-prod`,
	} {
		found := false
		for _, g := range got {
			found = found || strings.HasPrefix(g, want)
		}
		if !found {
			t.Errorf("no error starts %q; got %q", want, got)
		}
	}
	if len(got) != 8 {
		t.Errorf("%d errors; want one per mistake: %q", len(got), got)
	}

	// Every published metric but one shown: the one is named.
	var all []metricRef
	for _, s := range metricnames.Published(stack) {
		if s.Name != metricnames.VerifyUnavailable {
			all = append(all, metricRef{namespace: s.Namespace, name: s.Name})
		}
	}
	if missing := unshown(stack, all); len(missing) != 1 || missing[0] != "Hookline/Receiver VerifyUnavailable" {
		t.Errorf("unshown = %v; want only Hookline/Receiver VerifyUnavailable", missing)
	}
	// A line the reader does not understand is an error, not skipped.
	w.Properties.Metrics = [][]any{{"...", "Accepted"}}
	if _, err := widgetRefs(w); err == nil {
		t.Error("a shorthand line was read without error")
	}
}
