// Package dashboard declares the stack's CloudWatch dashboard on one page:
// the receiver (its own metrics, then Lambda's), the processor (its own
// metrics, then the canary's, then ECS's), the queues and the broker (the collector's and the
// nodes' metrics, then EC2's), the database, and the error log lines.
// Every metric the code publishes (internal/metricnames) is on it, under
// a dimension set the code publishes it with.
package dashboard

import (
	"encoding/json"
	"fmt"
	"sort"
	"strings"

	"github.com/pulumi/pulumi-aws/sdk/v6/go/aws/cloudwatch"
	"github.com/pulumi/pulumi/sdk/v3/go/pulumi"

	"github.com/hookline/hookline/infra/alarms"
	"github.com/hookline/hookline/internal/metricnames"
	"github.com/hookline/hookline/internal/queuemetrics"
)

// Args names what the dashboard shows.
type Args struct {
	Region            string
	Stack             string // project-stack: the Stack dimension of the Hookline/* metrics
	ClusterName       pulumi.StringInput
	ServiceName       pulumi.StringInput // empty before the first image
	FunctionName      pulumi.StringInput
	DatabaseArn       pulumi.StringInput // arn:aws:rds:…:db:<identifier>
	BrokerInstanceIDs pulumi.StringArrayInput
	BrokerNodes       []string // the Node dimension of the broker node metrics
	ProcessorLogGroup pulumi.StringInput
	ReceiverLogGroup  pulumi.StringInput
	// Alarms are every alarm the stack declares (the watch's, the broker
	// nodes', the scaling rules'): each gets a graph of its metrics with
	// its threshold as a horizontal annotation.
	Alarms []alarms.Declared
}

// Dashboard is the dashboard component.
type Dashboard struct {
	pulumi.ResourceState

	URL pulumi.StringOutput
}

// Values are the resolved names a dashboard body is drawn with.
type Values struct {
	Region, Stack                string
	Cluster, Service, Function   string
	DatabaseArn                  string
	BrokerInstances, BrokerNodes []string
	ProcessorLogs, ReceiverLogs  string
	Alarms                       []Alarm
}

// Alarm is an alarm with its dimensions resolved.
type Alarm struct {
	Name                   string
	Comparison, Expression string
	Threshold              float64
	Period                 int
	Metrics                []Metric // the expression's inputs, or the one metric
}

// Metric is one metric of an alarm.
type Metric struct {
	ID, Namespace, Name, Stat string
	Dimensions                map[string]string
}

// New declares the dashboard.
func New(ctx *pulumi.Context, name string, args Args, opts ...pulumi.ResourceOption) (*Dashboard, error) {
	d := &Dashboard{}
	if err := ctx.RegisterComponentResource("hookline:dashboard:Dashboard", name, d, opts...); err != nil {
		return nil, err
	}
	body := pulumi.All(args.ClusterName, args.ServiceName, args.FunctionName, args.DatabaseArn, args.BrokerInstanceIDs,
		args.ProcessorLogGroup, args.ReceiverLogGroup, resolve(args.Alarms)).ApplyT(func(v []any) (string, error) {
		return Body(Values{
			Region: args.Region, Stack: args.Stack,
			Cluster: v[0].(string), Service: v[1].(string), Function: v[2].(string), DatabaseArn: v[3].(string),
			BrokerInstances: v[4].([]string), BrokerNodes: args.BrokerNodes,
			ProcessorLogs: v[5].(string), ReceiverLogs: v[6].(string),
			Alarms: v[7].([]Alarm),
		})
	}).(pulumi.StringOutput)
	if _, err := cloudwatch.NewDashboard(ctx, name, &cloudwatch.DashboardArgs{
		DashboardName: pulumi.String(name),
		DashboardBody: body,
	}, pulumi.Parent(d)); err != nil {
		return nil, err
	}
	d.URL = pulumi.Sprintf("https://%s.console.aws.amazon.com/cloudwatch/home?region=%s#dashboards:name=%s", args.Region, args.Region, name)
	if err := ctx.RegisterResourceOutputs(d, pulumi.Map{"url": d.URL}); err != nil {
		return nil, err
	}
	return d, nil
}

