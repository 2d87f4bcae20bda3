// Package stack is the hookline Pulumi program: config in, components wired
// in the order of the picture in DESIGN.md, stack outputs out. It declares
// no resource itself. `pulumi up`, `make plan` and the infra tests all run
// Program.
package stack

import (
	"fmt"
	"path/filepath"
	"strings"

	"github.com/pulumi/pulumi-aws/sdk/v6/go/aws"
	"github.com/pulumi/pulumi/sdk/v3/go/pulumi"

	"github.com/hookline/hookline/infra/alarms"
	"github.com/hookline/hookline/infra/broker"
	"github.com/hookline/hookline/infra/cache"
	"github.com/hookline/hookline/infra/canary"
	"github.com/hookline/hookline/infra/config"
	"github.com/hookline/hookline/infra/dashboard"
	"github.com/hookline/hookline/infra/database"
	"github.com/hookline/hookline/infra/edge"
	"github.com/hookline/hookline/infra/edge/rules"
	"github.com/hookline/hookline/infra/logship"
	"github.com/hookline/hookline/infra/network"
	"github.com/hookline/hookline/infra/receiver"
	"github.com/hookline/hookline/infra/registry"
	"github.com/hookline/hookline/infra/scaling"
	"github.com/hookline/hookline/infra/security"
	"github.com/hookline/hookline/infra/service"
	"github.com/hookline/hookline/infra/sources"
	"github.com/hookline/hookline/internal/topology"
)

// Program is the Pulumi program (pulumi.Run(stack.Program)).
func Program(ctx *pulumi.Context) error {
	cfg, err := config.Load(ctx)
	if err != nil {
		return err // one line naming the key; nothing has been declared yet
	}
	p, err := Build(ctx, cfg)
	if err != nil {
		return err
	}
	p.Export(ctx)
	return nil
}

// Platform is what Build declared, for the parts that build on it: the
// workloads (ECS service, Lambda, IAM) take subnets, security groups and
// secrets from here, and the edge takes the API from them.
type Platform struct {
	Config   config.Config
	Provider *aws.Provider // every AWS resource's provider: region and default tags

	Network   *network.Vpc
	Security  *security.Groups
	Endpoints *network.Endpoints
	Database  *database.Database
	Cache     *cache.Redis
	Alarms    *alarms.Topic // the one SNS topic every alarm notifies
	Broker    *broker.RabbitMQ

	Sources   *sources.Document    // the webhook sources document secret
	Registry  *registry.Repository // the processor image repository
	Processor *service.Processor   // ECS Fargate
	Receiver  *receiver.Function   // Lambda
	Dashboard *dashboard.Dashboard // CloudWatch
	Watch     *alarms.Platform     // every component's alarms from outside, ECS event routes
	Scaling   *scaling.Scaling     // the processor's autoscaling; nil until the service exists
	Edge      *edge.Edge           // Cloudflare + API Gateway; nil without hookline:edge: no public endpoint
	Logship   *logship.Shipper     // a copy of the receiver's and processor's logs to Loki; nil without hookline:logs.lokiUrl
	Canary    *canary.Canary       // the end-to-end canary through the edge; nil without an edge or with canary.enabled false
}

