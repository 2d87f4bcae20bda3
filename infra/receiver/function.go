// Package receiver declares the webhook receiver Lambda: provided.al2023 on
// arm64 with the zip `make build` writes, in the compute tier with the
// receiver security group, a role that reads only its own secrets, a log
// group with retention, and an environment that points at secrets by ARN
// (never their values).
package receiver

import (
	"github.com/pulumi/pulumi-aws/sdk/v6/go/aws/cloudwatch"
	"github.com/pulumi/pulumi-aws/sdk/v6/go/aws/iam"
	"github.com/pulumi/pulumi-aws/sdk/v6/go/aws/lambda"
	"github.com/pulumi/pulumi/sdk/v3/go/pulumi"

	"github.com/hookline/hookline/infra/policy"
)

// Runtime contract (DESIGN.md, receiver).
const (
	Runtime      = "provided.al2023"
	Architecture = "arm64"
	Handler      = "bootstrap"
	ZipPath      = "build/lambda/bootstrap.zip" // under the project root, written by `make build`
)

// Args is what a stack decides about its receiver.
type Args struct {
	Region              string
	ZipFile             string // absolute path of the zip
	MemoryMiB           int
	ReservedConcurrency int // -1: unreserved
	TimeoutSeconds      int
	LogGroupName        string
	LogRetentionDays    int

	SubnetIDs       pulumi.StringArrayInput // compute tier
	SecurityGroupID pulumi.IDInput          // the receiver role

	RabbitMQURL      pulumi.StringInput // amqp://host:5672/vhost, no credentials
	BrokerSecretArn  pulumi.StringInput // the receiver's broker user
	BrokerCAArn      pulumi.StringInput // the broker CA certificate (PEM): RABBITMQ_CA_SECRET_ARN
	SourcesSecretArn pulumi.StringInput
	// SourcesVersion is the document's secret version: a new one changes
	// the environment, so Lambda starts fresh instances that read it.
	SourcesVersion pulumi.StringInput
	KeyArns        []pulumi.StringInput // the keys of those two secrets
	// Stack is HOOKLINE_STACK: the Stack dimension of the EMF lines.
	Stack string
}

// Function is the receiver component.
type Function struct {
	pulumi.ResourceState

	Arn          pulumi.StringOutput
	Name         pulumi.StringOutput
	InvokeArn    pulumi.StringOutput // for the API Gateway integration (edge issue)
	LogGroupName pulumi.StringOutput
	LogGroupArn  pulumi.StringOutput // without the ":*" suffix
	RoleArn      pulumi.StringOutput
}

// New declares the receiver.
func New(ctx *pulumi.Context, name string, args Args, opts ...pulumi.ResourceOption) (*Function, error) {
	f := &Function{}
	if err := ctx.RegisterComponentResource("hookline:receiver:Function", name, f, opts...); err != nil {
		return nil, err
	}
	parent := pulumi.Parent(f)

	logs, err := cloudwatch.NewLogGroup(ctx, name, &cloudwatch.LogGroupArgs{
		Name:            pulumi.String(args.LogGroupName),
		RetentionInDays: pulumi.Int(args.LogRetentionDays),
	}, parent)
	if err != nil {
		return nil, err
	}
	role, err := iam.NewRole(ctx, name, &iam.RoleArgs{
		Description:      pulumi.Sprintf("hookline receiver Lambda: VPC interfaces, its logs, its two secrets (%s)", name),
		AssumeRolePolicy: pulumi.String(policy.AssumeRole("lambda.amazonaws.com")),
	}, parent)
	if err != nil {
		return nil, err
	}
	inputs := []any{logs.Arn, args.BrokerSecretArn, args.SourcesSecretArn, args.BrokerCAArn}
	for _, k := range args.KeyArns {
		inputs = append(inputs, k)
	}
	rolePolicy, err := iam.NewRolePolicy(ctx, name, &iam.RolePolicyArgs{
		Role: role.ID(),
		Policy: pulumi.All(inputs...).ApplyT(func(v []any) (string, error) {
			s := policy.Strings(v)
			return policy.Document(
				// What AWSLambdaVPCAccessExecutionRole grants, minus log
				// groups: Lambda manages the function's interfaces with the
				// function's role, and these EC2 actions take no resource
				// ARNs (Describe*) or are checked against "*" by Lambda
				// when the function is created.
				policy.Statement{Sid: "VpcInterfaces", Action: []string{
					"ec2:AssignPrivateIpAddresses", "ec2:CreateNetworkInterface", "ec2:DeleteNetworkInterface",
					"ec2:DescribeNetworkInterfaces", "ec2:DescribeSubnets", "ec2:UnassignPrivateIpAddresses",
				}, Resource: []string{"*"}},
				policy.WriteLogs(s[0]),
				policy.ReadSecrets(s[1:4]),
				policy.DecryptViaSecretsManager(args.Region, s[4:]),
			)
		}).(pulumi.StringOutput),
	}, parent)
	if err != nil {
		return nil, err
	}

	fn, err := lambda.NewFunction(ctx, name, &lambda.FunctionArgs{
		Description:                  pulumi.String("hookline webhook receiver: verify, publish with confirms, 202"),
		Runtime:                      pulumi.String(Runtime),
		Architectures:                pulumi.StringArray{pulumi.String(Architecture)},
		Handler:                      pulumi.String(Handler),
		Code:                         pulumi.NewFileArchive(args.ZipFile),
		Role:                         role.Arn,
		MemorySize:                   pulumi.Int(args.MemoryMiB),
		Timeout:                      pulumi.Int(args.TimeoutSeconds),
		ReservedConcurrentExecutions: pulumi.Int(args.ReservedConcurrency),
		VpcConfig: &lambda.FunctionVpcConfigArgs{
			SubnetIds:        args.SubnetIDs,
			SecurityGroupIds: pulumi.StringArray{args.SecurityGroupID.ToIDOutput().ToStringOutput()},
		},
		Environment: &lambda.FunctionEnvironmentArgs{Variables: pulumi.StringMap{
			"RABBITMQ_URL":               args.RabbitMQURL,
			"RABBITMQ_SECRET_ARN":        args.BrokerSecretArn,
			"RABBITMQ_CA_SECRET_ARN":     args.BrokerCAArn,
			"WEBHOOK_SOURCES_SECRET_ARN": args.SourcesSecretArn,
			"WEBHOOK_SOURCES_VERSION":    args.SourcesVersion, // not read by the code: replaces warm instances
			"HOOKLINE_STACK":             pulumi.String(args.Stack),
		}},
		LoggingConfig: &lambda.FunctionLoggingConfigArgs{
			LogFormat: pulumi.String("Text"), // the receiver writes its own JSON lines (slog)
			LogGroup:  logs.Name,
		},
	}, parent, pulumi.DependsOn([]pulumi.Resource{rolePolicy, logs}))
	if err != nil {
		return nil, err
	}

	f.Arn, f.Name, f.InvokeArn = fn.Arn, fn.Name, fn.InvokeArn
	f.LogGroupName, f.LogGroupArn, f.RoleArn = logs.Name, logs.Arn, role.Arn
	if err := ctx.RegisterResourceOutputs(f, pulumi.Map{
		"arn":          f.Arn,
		"logGroupName": f.LogGroupName,
	}); err != nil {
		return nil, err
	}
	return f, nil
}
