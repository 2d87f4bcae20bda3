package grafana_test

import (
	"encoding/json"
	"slices"
	"strings"
	"testing"

	"github.com/hookline/hookline/dashboards/grafana"
)

// TestShippedDashboards: every dashboard in the repository passes the
// checks, and together they cover each part of the pipeline.
func TestShippedDashboards(t *testing.T) {
	t.Parallel()
	files, err := grafana.Dashboards()
	if err != nil {
		t.Fatal(err)
	}
	if len(files) < 2 {
		t.Fatalf("%d dashboards; want the CloudWatch and the Prometheus one", len(files))
	}
	namespaces, prom := map[string]bool{}, map[string]bool{}
	for name, data := range files {
		for _, p := range grafana.Check(data) {
			t.Errorf("%s: %v", name, p)
		}
		var d struct {
			Panels []struct {
				Targets []struct {
					Namespace string `json:"namespace"`
					Expr      string `json:"expr"`
					QueryMode string `json:"queryMode"`
				} `json:"targets"`
			} `json:"panels"`
		}
		if err := json.Unmarshal(data, &d); err != nil {
			t.Fatal(err)
		}
		for _, p := range d.Panels {
			for _, tg := range p.Targets {
				namespaces[tg.Namespace] = true
				namespaces[tg.QueryMode] = true
				for _, m := range grafana.MetricNames(tg.Expr) {
					prom[m] = true
				}
			}
		}
	}
	for _, ns := range []string{"Hookline/Receiver", "Hookline/Processor", "Hookline/Queues", "hookline/broker", "AWS/ApiGateway",
		"AWS/Lambda", "AWS/ECS", "ECS/ContainerInsights", "AWS/RDS", "AWS/ElastiCache", "AWS/EC2", "Logs"} {
		if !namespaces[ns] {
			t.Errorf("no dashboard shows %s", ns)
		}
	}
	for _, m := range []string{"hookline_processor_consumed_total", "hookline_processor_end_to_end_seconds_bucket",
		"rabbitmq_detailed_queue_messages_ready", "rabbitmq_global_messages_received_total", "rabbitmq_global_messages_delivered_total",
		"rabbitmq_global_messages_acknowledged_total", "rabbitmq_alarms_memory_used_watermark", "rabbitmq_alarms_free_disk_space_watermark",
		"rabbitmq_connections", "rabbitmq_detailed_raft_commit_latency_seconds", "rabbitmq_detailed_raft_term", "rabbitmq_raft_wal_files"} {
		if !prom[m] {
			t.Errorf("no dashboard queries %s", m)
		}
	}
}

// valid is a dashboard with one panel of each kind; each case below
// breaks one thing in it.
const valid = `{
  "title": "t", "uid": "u",
  "templating": {"list": [
    {"name": "DS_CLOUDWATCH", "type": "datasource", "query": "cloudwatch"},
    {"name": "DS_PROMETHEUS", "type": "datasource", "query": "prometheus"}]},
  "panels": [
    {"id": 1, "type": "row", "title": "a row"},
    {"id": 2, "type": "timeseries", "title": "cw",
     "datasource": {"type": "cloudwatch", "uid": "${DS_CLOUDWATCH}"},
     "targets": [{"refId": "A", "queryMode": "Metrics", "namespace": "Hookline/Receiver", "metricName": "Accepted", "dimensions": {"Stack": "$stack"}},
                 {"refId": "B", "namespace": "AWS/Lambda", "metricName": "Errors", "dimensions": {"FunctionName": "$f"}}]},
    {"id": 3, "type": "timeseries", "title": "prom",
     "datasource": {"type": "prometheus", "uid": "${DS_PROMETHEUS}"},
     "targets": [{"refId": "A", "expr": "sum(rate(hookline_processor_acked_total{job=\"p\"}[$__rate_interval])) / sum(rabbitmq_detailed_queue_messages)"}]},
    {"id": 4, "type": "table", "title": "logs",
     "datasource": {"type": "cloudwatch", "uid": "${DS_CLOUDWATCH}"},
     "targets": [{"refId": "A", "queryMode": "Logs", "logGroupNames": ["/hookline/x/receiver"], "expression": "fields @message"}]}
  ]}`

