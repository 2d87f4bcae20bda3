package stack_test

import (
	"sort"
	"strings"
	"testing"

	"github.com/hookline/hookline/infra/plan"
)

// alarmWant is every field of one scaling alarm, written out by hand from
// the specification (DESIGN.md "Autoscaling rules", issue 11): "for more
// than N minutes" is N+1 consecutive one-minute datapoints.
type alarmWant struct {
	expression string   // metric math; "" = a single metric
	metrics    []string // id:namespace/name:stat:dimension keys
	eval, dta  int
	threshold  float64
	comparison string
	missing    string
	policy     string // "" = notification only
}

func scalingAlarms() map[string]alarmWant {
	depth := "depth:Hookline/Queues/InboundDepth:Maximum:Stack"
	ingest := "ingest:Hookline/Queues/IngestRate:Average:Stack"
	consume := "consume:Hookline/Queues/ConsumeRate:Average:Stack"
	cpu := "cpu:AWS/ECS/CPUUtilization:Average:ClusterName,ServiceName"
	return map[string]alarmWant{
		"backlog-rising": {"IF((DIFF(depth) > 0) AND (ingest > consume), 1, 0)", []string{depth, ingest, consume},
			6, 6, 1, "GreaterThanOrEqualToThreshold", "notBreaching", "backlog-out"},
		"cpu-80": {"", []string{":AWS/ECS/CPUUtilization:Average:ClusterName,ServiceName"},
			16, 16, 80, "GreaterThanOrEqualToThreshold", "notBreaching", "cpu-80-out"},
		"cpu-90": {"", []string{":AWS/ECS/CPUUtilization:Average:ClusterName,ServiceName"},
			6, 6, 90, "GreaterThanOrEqualToThreshold", "notBreaching", "cpu-90-out"},
		"queue-empty": {"", []string{":Hookline/Queues/InboundDepth:Maximum:Stack"},
			5, 5, 0, "LessThanOrEqualToThreshold", "notBreaching", "queue-empty-in"},
		"cpu-high-queue-empty": {"IF((cpu >= 80) AND (depth <= 0), 1, 0)", []string{cpu, depth},
			6, 6, 1, "GreaterThanOrEqualToThreshold", "notBreaching", ""},
		"queue-metrics-missing": {"", []string{":Hookline/Queues/InboundDepth:SampleCount:Stack"},
			3, 3, 1, "LessThanThreshold", "breaching", ""},
	}
}

// The stacks' scaling: min/max from the stack table, step sizes and
// cooldowns from the stack files.
var scalingTable = map[string]struct {
	min, max, backlog, cpu80, cpu90, outCooldown, inCooldown int
}{
	"dev":          {1, 3, 1, 1, 1, 120, 300},
	"prod":         {2, 20, 2, 1, 2, 120, 300},
	"prod-cluster": {2, 20, 2, 1, 2, 120, 300},
}

