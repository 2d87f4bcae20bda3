package alarms

import (
	"fmt"

	"github.com/pulumi/pulumi-aws/sdk/v6/go/aws/cloudwatch"
	"github.com/pulumi/pulumi/sdk/v3/go/pulumi"
)

// Runbook is where an alarm's description sends the person it pages.
const Runbook = "docs/operations.md#alarms"

// Thresholds are what a stack pages on. Defaults per profile: Defaults.
type Thresholds struct {
	DatabaseCPUPercent        float64 // RDS CPUUtilization, average over 15 minutes
	DatabaseFreeStoragePct    float64 // FreeStorageSpace below this share of the allocated storage
	DatabaseFreeMemoryMiB     float64 // FreeableMemory minimum
	DatabaseConnections       float64 // DatabaseConnections maximum (about 80 % of max_connections of the class)
	DatabaseLatencySeconds    float64 // ReadLatency / WriteLatency average
	CacheCPUPercent           float64 // EngineCPUUtilization average
	CacheMemoryPercent        float64 // DatabaseMemoryUsagePercentage average
	CacheConnections          float64 // CurrConnections maximum
	CacheReplicationLagSecond float64 // ReplicationLag maximum (replicas only)
	LambdaErrors              float64 // Errors in 5 minutes
	LambdaDurationShare       float64 // p99 Duration above this share of the timeout
	LambdaConcurrencyShare    float64 // ConcurrentExecutions above this share of the reservation
	NatPacketsDropped         float64 // PacketsDropCount in 5 minutes
	NatBytesPerMinute         float64 // BytesOutToDestination per minute
}

// Defaults are the thresholds of the stack table's profiles: dev pages on
// what breaks it, prod earlier. Connection limits follow the default
// classes' max_connections (db.t4g.micro about 85, db.m7g.large about 680).
func Defaults(profile string) Thresholds {
	t := Thresholds{
		DatabaseCPUPercent:        80,
		DatabaseFreeStoragePct:    5, // storage autoscaling acts at 10 %: below 5 % it could not
		DatabaseFreeMemoryMiB:     64,
		DatabaseConnections:       65,
		DatabaseLatencySeconds:    0.05,
		CacheCPUPercent:           80,
		CacheMemoryPercent:        80,
		CacheConnections:          500,
		CacheReplicationLagSecond: 5,
		LambdaErrors:              5,
		LambdaDurationShare:       0.8,
		LambdaConcurrencyShare:    0.8,
		NatPacketsDropped:         1000,
		// 80 % of 100 Gbit/s, the most a NAT gateway scales to, per minute.
		NatBytesPerMinute: 0.8 * 100e9 / 8 * 60,
	}
	if profile == "prod" {
		t.DatabaseFreeMemoryMiB = 512
		t.DatabaseConnections = 540
		t.DatabaseLatencySeconds = 0.02
		t.CacheConnections = 5000
		t.LambdaErrors = 1
	}
	return t
}

// WatchArgs name what the platform alarms watch.
type WatchArgs struct {
	TopicArn   pulumi.StringInput // the stack's one alarm topic
	Thresholds Thresholds

	DatabaseID          pulumi.StringInput // DBInstanceIdentifier
	AllocatedStorageGiB int
	CacheNodeIDs        []pulumi.StringOutput // CacheClusterId of every node
	CacheReplicas       int                   // > 0: replication lag is watched
	FunctionName        pulumi.StringInput
	FunctionTimeout     int // seconds
	ReservedConcurrency int // -1: none, no concurrency alarm
	NatGatewayIDs       []pulumi.IDOutput
}

// Platform is the component of the data stores', the receiver's and the
// NAT gateways' alarms. The queue, broker and scaling alarms live with
// their components (infra/scaling, infra/broker).
type Platform struct {
	pulumi.ResourceState

	AlarmNames []string
}

// Alarm is one CloudWatch metric alarm on one metric.
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
}