// TestCheckFails: each defect is reported, with the panel and the query,
// and the unbroken dashboard reports nothing (so each case fails for its
// own defect only).
func TestCheckFails(t *testing.T) {
	t.Parallel()
	if p := grafana.Check([]byte(valid)); len(p) != 0 {
		t.Fatalf("the valid dashboard: %v", p)
	}
	cases := []struct {
		name   string
		edit   func(d map[string]any)
		raw    string // instead of edit
		errors []string
	}{
		{name: "panel without a data source", edit: func(d map[string]any) { delete(panel(d, 2), "datasource") },
			errors: []string{`panel "cw": no data source`}},
		{name: "panel without a query", edit: func(d map[string]any) { panel(d, 3)["targets"] = []any{} },
			errors: []string{`panel "prom": no query`}},
		{name: "panel whose targets are missing", edit: func(d map[string]any) { delete(panel(d, 4), "targets") },
			errors: []string{`panel "logs": no query`}},
		{name: "unknown CloudWatch metric", edit: func(d map[string]any) { target(d, 2, 1)["metricName"] = "Erors" },
			errors: []string{`panel "cw", query B: unknown metric AWS/Lambda Erors: not in internal/metricnames nor in the documented AWS list (known.go)`}},
		{name: "code metric in the wrong namespace", edit: func(d map[string]any) { target(d, 2, 0)["namespace"] = "Hookline/Processor" },
			errors: []string{`panel "cw", query A: unknown metric Hookline/Processor Accepted: not in internal/metricnames nor in the documented AWS list (known.go)`}},
		{name: "unknown Prometheus metric", edit: func(d map[string]any) {
			target(d, 3, 0)["expr"] = `rate(hookline_processor_akced_total[5m]) + on(instance) group_left(rabbitmq_node) rabbitmq_raft_entry_commit_latency_seconds`
		}, errors: []string{
			`panel "prom", query A: unknown metric hookline_processor_akced_total: not in internal/metricnames nor in the documented RabbitMQ and Prometheus lists (known.go)`,
			`panel "prom", query A: unknown metric rabbitmq_raft_entry_commit_latency_seconds: not in internal/metricnames nor in the documented RabbitMQ and Prometheus lists (known.go)`}},
		{name: "hard-coded data source uid", edit: func(d map[string]any) {
			panel(d, 3)["datasource"] = map[string]any{"type": "prometheus", "uid": "P1809F7CD0C75ACF3"}
		},
			errors: []string{`panel "prom": data source uid "P1809F7CD0C75ACF3" is not one of the data source variables ${DS_CLOUDWATCH}, ${DS_PROMETHEUS}`}},
		{name: "data source variable not declared", edit: func(d map[string]any) {
			d["templating"] = map[string]any{"list": []any{map[string]any{"name": "DS_CLOUDWATCH", "type": "datasource", "query": "cloudwatch"}}}
		}, errors: []string{`panel "prom": uses ${DS_PROMETHEUS}, which the dashboard's templating does not declare as a prometheus data source variable`}},
		{name: "target with another data source", edit: func(d map[string]any) {
			target(d, 3, 0)["datasource"] = map[string]any{"type": "prometheus", "uid": "other"}
		}, errors: []string{`panel "prom", query A: data source "other" differs from the panel's`}},
		{name: "Hookline metric without Stack", edit: func(d map[string]any) { target(d, 2, 0)["dimensions"] = map[string]any{} },
			errors: []string{`panel "cw", query A: Hookline/Receiver Accepted without the Stack dimension mixes every stack's data`}},
		{name: "CloudWatch query naming no metric", edit: func(d map[string]any) { delete(target(d, 2, 1), "metricName") },
			errors: []string{`panel "cw", query B: no query: a metric query needs a namespace and a metricName`}},
		{name: "empty PromQL", edit: func(d map[string]any) { target(d, 3, 0)["expr"] = " " },
			errors: []string{`panel "prom", query A: no query: empty expr`}},
		{name: "Logs query without a log group", edit: func(d map[string]any) { delete(target(d, 4, 0), "logGroupNames") },
			errors: []string{`panel "logs", query A: a Logs query needs logGroupNames and an expression`}},
		{name: "Metrics Insights SQL", edit: func(d map[string]any) { target(d, 2, 1)["metricQueryType"] = 1 },
			errors: []string{`panel "cw", query B: metricQueryType 1: only metric search (0) queries can be checked`}},
		{name: "panel id twice", edit: func(d map[string]any) { panel(d, 4)["id"] = 3 },
			errors: []string{`panel "logs": panel id 3 used twice`}},
		{name: "not JSON", raw: `{"panels": [`, errors: []string{"does not parse: unexpected end of JSON input"}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			t.Parallel()
			data := []byte(c.raw)
			if c.edit != nil {
				var d map[string]any
				if err := json.Unmarshal([]byte(valid), &d); err != nil {
					t.Fatal(err)
				}
				c.edit(d)
				var err error
				if data, err = json.Marshal(d); err != nil {
					t.Fatal(err)
				}
			}
			var got []string
			for _, p := range grafana.Check(data) {
				got = append(got, p.Error())
			}
			if !slices.Equal(got, c.errors) {
				t.Errorf("got\n  %s\nwant\n  %s", strings.Join(got, "\n  "), strings.Join(c.errors, "\n  "))
			}
		})
	}
}