// Build declares the platform of a validated config.
func Build(ctx *pulumi.Context, cfg config.Config) (*Platform, error) {
	name := cfg.Name()
	p := &Platform{Config: cfg}

	provider, err := NewProvider(ctx, cfg)
	if err != nil {
		return nil, err
	}
	p.Provider = provider
	with := pulumi.Providers(provider)

	layout, err := cfg.Network.Layout()
	if err != nil {
		return nil, err
	}
	if p.Network, err = network.NewVpc(ctx, name, network.VpcArgs{
		Region:               cfg.Region,
		CIDR:                 cfg.Network.CIDR,
		AZs:                  cfg.Network.AZs,
		Subnets:              layout,
		NatGateways:          cfg.Network.NatCount(),
		FlowLogRetentionDays: cfg.Network.FlowLogRetentionDays,
	}, with); err != nil {
		return nil, err
	}

	if p.Security, err = security.NewGroups(ctx, name, security.GroupsArgs{
		VpcID:             p.Network.VpcID,
		BrokerCluster:     cfg.Broker.Nodes > 1,
		PrometheusSources: cfg.Broker.PrometheusSources,
	}, with); err != nil {
		return nil, err
	}

	if len(cfg.Network.InterfaceEndpoints) > 0 {
		if p.Endpoints, err = network.NewEndpoints(ctx, name, network.EndpointsArgs{
			Vpc:           p.Network,
			Services:      cfg.Network.InterfaceEndpoints,
			SecurityGroup: p.Security.ID(security.Endpoints),
		}, with); err != nil {
			return nil, err
		}
	}

	db := cfg.Database
	if p.Database, err = database.New(ctx, name+"-database", database.Args{
		Engine:              db.Engine,
		EngineVersion:       db.EngineVersion,
		ParameterFamily:     db.ParameterFamily(),
		InstanceClass:       db.InstanceClass,
		AllocatedStorageGiB: db.AllocatedStorageGiB,
		MaxStorageGiB:       db.MaxStorageGiB,
		MultiAZ:             db.MultiAZ,
		BackupRetentionDays: db.BackupRetentionDays,
		DeletionProtection:  db.DeletionProtection,
		FinalSnapshot:       db.FinalSnapshot,
		PerformanceInsights: db.PerformanceInsights,
		FinalSnapshotName:   db.FinalSnapshotNameOr(name + "-database-final"),
		MaintenanceWindow:   db.MaintenanceWindow,
		BackupWindow:        db.BackupWindow,
		Protect:             cfg.Profile == "prod",
		Identifier:          cfg.DatabaseIdentifier(),
		LogRetentionDays:    db.LogRetentionDays,
		DatabaseName:        db.Name,
		MasterUsername:      db.MasterUsername,
		ProcessorUsername:   db.ProcessorUsername,
		ProcessorPassword:   pulumi.ToSecret(pulumi.String(cfg.Secrets.DatabaseProcessorPassword)).(pulumi.StringOutput),
		SubnetIDs:           p.Network.DatabaseSubnetIDs,
		SecurityGroupID:     p.Security.ID(security.Database),
	}, with); err != nil {
		return nil, err
	}

	if p.Cache, err = cache.New(ctx, name+"-cache", cache.Args{
		NodeType:              cfg.Cache.NodeType,
		EngineVersion:         cfg.Cache.EngineVersion,
		Replicas:              cfg.Cache.Replicas,
		SnapshotRetentionDays: cfg.Cache.SnapshotRetentionDays,
		AuthToken:             pulumi.ToSecret(pulumi.String(cfg.Secrets.CacheAuthToken)).(pulumi.StringOutput),
		Protect:               cfg.Profile == "prod",
		SubnetIDs:             p.Network.DatabaseSubnetIDs,
		SecurityGroupID:       p.Security.ID(security.Cache),
	}, with); err != nil {
		return nil, err
	}

	var pagerDuty pulumi.StringInput
	if e := cfg.Alarms.PagerDutyEndpoint; e != "" {
		pagerDuty = pulumi.ToSecret(pulumi.String(e)).(pulumi.StringOutput)
	}
	if p.Alarms, err = alarms.New(ctx, name+"-alarms", alarms.Args{PagerDutyEndpoint: pagerDuty}, with); err != nil {
		return nil, err
	}

	var brokerSubnets []pulumi.StringInput
	for i := range cfg.Network.AZs {
		brokerSubnets = append(brokerSubnets, p.Network.ComputeSubnet(i).ToStringOutput())
	}
	secret := func(v string) pulumi.StringInput {
		return pulumi.ToSecret(pulumi.String(v)).(pulumi.StringOutput)
	}
	bk := cfg.Broker
	if p.Broker, err = broker.New(ctx, name+"-rabbitmq", broker.Args{
		Region:          cfg.Region,
		Stack:           cfg.Stack,
		Nodes:           bk.Nodes,
		InstanceType:    bk.InstanceType,
		AMIParameter:    bk.AMIParameter,
		DataVolumeGiB:   bk.DataVolumeGiB,
		Image:           bk.Image,
		Vhost:           bk.Vhost,
		DeliveryLimit:   bk.DeliveryLimit,
		Protect:         cfg.Profile == "prod",
		LogGroupName:    "/hookline/" + name + "/broker",
		LogRetention:    bk.LogRetentionDays,
		AZs:             cfg.Network.AZs,
		SubnetIDs:       brokerSubnets,
		SecurityGroupID: p.Security.ID(security.Broker),
		VpcID:           p.Network.VpcID,
		Passwords:       brokerPasswords(cfg.Secrets, secret),
		ErlangCookie:    secret(cfg.Secrets.BrokerErlangCookie),
		AlarmTopic:      p.Alarms.Arn,
	}, with); err != nil {
		return nil, err
	}

	if err := workloads(ctx, p, with); err != nil {
		return nil, err
	}

	if cfg.Images.Processor != "" { // the service exists
		pc := cfg.Processor
		if p.Scaling, err = scaling.New(ctx, name+"-processor", scaling.Args{
			ClusterName:             p.Processor.ClusterName,
			ServiceName:             p.Processor.ServiceName,
			MinTasks:                pc.MinTasks,
			MaxTasks:                pc.MaxTasks,
			Steps:                   scaling.Steps{Backlog: pc.BacklogStep, CPU80: pc.CPU80Step, CPU90: pc.CPU90Step},
			ScaleOutCooldownSeconds: pc.ScaleOutCooldownSeconds,
			ScaleInCooldownSeconds:  pc.ScaleInCooldownSeconds,
			Stack:                   name,
			AlarmTopicArn:           p.Alarms.Arn,
			TaskRoleName:            p.Processor.TaskRoleName,
		}, with); err != nil {
			return nil, err
		}
	}

	if cfg.Edge != nil { // without it, nothing on the internet reaches the receiver
		if p.Edge, err = edge.New(ctx, name+"-edge", edgeArgs(p), with); err != nil {
			return nil, err
		}
	}
	if cfg.Logs.Shipping() { // without it, the logs stay in CloudWatch only
		if p.Logship, err = logship.New(ctx, name+"-logship", logshipArgs(ctx, p), with); err != nil {
			return nil, err
		}
	}
	if cfg.CanaryOn() { // it posts to the edge's first hostname
		k := cfg.Canary
		if p.Canary, err = canary.New(ctx, name+"-canary", canary.Args{
			Region:           cfg.Region,
			ZipFile:          filepath.Join(ctx.RootDirectory(), canary.ZipPath),
			Stack:            name,
			URL:              canary.URL(cfg.Edge.Hostnames[0]),
			Secret:           pulumi.ToSecret(pulumi.String(cfg.Secrets.CanarySecret)).(pulumi.StringOutput),
			IntervalMinutes:  k.IntervalMinutes,
			TimeoutSeconds:   k.TimeoutSeconds,
			LogGroupName:     "/hookline/" + name + "/canary",
			LogRetentionDays: k.LogRetentionDays,
		}, with); err != nil {
			return nil, err
		}
	}
	if err := watch(ctx, p, with); err != nil {
		return nil, err
	}
	if err := dashboardOf(ctx, p, with); err != nil {
		return nil, err
	}
	return p, nil
}

