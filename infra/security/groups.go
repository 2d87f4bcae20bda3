// Package security declares hookline's security groups as a least-privilege
// graph: one group per named role, and one rule per flow the design needs,
// written on both ends (egress on the caller, ingress on the callee).
// Nothing is admitted from 0.0.0.0/0 or ::/0 and port 22 is open nowhere
// (access is through SSM Session Manager).
package security

import (
	"fmt"
	"strings"

	"github.com/pulumi/pulumi-aws/sdk/v6/go/aws/ec2"
	"github.com/pulumi/pulumi-aws/sdk/v6/go/aws/vpc"
	"github.com/pulumi/pulumi/sdk/v3/go/pulumi"
)

// Role is a kind of member of the VPC.
type Role string

const (
	Receiver  Role = "receiver"  // the webhook Lambda's ENIs
	Processor Role = "processor" // the ECS tasks
	Broker    Role = "broker"    // RabbitMQ instances
	Database  Role = "database"  // RDS
	Cache     Role = "cache"     // ElastiCache Redis
	Endpoints Role = "endpoints" // interface VPC endpoints
)

// Roles in declaration order.
var Roles = []Role{Receiver, Processor, Broker, Database, Cache, Endpoints}

// Edge is one allowed flow: From may open TCP connections to To on ports
// FromPort..ToPort.
type Edge struct {
	From, To         Role
	FromPort, ToPort int
	Purpose          string
}

// Ports the design uses.
const (
	AMQPS      = 5671  // AMQP over TLS: the broker opens no plaintext AMQP port
	Management = 15671 // the management API over TLS (the collector's health counts; operators: SSM port forwarding)
	Prometheus = 15691 // rabbitmq_prometheus over TLS: the queue metrics collector reads it
	MySQL      = 3306
	Redis      = 6379
	HTTPS      = 443
)

// Edges is the graph for a stack; a broker cluster adds the inter-node ports.
func Edges(brokerCluster bool) []Edge {
	edges := []Edge{
		{Receiver, Broker, AMQPS, AMQPS, "publish webhooks (AMQPS)"},
		{Processor, Broker, AMQPS, AMQPS, "consume webhooks (AMQPS)"},
		{Processor, Broker, Prometheus, Prometheus, "queue depth and rates for autoscaling (rabbitmq_prometheus over TLS)"},
		{Processor, Broker, Management, Management, "quorum membership, leaders and partitions for the broker alarms (management API over TLS, monitoring user)"},
		{Processor, Database, MySQL, MySQL, "store events"},
		{Processor, Cache, Redis, Redis, "entity locks"},
		{Receiver, Endpoints, HTTPS, HTTPS, "AWS APIs (Secrets Manager)"},
		{Processor, Endpoints, HTTPS, HTTPS, "AWS APIs (Secrets Manager, ECR, Logs)"},
		{Broker, Endpoints, HTTPS, HTTPS, "AWS APIs (SSM, Secrets Manager, Logs)"},
	}
	if brokerCluster {
		edges = append(edges,
			Edge{Broker, Broker, AMQPS, AMQPS, "the cluster's load balancer (in the broker group) to the nodes"},
			Edge{Broker, Broker, 4369, 4369, "epmd peer discovery"},
			Edge{Broker, Broker, 25672, 25672, "Erlang distribution"},
			Edge{Broker, Broker, 35672, 35682, "CLI tools"},
		)
	}
	return edges
}

// InternetEgress is the one outbound flow to addresses outside the VPC
// (through NAT): HTTPS from these roles (AWS APIs where there is no
// endpoint, callbacks to senders, broker packages).
var InternetEgress = []Role{Receiver, Processor, Broker}

// GroupsArgs is what the security component needs.
type GroupsArgs struct {
	VpcID         pulumi.IDInput
	BrokerCluster bool
	// PrometheusSources may also reach the broker's Prometheus port: IPv4
	// CIDRs or security group ids (sg-…), validated by infra/config
	// (broker.prometheusSources). Only the broker's ingress is declared:
	// a source's egress belongs to whoever owns it.
	PrometheusSources []string
}

// Groups holds one security group per role.
type Groups struct {
	pulumi.ResourceState

	ByRole map[Role]*ec2.SecurityGroup
}

// ID is the security group ID of a role.
func (g *Groups) ID(r Role) pulumi.IDOutput { return g.ByRole[r].ID() }

