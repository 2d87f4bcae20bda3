package alarms

import (
	"encoding/json"
	"fmt"
	"strings"

	"github.com/pulumi/pulumi-aws/sdk/v6/go/aws/cloudwatch"
	"github.com/pulumi/pulumi-aws/sdk/v6/go/aws/sns"
	"github.com/pulumi/pulumi/sdk/v3/go/pulumi"
)

// Event is one EventBridge route to the alarm topic: ECS task stops and
// deployment failures are events, not metrics.
type Event struct {
	Suffix  string // the rule's name after the component's
	Pattern func(clusterArn, serviceName, serviceArn string) (string, error)
	Paths   map[string]string // input transformer: variable → JSON path
	Message string            // the notification, with <variable>s
}

// Events are the ECS routes of a service: a service task that stopped on
// its own (it failed to start, its essential container exited, or its
// health check failed; not a deploy's or scale-in's stop), and a deployment
// the circuit breaker failed or is rolling back.
func Events(stack string) []Event {
	return []Event{
		{
			Suffix: "ecs-task-stopped",
			Pattern: func(cluster, service, _ string) (string, error) {
				return jsonString(map[string]any{
					"source": []string{"aws.ecs"}, "detail-type": []string{"ECS Task State Change"},
					"detail": map[string]any{
						"clusterArn": []string{cluster}, "group": []string{"service:" + service}, "lastStatus": []string{"STOPPED"},
						"$or": []any{
							map[string]any{"stopCode": []string{"TaskFailedToStart", "EssentialContainerExited"}},
							map[string]any{"stoppedReason": []any{map[string]string{"prefix": "Task failed container health checks"}}},
						},
					},
				})
			},
			Paths: map[string]string{
				"task": "$.detail.taskArn", "time": "$.time", "code": "$.detail.stopCode", "reason": "$.detail.stoppedReason",
				"exit": "$.detail.containers[0].exitCode", "container": "$.detail.containers[0].reason",
			},
			Message: stack + ": processor task <task> stopped at <time> (<code>): <reason>; container exit code <exit> <container>. Runbook: " + Runbook + "#ecs-task-stopped",
		},
		{
			Suffix: "ecs-deployment-failed",
			Pattern: func(_, _, service string) (string, error) {
				return jsonString(map[string]any{
					"source": []string{"aws.ecs"}, "detail-type": []string{"ECS Deployment State Change"},
					"resources": []string{service},
					"detail": map[string]any{
						"$or": []any{
							map[string]any{"eventName": []string{"SERVICE_DEPLOYMENT_FAILED"}},
							map[string]any{"eventName": []string{"SERVICE_DEPLOYMENT_IN_PROGRESS"}, "reason": []any{map[string]string{"wildcard": "*rolling back*"}}},
						},
					},
				})
			},
			Paths:   map[string]string{"event": "$.detail.eventName", "deployment": "$.detail.deploymentId", "reason": "$.detail.reason", "time": "$.time"},
			Message: stack + ": processor deployment <deployment> <event> at <time>: <reason>. Runbook: " + Runbook + "#ecs-deployment-failed",
		},
	}
}

func jsonString(v any) (string, error) {
	b, err := json.Marshal(v)
	return string(b), err
}

// serviceEvents declares the rules, their topic targets and the topic's
// policy, which lets CloudWatch alarms and exactly these rules publish.
func serviceEvents(ctx *pulumi.Context, name string, args WatchArgs, parent pulumi.ResourceOption) error {
	var ruleArns []any
	for _, e := range Events(args.Stack) {
		e := e
		pattern := pulumi.All(args.ClusterArn, args.ServiceName, args.ServiceArn).ApplyT(func(v []any) (string, error) {
			return e.Pattern(v[0].(string), v[1].(string), v[2].(string))
		}).(pulumi.StringOutput)
		rule, err := cloudwatch.NewEventRule(ctx, name+"-"+e.Suffix, &cloudwatch.EventRuleArgs{
			Name:         pulumi.String(name + "-" + e.Suffix),
			Description:  pulumi.Sprintf("hookline %s: %s to the alarm topic", args.Stack, e.Suffix),
			EventPattern: pattern,
		}, parent)
		if err != nil {
			return err
		}
		paths := pulumi.StringMap{}
		for k, p := range e.Paths {
			paths[k] = pulumi.String(p)
		}
		template, err := json.Marshal(e.Message) // a JSON string: SNS delivers it as the plain message
		if err != nil {
			return err
		}
		if _, err := cloudwatch.NewEventTarget(ctx, name+"-"+e.Suffix, &cloudwatch.EventTargetArgs{
			Rule: rule.Name,
			Arn:  args.TopicArn,
			InputTransformer: &cloudwatch.EventTargetInputTransformerArgs{
				InputPaths:    paths,
				InputTemplate: pulumi.String(string(template)),
			},
		}, parent); err != nil {
			return err
		}
		ruleArns = append(ruleArns, rule.Arn)
	}
	inputs := append([]any{args.TopicArn}, ruleArns...)
	doc := pulumi.All(inputs...).ApplyT(func(v []any) (string, error) {
		topic := v[0].(string)
		parts := strings.Split(topic, ":") // arn:aws:sns:<region>:<account>:<name>
		if len(parts) != 6 {
			return "", fmt.Errorf("alarms: %q is not a topic ARN", topic)
		}
		region, account := parts[3], parts[4]
		var rules []string
		for _, r := range v[1:] {
			rules = append(rules, r.(string))
		}
		return TopicPolicy(topic, region, account, rules)
	}).(pulumi.StringOutput)
	_, err := sns.NewTopicPolicy(ctx, name+"-topic", &sns.TopicPolicyArgs{Arn: args.TopicArn, Policy: doc}, parent)
	return err
}

// TopicPolicy is the alarm topic's policy: the account manages and
// publishes (SNS's default statement), CloudWatch alarms of the account
// publish, and EventBridge publishes for the given rules only.
func TopicPolicy(topic, region, account string, rules []string) (string, error) {
	statements := []map[string]any{
		{
			"Sid": "AccountOwner", "Effect": "Allow", "Principal": map[string]string{"AWS": "*"},
			"Action": []string{
				"SNS:GetTopicAttributes", "SNS:SetTopicAttributes", "SNS:AddPermission", "SNS:RemovePermission",
				"SNS:DeleteTopic", "SNS:Subscribe", "SNS:ListSubscriptionsByTopic", "SNS:Publish",
			},
			"Resource":  topic,
			"Condition": map[string]any{"StringEquals": map[string]string{"AWS:SourceOwner": account}},
		},
		{
			"Sid": "CloudWatchAlarms", "Effect": "Allow", "Principal": map[string]string{"Service": "cloudwatch.amazonaws.com"},
			"Action": "sns:Publish", "Resource": topic,
			"Condition": map[string]any{
				"ArnLike":      map[string]string{"aws:SourceArn": fmt.Sprintf("arn:aws:cloudwatch:%s:%s:alarm:*", region, account)},
				"StringEquals": map[string]string{"aws:SourceAccount": account},
			},
		},
	}
	if len(rules) > 0 {
		statements = append(statements, map[string]any{
			"Sid": "EventBridgeRules", "Effect": "Allow", "Principal": map[string]string{"Service": "events.amazonaws.com"},
			"Action": "sns:Publish", "Resource": topic,
			"Condition": map[string]any{"ArnEquals": map[string][]string{"aws:SourceArn": rules}},
		})
	}
	return jsonString(map[string]any{"Version": "2012-10-17", "Statement": statements})
}