// dashboardOf declares the dashboard once every alarm it draws exists.
func dashboardOf(ctx *pulumi.Context, p *Platform, with pulumi.ResourceOption) error {
	cfg := p.Config
	name := cfg.Name()
	declared := append(append([]alarms.Declared(nil), p.Watch.Declared...), p.Broker.Declared...)
	if p.Scaling != nil {
		declared = append(declared, p.Scaling.Declared...)
	}
	var err error
	p.Dashboard, err = dashboard.New(ctx, name, dashboard.Args{
		Region:            cfg.Region,
		Stack:             name,
		ClusterName:       p.Processor.ClusterName,
		ServiceName:       p.Processor.ServiceName,
		FunctionName:      p.Receiver.Name,
		DatabaseArn:       p.Database.InstanceArn,
		BrokerInstanceIDs: p.Broker.InstanceIDs,
		BrokerNodes:       p.Broker.Nodes,
		ProcessorLogGroup: p.Processor.LogGroupName,
		ReceiverLogGroup:  p.Receiver.LogGroupName,
		Alarms:            declared,
	}, with)
	return err
}

// nodeURLs is https://<address>:<port> of every broker node, comma-separated.
func nodeURLs(ips pulumi.StringArrayOutput, port int) pulumi.StringOutput {
	return ips.ApplyT(func(ips []string) string {
		var eps []string
		for _, ip := range ips {
			eps = append(eps, fmt.Sprintf("https://%s:%d", ip, port))
		}
		return strings.Join(eps, ",")
	}).(pulumi.StringOutput)
}