// Watch declares the alarms; each notifies the topic on ALARM and on OK.
func Watch(ctx *pulumi.Context, name string, args WatchArgs, opts ...pulumi.ResourceOption) (*Platform, error) {
	p := &Platform{}
	if err := ctx.RegisterComponentResource("hookline:alarms:Platform", name, p, opts...); err != nil {
		return nil, err
	}
	parent := pulumi.Parent(p)
	for _, a := range PlatformAlarms(args) {
		in := &cloudwatch.MetricAlarmArgs{
			AlarmDescription:   pulumi.String(a.Description + " Runbook: " + Runbook),
			Namespace:          pulumi.String(a.Namespace),
			MetricName:         pulumi.String(a.Metric),
			Dimensions:         a.Dimensions,
			Period:             pulumi.Int(a.Period),
			EvaluationPeriods:  pulumi.Int(a.Evaluation),
			DatapointsToAlarm:  pulumi.Int(a.Datapoints),
			Threshold:          pulumi.Float64(a.Threshold),
			ComparisonOperator: pulumi.String(a.Comparison),
			TreatMissingData:   pulumi.String(a.Missing),
			AlarmActions:       pulumi.Array{args.TopicArn},
			OkActions:          pulumi.Array{args.TopicArn},
		}
		if len(a.Statistic) > 1 && a.Statistic[0] == 'p' {
			in.ExtendedStatistic = pulumi.String(a.Statistic)
		} else {
			in.Statistic = pulumi.String(a.Statistic)
		}
		if _, err := cloudwatch.NewMetricAlarm(ctx, name+"-"+a.Suffix, in, parent); err != nil {
			return nil, err
		}
		p.AlarmNames = append(p.AlarmNames, name+"-"+a.Suffix)
	}
	if err := ctx.RegisterResourceOutputs(p, pulumi.Map{}); err != nil {
		return nil, err
	}
	return p, nil
}

