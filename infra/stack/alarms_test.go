package stack_test

import (
	"encoding/json"
	"os"
	"path/filepath"
	"regexp"
	"sort"
	"strings"
	"testing"

	"github.com/hookline/hookline/infra/config"
	"github.com/hookline/hookline/infra/plan"
)

// watchAlarm is one alarm the stack must declare, as CloudWatch will
// evaluate it: on one metric (namespace, metric, stat, dims), or on a
// metric-math expression over inputs.
type watchAlarm struct {
	namespace, metric, stat, comparison string
	threshold                           float64
	period, evaluation, datapoints      int
	missing                             string
	dims                                map[string]string // name → value; a value "@type/name" is that resource's mock ID
	expr                                string
	inputs                              map[string]watchInput // by query id
}

type watchInput struct {
	namespace, metric, stat string
	dims                    map[string]string
}

func metric1(ns, metric, stat, cmp string, threshold float64, period, eval, dp int, missing string, dims map[string]string) watchAlarm {
	return watchAlarm{ns, metric, stat, cmp, threshold, period, eval, dp, missing, dims, "", nil}
}

func mathAlarm(expr, cmp string, threshold float64, period, eval, dp int, missing string, inputs map[string]watchInput) watchAlarm {
	return watchAlarm{"", "", "", cmp, threshold, period, eval, dp, missing, nil, expr, inputs}
}

