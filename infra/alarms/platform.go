package alarms

import (
	"fmt"
	"regexp"
	"strings"

	"github.com/pulumi/pulumi-aws/sdk/v6/go/aws/cloudwatch"
	"github.com/pulumi/pulumi/sdk/v3/go/pulumi"

	"github.com/hookline/hookline/infra/config"
)

// Runbook is the page every alarm's description links to, one anchor per
// alarm (Anchor).
const Runbook = "docs/alarms.md"

// Thresholds are what a stack pages on: hookline:alarms over the profile's
// defaults (infra/config).
type Thresholds = config.Thresholds

// WatchArgs name what the alarms watch. A nil input leaves its component's
// alarms out (no service before the first image, no API without the edge).
type WatchArgs struct {
	TopicArn   pulumi.StringInput // the stack's one alarm topic
	Thresholds Thresholds
	Stack      string // project-stack: the Stack dimension of the Hookline/* metrics

	DatabaseID          pulumi.StringInput // DBInstanceIdentifier
	AllocatedStorageGiB int
	CacheNodeIDs        []pulumi.StringOutput // CacheClusterId of every node
	CacheReplicas       int                   // > 0: replication lag is watched
	FunctionName        pulumi.StringInput
	FunctionTimeout     int // seconds
	ReservedConcurrency int // -1: none, no concurrency alarm
	NatGatewayIDs       []pulumi.IDOutput

	ClusterName pulumi.StringInput // the processor's ECS cluster
	ClusterArn  pulumi.StringInput
	ServiceName pulumi.StringInput // nil: no service yet, no ECS alarms or events
	ServiceArn  pulumi.StringInput

	APIID pulumi.StringInput // the HTTP API; nil: no edge

	ReceiverLogGroup pulumi.StringInput // where Lambda writes the receiver's INIT_REPORT lines

	BrokerCluster bool // more than one node: quorum membership, leaders and partitions are watched
	// BrokerNodes are the broker's node names (the Node dimension of the
	// health timer's metrics), BrokerInstanceIDs their instances, in the
	// same order.
	BrokerNodes       []string
	BrokerInstanceIDs []pulumi.StringInput

	// CanaryIntervalMinutes is the canary's schedule, the period of its
	// alarms; 0: no canary, no canary alarms.
	CanaryIntervalMinutes int
}

// Platform is the component of the alarms that watch components from the
// outside (the broker's recover/reboot/not-ready alarms live with the
// broker, the scaling rules with infra/scaling), the EventBridge routes of
// ECS events, the receiver's init-failure log metric and the topic's policy.
type Platform struct {
	pulumi.ResourceState

	AlarmNames []string
	Declared   []Declared // every alarm, for the dashboard to draw
}

// Declared is an alarm as a component declared it: the alarm resource's
// name and its definition, which the dashboard draws with its threshold.
type Declared struct {
	Name string
	Alarm
}

// Alarm is one CloudWatch metric alarm: on one metric, or on a metric-math
// Expression over Inputs.
type Alarm struct {
	Suffix      string // the alarm's name after the component's
	Namespace   string
	Metric      string
	Statistic   string // Average, Maximum, Minimum, Sum, or a percentile such as p99
	Dimensions  pulumi.StringMap
	Comparison  string // GreaterThanThreshold, LessThanThreshold, …
	Threshold   float64
	Period      int // seconds
	Evaluation  int // periods looked at
	Datapoints  int // of which breaching
	Missing     string
	Description string // what is wrong and where to look first

	Expression string  // metric math; empty: the single metric above
	Inputs     []Input // the expression's metrics, each over Period
}

// Input is one metric of a metric-math alarm.
type Input struct {
	ID, Namespace, Metric, Stat string
	Dimensions                  pulumi.StringMap
}

// single is an alarm on one metric.
func single(suffix, namespace, metric, stat string, dims pulumi.StringMap, comparison string, threshold float64,
	period, evaluation, datapoints int, missing, description string) Alarm {
	return Alarm{suffix, namespace, metric, stat, dims, comparison, threshold, period, evaluation, datapoints, missing, description, "", nil}
}

var instanceNumber = regexp.MustCompile(`-\d+(-|$)`)

// Anchor is the alarm's section in the runbook: its suffix without the
// instance number (redis-001-cpu and redis-002-cpu share redis-cpu).
func (a Alarm) Anchor() string {
	return strings.TrimSuffix(instanceNumber.ReplaceAllString(a.Suffix, "-"), "-")
}

// Alarms is every alarm Watch declares for args.
func Alarms(args WatchArgs) []Alarm {
	out := platformAlarms(args)
	out = append(out, serviceAlarms(args)...)
	out = append(out, apiAlarms(args)...)
	out = append(out, receiverAlarms(args)...)
	out = append(out, processorAlarms(args)...)
	out = append(out, queueAlarms(args)...)
	out = append(out, brokerAlarms(args)...)
	out = append(out, canaryAlarms(args)...)
	return out
}