// resolve is the alarms with their dimension values known: every metric's
// dimensions, in the alarms' order, through one All.
func resolve(declared []alarms.Declared) pulumi.AnyOutput {
	var dims []any
	for _, d := range declared {
		if d.Expression == "" {
			dims = append(dims, d.Dimensions.ToStringMapOutput())
		}
		for _, in := range d.Inputs {
			dims = append(dims, in.Dimensions.ToStringMapOutput())
		}
	}
	return pulumi.All(dims...).ApplyT(func(v []any) []Alarm {
		next := func() map[string]string {
			m := v[0].(map[string]string)
			v = v[1:]
			return m
		}
		out := make([]Alarm, 0, len(declared))
		for _, d := range declared {
			a := Alarm{Name: d.Name, Comparison: d.Comparison, Expression: d.Expression, Threshold: d.Threshold, Period: d.Period}
			if d.Expression == "" {
				a.Metrics = []Metric{{Namespace: d.Namespace, Name: d.Metric, Stat: d.Statistic, Dimensions: next()}}
			}
			for _, in := range d.Inputs {
				a.Metrics = append(a.Metrics, Metric{ID: in.ID, Namespace: in.Namespace, Name: in.Metric, Stat: in.Stat, Dimensions: next()})
			}
			out = append(out, a)
		}
		return out
	}).(pulumi.AnyOutput)
}

type widget = map[string]any

// graph is a time-series widget of metrics (each a dashboard metrics-array
// entry: namespace, name, dimension name and value pairs, options last).
func graph(region, title, stat string, metrics ...[]any) widget {
	return widget{"type": "metric", "width": 12, "height": 6, "properties": map[string]any{
		"title": title, "region": region, "stat": stat, "period": 60, "view": "timeSeries", "metrics": metrics,
	}}
}

// line is one metrics-array entry; opts (stat, yAxis, label) go last.
func line(namespace, name string, dims []string, opts map[string]any) []any {
	out := []any{namespace, name}
	for _, d := range dims {
		out = append(out, d)
	}
	if opts != nil {
		out = append(out, opts)
	}
	return out
}