// expectedWatch is every alarm of the watch component for a shipped stack,
// with the thresholds each stack ships (written out here, not read from
// the code's defaults, so a changed default shows as a failed test).
func expectedWatch(t *testing.T, v variant, r *plan.Result) map[string]watchAlarm {
	const gib, mib = 1 << 30, 1 << 20
	prod := v.stack == "prod"
	pick := func(dev, prodV float64) float64 {
		if prod {
			return prodV
		}
		return dev
	}
	n := "hookline-" + v.stack
	rds := map[string]string{"DBInstanceIdentifier": n + "-database"}
	fn := map[string]string{"FunctionName": n + "-receiver"}
	storage := map[bool]float64{false: 20, true: 100}[prod]
	want := map[string]watchAlarm{
		"rds-cpu":             metric1("AWS/RDS", "CPUUtilization", "Average", "GreaterThanThreshold", 80, 300, 3, 3, "missing", rds),
		"rds-free-storage":    metric1("AWS/RDS", "FreeStorageSpace", "Minimum", "LessThanThreshold", storage*gib*5/100, 300, 3, 3, "missing", rds),
		"rds-freeable-memory": metric1("AWS/RDS", "FreeableMemory", "Minimum", "LessThanThreshold", pick(64, 512)*mib, 300, 3, 3, "missing", rds),
		"rds-connections":     metric1("AWS/RDS", "DatabaseConnections", "Maximum", "GreaterThanThreshold", pick(65, 540), 300, 2, 2, "missing", rds),
		"rds-read-latency":    metric1("AWS/RDS", "ReadLatency", "Average", "GreaterThanThreshold", pick(0.05, 0.02), 300, 3, 3, "missing", rds),
		"rds-write-latency":   metric1("AWS/RDS", "WriteLatency", "Average", "GreaterThanThreshold", pick(0.05, 0.02), 300, 3, 3, "missing", rds),
		"lambda-errors":       metric1("AWS/Lambda", "Errors", "Sum", "GreaterThanOrEqualToThreshold", pick(5, 1), 300, 1, 1, "notBreaching", fn),
		"lambda-throttles":    metric1("AWS/Lambda", "Throttles", "Sum", "GreaterThanThreshold", 0, 300, 1, 1, "notBreaching", fn),
		// p99 above 80 % of the function's timeout.
		"lambda-duration":    metric1("AWS/Lambda", "Duration", "p99", "GreaterThanThreshold", 0.8*float64(receiverTimeout(t, r))*1000, 300, 3, 3, "notBreaching", fn),
		"lambda-concurrency": metric1("AWS/Lambda", "ConcurrentExecutions", "Maximum", "GreaterThanThreshold", 0.8*float64(workloadTable[v.name].reserved), 60, 5, 5, "notBreaching", fn),
	}
	groups := r.OfType("aws:elasticache/replicationGroup:ReplicationGroup")
	if len(groups) != 1 {
		t.Fatalf("%d replication groups; want 1", len(groups))
	}
	cacheNodes := groups[0].Int("numCacheClusters")
	if cacheNodes != map[bool]int{false: 1, true: 2}[prod] {
		t.Errorf("%d Redis nodes; want the stack table's", cacheNodes)
	}
	for i := 1; i <= cacheNodes; i++ {
		p := "redis-00" + itoa(i)
		node := map[string]string{"CacheClusterId": groups[0].ID() + "-00" + itoa(i)} // ElastiCache's member cluster ids
		want[p+"-cpu"] = metric1("AWS/ElastiCache", "EngineCPUUtilization", "Average", "GreaterThanThreshold", 80, 300, 3, 3, "missing", node)
		want[p+"-memory"] = metric1("AWS/ElastiCache", "DatabaseMemoryUsagePercentage", "Average", "GreaterThanThreshold", 80, 300, 3, 3, "missing", node)
		want[p+"-evictions"] = metric1("AWS/ElastiCache", "Evictions", "Sum", "GreaterThanThreshold", 0, 300, 1, 1, "notBreaching", node)
		want[p+"-connections"] = metric1("AWS/ElastiCache", "CurrConnections", "Maximum", "GreaterThanThreshold", pick(500, 5000), 300, 2, 2, "missing", node)
		if prod {
			want[p+"-replication-lag"] = metric1("AWS/ElastiCache", "ReplicationLag", "Maximum", "GreaterThanThreshold", 5, 60, 5, 5, "notBreaching", node)
		}
	}
	nats := r.OfType("aws:ec2/natGateway:NatGateway")
	if len(nats) != map[bool]int{false: 1, true: 3}[prod] {
		t.Errorf("%d NAT gateways; want the stack table's", len(nats))
	}
	for i, nat := range nats {
		p := "nat-" + itoa(i+1)
		gw := map[string]string{"NatGatewayId": nat.ID()}
		want[p+"-port-allocation"] = metric1("AWS/NATGateway", "ErrorPortAllocation", "Sum", "GreaterThanThreshold", 0, 300, 1, 1, "notBreaching", gw)
		want[p+"-packets-dropped"] = metric1("AWS/NATGateway", "PacketsDropCount", "Sum", "GreaterThanThreshold", 1000, 300, 2, 2, "notBreaching", gw)
		want[p+"-bandwidth"] = metric1("AWS/NATGateway", "BytesOutToDestination", "Sum", "GreaterThanThreshold", 0.8*100e9/8*60, 60, 5, 5, "notBreaching", gw)
	}

	// The processor's service (the shipped stacks have an image).
	svc := map[string]string{"ClusterName": n + "-processor", "ServiceName": n + "-processor"}
	want["ecs-cpu"] = metric1("AWS/ECS", "CPUUtilization", "Average", "GreaterThanThreshold", 90, 300, 3, 3, "missing", svc)
	want["ecs-memory"] = metric1("AWS/ECS", "MemoryUtilization", "Average", "GreaterThanThreshold", 85, 300, 3, 3, "missing", svc)
	want["ecs-tasks-below-desired"] = mathAlarm("desired - running", "GreaterThanThreshold", 0, 60, 5, 5, "breaching", map[string]watchInput{
		"desired": {"ECS/ContainerInsights", "DesiredTaskCount", "Maximum", svc},
		"running": {"ECS/ContainerInsights", "RunningTaskCount", "Minimum", svc},
	})

	// The processor's callbacks given up: failed after every try, or refused.
	want["callback-failures"] = mathAlarm("FILL(failed, 0) + FILL(refused, 0)", "GreaterThanOrEqualToThreshold", pick(5, 1), 300, 1, 1, "notBreaching", map[string]watchInput{
		"failed":  {"Hookline/Processor", "Callbacks", "Sum", map[string]string{"Stack": n, "Result": "failed"}},
		"refused": {"Hookline/Processor", "Callbacks", "Sum", map[string]string{"Stack": n, "Result": "refused"}},
	})

	// The edge's HTTP API.
	api := map[string]string{"ApiId": "api-" + n + "-edge-api"}
	minReq := map[bool]string{false: "10", true: "50"}[prod]
	want["api-5xx-rate"] = mathAlarm("IF(requests >= "+minReq+", 100 * FILL(errors, 0) / requests, 0)", "GreaterThanThreshold", pick(5, 1), 300, 1, 1, "notBreaching", map[string]watchInput{
		"errors": {"AWS/ApiGateway", "5xx", "Sum", api}, "requests": {"AWS/ApiGateway", "Count", "Sum", api},
	})
	want["api-4xx-rate"] = mathAlarm("IF(requests >= "+minReq+", 100 * FILL(errors, 0) / requests, 0)", "GreaterThanThreshold", pick(50, 25), 300, 2, 2, "notBreaching", map[string]watchInput{
		"errors": {"AWS/ApiGateway", "4xx", "Sum", api}, "requests": {"AWS/ApiGateway", "Count", "Sum", api},
	})
	want["api-latency"] = metric1("AWS/ApiGateway", "Latency", "p99", "GreaterThanThreshold", pick(5000, 3000), 300, 3, 3, "notBreaching", api)

	// The receiver's own metrics and its init failures.
	stack := map[string]string{"Stack": n}
	want["receiver-signature-rejections"] = metric1("Hookline/Receiver", "Rejected", "Sum", "GreaterThanOrEqualToThreshold", 20, 300, 2, 2, "notBreaching", map[string]string{"Stack": n, "Status": "401"})
	want["receiver-origin-rejections"] = metric1("Hookline/Receiver", "Rejected", "Sum", "GreaterThanOrEqualToThreshold", 20, 300, 2, 2, "notBreaching", map[string]string{"Stack": n, "Status": "403"})
	want["receiver-publish-failures"] = metric1("Hookline/Receiver", "PublishFailures", "Sum", "GreaterThanOrEqualToThreshold", pick(5, 1), 300, 1, 1, "notBreaching", stack)
	want["receiver-internal-errors"] = metric1("Hookline/Receiver", "InternalErrors", "Sum", "GreaterThanOrEqualToThreshold", 1, 300, 1, 1, "notBreaching", stack)
	want["receiver-verify-unavailable"] = metric1("Hookline/Receiver", "VerifyUnavailable", "Sum", "GreaterThanOrEqualToThreshold", 1, 300, 2, 2, "notBreaching", stack)
	want["receiver-handshakes"] = metric1("Hookline/Receiver", "Handshakes", "Sum", "GreaterThanThreshold", 100, 300, 3, 3, "notBreaching", stack)
	want["receiver-init-failures"] = metric1("Hookline/Logs/"+n, "ReceiverInitFailures", "Sum", "GreaterThanOrEqualToThreshold", 1, 300, 1, 1, "notBreaching", nil)

	// The queues and the broker, from the collector's metrics.
	want["queue-dead-letters"] = metric1("Hookline/Queues", "DeadDepth", "Maximum", "GreaterThanThreshold", 0, 300, 1, 1, "missing", stack)
	want["queue-backlog"] = mathAlarm("IF(depth > 0, IF(consume > 0, depth / consume / 60, 1000000), 0)", "GreaterThanThreshold", pick(30, 15), 60, 5, 5, "missing", map[string]watchInput{
		"depth": {"Hookline/Queues", "InboundDepth", "Maximum", stack}, "consume": {"Hookline/Queues", "ConsumeRate", "Average", stack},
	})
	// The collector publishes a health count only when it read it whole:
	// no datum is breaching.
	want["broker-memory-alarm"] = metric1("Hookline/Queues", "BrokerMemoryAlarm", "Maximum", "GreaterThanThreshold", 0, 60, 2, 2, "breaching", stack)
	want["broker-disk-alarm"] = metric1("Hookline/Queues", "BrokerDiskAlarm", "Maximum", "GreaterThanThreshold", 0, 60, 2, 2, "breaching", stack)
	if v.name == "prod-cluster" {
		want["broker-quorum-members-missing"] = metric1("Hookline/Queues", "QuorumMembersMissing", "Maximum", "GreaterThanThreshold", 0, 60, 5, 5, "breaching", stack)
		want["broker-queues-without-leader"] = metric1("Hookline/Queues", "QueuesWithoutLeader", "Maximum", "GreaterThanThreshold", 0, 60, 2, 2, "breaching", stack)
		want["broker-partitions"] = metric1("Hookline/Queues", "Partitions", "Maximum", "GreaterThanThreshold", 0, 60, 2, 2, "breaching", stack)
	}
	// Each broker node's host, from its health timer (hookline/broker by
	// Node) and EC2.
	instances := r.OfType("aws:ec2/instance:Instance")
	if len(instances) != nodes[v.name] {
		t.Fatalf("%d broker instances; want %d", len(instances), nodes[v.name])
	}
	for i, inst := range instances {
		p := "broker-node-" + itoa(i)
		node := map[string]string{"Node": n + "-rabbitmq-" + itoa(i)}
		want[p+"-memory"] = metric1("hookline/broker", "MemoryUsedPercent", "Maximum", "GreaterThanThreshold", 85, 300, 3, 3, "missing", node)
		want[p+"-data-disk"] = metric1("hookline/broker", "DataDiskUsedPercent", "Maximum", "GreaterThanThreshold", 80, 300, 1, 1, "missing", node)
		want[p+"-cpu"] = metric1("AWS/EC2", "CPUUtilization", "Average", "GreaterThanThreshold", 80, 300, 3, 3, "missing", map[string]string{"InstanceId": inst.ID()})
	}

	// The end-to-end canary (every shipped stack has an edge and a
	// service): one run a minute, a period each; dev 10 periods, prod 5.
	cp := int(pick(10, 5))
	want["canary-failed"] = metric1("Hookline/Canary", "Failures", "Sum", "GreaterThanOrEqualToThreshold", 1, 60, cp, cp, "notBreaching", stack)
	want["canary-arrivals-missing"] = metric1("Hookline/Processor", "CanaryArrivals", "Sum", "LessThanThreshold", 1, 60, cp, cp, "breaching", stack)
	return want
}

