// Package canary declares the end-to-end canary (lambda/canary): a Lambda
// outside the VPC, as any sender is, run by an EventBridge schedule every
// few minutes; the canary source's signing secret in a Secrets Manager
// secret of its own under its own key; a role that reads only that secret
// and writes only its log group. docs/observability.md, "Canary".
package canary

import (
	"fmt"
	"strconv"

	"github.com/pulumi/pulumi-aws/sdk/v6/go/aws/cloudwatch"
	"github.com/pulumi/pulumi-aws/sdk/v6/go/aws/iam"
	"github.com/pulumi/pulumi-aws/sdk/v6/go/aws/lambda"
	"github.com/pulumi/pulumi/sdk/v3/go/pulumi"

	"github.com/hookline/hookline/infra/encryption"
	"github.com/hookline/hookline/infra/policy"
	source "github.com/hookline/hookline/internal/canary"
)

// Runtime contract, as the receiver's (infra/receiver).
const (
	Runtime      = "provided.al2023"
	Architecture = "arm64"
	Handler      = "bootstrap"
	ZipPath      = "build/lambda/canary.zip" // under the project root, written by `make build`
	// MemoryMiB: one small HTTPS request a run.
	MemoryMiB = 128
	// GraceSeconds is how much longer the function may run than its
	// request: the secret read and the EMF line.
	GraceSeconds = 10
)

// Args is what a stack decides about its canary.
type Args struct {
	Region           string
	ZipFile          string // absolute path of the zip
	Stack            string // HOOKLINE_STACK: the Stack dimension
	URL              string // https://<public hostname>/webhooks/hookline-canary
	Secret           pulumi.StringInput
	IntervalMinutes  int
	TimeoutSeconds   int // a run's request
	LogGroupName     string
	LogRetentionDays int
}

// Canary is the canary component.
type Canary struct {
	pulumi.ResourceState

	FunctionName pulumi.StringOutput
	LogGroupName pulumi.StringOutput
	SecretArn    pulumi.StringOutput
	RuleName     pulumi.StringOutput
}

// URL is the canary source's public URL on host: the path every sender of
// the source posts to.
func URL(host string) string { return "https://" + host + "/webhooks/" + source.Source }

// Schedule is the EventBridge schedule expression of a run every minutes.
func Schedule(minutes int) string {
	if minutes == 1 {
		return "rate(1 minute)"
	}
	return fmt.Sprintf("rate(%d minutes)", minutes)
}