// Body renders the dashboard JSON.
func Body(v Values) (string, error) {
	dbID := v.DatabaseArn[strings.LastIndex(v.DatabaseArn, ":")+1:]
	stack := []string{metricnames.StackDimension, v.Stack}
	recv := func(name string, opts map[string]any) []any {
		return line(metricnames.ReceiverNamespace, name, stack, opts)
	}
	proc := func(name string, opts map[string]any) []any {
		return line(metricnames.ProcessorNamespace, name, stack, opts)
	}
	queue := func(name string, opts map[string]any) []any { return line(queuemetrics.Namespace, name, stack, opts) }
	canary := func(name string, opts map[string]any) []any {
		return line(metricnames.CanaryNamespace, name, stack, opts)
	}
	right := map[string]any{"yAxis": "right"}
	fn := []string{"FunctionName", v.Function}
	r := v.Region

	widgets := []widget{
		graph(r, "Receiver: webhooks (accepted, broker and verification 503s, 500s, handshakes)", "Sum",
			recv(metricnames.Accepted, nil),
			recv(metricnames.PublishFailures, nil),
			recv(metricnames.VerifyUnavailable, nil),
			recv(metricnames.InternalErrors, nil),
			recv(metricnames.Handshakes, right)),
		graph(r, "Receiver: rejected, by status", "Sum",
			[]any{map[string]any{"id": "rejected", "expression": fmt.Sprintf(
				`SEARCH('{%s,%s,%s} MetricName="%s" %s="%s"', 'Sum', 60)`,
				metricnames.ReceiverNamespace, metricnames.StackDimension, metricnames.StatusDimension,
				metricnames.Rejected, metricnames.StackDimension, v.Stack)}}),
		graph(r, "Receiver: publish confirm p99 (ms) and body size p99 (bytes)", "p99",
			recv(metricnames.PublishConfirmLatency, nil),
			recv(metricnames.BodySize, right)),
		graph(r, "Receiver: init failures (INIT_REPORT errors and timeouts)", "Sum",
			line(metricnames.LogNamespace(v.Stack), metricnames.ReceiverInitFailures, nil, nil)),
		graph(r, "Receiver Lambda: invocations, errors, throttles", "Sum",
			line("AWS/Lambda", "Invocations", fn, nil),
			line("AWS/Lambda", "Errors", fn, nil),
			line("AWS/Lambda", "Throttles", fn, nil)),
		graph(r, "Receiver Lambda: duration p99 (ms) and concurrency", "p99",
			line("AWS/Lambda", "Duration", fn, nil),
			line("AWS/Lambda", "ConcurrentExecutions", fn, map[string]any{"stat": "Maximum", "yAxis": "right"})),

		graph(r, "Processor: deliveries (consumed, acked, duplicates, requeued)", "Sum",
			proc(metricnames.ProcConsumed, nil),
			proc(metricnames.ProcAcked, nil),
			proc(metricnames.ProcDuplicates, nil),
			proc(metricnames.ProcRequeued, nil)),
		graph(r, "Processor: retried, dead-lettered and unconfirmed copies, by reason", "Sum",
			byLabel(v.Stack, metricnames.ProcRetried, metricnames.ProcDeadLettered, metricnames.ProcUnconfirmedCopies)...),
		graph(r, "Processor: locks, fenced writes, panics, consumer restarts", "Sum",
			proc(metricnames.ProcLockContention, nil),
			proc(metricnames.ProcLocksLost, nil),
			proc(metricnames.ProcStaleWrites, nil),
			proc(metricnames.ProcPanics, nil),
			proc(metricnames.ProcConsumerRestarts, nil)),
		graph(r, "Processor: callbacks by result; outbox pending and in flight (right)", "Sum",
			append(byLabel(v.Stack, metricnames.ProcCallbacks),
				proc(metricnames.ProcCallbacksPending, map[string]any{"stat": "Maximum", "yAxis": "right"}),
				proc(metricnames.ProcCallbacksInFlight, map[string]any{"stat": "Maximum", "yAxis": "right"}))...),
		graph(r, "Processor: batch, lock wait and end-to-end p99 (s); batch size p50 (right)", "p99",
			proc(metricnames.ProcBatchDuration, nil),
			proc(metricnames.ProcLockWait, nil),
			proc(metricnames.ProcEndToEnd, nil),
			proc(metricnames.ProcBatchSize, map[string]any{"stat": "p50", "yAxis": "right"})),
		graph(r, "Processor: in flight and prefetch; body bytes held (right)", "Maximum",
			proc(metricnames.ProcInFlight, nil),
			proc(metricnames.ProcPrefetch, nil),
			proc(metricnames.ProcBodyBytes, right),
			proc(metricnames.ProcBodyBytesPeak, right)),

		// The end-to-end canary (docs/observability.md, "Canary"): its runs
		// against the public URL, and their arrival in the database.
		graph(r, "Canary: runs, failed runs, arrivals stored by the processor", "Sum",
			canary(metricnames.CanaryRuns, nil),
			canary(metricnames.CanaryFailures, nil),
			proc(metricnames.ProcCanaryArrivals, nil)),
		graph(r, "Canary: request p99 (ms); signed to stored p99 (s, right)", "p99",
			canary(metricnames.CanaryLatency, nil),
			proc(metricnames.ProcCanaryEndToEnd, right)),
	}
	if v.Service != "" {
		svc := []string{"ClusterName", v.Cluster, "ServiceName", v.Service}
		widgets = append(widgets,
			graph(r, "Processor ECS: CPU and memory (%)", "Average",
				line("AWS/ECS", "CPUUtilization", svc, nil),
				line("AWS/ECS", "MemoryUtilization", svc, nil)),
			graph(r, "Processor ECS: running and desired tasks", "Average",
				line("ECS/ContainerInsights", "RunningTaskCount", svc, nil),
				line("ECS/ContainerInsights", "DesiredTaskCount", svc, nil)),
		)
	}

	widgets = append(widgets,
		graph(r, "Queues: webhooks.inbound and webhooks.dead depth", "Maximum",
			queue(queuemetrics.InboundDepth, nil),
			queue(queuemetrics.DeadDepth, right)),
		graph(r, "Queues: ingest and consume rate (/s)", "Average",
			queue(queuemetrics.IngestRate, nil),
			queue(queuemetrics.ConsumeRate, nil)),
		graph(r, "Broker: memory and disk alarms, quorum members missing, queues without leader, partitions", "Maximum",
			queue(queuemetrics.BrokerMemoryAlarm, nil),
			queue(queuemetrics.BrokerDiskAlarm, nil),
			queue(queuemetrics.QuorumMembersMissing, nil),
			queue(queuemetrics.QueuesWithoutLeader, nil),
			queue(queuemetrics.Partitions, nil)),
		graph(r, "Queue collector: minutes a broker health count could not be read, by reason", "Sum",
			byLabel(v.Stack, metricnames.ProcBrokerHealthErrors)...),
	)
	var brokerCPU, nodeUse, nodeState [][]any
	for _, id := range v.BrokerInstances {
		brokerCPU = append(brokerCPU, line("AWS/EC2", "CPUUtilization", []string{"InstanceId", id}, nil))
	}
	for _, n := range v.BrokerNodes {
		node := []string{metricnames.NodeDimension, n}
		nodeUse = append(nodeUse,
			line(metricnames.BrokerNamespace, metricnames.BrokerMemoryUsedPercent, node, nil),
			line(metricnames.BrokerNamespace, metricnames.BrokerDataDiskUsedPercent, node, nil))
		nodeState = append(nodeState,
			line(metricnames.BrokerNamespace, metricnames.BrokerReady, node, map[string]any{"stat": "Minimum"}),
			line(metricnames.BrokerNamespace, metricnames.BrokerBooting, node, nil))
	}
	widgets = append(widgets,
		graph(r, "Broker nodes: CPU (%)", "Average", brokerCPU...),
		graph(r, "Broker nodes: memory and data disk used (%)", "Maximum", nodeUse...),
		graph(r, "Broker nodes: ready (minimum) and booting", "Maximum", nodeState...),
		graph(r, "Database: CPU (%) and connections", "Average",
			line("AWS/RDS", "CPUUtilization", []string{"DBInstanceIdentifier", dbID}, nil),
			line("AWS/RDS", "DatabaseConnections", []string{"DBInstanceIdentifier", dbID}, right)),
		widget{"type": "log", "width": 24, "height": 6, "properties": map[string]any{
			"title":  "Errors in the receiver and processor logs",
			"region": r,
			"view":   "table",
			"query": fmt.Sprintf("SOURCE '%s' | SOURCE '%s' | fields @timestamp, @log, level, msg, error | filter level = 'ERROR' | sort @timestamp desc | limit 50",
				v.ProcessorLogs, v.ReceiverLogs),
		}},
	)
	widgets = append(widgets, widget{"type": "text", "width": 24, "height": 1, "properties": map[string]any{
		"markdown": "## Alarms: each alarm's metrics, its threshold as the line (runbook: docs/alarms.md)",
	}})
	for _, a := range v.Alarms {
		widgets = append(widgets, alarmGraph(r, a))
	}
	b, err := json.Marshal(map[string]any{"widgets": widgets})
	return string(b), err
}