// watchAlarms are the recorded alarms of the watch component, by suffix.
func watchAlarms(v variant, r *plan.Result) map[string]plan.Resource {
	prefix := "hookline-" + v.stack + "-watch-"
	got := map[string]plan.Resource{}
	for _, a := range r.OfType("aws:cloudwatch/metricAlarm:MetricAlarm") {
		if strings.HasPrefix(a.Name, prefix) {
			got[strings.TrimPrefix(a.Name, prefix)] = a
		}
	}
	return got
}

// TestWatchAlarms: every alarm of every component, for every shipped
// stack: metric (or expression and its metrics), statistic, threshold,
// comparison, evaluation, missing data and dimensions, each notifying the
// stack's one topic on ALARM and OK, with a description that links its
// own section of docs/alarms.md.
func TestWatchAlarms(t *testing.T) {
	anchors := runbookAnchors(t)
	forEachStack(t, func(t *testing.T, v variant, r *plan.Result) {
		want := expectedWatch(t, v, r)
		got := watchAlarms(v, r)
		var missing, extra []string
		for k := range want {
			if _, ok := got[k]; !ok {
				missing = append(missing, k)
			}
		}
		for k := range got {
			if _, ok := want[k]; !ok {
				extra = append(extra, k)
			}
		}
		sort.Strings(missing)
		sort.Strings(extra)
		if len(missing)+len(extra) > 0 {
			t.Errorf("watch alarms: missing %v, unexpected %v", missing, extra)
		}
		topics := r.OfType("aws:sns/topic:Topic")
		if len(topics) != 1 {
			t.Fatalf("%d SNS topics; want the stack's one", len(topics))
		}
		topicArn := "arn:aws:sns:us-east-1:" + account + ":" + topics[0].Name
		for k, w := range want {
			a, ok := got[k]
			if !ok {
				continue
			}
			checkAlarm(t, k, a, w)
			for _, key := range []string{"alarmActions", "okActions"} {
				if acts := a.Strs(key); len(acts) != 1 || acts[0] != topicArn {
					t.Errorf("%s: %s %v; want only the stack's topic %s", k, key, acts, topicArn)
				}
			}
			d := a.Str("alarmDescription")
			m := regexp.MustCompile(`Runbook: docs/alarms\.md#([a-z0-9-]+)$`).FindStringSubmatch(d)
			if m == nil || len(d) < 80 {
				t.Errorf("%s: description %q; want what to look at first and the runbook link", k, d)
			} else if !anchors[m[1]] {
				t.Errorf("%s: links docs/alarms.md#%s, which has no such section", k, m[1])
			}
		}
		// The dimension values name the stack's own resources.
		if dbs := r.OfType("aws:rds/instance:Instance"); len(dbs) != 1 || dbs[0].Name != "hookline-"+v.stack+"-database" {
			t.Errorf("RDS instances %v; want hookline-%s-database", names(dbs), v.stack)
		}
		if fns := receiverFns(r); len(fns) != 1 || fns[0].Name != "hookline-"+v.stack+"-receiver" {
			t.Errorf("functions %v; want hookline-%s-receiver", names(fns), v.stack)
		}
		if apis := r.OfType("aws:apigatewayv2/api:Api"); len(apis) != 1 || apis[0].ID() != "api-hookline-"+v.stack+"-edge-api" {
			t.Errorf("HTTP APIs %v; want the edge's one", names(apis))
		}
	})
}