// Watch declares the alarms, each notifying the topic on ALARM and on OK,
// and the events and log metric they need.
func Watch(ctx *pulumi.Context, name string, args WatchArgs, opts ...pulumi.ResourceOption) (*Platform, error) {
	p := &Platform{}
	if err := ctx.RegisterComponentResource("hookline:alarms:Platform", name, p, opts...); err != nil {
		return nil, err
	}
	parent := pulumi.Parent(p)
	var after []pulumi.Resource
	if args.ReceiverLogGroup != nil {
		filter, err := initFailureFilter(ctx, name, args, parent)
		if err != nil {
			return nil, err
		}
		after = append(after, filter)
	}
	for _, a := range Alarms(args) {
		in := &cloudwatch.MetricAlarmArgs{
			AlarmDescription:   pulumi.String(a.Description + " Runbook: " + Runbook + "#" + a.Anchor()),
			EvaluationPeriods:  pulumi.Int(a.Evaluation),
			DatapointsToAlarm:  pulumi.Int(a.Datapoints),
			Threshold:          pulumi.Float64(a.Threshold),
			ComparisonOperator: pulumi.String(a.Comparison),
			TreatMissingData:   pulumi.String(a.Missing),
			AlarmActions:       pulumi.Array{args.TopicArn},
			OkActions:          pulumi.Array{args.TopicArn},
		}
		if a.Expression == "" {
			in.Namespace = pulumi.String(a.Namespace)
			in.MetricName = pulumi.String(a.Metric)
			in.Dimensions = a.Dimensions
			in.Period = pulumi.Int(a.Period)
			if len(a.Statistic) > 1 && a.Statistic[0] == 'p' {
				in.ExtendedStatistic = pulumi.String(a.Statistic)
			} else {
				in.Statistic = pulumi.String(a.Statistic)
			}
		} else {
			q := cloudwatch.MetricAlarmMetricQueryArray{cloudwatch.MetricAlarmMetricQueryArgs{
				Id: pulumi.String("e1"), Expression: pulumi.String(a.Expression),
				Label: pulumi.String(a.Suffix), ReturnData: pulumi.Bool(true),
			}}
			for _, m := range a.Inputs {
				q = append(q, cloudwatch.MetricAlarmMetricQueryArgs{
					Id: pulumi.String(m.ID), ReturnData: pulumi.Bool(false),
					Metric: &cloudwatch.MetricAlarmMetricQueryMetricArgs{
						Namespace: pulumi.String(m.Namespace), MetricName: pulumi.String(m.Metric),
						Stat: pulumi.String(m.Stat), Period: pulumi.Int(a.Period), Dimensions: m.Dimensions,
					},
				})
			}
			in.MetricQueries = q
		}
		if _, err := cloudwatch.NewMetricAlarm(ctx, name+"-"+a.Suffix, in, parent, pulumi.DependsOn(after)); err != nil {
			return nil, err
		}
		p.AlarmNames = append(p.AlarmNames, name+"-"+a.Suffix)
		p.Declared = append(p.Declared, Declared{Name: name + "-" + a.Suffix, Alarm: a})
	}
	if args.ServiceName != nil {
		if err := serviceEvents(ctx, name, args, parent); err != nil {
			return nil, err
		}
	}
	if err := ctx.RegisterResourceOutputs(p, pulumi.Map{}); err != nil {
		return nil, err
	}
	return p, nil
}