// Every field of every scaling alarm and policy, for every shipped stack:
// the four rules exactly, the vertical notice and the collector's silence;
// each alarm notifies the stack's one SNS topic; only the four rules act on
// the service, through their own step policy.
func TestScalingAlarmsAndPolicies(t *testing.T) {
	forEachStack(t, func(t *testing.T, v variant, r *plan.Result) {
		n := "hookline-" + v.stack + "-processor"
		w := scalingTable[v.name]
		topics := r.OfType("aws:sns/topic:Topic")
		if len(topics) != 1 {
			t.Fatalf("%d SNS topics; want the stack's one", len(topics))
		}
		topicArn := "arn:aws:sns:us-east-1:" + account + ":" + topics[0].Name

		targets := r.OfType("aws:appautoscaling/target:Target")
		if len(targets) != 1 {
			t.Fatalf("%d scalable targets; want 1", len(targets))
		}
		tg := targets[0]
		resourceID := "service/" + n + "/" + n
		if tg.Int("minCapacity") != w.min || tg.Int("maxCapacity") != w.max || tg.Str("resourceId") != resourceID ||
			tg.Str("scalableDimension") != "ecs:service:DesiredCount" || tg.Str("serviceNamespace") != "ecs" {
			t.Errorf("target %v; want %s ecs:service:DesiredCount %d..%d", tg.Inputs, resourceID, w.min, w.max)
		}
		if w.min < 1 {
			t.Errorf("minimum %d: ECS publishes no CPU metric at 0 tasks", w.min)
		}

		policies := map[string]plan.Resource{}
		for _, p := range r.OfType("aws:appautoscaling/policy:Policy") {
			policies[strings.TrimPrefix(p.Name, n+"-")] = p
		}
		wantPolicies := map[string][3]any{ // adjustment type, adjustment, cooldown
			"backlog-out":    {"ChangeInCapacity", w.backlog, w.outCooldown},
			"cpu-80-out":     {"ChangeInCapacity", w.cpu80, w.outCooldown},
			"cpu-90-out":     {"ChangeInCapacity", w.cpu90, w.outCooldown},
			"queue-empty-in": {"ExactCapacity", w.min, w.inCooldown},
		}
		if len(policies) != len(wantPolicies) {
			t.Errorf("policies %v; want %d", keys(policies), len(wantPolicies))
		}
		for name, want := range wantPolicies {
			p, ok := policies[name]
			if !ok {
				t.Errorf("no policy %s", name)
				continue
			}
			c := p.Input("stepScalingPolicyConfiguration").(map[string]any)
			steps, _ := c["stepAdjustments"].([]any)
			if p.Str("policyType") != "StepScaling" || p.Str("resourceId") != resourceID || c["adjustmentType"] != want[0] ||
				int(c["cooldown"].(float64)) != want[2].(int) || c["metricAggregationType"] != "Maximum" || len(steps) != 1 {
				t.Errorf("policy %s: %v; want %v", name, p.Inputs, want)
				continue
			}
			st := steps[0].(map[string]any)
			if int(st["scalingAdjustment"].(float64)) != want[1].(int) {
				t.Errorf("policy %s adjusts by %v; want %v", name, st["scalingAdjustment"], want[1])
			}
			// One interval covering every breach: from the threshold up
			// for scale-out, from the threshold down for scale-in.
			lo, hasLo := st["metricIntervalLowerBound"]
			hi, hasHi := st["metricIntervalUpperBound"]
			if want[0] == "ExactCapacity" {
				if hasLo || hi != "0" {
					t.Errorf("policy %s interval [%v, %v]; want (-inf, 0]", name, lo, hi)
				}
			} else if hasHi || lo != "0" {
				t.Errorf("policy %s interval [%v, %v]; want [0, inf)", name, lo, hi)
			}
		}

		alarms := map[string]plan.Resource{}
		for _, a := range r.OfType("aws:cloudwatch/metricAlarm:MetricAlarm") {
			if strings.HasPrefix(a.Name, n+"-") {
				alarms[strings.TrimPrefix(a.Name, n+"-")] = a
			}
		}
		want := scalingAlarms()
		if len(alarms) != len(want) {
			t.Errorf("processor alarms %v; want %d", keys(alarms), len(want))
		}
		for name, wa := range want {
			a, ok := alarms[name]
			if !ok {
				t.Errorf("no alarm %s", name)
				continue
			}
			if a.Str("name") != n+"-"+name || a.Int("evaluationPeriods") != wa.eval || a.Int("datapointsToAlarm") != wa.dta ||
				a.Input("threshold") != wa.threshold || a.Str("comparisonOperator") != wa.comparison || a.Str("treatMissingData") != wa.missing ||
				!a.Bool("actionsEnabled") {
				t.Errorf("alarm %s: %v; want %+v", name, a.Inputs, wa)
			}
			actions := a.Strs("alarmActions")
			wantActions := []string{topicArn}
			if wa.policy != "" {
				wantActions = append(wantActions, "arn:aws:appautoscaling:us-east-1:"+account+":"+n+"-"+wa.policy)
			}
			sort.Strings(actions)
			sort.Strings(wantActions)
			if strings.Join(actions, " ") != strings.Join(wantActions, " ") {
				t.Errorf("alarm %s actions %v; want %v", name, actions, wantActions)
			}
			if ok := a.Strs("okActions"); wa.policy == "" && (len(ok) != 1 || ok[0] != topicArn) {
				t.Errorf("notice %s ok actions %v; want the topic", name, ok)
			}
			var got []string
			if wa.expression == "" {
				if a.Int("period") != 60 || a.Has("metricQueries") {
					t.Errorf("alarm %s period %d; want one metric at 60 s", name, a.Int("period"))
				}
				got = []string{":" + a.Str("namespace") + "/" + a.Str("metricName") + ":" + a.Str("statistic") + ":" + dimKeys(a.Input("dimensions"), v, t)}
			} else {
				qs, _ := a.Input("metricQueries").([]any)
				for _, q := range qs {
					m := q.(map[string]any)
					if m["expression"] != nil {
						if m["expression"] != wa.expression || m["returnData"] != true || m["id"] != "e1" {
							t.Errorf("alarm %s expression %v; want %q returning data", name, m, wa.expression)
						}
						continue
					}
					mm := m["metric"].(map[string]any)
					if m["returnData"] != false || mm["period"] != float64(60) {
						t.Errorf("alarm %s query %v; want a 60 s input returning no data", name, m)
					}
					got = append(got, m["id"].(string)+":"+mm["namespace"].(string)+"/"+mm["metricName"].(string)+":"+mm["stat"].(string)+":"+dimKeys(mm["dimensions"], v, t))
				}
			}
			sort.Strings(got)
			wm := append([]string(nil), wa.metrics...)
			sort.Strings(wm)
			if strings.Join(got, " ") != strings.Join(wm, " ") {
				t.Errorf("alarm %s metrics %v; want %v", name, got, wm)
			}
		}

		// The service leaves its desired count to Application Auto Scaling.
		for _, s := range r.OfType("aws:ecs/service:Service") {
			if strings.Join(s.IgnoreChanges, ",") != "desiredCount" {
				t.Errorf("service %s ignores %v; want desiredCount", s.Name, s.IgnoreChanges)
			}
		}
	})
}

// dimKeys checks the dimension values (the stack's name, the service's
// cluster and name) and returns the sorted keys.
func dimKeys(v any, vr variant, t *testing.T) string {
	d, _ := v.(map[string]any)
	var k []string
	for key, val := range d {
		k = append(k, key)
		want := "hookline-" + vr.stack
		if key != "Stack" {
			want += "-processor"
		}
		if val != want {
			t.Errorf("dimension %s=%v; want %s", key, val, want)
		}
	}
	sort.Strings(k)
	return strings.Join(k, ",")
}

func keys[V any](m map[string]V) []string {
	var out []string
	for k := range m {
		out = append(out, k)
	}
	sort.Strings(out)
	return out
}
