// Package scaling declares the processor's autoscaling: the Application Auto
// Scaling target on the ECS service (min/max per stack), one step policy per
// scaling rule, the alarms of Rules (exactly the specification's four rules,
// the vertical-scaling notice and the queue metrics collector's silence),
// every alarm notifying the stack's one SNS topic, and the task role's one
// permission: cloudwatch:PutMetricData into the queue metrics' namespace.
package scaling

import (
	"fmt"

	"github.com/pulumi/pulumi-aws/sdk/v6/go/aws/appautoscaling"
	"github.com/pulumi/pulumi-aws/sdk/v6/go/aws/cloudwatch"
	"github.com/pulumi/pulumi-aws/sdk/v6/go/aws/iam"
	"github.com/pulumi/pulumi/sdk/v3/go/pulumi"

	"github.com/hookline/hookline/infra/alarms"
	"github.com/hookline/hookline/infra/policy"
	"github.com/hookline/hookline/internal/queuemetrics"
)

// Args is what a stack decides about the processor's scaling.
type Args struct {
	ClusterName pulumi.StringInput
	ServiceName pulumi.StringInput
	MinTasks    int // never 0: ECS publishes no CPU metric for a service without tasks
	MaxTasks    int
	Steps       Steps
	// Cooldowns (seconds) of the scale-out policies and of the scale-in one.
	ScaleOutCooldownSeconds int
	ScaleInCooldownSeconds  int
	// Stack is the queue metrics' Stack dimension (project-stack).
	Stack         string
	AlarmTopicArn pulumi.StringInput
	// TaskRoleName is the processor's task role: its collector publishes
	// the queue metrics.
	TaskRoleName pulumi.StringInput
}

// Scaling is the component.
type Scaling struct {
	pulumi.ResourceState

	TargetResourceID pulumi.StringOutput
	AlarmNames       []string
	Declared         []alarms.Declared // every alarm, for the dashboard to draw
}

// New declares the scaling of a service.
func New(ctx *pulumi.Context, name string, args Args, opts ...pulumi.ResourceOption) (*Scaling, error) {
	if args.MinTasks < 1 || args.MaxTasks < args.MinTasks {
		return nil, fmt.Errorf("scaling: min %d, max %d: want 1 <= min <= max", args.MinTasks, args.MaxTasks)
	}
	s := &Scaling{}
	if err := ctx.RegisterComponentResource("hookline:scaling:Processor", name, s, opts...); err != nil {
		return nil, err
	}
	parent := pulumi.Parent(s)

	resourceID := pulumi.Sprintf("service/%s/%s", args.ClusterName, args.ServiceName)
	target, err := appautoscaling.NewTarget(ctx, name, &appautoscaling.TargetArgs{
		ServiceNamespace:  pulumi.String("ecs"),
		ScalableDimension: pulumi.String("ecs:service:DesiredCount"),
		ResourceId:        resourceID,
		MinCapacity:       pulumi.Int(args.MinTasks),
		MaxCapacity:       pulumi.Int(args.MaxTasks),
	}, parent)
	if err != nil {
		return nil, err
	}

	for _, r := range Rules(args.Steps) {
		actions := pulumi.Array{args.AlarmTopicArn.ToStringOutput()}
		if r.Action.Kind != Notify {
			p, err := stepPolicy(ctx, name+"-"+r.Action.Policy, target, r, args, parent)
			if err != nil {
				return nil, err
			}
			actions = append(actions, p.Arn)
		}
		alarm := &cloudwatch.MetricAlarmArgs{
			Name:               pulumi.String(name + "-" + r.Name),
			AlarmDescription:   pulumi.String(r.Description),
			ComparisonOperator: pulumi.String(r.Comparison),
			EvaluationPeriods:  pulumi.Int(r.EvaluationPeriods),
			DatapointsToAlarm:  pulumi.Int(r.DatapointsToAlarm),
			Threshold:          pulumi.Float64(r.Threshold),
			TreatMissingData:   pulumi.String(r.TreatMissingData),
			AlarmActions:       actions,
			ActionsEnabled:     pulumi.Bool(true),
		}
		if r.Action.Kind == Notify {
			// A notice also says when it is over; a scaling alarm's end is
			// the scaling itself.
			alarm.OkActions = pulumi.Array{args.AlarmTopicArn.ToStringOutput()}
		}
		if r.Expression == "" {
			m := r.Metrics[0]
			alarm.Namespace = pulumi.String(m.Namespace)
			alarm.MetricName = pulumi.String(m.Name)
			alarm.Statistic = pulumi.String(m.Stat)
			alarm.Period = pulumi.Int(r.Period)
			alarm.Dimensions = dimensions(m, args)
		} else {
			q := cloudwatch.MetricAlarmMetricQueryArray{cloudwatch.MetricAlarmMetricQueryArgs{
				Id: pulumi.String("e1"), Expression: pulumi.String(r.Expression),
				Label: pulumi.String(r.Name), ReturnData: pulumi.Bool(true),
			}}
			for _, m := range r.Metrics {
				q = append(q, cloudwatch.MetricAlarmMetricQueryArgs{
					Id:         pulumi.String(m.ID),
					ReturnData: pulumi.Bool(false),
					Metric: &cloudwatch.MetricAlarmMetricQueryMetricArgs{
						Namespace:  pulumi.String(m.Namespace),
						MetricName: pulumi.String(m.Name),
						Stat:       pulumi.String(m.Stat),
						Period:     pulumi.Int(r.Period),
						Dimensions: dimensions(m, args),
					},
				})
			}
			alarm.MetricQueries = q
		}
		if _, err := cloudwatch.NewMetricAlarm(ctx, name+"-"+r.Name, alarm, parent); err != nil {
			return nil, err
		}
		s.AlarmNames = append(s.AlarmNames, name+"-"+r.Name)
		s.Declared = append(s.Declared, alarms.Declared{Name: name + "-" + r.Name, Alarm: r.alarm(args)})
	}

	// The collector in the processor's tasks publishes the queue metrics:
	// PutMetricData has no resource-level permission, the namespace
	// condition is what confines it.
	doc, err := policy.Document(policy.Statement{
		Sid: "PublishQueueMetrics", Action: []string{"cloudwatch:PutMetricData"}, Resource: []string{"*"},
		Condition: map[string]map[string]string{"StringEquals": {"cloudwatch:namespace": queuemetrics.Namespace}},
	})
	if err != nil {
		return nil, err
	}
	if _, err := iam.NewRolePolicy(ctx, name+"-queue-metrics", &iam.RolePolicyArgs{
		Role:   args.TaskRoleName,
		Policy: pulumi.String(doc),
	}, parent); err != nil {
		return nil, err
	}

	s.TargetResourceID = resourceID
	if err := ctx.RegisterResourceOutputs(s, pulumi.Map{"targetResourceId": resourceID}); err != nil {
		return nil, err
	}
	return s, nil
}

