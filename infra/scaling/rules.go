package scaling

import (
	"github.com/hookline/hookline/internal/queuemetrics"
)

// Rule is one alarm of the processor's scaling, in every field CloudWatch
// and Application Auto Scaling are given: the one definition the component
// declares and the simulator (through the recorded plan) evaluates.
type Rule struct {
	Name        string // alarm name suffix: <stack>-processor-<Name>
	Description string
	// Metrics are the alarm's inputs. With Expression empty the alarm
	// watches Metrics[0] alone; otherwise Expression (metric math over the
	// metrics' IDs) is the alarm's value.
	Metrics    []Metric
	Expression string
	Period     int // seconds
	// EvaluationPeriods and DatapointsToAlarm: "for more than N minutes" is
	// N+1 consecutive one-minute datapoints, every one breaching.
	EvaluationPeriods int
	DatapointsToAlarm int
	Threshold         float64
	Comparison        string // CloudWatch ComparisonOperator
	TreatMissingData  string // missing, notBreaching, breaching, ignore
	Action            Action
}

// Metric is one CloudWatch metric an alarm reads.
type Metric struct {
	ID        string // metric math identifier
	Namespace string
	Name      string
	Stat      string
	Service   bool // dimensions ClusterName + ServiceName (AWS/ECS); else Stack
}

// Action is what an alarm in ALARM does besides notifying the topic.
type Action struct {
	Kind   ActionKind
	Step   int // ScaleOut: tasks added per invocation
	Policy string
}

// ActionKind says whether an alarm scales.
type ActionKind string

const (
	Notify   ActionKind = "notify"    // the SNS topic only
	ScaleOut ActionKind = "scale-out" // + Step tasks (ChangeInCapacity)
	ScaleIn  ActionKind = "scale-in"  // back to the minimum (ExactCapacity)
)

// Rule names (alarm name suffixes).
const (
	BacklogRising       = "backlog-rising"
	CPU80               = "cpu-80"
	CPU90               = "cpu-90"
	QueueEmpty          = "queue-empty"
	CPUHighQueueEmpty   = "cpu-high-queue-empty"
	CollectorSilent     = "queue-metrics-missing"
	minute              = 60
	ecsNamespace        = "AWS/ECS"
	ecsCPU              = "CPUUtilization"
	greaterOrEqual      = "GreaterThanOrEqualToThreshold"
	lessOrEqual         = "LessThanOrEqualToThreshold"
	lessThan            = "LessThanThreshold"
	missingNotBreaching = "notBreaching"
	missingBreaching    = "breaching"
)

// Steps are a stack's step sizes (tasks added per scale-out invocation).
type Steps struct {
	Backlog, CPU80, CPU90 int
}

// Rules are the processor's alarms: exactly the specification's four
// scaling rules (DESIGN.md, "Autoscaling rules"; issue 11), the vertical
// scaling notice, and the collector's silence.
func Rules(steps Steps) []Rule {
	depth := Metric{ID: "depth", Namespace: queuemetrics.Namespace, Name: queuemetrics.InboundDepth, Stat: "Maximum"}
	ingest := Metric{ID: "ingest", Namespace: queuemetrics.Namespace, Name: queuemetrics.IngestRate, Stat: "Average"}
	consume := Metric{ID: "consume", Namespace: queuemetrics.Namespace, Name: queuemetrics.ConsumeRate, Stat: "Average"}
	cpu := Metric{ID: "cpu", Namespace: ecsNamespace, Name: ecsCPU, Stat: "Average", Service: true}
	return []Rule{
		{
			Name:        BacklogRising,
			Description: "Rule 1: queue depth rising and ingestion above consumption for more than 5 minutes (6 consecutive minutes): add tasks",
			Metrics:     []Metric{depth, ingest, consume},
			// 1 in a minute whose depth is higher than the minute before
			// and whose ingestion rate exceeded its consumption rate.
			Expression:        "IF((DIFF(depth) > 0) AND (ingest > consume), 1, 0)",
			Period:            minute,
			EvaluationPeriods: 6, DatapointsToAlarm: 6,
			Threshold: 1, Comparison: greaterOrEqual, TreatMissingData: missingNotBreaching,
			Action: Action{Kind: ScaleOut, Step: steps.Backlog, Policy: "backlog-out"},
		},
		{
			Name:              CPU80,
			Description:       "Rule 2: average CPU >= 80 % for more than 15 minutes (16 consecutive minutes): add tasks",
			Metrics:           []Metric{cpu},
			Period:            minute,
			EvaluationPeriods: 16, DatapointsToAlarm: 16,
			Threshold: 80, Comparison: greaterOrEqual, TreatMissingData: missingNotBreaching,
			Action: Action{Kind: ScaleOut, Step: steps.CPU80, Policy: "cpu-80-out"},
		},
		{
			Name:              CPU90,
			Description:       "Rule 3: average CPU >= 90 % for more than 5 minutes (6 consecutive minutes): add tasks",
			Metrics:           []Metric{cpu},
			Period:            minute,
			EvaluationPeriods: 6, DatapointsToAlarm: 6,
			Threshold: 90, Comparison: greaterOrEqual, TreatMissingData: missingNotBreaching,
			Action: Action{Kind: ScaleOut, Step: steps.CPU90, Policy: "cpu-90-out"},
		},
		{
			Name:              QueueEmpty,
			Description:       "Rule 4: queue depth (ready + unacked) 0 for 5 minutes (5 consecutive minutes): back to the minimum",
			Metrics:           []Metric{depth},
			Period:            minute,
			EvaluationPeriods: 5, DatapointsToAlarm: 5,
			Threshold: 0, Comparison: lessOrEqual, TreatMissingData: missingNotBreaching,
			Action: Action{Kind: ScaleIn, Policy: "queue-empty-in"},
		},
		{
			Name:              CPUHighQueueEmpty,
			Description:       "Average CPU >= 80 % while the queue is empty for more than 5 minutes: more tasks will not help, the task size may (vertical scaling); notice only",
			Metrics:           []Metric{cpu, depth},
			Expression:        "IF((cpu >= 80) AND (depth <= 0), 1, 0)",
			Period:            minute,
			EvaluationPeriods: 6, DatapointsToAlarm: 6,
			Threshold: 1, Comparison: greaterOrEqual, TreatMissingData: missingNotBreaching,
			Action: Action{Kind: Notify},
		},
		{
			Name:              CollectorSilent,
			Description:       "The queue metrics collector published nothing for 3 minutes: the scaling rules 1 and 4 are blind; missing data is breaching",
			Metrics:           []Metric{{ID: "samples", Namespace: queuemetrics.Namespace, Name: queuemetrics.InboundDepth, Stat: "SampleCount"}},
			Period:            minute,
			EvaluationPeriods: 3, DatapointsToAlarm: 3,
			Threshold: 1, Comparison: lessThan, TreatMissingData: missingBreaching,
			Action: Action{Kind: Notify},
		},
	}
}