// checkAlarm compares one recorded alarm with what it must be.
func checkAlarm(t *testing.T, k string, a plan.Resource, w watchAlarm) {
	t.Helper()
	if a.Str("comparisonOperator") != w.comparison || a.Input("threshold") != w.threshold ||
		a.Int("evaluationPeriods") != w.evaluation || a.Int("datapointsToAlarm") != w.datapoints || a.Str("treatMissingData") != w.missing {
		t.Errorf("%s: %s %v, %d periods (%d to alarm), missing %s; want %s %v, %d (%d), missing %s", k,
			a.Str("comparisonOperator"), a.Input("threshold"), a.Int("evaluationPeriods"), a.Int("datapointsToAlarm"), a.Str("treatMissingData"),
			w.comparison, w.threshold, w.evaluation, w.datapoints, w.missing)
	}
	if w.expr == "" {
		stat := a.Str("statistic")
		if strings.HasPrefix(w.stat, "p") {
			stat = a.Str("extendedStatistic")
			if a.Has("statistic") {
				t.Errorf("%s: both statistic and extendedStatistic", k)
			}
		}
		if a.Str("namespace") != w.namespace || a.Str("metricName") != w.metric || stat != w.stat || a.Int("period") != w.period {
			t.Errorf("%s: %s/%s %s every %d s; want %s/%s %s every %d s", k, a.Str("namespace"), a.Str("metricName"), stat, a.Int("period"),
				w.namespace, w.metric, w.stat, w.period)
		}
		if dims := strMap(a.Input("dimensions")); !sameMap(dims, w.dims) {
			t.Errorf("%s: dimensions %v; want %v", k, dims, w.dims)
		}
		if a.Has("metricQueries") {
			t.Errorf("%s: a single-metric alarm with metric queries", k)
		}
		return
	}
	if a.Has("metricName") || a.Has("namespace") {
		t.Errorf("%s: a metric-math alarm with its own metric", k)
	}
	queries, _ := a.Input("metricQueries").([]any)
	seen := map[string]bool{}
	for _, q := range queries {
		m, _ := q.(map[string]any)
		id, _ := m["id"].(string)
		if expr, ok := m["expression"].(string); ok {
			if expr != w.expr || m["returnData"] != true {
				t.Errorf("%s: expression %q (returned %v); want %q returned", k, expr, m["returnData"], w.expr)
			}
			seen["expression"] = true
			continue
		}
		in, ok := w.inputs[id]
		metric, _ := m["metric"].(map[string]any)
		if !ok || metric == nil || m["returnData"] == true {
			t.Errorf("%s: query %q %v is not one of its inputs", k, id, m)
			continue
		}
		seen[id] = true
		if metric["namespace"] != in.namespace || metric["metricName"] != in.metric || metric["stat"] != in.stat || metric["period"] != float64(w.period) ||
			!sameMap(strMap(metric["dimensions"]), in.dims) {
			t.Errorf("%s: input %s is %v; want %s/%s %s every %d s, dimensions %v", k, id, metric, in.namespace, in.metric, in.stat, w.period, in.dims)
		}
	}
	if len(seen) != len(w.inputs)+1 || !seen["expression"] {
		t.Errorf("%s: queries %v; want the expression and inputs %v", k, queries, w.inputs)
	}
}

