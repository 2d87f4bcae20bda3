package stack_test

import (
	"sort"
	"strings"
	"testing"

	"github.com/hookline/hookline/infra/plan"
)

// platformAlarm is one alarm the stack must declare, as CloudWatch will
// evaluate it.
type platformAlarm struct {
	namespace, metric, stat, comparison string
	threshold                           float64
	period, evaluation, datapoints      int
	missing                             string
	dimension, on                       string // the dimension and the resource name its value must come from
}

// The data stores', receiver's and NAT gateways' alarms, for every shipped
// stack: metric, statistic, threshold, comparison, evaluation, missing data
// and dimension of each, every one notifying the stack's one topic on ALARM
// and OK, with a description that names the runbook. Redis alarms per node
// (replication lag only with replicas), NAT alarms per gateway.
func TestPlatformAlarms(t *testing.T) {
	const gib, mib = 1 << 30, 1 << 20
	forEachStack(t, func(t *testing.T, v variant, r *plan.Result) {
		n := "hookline-" + v.stack + "-"
		prod := v.stack == "prod"
		pick := func(dev, prodV float64) float64 {
			if prod {
				return prodV
			}
			return dev
		}
		rds := n + "database"
		fn := n + "receiver"
		storage := map[bool]float64{false: 20, true: 100}[prod]
		want := map[string]platformAlarm{
			"rds-cpu":             {"AWS/RDS", "CPUUtilization", "Average", "GreaterThanThreshold", 80, 300, 3, 3, "missing", "DBInstanceIdentifier", rds},
			"rds-free-storage":    {"AWS/RDS", "FreeStorageSpace", "Minimum", "LessThanThreshold", storage * gib * 5 / 100, 300, 3, 3, "missing", "DBInstanceIdentifier", rds},
			"rds-freeable-memory": {"AWS/RDS", "FreeableMemory", "Minimum", "LessThanThreshold", pick(64, 512) * mib, 300, 3, 3, "missing", "DBInstanceIdentifier", rds},
			"rds-connections":     {"AWS/RDS", "DatabaseConnections", "Maximum", "GreaterThanThreshold", pick(65, 540), 300, 2, 2, "missing", "DBInstanceIdentifier", rds},
			"rds-read-latency":    {"AWS/RDS", "ReadLatency", "Average", "GreaterThanThreshold", pick(0.05, 0.02), 300, 3, 3, "missing", "DBInstanceIdentifier", rds},
			"rds-write-latency":   {"AWS/RDS", "WriteLatency", "Average", "GreaterThanThreshold", pick(0.05, 0.02), 300, 3, 3, "missing", "DBInstanceIdentifier", rds},
			"lambda-errors":       {"AWS/Lambda", "Errors", "Sum", "GreaterThanOrEqualToThreshold", pick(5, 1), 300, 1, 1, "notBreaching", "FunctionName", fn},
			"lambda-throttles":    {"AWS/Lambda", "Throttles", "Sum", "GreaterThanThreshold", 0, 300, 1, 1, "notBreaching", "FunctionName", fn},
			// p99 above 80 % of the function's timeout.
			"lambda-duration":    {"AWS/Lambda", "Duration", "p99", "GreaterThanThreshold", 0.8 * float64(receiverTimeout(t, r)) * 1000, 300, 3, 3, "notBreaching", "FunctionName", fn},
			"lambda-concurrency": {"AWS/Lambda", "ConcurrentExecutions", "Maximum", "GreaterThanThreshold", 0.8 * float64(workloadTable[v.name].reserved), 60, 5, 5, "notBreaching", "FunctionName", fn},
		}
		groups := r.OfType("aws:elasticache/replicationGroup:ReplicationGroup")
		if len(groups) != 1 {
			t.Fatalf("%d replication groups; want 1", len(groups))
		}
		nodes := groups[0].Int("numCacheClusters")
		if nodes != map[bool]int{false: 1, true: 2}[prod] {
			t.Errorf("%d Redis nodes; want the stack table's", nodes)
		}
		for i := 1; i <= nodes; i++ {
			p := "redis-00" + itoa(i)
			node := groups[0].ID() + "-00" + itoa(i) // ElastiCache's member cluster ids
			want[p+"-cpu"] = platformAlarm{"AWS/ElastiCache", "EngineCPUUtilization", "Average", "GreaterThanThreshold", 80, 300, 3, 3, "missing", "CacheClusterId", "=" + node}
			want[p+"-memory"] = platformAlarm{"AWS/ElastiCache", "DatabaseMemoryUsagePercentage", "Average", "GreaterThanThreshold", 80, 300, 3, 3, "missing", "CacheClusterId", "=" + node}
			want[p+"-evictions"] = platformAlarm{"AWS/ElastiCache", "Evictions", "Sum", "GreaterThanThreshold", 0, 300, 1, 1, "notBreaching", "CacheClusterId", "=" + node}
			want[p+"-connections"] = platformAlarm{"AWS/ElastiCache", "CurrConnections", "Maximum", "GreaterThanThreshold", pick(500, 5000), 300, 2, 2, "missing", "CacheClusterId", "=" + node}
			if prod {
				want[p+"-replication-lag"] = platformAlarm{"AWS/ElastiCache", "ReplicationLag", "Maximum", "GreaterThanThreshold", 5, 60, 5, 5, "notBreaching", "CacheClusterId", "=" + node}
			}
		}
		nats := r.OfType("aws:ec2/natGateway:NatGateway")
		if len(nats) != map[bool]int{false: 1, true: 3}[prod] {
			t.Errorf("%d NAT gateways; want the stack table's", len(nats))
		}
		for i, nat := range nats {
			p := "nat-" + itoa(i+1)
			want[p+"-port-allocation"] = platformAlarm{"AWS/NATGateway", "ErrorPortAllocation", "Sum", "GreaterThanThreshold", 0, 300, 1, 1, "notBreaching", "NatGatewayId", "=" + nat.ID()}
			want[p+"-packets-dropped"] = platformAlarm{"AWS/NATGateway", "PacketsDropCount", "Sum", "GreaterThanThreshold", 1000, 300, 2, 2, "notBreaching", "NatGatewayId", "=" + nat.ID()}
			want[p+"-bandwidth"] = platformAlarm{"AWS/NATGateway", "BytesOutToDestination", "Sum", "GreaterThanThreshold", 0.8 * 100e9 / 8 * 60, 60, 5, 5, "notBreaching", "NatGatewayId", "=" + nat.ID()}
		}

		topics := r.OfType("aws:sns/topic:Topic")
		if len(topics) != 1 {
			t.Fatalf("%d SNS topics; want the stack's one", len(topics))
		}
		topicArn := "arn:aws:sns:us-east-1:" + account + ":" + topics[0].Name
		prefix := n + "watch-"
		got := map[string]plan.Resource{}
		for _, a := range r.OfType("aws:cloudwatch/metricAlarm:MetricAlarm") {
			if strings.HasPrefix(a.Name, prefix) {
				got[strings.TrimPrefix(a.Name, prefix)] = a
			}
		}
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
			t.Errorf("platform alarms: missing %v, unexpected %v", missing, extra)
		}
		for k, w := range want {
			a, ok := got[k]
			if !ok {
				continue
			}
			stat := a.Str("statistic")
			if strings.HasPrefix(w.stat, "p") {
				stat = a.Str("extendedStatistic")
				if a.Has("statistic") {
					t.Errorf("%s: both statistic and extendedStatistic", k)
				}
			}
			if a.Str("namespace") != w.namespace || a.Str("metricName") != w.metric || stat != w.stat ||
				a.Str("comparisonOperator") != w.comparison || a.Input("threshold") != w.threshold ||
				a.Int("period") != w.period || a.Int("evaluationPeriods") != w.evaluation || a.Int("datapointsToAlarm") != w.datapoints ||
				a.Str("treatMissingData") != w.missing {
				t.Errorf("%s: %s/%s %s %s %v, %d s × %d (%d to alarm), missing %s; want %s/%s %s %s %v, %d s × %d (%d), missing %s",
					k, a.Str("namespace"), a.Str("metricName"), stat, a.Str("comparisonOperator"), a.Input("threshold"),
					a.Int("period"), a.Int("evaluationPeriods"), a.Int("datapointsToAlarm"), a.Str("treatMissingData"),
					w.namespace, w.metric, w.stat, w.comparison, w.threshold, w.period, w.evaluation, w.datapoints, w.missing)
			}
			dims, _ := a.Input("dimensions").(map[string]any)
			wantDim := w.on
			if strings.HasPrefix(wantDim, "=") {
				wantDim = wantDim[1:]
			}
			if len(dims) != 1 || dims[w.dimension] != wantDim {
				t.Errorf("%s: dimensions %v; want only %s = %s", k, dims, w.dimension, wantDim)
			}
			for _, key := range []string{"alarmActions", "okActions"} {
				if acts := a.Strs(key); len(acts) != 1 || acts[0] != topicArn {
					t.Errorf("%s: %s %v; want only the stack's topic %s", k, key, acts, topicArn)
				}
			}
			if d := a.Str("alarmDescription"); !strings.Contains(d, "docs/operations.md#alarms") || len(d) < 60 {
				t.Errorf("%s: description %q; want what to look at first and the runbook link", k, d)
			}
		}
		// The dimension values name the stack's own resources.
		if dbs := r.OfType("aws:rds/instance:Instance"); len(dbs) != 1 || dbs[0].Name != rds {
			t.Errorf("RDS instances %v; want %s", names(dbs), rds)
		}
		if fns := r.OfType("aws:lambda/function:Function"); len(fns) != 1 || fns[0].Name != fn {
			t.Errorf("functions %v; want %s", names(fns), fn)
		}
	})
}

func receiverTimeout(t *testing.T, r *plan.Result) int {
	t.Helper()
	fns := r.OfType("aws:lambda/function:Function")
	if len(fns) != 1 {
		t.Fatalf("%d functions; want 1", len(fns))
	}
	return fns[0].Int("timeout")
}