// platformAlarms are the data stores', the receiver function's and the NAT
// gateways' alarms. Missing data: metrics that a
// running resource always reports (RDS, ElastiCache host metrics, NAT
// gateways) keep their state when absent ("missing"); event counts that
// are absent when nothing happens (Lambda errors, throttles, evictions,
// drops) are "notBreaching", so zero traffic never pages.
func platformAlarms(args WatchArgs) []Alarm {
	t := args.Thresholds
	var out []Alarm
	db := pulumi.StringMap{"DBInstanceIdentifier": args.DatabaseID}
	const mib = 1 << 20
	out = append(out,
		single("rds-cpu", "AWS/RDS", "CPUUtilization", "Average", db, "GreaterThanThreshold", t.DatabaseCPUPercent, 300, 3, 3, "missing",
			"RDS CPU high for 15 minutes: look at Performance Insights' top SQL, then the processor's batch size and task count."),
		single("rds-free-storage", "AWS/RDS", "FreeStorageSpace", "Minimum", db, "LessThanThreshold",
			float64(args.AllocatedStorageGiB)*1024*mib*t.DatabaseFreeStoragePercent/100, 300, 3, 3, "missing",
			"RDS free storage low although storage autoscaling acts at 10 %: check maxStorageGiB and the webhook_events retention."),
		single("rds-freeable-memory", "AWS/RDS", "FreeableMemory", "Minimum", db, "LessThanThreshold", t.DatabaseFreeMemoryMiB*mib, 300, 3, 3, "missing",
			"RDS freeable memory low: the instance swaps; look at connections and the class (hookline:database.instanceClass)."),
		single("rds-connections", "AWS/RDS", "DatabaseConnections", "Maximum", db, "GreaterThanThreshold", t.DatabaseConnections, 300, 2, 2, "missing",
			"RDS connections near max_connections: new processor tasks will be refused; look at the task count and CONCURRENCY."),
		single("rds-read-latency", "AWS/RDS", "ReadLatency", "Average", db, "GreaterThanThreshold", t.DatabaseLatencySeconds, 300, 3, 3, "missing",
			"RDS read latency high: look at Performance Insights' waits and the gp3 throughput."),
		single("rds-write-latency", "AWS/RDS", "WriteLatency", "Average", db, "GreaterThanThreshold", t.DatabaseLatencySeconds, 300, 3, 3, "missing",
			"RDS write latency high: commits slow the processor's batches; look at Performance Insights and the storage throughput."),
	)
	for i, node := range args.CacheNodeIDs {
		dims := pulumi.StringMap{"CacheClusterId": node}
		n := fmt.Sprintf("redis-%03d", i+1)
		out = append(out,
			single(n+"-cpu", "AWS/ElastiCache", "EngineCPUUtilization", "Average", dims, "GreaterThanThreshold", t.CacheCPUPercent, 300, 3, 3, "missing",
				"Redis engine CPU high (one thread): lock calls slow down every batch; look at the commands per second and the node type."),
			single(n+"-memory", "AWS/ElastiCache", "DatabaseMemoryUsagePercentage", "Average", dims, "GreaterThanThreshold", t.CacheMemoryPercent, 300, 3, 3, "missing",
				"Redis memory high: evictions would drop entity locks; look at the key count by prefix and the node type."),
			single(n+"-evictions", "AWS/ElastiCache", "Evictions", "Sum", dims, "GreaterThanThreshold", 0, 300, 1, 1, "notBreaching",
				"Redis evicted keys: entity locks may have been dropped (the database fence still holds); look at memory use."),
			single(n+"-connections", "AWS/ElastiCache", "CurrConnections", "Maximum", dims, "GreaterThanThreshold", t.CacheConnections, 300, 2, 2, "missing",
				"Redis connections high: a connection leak or far more tasks than expected; look at the processor task count."),
		)
		if args.CacheReplicas > 0 {
			// Only the replica reports ReplicationLag, and which node is the
			// replica changes on failover: absent data is the primary's.
			out = append(out, single(n+"-replication-lag", "AWS/ElastiCache", "ReplicationLag", "Maximum", dims, "GreaterThanThreshold", t.CacheReplicationLagSeconds, 60, 5, 5, "notBreaching",
				"Redis replica lagging: a failover now would lose recent locks; look at the primary's network and CPU."))
		}
	}
	fn := pulumi.StringMap{"FunctionName": args.FunctionName}
	out = append(out,
		single("lambda-errors", "AWS/Lambda", "Errors", "Sum", fn, "GreaterThanOrEqualToThreshold", t.LambdaErrors, 300, 1, 1, "notBreaching",
			"Receiver invocations failing (crashes, timeouts: API Gateway answers 500/504): look at the receiver's log group."),
		single("lambda-throttles", "AWS/Lambda", "Throttles", "Sum", fn, "GreaterThanThreshold", 0, 300, 1, 1, "notBreaching",
			"Receiver throttled: senders get 429/503 and retry; raise hookline:receiver.reservedConcurrency or find the burst's source."),
		single("lambda-duration", "AWS/Lambda", "Duration", "p99", fn, "GreaterThanThreshold", t.LambdaDurationShare*float64(args.FunctionTimeout)*1000, 300, 3, 3, "notBreaching",
			"Receiver p99 duration near its timeout: broker confirms are slow; look at the broker's CPU, memory and publish latency."),
	)
	if args.ReservedConcurrency > 0 {
		out = append(out, single("lambda-concurrency", "AWS/Lambda", "ConcurrentExecutions", "Maximum", fn, "GreaterThanThreshold",
			t.LambdaConcurrencyShare*float64(args.ReservedConcurrency), 60, 5, 5, "notBreaching",
			"Receiver concurrency near its reservation: throttling comes next; look at the request rate and duration."))
	}
	for i, id := range args.NatGatewayIDs {
		dims := pulumi.StringMap{"NatGatewayId": id.ToStringOutput()}
		n := fmt.Sprintf("nat-%d", i+1)
		out = append(out,
			single(n+"-port-allocation", "AWS/NATGateway", "ErrorPortAllocation", "Sum", dims, "GreaterThanThreshold", 0, 300, 1, 1, "notBreaching",
				"NAT gateway out of source ports: callbacks and AWS calls from that AZ fail; look at connections per destination."),
			single(n+"-packets-dropped", "AWS/NATGateway", "PacketsDropCount", "Sum", dims, "GreaterThanThreshold", t.NatPacketsDropped, 300, 2, 2, "notBreaching",
				"NAT gateway dropping packets: check the AWS Health dashboard for the AZ, then the traffic volume."),
			single(n+"-bandwidth", "AWS/NATGateway", "BytesOutToDestination", "Sum", dims, "GreaterThanThreshold", t.NatBytesPerMinute, 60, 5, 5, "notBreaching",
				"NAT gateway near its bandwidth limit: look for a callback loop or large downloads from the compute tier."),
		)
	}
	return out
}