func strMap(v any) map[string]string {
	m, _ := v.(map[string]any)
	out := map[string]string{}
	for k, x := range m {
		s, _ := x.(string)
		out[k] = s
	}
	return out
}

func sameMap(a, b map[string]string) bool {
	if len(a) != len(b) {
		return false
	}
	for k, v := range b {
		if a[k] != v {
			return false
		}
	}
	return true
}

// runbookAnchors are the section anchors of docs/alarms.md (GitHub's:
// lower case, spaces to hyphens, punctuation dropped).
func runbookAnchors(t *testing.T) map[string]bool {
	t.Helper()
	root, err := config.FindRoot(".")
	if err != nil {
		t.Fatal(err)
	}
	doc, err := os.ReadFile(filepath.Join(root, "docs", "alarms.md"))
	if err != nil {
		t.Fatal(err)
	}
	out := map[string]bool{}
	for _, line := range strings.Split(string(doc), "\n") {
		if !strings.HasPrefix(line, "#") {
			continue
		}
		h := strings.ToLower(strings.TrimSpace(strings.TrimLeft(line, "#")))
		h = regexp.MustCompile(`[^a-z0-9 -]`).ReplaceAllString(h, "")
		out[strings.ReplaceAll(h, " ", "-")] = true
	}
	return out
}