// alarm is the rule as the alarms' one definition type, with its
// dimensions.
func (r Rule) alarm(args Args) alarms.Alarm {
	a := alarms.Alarm{
		Suffix: r.Name, Comparison: r.Comparison, Threshold: r.Threshold, Period: r.Period,
		Evaluation: r.EvaluationPeriods, Datapoints: r.DatapointsToAlarm, Missing: r.TreatMissingData,
		Description: r.Description, Expression: r.Expression,
	}
	if r.Expression == "" {
		m := r.Metrics[0]
		a.Namespace, a.Metric, a.Statistic, a.Dimensions = m.Namespace, m.Name, m.Stat, dimensions(m, args)
		return a
	}
	for _, m := range r.Metrics {
		a.Inputs = append(a.Inputs, alarms.Input{ID: m.ID, Namespace: m.Namespace, Metric: m.Name, Stat: m.Stat, Dimensions: dimensions(m, args)})
	}
	return a
}

func dimensions(m Metric, args Args) pulumi.StringMap {
	if m.Service {
		return pulumi.StringMap{"ClusterName": args.ClusterName, "ServiceName": args.ServiceName}
	}
	return pulumi.StringMap{queuemetrics.StackDimension: pulumi.String(args.Stack)}
}

// stepPolicy is the Application Auto Scaling action of a scaling rule. The
// alarm breaches when its value crosses the threshold, so one step from the
// threshold on (above for scale-out, at or below for scale-in) covers every
// breach.
func stepPolicy(ctx *pulumi.Context, name string, target *appautoscaling.Target, r Rule, args Args, parent pulumi.ResourceOption) (*appautoscaling.Policy, error) {
	step := appautoscaling.PolicyStepScalingPolicyConfigurationStepAdjustmentArgs{}
	cfg := &appautoscaling.PolicyStepScalingPolicyConfigurationArgs{MetricAggregationType: pulumi.String("Maximum")}
	switch r.Action.Kind {
	case ScaleOut:
		cfg.AdjustmentType = pulumi.String("ChangeInCapacity")
		cfg.Cooldown = pulumi.Int(args.ScaleOutCooldownSeconds)
		step.MetricIntervalLowerBound = pulumi.String("0")
		step.ScalingAdjustment = pulumi.Int(r.Action.Step)
	case ScaleIn:
		// "Discard the added tasks": exactly the minimum, whatever was added.
		cfg.AdjustmentType = pulumi.String("ExactCapacity")
		cfg.Cooldown = pulumi.Int(args.ScaleInCooldownSeconds)
		step.MetricIntervalUpperBound = pulumi.String("0")
		step.ScalingAdjustment = pulumi.Int(args.MinTasks)
	}
	cfg.StepAdjustments = appautoscaling.PolicyStepScalingPolicyConfigurationStepAdjustmentArray{step}
	return appautoscaling.NewPolicy(ctx, name, &appautoscaling.PolicyArgs{
		Name:                           pulumi.String(name),
		PolicyType:                     pulumi.String("StepScaling"),
		ResourceId:                     target.ResourceId,
		ScalableDimension:              target.ScalableDimension,
		ServiceNamespace:               target.ServiceNamespace,
		StepScalingPolicyConfiguration: cfg,
	}, parent)
}
