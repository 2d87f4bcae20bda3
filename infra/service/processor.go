// Package service declares the processor on ECS Fargate: a cluster with
// Container Insights, the task execution role (pull the image, write logs,
// inject the processor's secrets) and the task role (re-read the processor
// database user's password and the sources document at run time), the task
// definition (arm64, non-root, read-only root filesystem, secrets only
// through `secrets`, health check, stopTimeout), the migration task
// definition `processor migrate` that `make deploy` runs before the service
// moves, and the service in the compute tier without public IPs, with a
// circuit breaker that rolls back and desiredCount left to autoscaling.
//
// The run task connects to the database as the processor's own user (its
// secret, never the RDS master secret); the migration task connects as the
// master user and creates or updates the processor user from that secret.
package service

import (
	"encoding/json"
	"fmt"
	"sort"
	"strconv"

	"github.com/pulumi/pulumi-aws/sdk/v6/go/aws/cloudwatch"
	"github.com/pulumi/pulumi-aws/sdk/v6/go/aws/ecs"
	"github.com/pulumi/pulumi-aws/sdk/v6/go/aws/iam"
	"github.com/pulumi/pulumi/sdk/v3/go/pulumi"

	"github.com/hookline/hookline/infra/policy"
)

// Container contract (DESIGN.md, processor): where ko puts the binary, the
// user of the distroless nonroot base, and the HTTP port of the probes.
const (
	Binary        = "/ko-app/processor" // ko: /ko-app/<last element of the import path>
	User          = "65532:65532"       // distroless "nonroot"
	HTTPPort      = 9090
	ContainerName = "processor"
	MigrateName   = "migrate"
)

// Args is what a stack decides about its processor.
type Args struct {
	Region             string
	CPU                int // Fargate CPU units
	MemoryMiB          int
	MinTasks           int // desired count at creation; autoscaling owns it afterwards
	Prefetch           int
	Concurrency        int
	StopTimeoutSeconds int // ECS stopTimeout
	ShutdownTimeout    int // SHUTDOWN_TIMEOUT, seconds (under StopTimeoutSeconds)
	LogGroupName       string
	LogRetentionDays   int

	RepositoryURL   pulumi.StringInput // ECR repository the image digests live in
	RepositoryArn   pulumi.StringInput
	ImageDigest     string // sha256:…; empty: no service yet
	MigrationDigest string // sha256:…; empty: no migration task yet

	SubnetIDs       pulumi.StringArrayInput // compute tier
	SecurityGroupID pulumi.IDInput          // the processor role

	// Endpoints, without credentials.
	RabbitMQURL pulumi.StringInput // amqps://host:5671/vhost
	RedisURL    pulumi.StringInput // rediss://host:6379
	MySQLDSN    pulumi.StringInput // tcp(host:3306)/db?tls=true

	// QueueMetricsEndpoints are the broker nodes' rabbitmq_prometheus base
	// URLs, comma-separated, for the collector every task runs
	// (processor/collector); QueueMetricsStack is its Stack dimension.
	QueueMetricsEndpoints pulumi.StringInput
	// QueueMetricsManagement are the nodes' management API base URLs,
	// comma-separated: the collector's quorum and partition counts.
	QueueMetricsManagement pulumi.StringInput
	QueueMetricsStack      string
	// Stack is HOOKLINE_STACK: the Stack dimension of the processor's EMF
	// metric lines (written on stdout, shipped by the awslogs driver).
	Stack string

	// Secrets the processor reads, and the keys that encrypt them.
	BrokerSecretArn pulumi.StringInput // JSON {"username","password",…}
	BrokerCAArn     pulumi.StringInput // the broker CA certificate (PEM): RABBITMQ_CA (the collector's CA too)
	// CollectorSecretArn is the queue-metrics collector's broker user
	// (monitoring tag): QUEUE_METRICS_USERNAME, QUEUE_METRICS_PASSWORD.
	CollectorSecretArn pulumi.StringInput
	DatabaseSecretArn  pulumi.StringInput // RDS-managed master, JSON {"username","password"}: the migration task only
	// DatabaseUserSecretArn is the processor's own database user, JSON
	// {"username","password"}: injected into both tasks, and re-read by the
	// run task (MYSQL_PASSWORD_SECRET_ARN) after an authentication failure.
	DatabaseUserSecretArn pulumi.StringInput
	CacheSecretArn        pulumi.StringInput // JSON {"auth_token","url"}
	// SourcesSecretArn is the sources document; the run task reads it by
	// ARN (WEBHOOK_SOURCES_SECRET_ARN) and again when it meets an unknown source.
	SourcesSecretArn pulumi.StringInput
	KeyArns          []pulumi.StringInput // the keys of the secrets ECS injects (execution role)
	// The keys of DatabaseUserSecretArn and SourcesSecretArn, which the
	// task role decrypts through Secrets Manager.
	DatabaseUserKeyArn, SourcesKeyArn pulumi.StringInput
}

