package simulate

import (
	"fmt"
	"sort"
	"strings"

	"github.com/hookline/hookline/infra/plan"
)

// Alarm is one CloudWatch metric alarm as the plan records it.
type Alarm struct {
	Name              string // the rule's name: the alarm name without <stack>-processor-
	FullName          string
	expr              node
	queries           map[string]query // id → metric
	single            *query
	Period            int
	EvaluationPeriods int
	DatapointsToAlarm int
	Threshold         float64
	Comparison        string
	TreatMissingData  string
	Policy            *Policy // nil: notification only
}

type query struct {
	namespace, name, stat string
}

// Policy is one Application Auto Scaling step policy.
type Policy struct {
	Name           string
	AdjustmentType string // ChangeInCapacity | ExactCapacity
	Adjustment     int
	CooldownSec    int
}

// Rules are what the simulator takes from a plan.
type Rules struct {
	Stack       string
	MinTasks    int
	MaxTasks    int
	TaskCPU     int // Fargate CPU units of the processor task
	Alarms      []*Alarm
	PolicyNames []string
}

// FromPlan reads the processor's scalable target, step policies and
// alarms out of a recorded plan: the simulator evaluates what the program
// declares, not a copy of it.
func FromPlan(f plan.File) (*Rules, error) {
	r := &Rules{Stack: f.Stack}
	policies := map[string]*Policy{}
	var prefix string
	for _, res := range f.Resources {
		in := res.Inputs
		switch res.Type {
		case "aws:appautoscaling/target:Target":
			r.MinTasks, r.MaxTasks = intOf(in["minCapacity"]), intOf(in["maxCapacity"])
			prefix = res.Name + "-"
		case "aws:appautoscaling/policy:Policy":
			c, _ := in["stepScalingPolicyConfiguration"].(map[string]any)
			steps, _ := c["stepAdjustments"].([]any)
			if len(steps) != 1 {
				return nil, fmt.Errorf("policy %s: %d step adjustments; the model handles one", res.Name, len(steps))
			}
			st, _ := steps[0].(map[string]any)
			name, _ := in["name"].(string)
			at, _ := c["adjustmentType"].(string)
			policies[name] = &Policy{Name: name, AdjustmentType: at, Adjustment: intOf(st["scalingAdjustment"]), CooldownSec: intOf(c["cooldown"])}
		case "aws:ecs/taskDefinition:TaskDefinition":
			if !strings.HasSuffix(res.Name, "-migrate") {
				if _, err := fmt.Sscan(fmt.Sprint(in["cpu"]), &r.TaskCPU); err != nil {
					return nil, fmt.Errorf("plan of %s: task definition %s: cpu %v: %w", f.Stack, res.Name, in["cpu"], err)
				}
			}
		}
	}
	if r.MaxTasks == 0 {
		return nil, fmt.Errorf("plan of %s: no scalable target", f.Stack)
	}
	for _, res := range f.Resources {
		if res.Type != "aws:cloudwatch/metricAlarm:MetricAlarm" || !strings.HasPrefix(res.Name, prefix) {
			continue
		}
		in := res.Inputs
		a := &Alarm{
			FullName: res.Name, Name: strings.TrimPrefix(res.Name, prefix),
			EvaluationPeriods: intOf(in["evaluationPeriods"]), DatapointsToAlarm: intOf(in["datapointsToAlarm"]),
			Comparison: str(in["comparisonOperator"]), TreatMissingData: str(in["treatMissingData"]),
		}
		a.Threshold, _ = in["threshold"].(float64)
		if a.DatapointsToAlarm == 0 {
			a.DatapointsToAlarm = a.EvaluationPeriods
		}
		if qs, ok := in["metricQueries"].([]any); ok {
			a.queries = map[string]query{}
			for _, q := range qs {
				m, _ := q.(map[string]any)
				if e, ok := m["expression"].(string); ok {
					n, err := parseExpr(e)
					if err != nil {
						return nil, fmt.Errorf("alarm %s: %w", res.Name, err)
					}
					a.expr = n
					continue
				}
				mm, _ := m["metric"].(map[string]any)
				a.queries[str(m["id"])] = query{str(mm["namespace"]), str(mm["metricName"]), str(mm["stat"])}
				a.Period = intOf(mm["period"])
			}
		} else {
			a.single = &query{str(in["namespace"]), str(in["metricName"]), str(in["statistic"])}
			a.Period = intOf(in["period"])
		}
		if a.Period != 60 {
			return nil, fmt.Errorf("alarm %s: period %d s; the model runs one-minute periods", res.Name, a.Period)
		}
		for _, act := range anyStrings(in["alarmActions"]) {
			for name, p := range policies {
				if strings.HasSuffix(act, ":"+name) {
					a.Policy = p
				}
			}
		}
		r.Alarms = append(r.Alarms, a)
	}
	sort.Slice(r.Alarms, func(i, j int) bool { return r.Alarms[i].Name < r.Alarms[j].Name })
	for n := range policies {
		r.PolicyNames = append(r.PolicyNames, n)
	}
	sort.Strings(r.PolicyNames)
	return r, nil
}

// Alarm returns the alarm of a rule name.
func (r *Rules) Alarm(name string) *Alarm {
	for _, a := range r.Alarms {
		if a.Name == name {
			return a
		}
	}
	return nil
}

func intOf(v any) int {
	f, _ := v.(float64)
	return int(f)
}

func str(v any) string { s, _ := v.(string); return s }

func anyStrings(v any) []string {
	l, _ := v.([]any)
	var out []string
	for _, e := range l {
		if s, ok := e.(string); ok {
			out = append(out, s)
		}
	}
	return out
}
