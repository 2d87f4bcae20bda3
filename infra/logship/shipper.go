// Package logship declares the optional Loki shipper (logship/): a Lambda
// that CloudWatch Logs subscription filters on the receiver's and the
// processor's log groups invoke, so CloudWatch keeps every line (the EMF
// metric lines every processor alarm reads included) and Loki gets a copy.
//
// It runs outside the VPC: it reaches only Loki on the internet and
// Secrets Manager, and needs none of the VPC's private resources. Its role
// writes its own log group and reads the one Loki secret, nothing else.
package logship

import (
	"github.com/pulumi/pulumi-aws/sdk/v6/go/aws/cloudwatch"
	"github.com/pulumi/pulumi-aws/sdk/v6/go/aws/iam"
	"github.com/pulumi/pulumi-aws/sdk/v6/go/aws/lambda"
	"github.com/pulumi/pulumi/sdk/v3/go/pulumi"

	"github.com/hookline/hookline/infra/policy"
)

// Runtime contract, as the receiver's.
const (
	Runtime      = "provided.al2023"
	Architecture = "arm64"
	Handler      = "bootstrap"
	ZipPath      = "build/lambda/logship.zip" // under the project root, written by `make build`

	MemoryMiB      = 128
	TimeoutSeconds = 30 // the push itself is bounded at 10 s (logship/ship)

	// Lambda's asynchronous retries of a failed batch (Loki down, 429, 5xx),
	// then the batch is dropped from Loki (CloudWatch keeps it). These are
	// Lambda's defaults, declared so that they are visible and tested.
	RetryAttempts  = 2
	MaxEventAgeSec = 6 * 60 * 60
)

// Source is one log group the shipper is subscribed to.
type Source struct {
	Service      string             // receiver, processor: names the children
	LogGroupName pulumi.StringInput // the group the filter is on
	LogGroupArn  pulumi.StringInput // the group's ARN, without ":*"
}

// Args is what a stack decides about its shipper.
type Args struct {
	ZipFile          string // absolute path of the zip
	LokiURL          string
	LokiSecretArn    string // empty: no auth, and no secret permission
	Stack            string // HOOKLINE_STACK: the stack label
	LogGroupName     string // the shipper's own log group
	LogRetentionDays int
	Sources          []Source
}

// Shipper is the Loki shipper component.
type Shipper struct {
	pulumi.ResourceState

	FunctionName pulumi.StringOutput
	FunctionArn  pulumi.StringOutput
	LogGroupName pulumi.StringOutput
}

// New declares the shipper and its subscriptions.
func New(ctx *pulumi.Context, name string, args Args, opts ...pulumi.ResourceOption) (*Shipper, error) {
	s := &Shipper{}
	if err := ctx.RegisterComponentResource("hookline:logship:Shipper", name, s, opts...); err != nil {
		return nil, err
	}
	parent := pulumi.Parent(s)

	logs, err := cloudwatch.NewLogGroup(ctx, name, &cloudwatch.LogGroupArgs{
		Name:            pulumi.String(args.LogGroupName),
		RetentionInDays: pulumi.Int(args.LogRetentionDays),
	}, parent)
	if err != nil {
		return nil, err
	}
	role, err := iam.NewRole(ctx, name, &iam.RoleArgs{
		Description:      pulumi.Sprintf("hookline Loki shipper Lambda: its logs, its Loki secret (%s)", name),
		AssumeRolePolicy: pulumi.String(policy.AssumeRole("lambda.amazonaws.com")),
	}, parent)
	if err != nil {
		return nil, err
	}
	rolePolicy, err := iam.NewRolePolicy(ctx, name, &iam.RolePolicyArgs{
		Role: role.ID(),
		Policy: logs.Arn.ApplyT(func(group string) (string, error) {
			st := []policy.Statement{policy.WriteLogs(group)}
			if args.LokiSecretArn != "" {
				st = append(st, policy.ReadSecrets([]string{args.LokiSecretArn}))
			}
			return policy.Document(st...)
		}).(pulumi.StringOutput),
	}, parent)
	if err != nil {
		return nil, err
	}

	env := pulumi.StringMap{
		"LOKI_URL":       pulumi.String(args.LokiURL),
		"HOOKLINE_STACK": pulumi.String(args.Stack),
	}
	if args.LokiSecretArn != "" {
		env["LOKI_SECRET_ARN"] = pulumi.String(args.LokiSecretArn)
	}
	fn, err := lambda.NewFunction(ctx, name, &lambda.FunctionArgs{
		Description:   pulumi.String("hookline Loki shipper: CloudWatch Logs subscription batches to Loki's push API"),
		Runtime:       pulumi.String(Runtime),
		Architectures: pulumi.StringArray{pulumi.String(Architecture)},
		Handler:       pulumi.String(Handler),
		Code:          pulumi.NewFileArchive(args.ZipFile),
		Role:          role.Arn,
		MemorySize:    pulumi.Int(MemoryMiB),
		Timeout:       pulumi.Int(TimeoutSeconds),
		Environment:   &lambda.FunctionEnvironmentArgs{Variables: env},
		LoggingConfig: &lambda.FunctionLoggingConfigArgs{
			LogFormat: pulumi.String("Text"), // it writes its own JSON lines (slog)
			LogGroup:  logs.Name,
		},
	}, parent, pulumi.DependsOn([]pulumi.Resource{rolePolicy, logs}))
	if err != nil {
		return nil, err
	}
	if _, err := lambda.NewFunctionEventInvokeConfig(ctx, name, &lambda.FunctionEventInvokeConfigArgs{
		FunctionName:             fn.Name,
		MaximumRetryAttempts:     pulumi.Int(RetryAttempts),
		MaximumEventAgeInSeconds: pulumi.Int(MaxEventAgeSec),
	}, parent); err != nil {
		return nil, err
	}

	for _, src := range args.Sources {
		// CloudWatch Logs may invoke the function for this group only.
		perm, err := lambda.NewPermission(ctx, name+"-"+src.Service, &lambda.PermissionArgs{
			Action:    pulumi.String("lambda:InvokeFunction"),
			Function:  fn.Name,
			Principal: pulumi.String("logs.amazonaws.com"),
			SourceArn: pulumi.Sprintf("%s:*", src.LogGroupArn),
		}, parent)
		if err != nil {
			return nil, err
		}
		if _, err := cloudwatch.NewLogSubscriptionFilter(ctx, name+"-"+src.Service, &cloudwatch.LogSubscriptionFilterArgs{
			Name:           pulumi.String(name),
			LogGroup:       src.LogGroupName,
			FilterPattern:  pulumi.String(""), // every line
			DestinationArn: fn.Arn,
		}, parent, pulumi.DependsOn([]pulumi.Resource{perm})); err != nil {
			return nil, err
		}
	}

	s.FunctionName, s.FunctionArn, s.LogGroupName = fn.Name, fn.Arn, logs.Name
	if err := ctx.RegisterResourceOutputs(s, pulumi.Map{
		"functionName": s.FunctionName,
		"logGroupName": s.LogGroupName,
	}); err != nil {
		return nil, err
	}
	return s, nil
}