// comparisons are CloudWatch's comparison operators as the annotation
// reads them, and the side of the line that is in alarm.
var comparisons = map[string][2]string{
	"GreaterThanThreshold":          {">", "above"},
	"GreaterThanOrEqualToThreshold": {">=", "above"},
	"LessThanThreshold":             {"<", "below"},
	"LessThanOrEqualToThreshold":    {"<=", "below"},
}

// alarmGraph draws one alarm: its metric, or its expression (the alarm's
// value) over its hidden inputs, at the alarm's period and statistics, and
// the threshold as a horizontal annotation shaded on the alarm's side.
func alarmGraph(region string, a Alarm) widget {
	var metrics [][]any
	if a.Expression != "" {
		metrics = append(metrics, []any{map[string]any{"id": "e1", "expression": a.Expression, "label": a.Name, "period": a.Period}})
	}
	for _, m := range a.Metrics {
		opts := map[string]any{"stat": m.Stat, "period": a.Period}
		if a.Expression != "" {
			opts["id"], opts["visible"] = m.ID, false
		}
		keys := make([]string, 0, len(m.Dimensions))
		for k := range m.Dimensions {
			keys = append(keys, k)
		}
		sort.Strings(keys)
		var dims []string
		for _, k := range keys {
			dims = append(dims, k, m.Dimensions[k])
		}
		metrics = append(metrics, line(m.Namespace, m.Name, dims, opts))
	}
	cmp := comparisons[a.Comparison]
	return widget{"type": "metric", "width": 8, "height": 6, "properties": map[string]any{
		"title": fmt.Sprintf("%s (alarm %s %g)", a.Name, cmp[0], a.Threshold), "region": region,
		"period": a.Period, "view": "timeSeries", "metrics": metrics,
		"annotations": map[string]any{"horizontal": []map[string]any{
			{"label": fmt.Sprintf("%s %s %g", a.Name, cmp[0], a.Threshold), "value": a.Threshold, "fill": cmp[1]},
		}},
	}}
}

// byLabel is one line per label value of each labelled processor counter
// (metricnames.Processor's Values), each its own series under Stack and
// the label's dimension.
func byLabel(stack string, names ...string) [][]any {
	var out [][]any
	for _, name := range names {
		for _, pm := range metricnames.Processor {
			if pm.CloudWatch != name {
				continue
			}
			for _, val := range pm.Values {
				out = append(out, line(metricnames.ProcessorNamespace, name,
					[]string{metricnames.StackDimension, stack, pm.Dimension, val}, map[string]any{"label": name + " " + val}))
			}
		}
	}
	return out
}