// Processor is the ECS service component.
type Processor struct {
	pulumi.ResourceState

	ClusterName              pulumi.StringOutput
	ClusterArn               pulumi.StringOutput
	ServiceName              pulumi.StringOutput // empty until the first image
	ServiceArn               pulumi.StringOutput // empty until the first image
	TaskDefinitionArn        pulumi.StringOutput // empty until the first image
	MigrationTaskArn         pulumi.StringOutput // task definition ARN; empty until the first image
	LogGroupName             pulumi.StringOutput
	LogGroupArn              pulumi.StringOutput // without the ":*" suffix
	ExecutionRoleArn         pulumi.StringOutput
	TaskRoleArn              pulumi.StringOutput
	TaskRoleName             pulumi.StringOutput // the scaling component grants the collector's PutMetricData on it
	SecurityGroupID          pulumi.IDOutput
	SubnetIDs                pulumi.StringArrayOutput
	ContainerName, Migration string
}

// Secret is one variable ECS injects from Secrets Manager.
type Secret struct {
	Name      string `json:"name"`
	ValueFrom string `json:"valueFrom"`
}

// KV is one plain environment variable.
type KV struct {
	Name  string `json:"name"`
	Value string `json:"value"`
}

// Task says which task definition a variable belongs to.
type Task int

const (
	Run     Task = iota // `processor run`, the service
	Migrate             // `processor migrate`, the one-off migration
)

// SecretVariables are the variables ECS injects the processor's credentials
// into, each from one JSON key of its secret ("" = the whole value), per
// task definition. The run task never sees the master secret.
var SecretVariables = []struct {
	Name, Secret, JSONKey string
	Task                  Task
}{
	{"RABBITMQ_USERNAME", "broker", "username", Run},
	{"RABBITMQ_PASSWORD", "broker", "password", Run},
	{"RABBITMQ_CA", "brokerCA", "", Run},
	{"QUEUE_METRICS_USERNAME", "collector", "username", Run},
	{"QUEUE_METRICS_PASSWORD", "collector", "password", Run},
	{"MYSQL_USER", "databaseUser", "username", Run},
	{"MYSQL_PASSWORD", "databaseUser", "password", Run},
	{"REDIS_PASSWORD", "cache", "auth_token", Run},
	{"MYSQL_USER", "database", "username", Migrate},
	{"MYSQL_PASSWORD", "database", "password", Migrate},
	{"PROCESSOR_DB_USER", "databaseUser", "username", Migrate},
	{"PROCESSOR_DB_PASSWORD", "databaseUser", "password", Migrate},
}

// ARNVariables are the plain variables of the run task that name a secret
// its code reads itself with the task role: the database password again
// after a refusal (a rotation), the sources document again when an unknown
// source arrives.
var ARNVariables = []struct{ Name, Secret string }{
	{"MYSQL_PASSWORD_SECRET_ARN", "databaseUser"},
	{"WEBHOOK_SOURCES_SECRET_ARN", "sources"},
}