func receiverTimeout(t *testing.T, r *plan.Result) int {
	t.Helper()
	fns := receiverFns(r)
	if len(fns) != 1 {
		t.Fatalf("%d functions; want 1", len(fns))
	}
	return fns[0].Int("timeout")
}

// TestReceiverInitFailureFilter: the log metric filter counts the
// receiver's INIT_REPORT failures into the stack's log metric namespace,
// on the receiver's log group.
func TestReceiverInitFailureFilter(t *testing.T) {
	forEachStack(t, func(t *testing.T, v variant, r *plan.Result) {
		filters := r.OfType("aws:cloudwatch/logMetricFilter:LogMetricFilter")
		if len(filters) != 1 {
			t.Fatalf("%d log metric filters; want the receiver's init failures", len(filters))
		}
		f := filters[0]
		var group string
		for _, g := range r.OfType("aws:cloudwatch/logGroup:LogGroup") {
			if g.Str("name") == "/hookline/hookline-"+v.stack+"/receiver" {
				group = g.Str("name")
			}
		}
		if group == "" || f.Str("logGroupName") != group {
			t.Errorf("filter on %q; want the receiver's log group %q", f.Str("logGroupName"), group)
		}
		if f.Str("pattern") != `%INIT_REPORT.*Status: (error|timeout)%` {
			t.Errorf("pattern %q", f.Str("pattern"))
		}
		mt := strMap(f.Input("metricTransformation"))
		if mt["namespace"] != "Hookline/Logs/hookline-"+v.stack || mt["name"] != "ReceiverInitFailures" || mt["value"] != "1" || mt["unit"] != "Count" {
			t.Errorf("metric transformation %v", mt)
		}
	})
}