func panel(d map[string]any, id float64) map[string]any {
	for _, p := range d["panels"].([]any) {
		if p := p.(map[string]any); p["id"] == id {
			return p
		}
	}
	panic("no panel")
}

func target(d map[string]any, id float64, i int) map[string]any {
	return panel(d, id)["targets"].([]any)[i].(map[string]any)
}

// TestMetricNames: the names a PromQL expression selects, and nothing
// else (functions, aggregations, grouping labels, matchers, durations,
// numbers, strings, Grafana variables).
func TestMetricNames(t *testing.T) {
	t.Parallel()
	for _, c := range []struct {
		expr string
		want []string
	}{
		{`up`, []string{"up"}},
		{`sum by (le, reason) (rate(a_bucket{job=~"$job", le!="+Inf"}[$__rate_interval]))`, []string{"a_bucket"}},
		{`histogram_quantile(0.99, sum without(instance) (rate(x_bucket[5m] offset 1h)))`, []string{"x_bucket"}},
		{`a * on(instance, job) group_left(rabbitmq_cluster, rabbitmq_node) b{rabbitmq_cluster="$c"}`, []string{"a", "b"}},
		{`(a - b) / ignoring(x) group_right c > bool 1e3 and d or e unless f`, []string{"a", "b", "c", "d", "e", "f"}},
		{`topk(${n}, max(a:rule:rate5m) by (q)) # a comment with words`, []string{"a:rule:rate5m"}},
		{`label_replace(m, "dst", "$1", "src", "(.*)") + count_values("v", n)`, []string{"m", "n"}},
		{`sum(rate(a[5m:1m])) + sum (a)`, []string{"a"}},
		{`{__name__="hidden"}`, nil},
		{`"unterminated`, nil},
	} {
		if got := grafana.MetricNames(c.expr); !slices.Equal(got, c.want) {
			t.Errorf("MetricNames(%q) = %q, want %q", c.expr, got, c.want)
		}
	}
}

// TestKnownPrometheus: the documented RabbitMQ names under both prefixes,
// the processor's runtime collectors as client_golang serves them, and
// names none of them has.
func TestKnownPrometheus(t *testing.T) {
	t.Parallel()
	for name, want := range map[string]bool{
		"hookline_processor_acked_total":                true,
		"hookline_receiver_body_bytes_bucket":           true,
		"rabbitmq_queue_messages_ready":                 true,
		"rabbitmq_detailed_queue_messages_ready":        true,
		"rabbitmq_alarms_memory_used_watermark":         true,
		"rabbitmq_raft_commit_latency_seconds":          true,
		"rabbitmq_detailed_raft_commit_latency_seconds": true,
		"up":                                         true,
		"go_goroutines":                              true,
		"go_gc_duration_seconds_count":               true,
		"process_resident_memory_bytes":              true,
		"process_cpu_seconds_total":                  true,
		"rabbitmq_queue_messages_nope":               false,
		"rabbitmq_detailed_nope":                     false,
		"rabbitmq_raft_entry_commit_latency_seconds": false, // 4.1's name, not 4.3's
		"rabbitmq_raft_term_total":                   false, // 4.1's
		"rabbitmq_alarms_file_descriptor_limit":      false, // 4.1 only
		"go_nope":                                    false,
		"process_nope":                               false,
		"node_cpu_seconds_total":                     false,
	} {
		if got := grafana.KnownPrometheus(name); got != want {
			t.Errorf("KnownPrometheus(%s) = %v, want %v", name, got, want)
		}
	}
	for name, want := range map[[2]string]bool{
		{"AWS/ApiGateway", "5xx"}:           true,
		{"AWS/ApiGateway", "5XXError"}:      false, // REST APIs', not HTTP APIs'
		{"hookline/broker", "Ready"}:        true,
		{"Hookline/Queues", "InboundDepth"}: true,
		{"AWS/Lambda", "Nope"}:              false,
	} {
		if got := grafana.KnownCloudWatch(name[0], name[1]); got != want {
			t.Errorf("KnownCloudWatch(%s, %s) = %v, want %v", name[0], name[1], got, want)
		}
	}
}