// watch declares the alarms that watch the platform from outside, once
// everything they name exists: the edge's API included.
func watch(ctx *pulumi.Context, p *Platform, with pulumi.ResourceOption) error {
	cfg := p.Config
	args := alarms.WatchArgs{
		TopicArn:            p.Alarms.Arn,
		Thresholds:          cfg.Alarms.Thresholds,
		Stack:               cfg.Name(),
		DatabaseID:          p.Database.Identifier,
		AllocatedStorageGiB: cfg.Database.AllocatedStorageGiB,
		CacheNodeIDs:        p.Cache.NodeIDs,
		CacheReplicas:       cfg.Cache.Replicas,
		FunctionName:        p.Receiver.Name,
		FunctionTimeout:     cfg.Receiver.TimeoutSeconds,
		ReservedConcurrency: cfg.Receiver.ReservedConcurrency,
		NatGatewayIDs:       p.Network.NatGatewayIDs,
		ClusterName:         p.Processor.ClusterName,
		ClusterArn:          p.Processor.ClusterArn,
		ReceiverLogGroup:    p.Receiver.LogGroupName,
		BrokerCluster:       cfg.Broker.Nodes > 1,
		BrokerNodes:         p.Broker.Nodes,
	}
	for i := range p.Broker.Nodes {
		args.BrokerInstanceIDs = append(args.BrokerInstanceIDs, p.Broker.InstanceIDs.Index(pulumi.Int(i)))
	}
	if cfg.Images.Processor != "" { // the service exists
		args.ServiceName, args.ServiceArn = p.Processor.ServiceName, p.Processor.ServiceArn
	}
	if p.Edge != nil {
		args.APIID = p.Edge.APIID.ToStringOutput()
	}
	if p.Canary != nil {
		args.CanaryIntervalMinutes = cfg.Canary.IntervalMinutes
	}
	var err error
	p.Watch, err = alarms.Watch(ctx, cfg.Name()+"-watch", args, with)
	return err
}

// logshipArgs subscribes the Loki shipper to the receiver's and the
// processor's log groups; its own group keeps the receiver's retention.
func logshipArgs(ctx *pulumi.Context, p *Platform) logship.Args {
	cfg := p.Config
	return logship.Args{
		ZipFile:          filepath.Join(ctx.RootDirectory(), logship.ZipPath),
		LokiURL:          cfg.Logs.LokiURL,
		LokiSecretArn:    cfg.Logs.LokiSecretArn,
		Stack:            cfg.Name(),
		LogGroupName:     "/hookline/" + cfg.Name() + "/logship",
		LogRetentionDays: cfg.Receiver.LogRetentionDays,
		Sources: []logship.Source{
			{Service: "receiver", LogGroupName: p.Receiver.LogGroupName, LogGroupArn: p.Receiver.LogGroupArn},
			{Service: "processor", LogGroupName: p.Processor.LogGroupName, LogGroupArn: p.Processor.LogGroupArn},
		},
	}
}