// PlatformAlarms is the list Watch declares. Missing data: metrics that a
// running resource always reports (RDS, ElastiCache host metrics, NAT
// gateways) keep their state when absent ("missing"); event counts that
// are absent when nothing happens (Lambda errors, throttles, evictions,
// drops) are "notBreaching", so zero traffic never pages.
func PlatformAlarms(args WatchArgs) []Alarm {
	t := args.Thresholds
	var out []Alarm
	db := pulumi.StringMap{"DBInstanceIdentifier": args.DatabaseID}
	const mib = 1 << 20
	out = append(out,
		Alarm{"rds-cpu", "AWS/RDS", "CPUUtilization", "Average", db, "GreaterThanThreshold", t.DatabaseCPUPercent, 300, 3, 3, "missing",
			"RDS CPU high for 15 minutes: look at Performance Insights' top SQL, then the processor's batch size and task count."},
		Alarm{"rds-free-storage", "AWS/RDS", "FreeStorageSpace", "Minimum", db, "LessThanThreshold",
			float64(args.AllocatedStorageGiB) * 1024 * mib * t.DatabaseFreeStoragePct / 100, 300, 3, 3, "missing",
			"RDS free storage low although storage autoscaling acts at 10 %: check maxStorageGiB and the webhook_events retention."},
		Alarm{"rds-freeable-memory", "AWS/RDS", "FreeableMemory", "Minimum", db, "LessThanThreshold", t.DatabaseFreeMemoryMiB * mib, 300, 3, 3, "missing",
			"RDS freeable memory low: the instance swaps; look at connections and the class (hookline:database.instanceClass)."},
		Alarm{"rds-connections", "AWS/RDS", "DatabaseConnections", "Maximum", db, "GreaterThanThreshold", t.DatabaseConnections, 300, 2, 2, "missing",
			"RDS connections near max_connections: new processor tasks will be refused; look at the task count and CONCURRENCY."},
		Alarm{"rds-read-latency", "AWS/RDS", "ReadLatency", "Average", db, "GreaterThanThreshold", t.DatabaseLatencySeconds, 300, 3, 3, "missing",
			"RDS read latency high: look at Performance Insights' waits and the gp3 throughput."},
		Alarm{"rds-write-latency", "AWS/RDS", "WriteLatency", "Average", db, "GreaterThanThreshold", t.DatabaseLatencySeconds, 300, 3, 3, "missing",
			"RDS write latency high: commits slow the processor's batches; look at Performance Insights and the storage throughput."},
	)
	for i, node := range args.CacheNodeIDs {
		dims := pulumi.StringMap{"CacheClusterId": node}
		n := fmt.Sprintf("redis-%03d", i+1)
		out = append(out,
			Alarm{n + "-cpu", "AWS/ElastiCache", "EngineCPUUtilization", "Average", dims, "GreaterThanThreshold", t.CacheCPUPercent, 300, 3, 3, "missing",
				"Redis engine CPU high (one thread): lock calls slow down every batch; look at the commands per second and the node type."},
			Alarm{n + "-memory", "AWS/ElastiCache", "DatabaseMemoryUsagePercentage", "Average", dims, "GreaterThanThreshold", t.CacheMemoryPercent, 300, 3, 3, "missing",
				"Redis memory high: evictions would drop entity locks; look at the key count by prefix and the node type."},
			Alarm{n + "-evictions", "AWS/ElastiCache", "Evictions", "Sum", dims, "GreaterThanThreshold", 0, 300, 1, 1, "notBreaching",
				"Redis evicted keys: entity locks may have been dropped (the database fence still holds); look at memory use."},
			Alarm{n + "-connections", "AWS/ElastiCache", "CurrConnections", "Maximum", dims, "GreaterThanThreshold", t.CacheConnections, 300, 2, 2, "missing",
				"Redis connections high: a connection leak or far more tasks than expected; look at the processor task count."},
		)
		if args.CacheReplicas > 0 {
			// Only the replica reports ReplicationLag, and which node is the
			// replica changes on failover: absent data is the primary's.
			out = append(out, Alarm{n + "-replication-lag", "AWS/ElastiCache", "ReplicationLag", "Maximum", dims, "GreaterThanThreshold", t.CacheReplicationLagSecond, 60, 5, 5, "notBreaching",
				"Redis replica lagging: a failover now would lose recent locks; look at the primary's network and CPU."})
		}
	}
	fn := pulumi.StringMap{"FunctionName": args.FunctionName}
	out = append(out,
		Alarm{"lambda-errors", "AWS/Lambda", "Errors", "Sum", fn, "GreaterThanOrEqualToThreshold", t.LambdaErrors, 300, 1, 1, "notBreaching",
			"Receiver invocations failing (crashes, timeouts: API Gateway answers 500/504): look at the receiver's log group."},
		Alarm{"lambda-throttles", "AWS/Lambda", "Throttles", "Sum", fn, "GreaterThanThreshold", 0, 300, 1, 1, "notBreaching",
			"Receiver throttled: senders get 429/503 and retry; raise hookline:receiver.reservedConcurrency or find the burst's source."},
		Alarm{"lambda-duration", "AWS/Lambda", "Duration", "p99", fn, "GreaterThanThreshold", t.LambdaDurationShare * float64(args.FunctionTimeout) * 1000, 300, 3, 3, "notBreaching",
			"Receiver p99 duration near its timeout: broker confirms are slow; look at the broker's CPU, memory and publish latency."},
	)
	if args.ReservedConcurrency > 0 {
		out = append(out, Alarm{"lambda-concurrency", "AWS/Lambda", "ConcurrentExecutions", "Maximum", fn, "GreaterThanThreshold",
			t.LambdaConcurrencyShare * float64(args.ReservedConcurrency), 60, 5, 5, "notBreaching",
			"Receiver concurrency near its reservation: throttling comes next; look at the request rate and duration."})
	}
	for i, id := range args.NatGatewayIDs {
		dims := pulumi.StringMap{"NatGatewayId": id.ToStringOutput()}
		n := fmt.Sprintf("nat-%d", i+1)
		out = append(out,
			Alarm{n + "-port-allocation", "AWS/NATGateway", "ErrorPortAllocation", "Sum", dims, "GreaterThanThreshold", 0, 300, 1, 1, "notBreaching",
				"NAT gateway out of source ports: callbacks and AWS calls from that AZ fail; look at connections per destination."},
			Alarm{n + "-packets-dropped", "AWS/NATGateway", "PacketsDropCount", "Sum", dims, "GreaterThanThreshold", t.NatPacketsDropped, 300, 2, 2, "notBreaching",
				"NAT gateway dropping packets: check the AWS Health dashboard for the AZ, then the traffic volume."},
			Alarm{n + "-bandwidth", "AWS/NATGateway", "BytesOutToDestination", "Sum", dims, "GreaterThanThreshold", t.NatBytesPerMinute, 60, 5, 5, "notBreaching",
				"NAT gateway near its bandwidth limit: look for a callback loop or large downloads from the compute tier."},
		)
	}
	return out
}