// valueFrom is ECS's reference to a secret or one JSON key of it.
func valueFrom(arn, jsonKey string) string {
	if jsonKey == "" {
		return arn
	}
	return arn + ":" + jsonKey + "::"
}

// New declares the processor.
func New(ctx *pulumi.Context, name string, args Args, opts ...pulumi.ResourceOption) (*Processor, error) {
	p := &Processor{ContainerName: ContainerName, Migration: MigrateName}
	if err := ctx.RegisterComponentResource("hookline:service:Processor", name, p, opts...); err != nil {
		return nil, err
	}
	parent := pulumi.Parent(p)

	logs, err := cloudwatch.NewLogGroup(ctx, name, &cloudwatch.LogGroupArgs{
		Name:            pulumi.String(args.LogGroupName),
		RetentionInDays: pulumi.Int(args.LogRetentionDays),
	}, parent)
	if err != nil {
		return nil, err
	}
	cluster, err := ecs.NewCluster(ctx, name, &ecs.ClusterArgs{
		Settings: ecs.ClusterSettingArray{
			ecs.ClusterSettingArgs{Name: pulumi.String("containerInsights"), Value: pulumi.String("enabled")},
		},
	}, parent)
	if err != nil {
		return nil, err
	}

	// Execution role: what ECS itself does before the container starts.
	execRole, err := iam.NewRole(ctx, name+"-execution", &iam.RoleArgs{
		Description:      pulumi.Sprintf("hookline processor task execution: pull the image, write logs, inject its secrets (%s)", name),
		AssumeRolePolicy: pulumi.String(policy.AssumeRole("ecs-tasks.amazonaws.com")),
	}, parent)
	if err != nil {
		return nil, err
	}
	inputs := []any{args.RepositoryArn, logs.Arn, args.BrokerSecretArn, args.DatabaseSecretArn, args.CacheSecretArn, args.DatabaseUserSecretArn, args.BrokerCAArn, args.CollectorSecretArn}
	for _, k := range args.KeyArns {
		inputs = append(inputs, k)
	}
	execPolicy, err := iam.NewRolePolicy(ctx, name+"-execution", &iam.RolePolicyArgs{
		Role: execRole.ID(),
		Policy: pulumi.All(inputs...).ApplyT(func(v []any) (string, error) {
			s := policy.Strings(v)
			return policy.Document(
				// GetAuthorizationToken has no resource-level permissions: AWS requires "*".
				policy.Statement{Sid: "RegistryLogin", Action: []string{"ecr:GetAuthorizationToken"}, Resource: []string{"*"}},
				policy.Statement{Sid: "PullOwnImage", Action: []string{"ecr:BatchCheckLayerAvailability", "ecr:BatchGetImage", "ecr:GetDownloadUrlForLayer"}, Resource: []string{s[0]}},
				policy.WriteLogs(s[1]),
				policy.ReadSecrets(s[2:8]),
				policy.DecryptViaSecretsManager(args.Region, s[8:]),
			)
		}).(pulumi.StringOutput),
	}, parent)
	if err != nil {
		return nil, err
	}
	// Task role: what the processor's code may call on AWS: read its own
	// database user's secret and the sources document again at run time.
	// The queue metrics collector's one permission (PutMetricData into its
	// namespace) comes from infra/scaling.
	taskRole, err := iam.NewRole(ctx, name+"-task", &iam.RoleArgs{
		Description:      pulumi.Sprintf("hookline processor tasks: re-read their database password and sources, publish the queue metrics (%s)", name),
		AssumeRolePolicy: pulumi.String(policy.AssumeRole("ecs-tasks.amazonaws.com")),
	}, parent)
	if err != nil {
		return nil, err
	}
	if _, err := iam.NewRolePolicy(ctx, name+"-task", &iam.RolePolicyArgs{
		Role: taskRole.ID(),
		Policy: pulumi.All(args.DatabaseUserSecretArn, args.SourcesSecretArn, args.DatabaseUserKeyArn, args.SourcesKeyArn).ApplyT(func(v []any) (string, error) {
			s := policy.Strings(v)
			userSecret, sourcesSecret, userKey, sourcesKey := s[0], s[1], s[2], s[3]
			return policy.Document(
				policy.ReadSecrets([]string{userSecret, sourcesSecret}),
				policy.DecryptViaSecretsManager(args.Region, []string{userKey, sourcesKey}),
			)
		}).(pulumi.StringOutput),
	}, parent); err != nil {
		return nil, err
	}

	p.ClusterName, p.ClusterArn = cluster.Name, cluster.Arn
	p.LogGroupName, p.LogGroupArn = logs.Name, logs.Arn
	p.ExecutionRoleArn, p.TaskRoleArn, p.TaskRoleName = execRole.Arn, taskRole.Arn, taskRole.Name
	p.SecurityGroupID = args.SecurityGroupID.ToIDOutput()
	p.SubnetIDs = args.SubnetIDs.ToStringArrayOutput()
	p.ServiceName = pulumi.String("").ToStringOutput()
	p.ServiceArn = pulumi.String("").ToStringOutput()
	p.TaskDefinitionArn = pulumi.String("").ToStringOutput()
	p.MigrationTaskArn = pulumi.String("").ToStringOutput()

	taskDef := func(suffix, digest string, migrate bool) (*ecs.TaskDefinition, error) {
		queueMetrics, queueManagement := args.QueueMetricsEndpoints, args.QueueMetricsManagement
		if queueMetrics == nil {
			queueMetrics = pulumi.String("")
		}
		if queueManagement == nil {
			queueManagement = pulumi.String("")
		}
		defs := pulumi.All(args.RepositoryURL, logs.Name, args.RabbitMQURL, args.RedisURL, args.MySQLDSN,
			args.BrokerSecretArn, args.DatabaseSecretArn, args.CacheSecretArn, args.SourcesSecretArn, queueMetrics, args.DatabaseUserSecretArn, args.BrokerCAArn, args.CollectorSecretArn, queueManagement).ApplyT(
			func(v []any) (string, error) {
				s := policy.Strings(v)
				return ContainerDefinitions(Container{
					Image: s[0] + "@" + digest, LogGroup: s[1], Region: args.Region,
					RabbitMQURL: s[2], RedisURL: s[3], MySQLDSN: s[4],
					QueueMetricsEndpoints: s[9], QueueMetricsManagement: s[13], QueueMetricsStack: args.QueueMetricsStack, Stack: args.Stack,
					SecretArns: map[string]string{
						"broker": s[5], "database": s[6], "cache": s[7], "sources": s[8], "databaseUser": s[10], "brokerCA": s[11], "collector": s[12],
					},
					Prefetch:           args.Prefetch,
					Concurrency:        args.Concurrency,
					StopTimeoutSeconds: args.StopTimeoutSeconds,
					ShutdownTimeout:    args.ShutdownTimeout,
					Migrate:            migrate,
				})
			}).(pulumi.StringOutput)
		td := &ecs.TaskDefinitionArgs{
			Family:                  pulumi.String(name + suffix),
			RequiresCompatibilities: pulumi.StringArray{pulumi.String("FARGATE")},
			NetworkMode:             pulumi.String("awsvpc"),
			Cpu:                     pulumi.String(strconv.Itoa(args.CPU)),
			Memory:                  pulumi.String(strconv.Itoa(args.MemoryMiB)),
			RuntimePlatform: &ecs.TaskDefinitionRuntimePlatformArgs{
				OperatingSystemFamily: pulumi.String("LINUX"),
				CpuArchitecture:       pulumi.String("ARM64"),
			},
			ExecutionRoleArn:     execRole.Arn,
			TaskRoleArn:          taskRole.Arn,
			ContainerDefinitions: defs,
			// Keep earlier revisions ACTIVE: the circuit breaker rolls back to one.
			SkipDestroy: pulumi.Bool(true),
		}
		return ecs.NewTaskDefinition(ctx, name+suffix, td, parent, pulumi.DependsOn([]pulumi.Resource{execPolicy}))
	}

	if args.MigrationDigest != "" {
		mig, err := taskDef("-migrate", args.MigrationDigest, true)
		if err != nil {
			return nil, err
		}
		p.MigrationTaskArn = mig.Arn
	}
	if args.ImageDigest != "" {
		td, err := taskDef("", args.ImageDigest, false)
		if err != nil {
			return nil, err
		}
		svc, err := ecs.NewService(ctx, name, &ecs.ServiceArgs{
			Cluster:         cluster.Arn,
			TaskDefinition:  td.Arn,
			DesiredCount:    pulumi.Int(args.MinTasks),
			LaunchType:      pulumi.String("FARGATE"),
			PlatformVersion: pulumi.String("LATEST"),
			NetworkConfiguration: &ecs.ServiceNetworkConfigurationArgs{
				Subnets:        args.SubnetIDs,
				SecurityGroups: pulumi.StringArray{args.SecurityGroupID.ToIDOutput().ToStringOutput()},
				AssignPublicIp: pulumi.Bool(false),
			},
			DeploymentCircuitBreaker: &ecs.ServiceDeploymentCircuitBreakerArgs{
				Enable:   pulumi.Bool(true),
				Rollback: pulumi.Bool(true),
			},
			// New tasks start before old ones stop: never below the running
			// count (prod's minimum of 2 included) during a deploy.
			DeploymentMinimumHealthyPercent: pulumi.Int(100),
			DeploymentMaximumPercent:        pulumi.Int(200),
			EnableEcsManagedTags:            pulumi.Bool(true),
			PropagateTags:                   pulumi.String("SERVICE"),
			EnableExecuteCommand:            pulumi.Bool(false),
			// `pulumi up` returns only once the new tasks are healthy, and
			// fails when the circuit breaker rolls back.
			WaitForSteadyState: pulumi.Bool(true),
		}, parent, pulumi.IgnoreChanges([]string{"desiredCount"}))
		if err != nil {
			return nil, err
		}
		p.ServiceName = svc.Name
		p.ServiceArn = svc.ID().ToStringOutput() // an ECS service's id is its ARN
		p.TaskDefinitionArn = td.Arn
	}

	if err := ctx.RegisterResourceOutputs(p, pulumi.Map{
		"clusterName":       p.ClusterName,
		"serviceName":       p.ServiceName,
		"logGroupName":      p.LogGroupName,
		"migrationTaskArn":  p.MigrationTaskArn,
		"taskDefinitionArn": p.TaskDefinitionArn,
	}); err != nil {
		return nil, err
	}
	return p, nil
}