// New declares the canary.
func New(ctx *pulumi.Context, name string, args Args, opts ...pulumi.ResourceOption) (*Canary, error) {
	c := &Canary{}
	if err := ctx.RegisterComponentResource("hookline:canary:Canary", name, c, opts...); err != nil {
		return nil, err
	}
	parent := pulumi.Parent(c)

	sec, err := encryption.NewSecret(ctx, name, "hookline canary source signing secret ("+name+")",
		"hookline canary: the signing secret of source hookline-canary (the same value is in the sources document)", args.Secret, parent)
	if err != nil {
		return nil, err
	}
	key, secret, version := sec.Key, sec.Secret, sec.Version
	logs, err := cloudwatch.NewLogGroup(ctx, name, &cloudwatch.LogGroupArgs{
		Name:            pulumi.String(args.LogGroupName),
		RetentionInDays: pulumi.Int(args.LogRetentionDays),
	}, parent)
	if err != nil {
		return nil, err
	}
	role, err := iam.NewRole(ctx, name, &iam.RoleArgs{
		Description:      pulumi.Sprintf("hookline canary Lambda: its logs and its one secret (%s)", name),
		AssumeRolePolicy: pulumi.String(policy.AssumeRole("lambda.amazonaws.com")),
	}, parent)
	if err != nil {
		return nil, err
	}
	rolePolicy, err := iam.NewRolePolicy(ctx, name, &iam.RolePolicyArgs{
		Role: role.ID(),
		Policy: pulumi.All(logs.Arn, secret.Arn, key.Arn).ApplyT(func(v []any) (string, error) {
			s := policy.Strings(v)
			return policy.Document(
				policy.WriteLogs(s[0]),
				policy.ReadSecrets(s[1:2]),
				policy.DecryptViaSecretsManager(args.Region, s[2:3]),
			)
		}).(pulumi.StringOutput),
	}, parent)
	if err != nil {
		return nil, err
	}

	fn, err := lambda.NewFunction(ctx, name, &lambda.FunctionArgs{
		Description:   pulumi.String("hookline canary: a signed webhook to the public URL every few minutes (docs/observability.md)"),
		Runtime:       pulumi.String(Runtime),
		Architectures: pulumi.StringArray{pulumi.String(Architecture)},
		Handler:       pulumi.String(Handler),
		Code:          pulumi.NewFileArchive(args.ZipFile),
		Role:          role.Arn,
		MemorySize:    pulumi.Int(MemoryMiB),
		Timeout:       pulumi.Int(args.TimeoutSeconds + GraceSeconds),
		// One run at a time: a slow run never overlaps the next.
		ReservedConcurrentExecutions: pulumi.Int(1),
		// No VpcConfig: the canary reaches the public hostname over the
		// internet, as a sender does, not through the stack's NAT.
		Environment: &lambda.FunctionEnvironmentArgs{Variables: pulumi.StringMap{
			"CANARY_URL":        pulumi.String(args.URL),
			"CANARY_SECRET_ARN": secret.Arn,
			"CANARY_TIMEOUT":    pulumi.String(strconv.Itoa(args.TimeoutSeconds) + "s"),
			"HOOKLINE_STACK":    pulumi.String(args.Stack),
			// Not read by the code: a new secret value gives the function
			// a new configuration (it reads the secret every run anyway).
			"CANARY_SECRET_VERSION": version.VersionId,
		}},
		LoggingConfig: &lambda.FunctionLoggingConfigArgs{
			LogFormat: pulumi.String("Text"), // the canary writes its own JSON and EMF lines
			LogGroup:  logs.Name,
		},
	}, parent, pulumi.DependsOn([]pulumi.Resource{rolePolicy, logs}))
	if err != nil {
		return nil, err
	}
	// A failed run is not retried (a retry is a second canary), and a run
	// that waited a whole interval in Lambda's queue is dropped: the next
	// one is due.
	if _, err := lambda.NewFunctionEventInvokeConfig(ctx, name, &lambda.FunctionEventInvokeConfigArgs{
		FunctionName:             fn.Name,
		MaximumRetryAttempts:     pulumi.Int(0),
		MaximumEventAgeInSeconds: pulumi.Int(max(60, args.IntervalMinutes*60)),
	}, parent); err != nil {
		return nil, err
	}

	rule, err := cloudwatch.NewEventRule(ctx, name, &cloudwatch.EventRuleArgs{
		Name:               pulumi.String(name),
		Description:        pulumi.Sprintf("hookline canary: every %d minutes", args.IntervalMinutes),
		ScheduleExpression: pulumi.String(Schedule(args.IntervalMinutes)),
	}, parent)
	if err != nil {
		return nil, err
	}
	permission, err := lambda.NewPermission(ctx, name, &lambda.PermissionArgs{
		Action:    pulumi.String("lambda:InvokeFunction"),
		Function:  fn.Name,
		Principal: pulumi.String("events.amazonaws.com"),
		SourceArn: rule.Arn,
	}, parent)
	if err != nil {
		return nil, err
	}
	if _, err := cloudwatch.NewEventTarget(ctx, name, &cloudwatch.EventTargetArgs{
		Rule: rule.Name,
		Arn:  fn.Arn,
	}, parent, pulumi.DependsOn([]pulumi.Resource{permission})); err != nil {
		return nil, err
	}

	c.FunctionName, c.LogGroupName, c.SecretArn, c.RuleName = fn.Name, logs.Name, secret.Arn, rule.Name
	if err := ctx.RegisterResourceOutputs(c, pulumi.Map{
		"functionName": c.FunctionName,
		"secretArn":    c.SecretArn,
	}); err != nil {
		return nil, err
	}
	return c, nil
}