// NewGroups declares the groups and the edges between them.
func NewGroups(ctx *pulumi.Context, name string, args GroupsArgs, opts ...pulumi.ResourceOption) (*Groups, error) {
	g := &Groups{ByRole: map[Role]*ec2.SecurityGroup{}}
	if err := ctx.RegisterComponentResource("hookline:security:Groups", name, g, opts...); err != nil {
		return nil, err
	}
	parent := pulumi.Parent(g)
	for _, r := range Roles {
		sg, err := ec2.NewSecurityGroup(ctx, fmt.Sprintf("%s-%s", name, r), &ec2.SecurityGroupArgs{
			VpcId:       args.VpcID.ToIDOutput().ToStringOutput(),
			Description: pulumi.Sprintf("hookline %s (rules: hookline:security:Groups %s)", r, name),
			Tags:        pulumi.StringMap{"Name": pulumi.Sprintf("%s-%s", name, r), "role": pulumi.String(string(r))},
		}, parent)
		if err != nil {
			return nil, err
		}
		g.ByRole[r] = sg
	}
	for _, e := range Edges(args.BrokerCluster) {
		ports := fmt.Sprint(e.FromPort)
		if e.ToPort != e.FromPort {
			ports += "-" + fmt.Sprint(e.ToPort)
		}
		if _, err := vpc.NewSecurityGroupEgressRule(ctx, fmt.Sprintf("%s-%s-to-%s-%s", name, e.From, e.To, ports), &vpc.SecurityGroupEgressRuleArgs{
			SecurityGroupId:           g.ID(e.From),
			ReferencedSecurityGroupId: g.ID(e.To),
			IpProtocol:                pulumi.String("tcp"),
			FromPort:                  pulumi.Int(e.FromPort),
			ToPort:                    pulumi.Int(e.ToPort),
			Description:               pulumi.String(e.Purpose),
		}, parent); err != nil {
			return nil, err
		}
		if _, err := vpc.NewSecurityGroupIngressRule(ctx, fmt.Sprintf("%s-%s-from-%s-%s", name, e.To, e.From, ports), &vpc.SecurityGroupIngressRuleArgs{
			SecurityGroupId:           g.ID(e.To),
			ReferencedSecurityGroupId: g.ID(e.From),
			IpProtocol:                pulumi.String("tcp"),
			FromPort:                  pulumi.Int(e.FromPort),
			ToPort:                    pulumi.Int(e.ToPort),
			Description:               pulumi.String(e.Purpose),
		}, parent); err != nil {
			return nil, err
		}
	}
	for _, src := range args.PrometheusSources {
		rule := &vpc.SecurityGroupIngressRuleArgs{
			SecurityGroupId: g.ID(Broker),
			IpProtocol:      pulumi.String("tcp"),
			FromPort:        pulumi.Int(Prometheus),
			ToPort:          pulumi.Int(Prometheus),
			Description:     pulumi.Sprintf("Prometheus scrape of rabbitmq_prometheus over TLS from %s (broker.prometheusSources)", src),
		}
		if strings.HasPrefix(src, "sg-") {
			rule.ReferencedSecurityGroupId = pulumi.String(src)
		} else {
			rule.CidrIpv4 = pulumi.String(src)
		}
		slug := strings.NewReplacer(".", "-", "/", "-").Replace(src)
		if _, err := vpc.NewSecurityGroupIngressRule(ctx, fmt.Sprintf("%s-%s-from-prometheus-%s-%d", name, Broker, slug, Prometheus), rule, parent); err != nil {
			return nil, err
		}
	}
	for _, r := range InternetEgress {
		if _, err := vpc.NewSecurityGroupEgressRule(ctx, fmt.Sprintf("%s-%s-to-internet-443", name, r), &vpc.SecurityGroupEgressRuleArgs{
			SecurityGroupId: g.ID(r),
			CidrIpv4:        pulumi.String("0.0.0.0/0"),
			IpProtocol:      pulumi.String("tcp"),
			FromPort:        pulumi.Int(HTTPS),
			ToPort:          pulumi.Int(HTTPS),
			Description:     pulumi.String("HTTPS out through NAT"),
		}, parent); err != nil {
			return nil, err
		}
	}
	out := pulumi.Map{}
	for r, sg := range g.ByRole {
		out[string(r)+"SecurityGroupId"] = sg.ID()
	}
	if err := ctx.RegisterResourceOutputs(g, out); err != nil {
		return nil, err
	}
	return g, nil
}