// edgeArgs is the edge of the config, in front of the receiver. The origin
// secret Cloudflare adds is the newest of hookline:originSecrets, the same
// stack secret config merged into the receiver's sources document.
func edgeArgs(p *Platform) edge.Args {
	cfg := p.Config
	e := cfg.Edge
	plan := config.CloudflarePlans[e.Plan]
	args := edge.Args{
		Hostnames:        e.Hostnames,
		ThrottleBurst:    e.ThrottleBurst,
		ThrottleRate:     e.ThrottleRate,
		LogGroupName:     "/hookline/" + cfg.Name() + "/api",
		LogRetentionDays: cfg.Receiver.LogRetentionDays,
		FunctionName:     p.Receiver.Name,
		FunctionArn:      p.Receiver.Arn,
		ZoneID:           e.ZoneID,
		Plan:             edge.Plan{Name: e.Plan, RateLimitRules: plan.RateLimitRules, PathCharacteristic: plan.PathCharacteristic},
		RateLimit:        edge.RateLimit{PeriodSeconds: e.RateLimit.PeriodSeconds, RequestsPerPeriod: e.RateLimit.RequestsPerPeriod, MitigationTimeoutSeconds: e.RateLimit.MitigationTimeoutSeconds},
		Allow:            map[string]rules.AllowList{},
		OriginSecret:     pulumi.ToSecret(pulumi.String(cfg.Secrets.OriginSecrets[0])).(pulumi.StringOutput),
	}
	for _, r := range cfg.Routes {
		args.Sources = append(args.Sources, edge.Source{Name: r.Name, Hosts: r.Hosts, GET: r.GET})
	}
	for src, a := range e.Allow {
		args.Allow[src] = rules.AllowList{Countries: a.Countries, ASNs: a.ASNs, IPRanges: a.IPRanges}
	}
	return args
}