// Container is what one container definition is made of.
type Container struct {
	Image, LogGroup, Region         string
	RabbitMQURL, RedisURL, MySQLDSN string
	SecretArns                      map[string]string // broker, brokerCA, collector, database (master), databaseUser, cache, sources
	Prefetch, Concurrency           int
	StopTimeoutSeconds              int
	ShutdownTimeout                 int
	Migrate                         bool // `processor migrate`: database settings only, no probes
	// The queue metrics collector: endpoints (comma-separated) and Stack
	// dimension; empty endpoints, no collector.
	QueueMetricsEndpoints, QueueMetricsManagement, QueueMetricsStack string
	// Stack is HOOKLINE_STACK (the EMF lines' Stack dimension); empty, none.
	Stack string
}

// DatabaseCA is where the image carries the RDS CA bundle: scripts/image.sh
// puts it in processor/kodata, which ko ships under /var/run/ko. RDS
// certificates do not chain to the public roots of the distroless base, so
// the processor verifies the database's TLS against this bundle.
const DatabaseCA = "/var/run/ko/rds-ca-bundle.pem"

// ContainerDefinitions renders the task definition's one container.
func ContainerDefinitions(c Container) (string, error) {
	name := ContainerName
	env := []KV{
		{"MYSQL_CA", DatabaseCA},
		{"MYSQL_DSN", c.MySQLDSN},
		{"SHUTDOWN_TIMEOUT", fmt.Sprintf("%ds", c.ShutdownTimeout)},
	}
	task := Run
	if c.Migrate {
		task = Migrate
	}
	var secrets []Secret
	for _, s := range SecretVariables {
		if s.Task != task {
			continue
		}
		arn, ok := c.SecretArns[s.Secret]
		if !ok || arn == "" {
			return "", fmt.Errorf("service: no %s secret for %s", s.Secret, s.Name)
		}
		secrets = append(secrets, Secret{Name: s.Name, ValueFrom: valueFrom(arn, s.JSONKey)})
	}
	def := map[string]any{
		"image":                  c.Image,
		"essential":              true,
		"user":                   User,
		"privileged":             false,
		"readonlyRootFilesystem": true,
		"stopTimeout":            c.StopTimeoutSeconds,
		"linuxParameters":        map[string]any{"initProcessEnabled": true},
	}
	if c.Migrate {
		name = MigrateName
		def["command"] = []string{"migrate"}
	} else {
		env = append(env,
			KV{"RABBITMQ_URL", c.RabbitMQURL},
			KV{"REDIS_URL", c.RedisURL},
			KV{"HTTP_ADDR", fmt.Sprintf(":%d", HTTPPort)},
			KV{"PREFETCH", strconv.Itoa(c.Prefetch)},
			KV{"CONCURRENCY", strconv.Itoa(c.Concurrency)},
		)
		for _, a := range ARNVariables {
			arn, ok := c.SecretArns[a.Secret]
			if !ok || arn == "" {
				return "", fmt.Errorf("service: no %s secret for %s", a.Secret, a.Name)
			}
			env = append(env, KV{a.Name, arn})
		}
		if c.QueueMetricsEndpoints != "" {
			env = append(env,
				KV{"QUEUE_METRICS_ENDPOINTS", c.QueueMetricsEndpoints},
				KV{"QUEUE_METRICS_MANAGEMENT", c.QueueMetricsManagement},
				KV{"QUEUE_METRICS_STACK", c.QueueMetricsStack},
			) // the collector's CloudWatch client takes AWS_REGION, which ECS sets
		}
		if c.Stack != "" {
			env = append(env, KV{"HOOKLINE_STACK", c.Stack})
		}
		def["command"] = []string{"run"}
		def["portMappings"] = []map[string]any{{"containerPort": HTTPPort, "protocol": "tcp", "name": "http"}}
		def["healthCheck"] = map[string]any{
			"command":     []string{"CMD", Binary, "healthcheck"},
			"interval":    15,
			"timeout":     5,
			"retries":     3,
			"startPeriod": 60,
		}
	}
	// Sorted by name, as ECS returns them: no spurious diff on the next up.
	sort.Slice(env, func(i, j int) bool { return env[i].Name < env[j].Name })
	sort.Slice(secrets, func(i, j int) bool { return secrets[i].Name < secrets[j].Name })
	def["name"] = name
	def["environment"] = env
	def["secrets"] = secrets
	def["logConfiguration"] = map[string]any{
		"logDriver": "awslogs",
		"options": map[string]string{
			"awslogs-group":         c.LogGroup,
			"awslogs-region":        c.Region,
			"awslogs-stream-prefix": name,
			"mode":                  "non-blocking",
			"max-buffer-size":       "25m",
		},
	}
	b, err := json.Marshal([]any{def})
	return string(b), err
}
