// Package alarms declares the stack's one SNS topic that every alarm
// notifies (the broker's, the autoscaling's, the observability's), and its
// PagerDuty subscription when the stack configures one. Components take the
// topic's ARN; none declares a topic of its own.
package alarms

import (
	"github.com/pulumi/pulumi-aws/sdk/v6/go/aws/sns"
	"github.com/pulumi/pulumi/sdk/v3/go/pulumi"
)

// Args is what a stack decides about its alarm notifications.
type Args struct {
	// PagerDutyEndpoint is PagerDuty's Amazon CloudWatch integration URL
	// (…/integration/<key>/enqueue; SNS delivers there, not to Events API
	// v2); a secret. Nil: no subscription.
	PagerDutyEndpoint pulumi.StringInput
}

// Topic is the stack's alarm topic.
type Topic struct {
	pulumi.ResourceState

	Arn pulumi.StringOutput
}

// New declares the topic and its subscription.
func New(ctx *pulumi.Context, name string, args Args, opts ...pulumi.ResourceOption) (*Topic, error) {
	t := &Topic{}
	if err := ctx.RegisterComponentResource("hookline:alarms:Topic", name, t, opts...); err != nil {
		return nil, err
	}
	parent := pulumi.Parent(t)
	// Not KMS-encrypted: CloudWatch alarms cannot publish to a topic under
	// the AWS-managed SNS key, and alarm messages carry no secret.
	topic, err := sns.NewTopic(ctx, name, &sns.TopicArgs{
		DisplayName: pulumi.Sprintf("hookline alarms (%s)", name),
	}, parent)
	if err != nil {
		return nil, err
	}
	if args.PagerDutyEndpoint != nil {
		if _, err := sns.NewTopicSubscription(ctx, name+"-pagerduty", &sns.TopicSubscriptionArgs{
			Topic:                topic.Arn,
			Protocol:             pulumi.String("https"),
			Endpoint:             args.PagerDutyEndpoint,
			EndpointAutoConfirms: pulumi.Bool(true),
		}, parent); err != nil {
			return nil, err
		}
	}
	t.Arn = topic.Arn
	if err := ctx.RegisterResourceOutputs(t, pulumi.Map{"arn": t.Arn}); err != nil {
		return nil, err
	}
	return t, nil
}