// workloads declares what runs on the platform: the sources document both
// read, the image repository, the processor on ECS and the receiver Lambda.
func workloads(ctx *pulumi.Context, p *Platform, with pulumi.ResourceOption) error {
	cfg := p.Config
	name := cfg.Name()
	var err error

	if p.Sources, err = sources.New(ctx, name+"-sources", sources.Args{
		Document: pulumi.ToSecret(pulumi.String(cfg.Secrets.WebhookSources)).(pulumi.StringOutput),
	}, with); err != nil {
		return err
	}
	if p.Registry, err = registry.New(ctx, name+"-images", registry.Args{
		RepositoryName:    cfg.Project + "-" + cfg.Stack + "/processor",
		KeepImages:        100,
		UntaggedAfterDays: 7,
	}, with); err != nil {
		return err
	}

	amqpURL := pulumi.Sprintf("amqps://%s:%d/%s", p.Broker.Host, p.Broker.Port, cfg.Broker.Vhost)
	computeSubnets := p.Network.ComputeSubnetIDs
	pc := cfg.Processor
	if p.Processor, err = service.New(ctx, name+"-processor", service.Args{
		Region:             cfg.Region,
		CPU:                pc.CPU,
		MemoryMiB:          pc.MemoryMiB,
		MinTasks:           pc.MinTasks,
		Prefetch:           pc.Prefetch,
		Concurrency:        pc.Concurrency,
		StopTimeoutSeconds: pc.StopTimeoutSeconds,
		ShutdownTimeout:    pc.ShutdownTimeout(),
		LogGroupName:       "/hookline/" + name + "/processor",
		LogRetentionDays:   pc.LogRetentionDays,
		RepositoryURL:      p.Registry.URL,
		RepositoryArn:      p.Registry.Arn,
		ImageDigest:        cfg.Images.Processor,
		MigrationDigest:    cfg.Images.Migration,
		SubnetIDs:          computeSubnets,
		SecurityGroupID:    p.Security.ID(security.Processor),
		RabbitMQURL:        amqpURL,
		// rabbitmq_prometheus on every node, over TLS (15691), read by the
		// collector user and verified against the broker CA.
		QueueMetricsEndpoints: nodeURLs(p.Broker.PrivateIPs, security.Prometheus),
		// and every node's management API (15671), for the quorum
		// membership, leaders and partitions of the broker alarms.
		QueueMetricsManagement: nodeURLs(p.Broker.PrivateIPs, security.Management),
		QueueMetricsStack:      name,
		Stack:                  name,
		RedisURL:               pulumi.Sprintf("rediss://%s:%d", p.Cache.PrimaryEndpoint, p.Cache.Port),
		MySQLDSN:               pulumi.Sprintf("tcp(%s:%d)/%s?tls=true", p.Database.Address, security.MySQL, cfg.Database.Name),
		BrokerSecretArn:        p.BrokerSecretArn(topology.Processor),
		BrokerCAArn:            p.Broker.CACertArn,
		CollectorSecretArn:     p.BrokerSecretArn(topology.Collector),
		DatabaseSecretArn:      p.Database.MasterSecretArn,
		DatabaseUserSecretArn:  p.Database.ProcessorSecretArn,
		CacheSecretArn:         p.Cache.AuthSecretArn,
		SourcesSecretArn:       p.Sources.SecretArn,
		KeyArns:                []pulumi.StringInput{p.Broker.KeyArn, p.Database.KeyArn, p.Cache.KeyArn},
		DatabaseUserKeyArn:     p.Database.KeyArn,
		SourcesKeyArn:          p.Sources.KeyArn,
	}, with); err != nil {
		return err
	}

	rc := cfg.Receiver
	p.Receiver, err = receiver.New(ctx, name+"-receiver", receiver.Args{
		Region:              cfg.Region,
		ZipFile:             filepath.Join(ctx.RootDirectory(), receiver.ZipPath),
		MemoryMiB:           rc.MemoryMiB,
		ReservedConcurrency: rc.ReservedConcurrency,
		TimeoutSeconds:      rc.TimeoutSeconds,
		LogGroupName:        "/hookline/" + name + "/receiver",
		LogRetentionDays:    rc.LogRetentionDays,
		SubnetIDs:           computeSubnets,
		SecurityGroupID:     p.Security.ID(security.Receiver),
		RabbitMQURL:         amqpURL,
		BrokerSecretArn:     p.BrokerSecretArn(topology.Receiver),
		BrokerCAArn:         p.Broker.CACertArn,
		SourcesSecretArn:    p.Sources.SecretArn,
		SourcesVersion:      p.Sources.VersionID,
		Stack:               name,
		KeyArns:             []pulumi.StringInput{p.Broker.KeyArn, p.Sources.KeyArn},
	}, with)
	return err
}

// BrokerSecretArn is the secret of role r's active credential
// (broker.credentials): the broker user its clients connect as.
func (p *Platform) BrokerSecretArn(r topology.Role) pulumi.StringOutput {
	return p.Broker.SecretArns[broker.Login{Role: r, Credential: p.Config.Broker.Credential(r)}]
}

// brokerPasswords are every broker user's password, as secrets.
func brokerPasswords(s config.Secrets, secret func(string) pulumi.StringInput) map[broker.Login]pulumi.StringInput {
	out := map[broker.Login]pulumi.StringInput{}
	for _, l := range broker.Logins() {
		out[l] = secret(s.BrokerPassword(l.Role, l.Credential))
	}
	return out
}

// NewProvider is the explicit AWS provider every resource uses: the stack's
// region, and the tags every resource carries (project, stack, owner).
func NewProvider(ctx *pulumi.Context, cfg config.Config) (*aws.Provider, error) {
	tags := pulumi.StringMap{}
	for k, v := range cfg.Tags() {
		tags[k] = pulumi.String(v)
	}
	return aws.NewProvider(ctx, cfg.Name(), &aws.ProviderArgs{
		Region:      pulumi.String(cfg.Region),
		DefaultTags: &aws.ProviderDefaultTagsArgs{Tags: tags},
	})
}

func capitalize(s string) string {
	if s == "" {
		return s
	}
	return string(s[0]-'a'+'A') + s[1:]
}