// TestECSEventRoutes: abnormal task stops and failed or rolled-back
// deployments of the processor's service reach the alarm topic through
// EventBridge with a readable message, and the topic's one policy lets
// exactly those rules (and the account's alarms) publish.
func TestECSEventRoutes(t *testing.T) {
	forEachStack(t, func(t *testing.T, v variant, r *plan.Result) {
		n := "hookline-" + v.stack
		rules := map[string]plan.Resource{}
		for _, rule := range r.OfType("aws:cloudwatch/eventRule:EventRule") {
			if strings.HasPrefix(rule.Name, n+"-watch-") { // the canary's schedule is TestCanary's
				rules[rule.Str("name")] = rule
			}
		}
		stopped, okS := rules[n+"-watch-ecs-task-stopped"]
		deploy, okD := rules[n+"-watch-ecs-deployment-failed"]
		if !okS || !okD || len(rules) != 2 {
			t.Fatalf("event rules %v; want the task-stopped and deployment-failed routes", rules)
		}
		var p eventPattern
		if err := json.Unmarshal([]byte(stopped.Str("eventPattern")), &p); err != nil {
			t.Fatal(err)
		}
		cluster := "arn:aws:ecs:us-east-1:" + account + ":" + n + "-processor"
		if p.Source[0] != "aws.ecs" || p.DetailType[0] != "ECS Task State Change" || len(p.Detail.ClusterArn) != 1 || p.Detail.ClusterArn[0] != cluster ||
			p.Detail.Group[0] != "service:"+n+"-processor" || p.Detail.LastStatus[0] != "STOPPED" || len(p.Detail.Or) != 2 {
			t.Errorf("task-stopped pattern %s", stopped.Str("eventPattern"))
		}
		codes, _ := p.Detail.Or[0]["stopCode"].([]any)
		if len(codes) != 2 || codes[0] != "TaskFailedToStart" || codes[1] != "EssentialContainerExited" {
			t.Errorf("stop codes %v; want only the abnormal ones (not a deploy's or scale-in's ServiceSchedulerInitiated)", codes)
		}
		p = eventPattern{}
		if err := json.Unmarshal([]byte(deploy.Str("eventPattern")), &p); err != nil {
			t.Fatal(err)
		}
		if p.DetailType[0] != "ECS Deployment State Change" || len(p.Resources) != 1 || p.Resources[0] != "service-"+n+"-processor" || len(p.Detail.Or) != 2 {
			t.Errorf("deployment pattern %s", deploy.Str("eventPattern"))
		}

		topics := r.OfType("aws:sns/topic:Topic")
		topicArn := "arn:aws:sns:us-east-1:" + account + ":" + topics[0].Name
		var targets []plan.Resource
		for _, tg := range r.OfType("aws:cloudwatch/eventTarget:EventTarget") {
			if strings.HasPrefix(tg.Name, n+"-watch-") {
				targets = append(targets, tg)
			}
		}
		if len(targets) != 2 {
			t.Fatalf("%d event targets; want 2", len(targets))
		}
		for _, tg := range targets {
			tpl := tg.Str("inputTransformer", "inputTemplate")
			var msg string
			if err := json.Unmarshal([]byte(tpl), &msg); err != nil {
				t.Errorf("%s: template %q is not a JSON string (SNS would get JSON, not a message): %v", tg.Name, tpl, err)
			}
			paths := strMap(tg.Input("inputTransformer", "inputPaths"))
			for _, m := range regexp.MustCompile(`<([a-z]+)>`).FindAllStringSubmatch(msg, -1) {
				if paths[m[1]] == "" {
					t.Errorf("%s: message names <%s>, which no input path sets", tg.Name, m[1])
				}
			}
			if tg.Str("arn") != topicArn || !strings.HasPrefix(msg, n+": processor ") || !strings.Contains(msg, "Runbook: docs/alarms.md#ecs-") {
				t.Errorf("%s: to %s, message %q; want the topic and a readable message with its runbook", tg.Name, tg.Str("arn"), msg)
			}
		}

		policies := r.OfType("aws:sns/topicPolicy:TopicPolicy")
		if len(policies) != 1 || policies[0].Str("arn") != topicArn {
			t.Fatalf("topic policies %v; want one on the alarm topic", names(policies))
		}
		var doc struct {
			Statement []struct {
				Sid       string
				Principal map[string]string
				Action    any
				Condition map[string]map[string]any
			}
		}
		if err := json.Unmarshal([]byte(policies[0].Str("policy")), &doc); err != nil {
			t.Fatal(err)
		}
		var events bool
		for _, s := range doc.Statement {
			if s.Principal["Service"] != "events.amazonaws.com" {
				continue
			}
			events = true
			arns, _ := s.Condition["ArnEquals"]["aws:SourceArn"].([]any)
			want := []any{"arn:aws:cloudwatch:us-east-1:" + account + ":" + n + "-watch-ecs-task-stopped",
				"arn:aws:cloudwatch:us-east-1:" + account + ":" + n + "-watch-ecs-deployment-failed"}
			if s.Action != "sns:Publish" || len(arns) != 2 || arns[0] != want[0] || arns[1] != want[1] {
				t.Errorf("EventBridge statement %+v; want sns:Publish for exactly the two rules", s)
			}
		}
		if !events {
			t.Error("the topic policy does not let EventBridge publish")
		}
	})
}

// eventPattern is what the tests read of an EventBridge rule's pattern.
type eventPattern struct {
	Source     []string `json:"source"`
	DetailType []string `json:"detail-type"`
	Resources  []string `json:"resources"`
	Detail     struct {
		ClusterArn []string         `json:"clusterArn"`
		Group      []string         `json:"group"`
		LastStatus []string         `json:"lastStatus"`
		Or         []map[string]any `json:"$or"`
	} `json:"detail"`
}
