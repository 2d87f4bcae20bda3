// Package network declares the VPC: public, compute and database subnets in
// every AZ, NAT gateways, route tables per tier, the S3 gateway endpoint and
// flow logs (Vpc), and the interface endpoints that need the security groups
// (Endpoints).
package network

import (
	"fmt"

	"github.com/pulumi/pulumi-aws/sdk/v6/go/aws/cloudwatch"
	"github.com/pulumi/pulumi-aws/sdk/v6/go/aws/ec2"
	"github.com/pulumi/pulumi-aws/sdk/v6/go/aws/iam"
	"github.com/pulumi/pulumi/sdk/v3/go/pulumi"

	"github.com/hookline/hookline/infra/config"
)

// VpcArgs is what a stack decides about its network.
type VpcArgs struct {
	Region               string
	CIDR                 string
	AZs                  []string
	Subnets              []config.Subnet // from config.Network.Layout
	NatGateways          int             // 1..len(AZs)
	FlowLogRetentionDays int
}

// Vpc is the network component.
type Vpc struct {
	pulumi.ResourceState

	VpcID             pulumi.IDOutput
	PublicSubnetIDs   pulumi.StringArrayOutput
	ComputeSubnetIDs  pulumi.StringArrayOutput // one per AZ, in AZ order
	DatabaseSubnetIDs pulumi.StringArrayOutput // one per AZ, in AZ order
	NatGatewayIDs     []pulumi.IDOutput        // one per NAT gateway, in AZ order (infra/alarms watches each)
	AZs               []string

	computeSubnets []*ec2.Subnet
	region         string
}

// ComputeSubnet is the compute subnet of AZ index i (for workloads pinned to an AZ).
func (v *Vpc) ComputeSubnet(i int) pulumi.IDOutput {
	return v.computeSubnets[i%len(v.computeSubnets)].ID()
}

// NewVpc declares the network.
func NewVpc(ctx *pulumi.Context, name string, args VpcArgs, opts ...pulumi.ResourceOption) (*Vpc, error) {
	v := &Vpc{AZs: args.AZs, region: args.Region}
	if err := ctx.RegisterComponentResource("hookline:network:Vpc", name, v, opts...); err != nil {
		return nil, err
	}
	parent := pulumi.Parent(v)

	vpc, err := ec2.NewVpc(ctx, name, &ec2.VpcArgs{
		CidrBlock:          pulumi.String(args.CIDR),
		EnableDnsHostnames: pulumi.Bool(true),
		EnableDnsSupport:   pulumi.Bool(true),
		Tags:               pulumi.StringMap{"Name": pulumi.String(name)},
	}, parent)
	if err != nil {
		return nil, err
	}
	// The default security group admits nothing (FSBP EC2.2): every workload
	// gets a role group from the security package instead.
	if _, err := ec2.NewDefaultSecurityGroup(ctx, name+"-default", &ec2.DefaultSecurityGroupArgs{
		VpcId: vpc.ID(),
		Tags:  pulumi.StringMap{"Name": pulumi.String(name + "-default-deny")},
	}, parent); err != nil {
		return nil, err
	}

	igw, err := ec2.NewInternetGateway(ctx, name+"-igw", &ec2.InternetGatewayArgs{
		VpcId: vpc.ID(),
		Tags:  pulumi.StringMap{"Name": pulumi.String(name + "-igw")},
	}, parent)
	if err != nil {
		return nil, err
	}

	subnets := map[config.Tier][]*ec2.Subnet{}
	for _, s := range args.Subnets {
		sn, err := ec2.NewSubnet(ctx, fmt.Sprintf("%s-%s-%s", name, s.Tier, s.AZ), &ec2.SubnetArgs{
			VpcId:               vpc.ID(),
			CidrBlock:           pulumi.String(s.CIDR),
			AvailabilityZone:    pulumi.String(s.AZ),
			MapPublicIpOnLaunch: pulumi.Bool(false), // NAT gateways use Elastic IPs; nothing else is public (EC2.15)
			Tags: pulumi.StringMap{
				"Name": pulumi.String(fmt.Sprintf("%s-%s-%s", name, s.Tier, s.AZ)),
				"tier": pulumi.String(string(s.Tier)),
			},
		}, parent)
		if err != nil {
			return nil, err
		}
		subnets[s.Tier] = append(subnets[s.Tier], sn)
	}

	// Public tier: default route to the internet gateway.
	publicRT, err := routeTable(ctx, name+"-public", vpc, parent)
	if err != nil {
		return nil, err
	}
	if _, err := ec2.NewRoute(ctx, name+"-public-default", &ec2.RouteArgs{
		RouteTableId:         publicRT.ID(),
		DestinationCidrBlock: pulumi.String("0.0.0.0/0"),
		GatewayId:            igw.ID(),
	}, parent); err != nil {
		return nil, err
	}
	for i, sn := range subnets[config.TierPublic] {
		if err := associate(ctx, fmt.Sprintf("%s-public-%s", name, args.AZs[i]), sn, publicRT, parent); err != nil {
			return nil, err
		}
	}

	// NAT gateways in the first NatGateways AZs.
	var nats []*ec2.NatGateway
	for i := 0; i < args.NatGateways; i++ {
		az := args.AZs[i]
		eip, err := ec2.NewEip(ctx, fmt.Sprintf("%s-nat-%s", name, az), &ec2.EipArgs{
			Domain: pulumi.String("vpc"),
			Tags:   pulumi.StringMap{"Name": pulumi.String(fmt.Sprintf("%s-nat-%s", name, az))},
		}, parent)
		if err != nil {
			return nil, err
		}
		nat, err := ec2.NewNatGateway(ctx, fmt.Sprintf("%s-nat-%s", name, az), &ec2.NatGatewayArgs{
			AllocationId: eip.ID(),
			SubnetId:     subnets[config.TierPublic][i].ID(),
			Tags:         pulumi.StringMap{"Name": pulumi.String(fmt.Sprintf("%s-nat-%s", name, az))},
		}, parent, pulumi.DependsOn([]pulumi.Resource{igw}))
		if err != nil {
			return nil, err
		}
		nats = append(nats, nat)
		v.NatGatewayIDs = append(v.NatGatewayIDs, nat.ID())
	}

	// Compute tier: one route table per AZ, default route through that AZ's
	// NAT gateway, or the first one where the AZ has none.
	var computeRTs pulumi.StringArray
	for i, sn := range subnets[config.TierCompute] {
		az := args.AZs[i]
		rt, err := routeTable(ctx, fmt.Sprintf("%s-compute-%s", name, az), vpc, parent)
		if err != nil {
			return nil, err
		}
		nat := nats[0]
		if i < len(nats) {
			nat = nats[i]
		}
		if _, err := ec2.NewRoute(ctx, fmt.Sprintf("%s-compute-%s-default", name, az), &ec2.RouteArgs{
			RouteTableId:         rt.ID(),
			DestinationCidrBlock: pulumi.String("0.0.0.0/0"),
			NatGatewayId:         nat.ID(),
		}, parent); err != nil {
			return nil, err
		}
		if err := associate(ctx, fmt.Sprintf("%s-compute-%s", name, az), sn, rt, parent); err != nil {
			return nil, err
		}
		computeRTs = append(computeRTs, rt.ID())
	}

	// Database tier: one route table with only the VPC's local route.
	dbRT, err := routeTable(ctx, name+"-database", vpc, parent)
	if err != nil {
		return nil, err
	}
	for i, sn := range subnets[config.TierDatabase] {
		if err := associate(ctx, fmt.Sprintf("%s-database-%s", name, args.AZs[i]), sn, dbRT, parent); err != nil {
			return nil, err
		}
	}

	// S3 gateway endpoint: ECR layers, package mirrors and the like stay off the NAT.
	if _, err := ec2.NewVpcEndpoint(ctx, name+"-s3", &ec2.VpcEndpointArgs{
		VpcId:           vpc.ID(),
		ServiceName:     pulumi.Sprintf("com.amazonaws.%s.s3", args.Region),
		VpcEndpointType: pulumi.String("Gateway"),
		RouteTableIds:   computeRTs,
		Tags:            pulumi.StringMap{"Name": pulumi.String(name + "-s3")},
	}, parent); err != nil {
		return nil, err
	}

	if err := flowLogs(ctx, name, vpc, args.FlowLogRetentionDays, parent); err != nil {
		return nil, err
	}

	v.VpcID = vpc.ID()
	v.PublicSubnetIDs = ids(subnets[config.TierPublic])
	v.ComputeSubnetIDs = ids(subnets[config.TierCompute])
	v.DatabaseSubnetIDs = ids(subnets[config.TierDatabase])
	v.computeSubnets = subnets[config.TierCompute]
	if err := ctx.RegisterResourceOutputs(v, pulumi.Map{
		"vpcId":             v.VpcID,
		"computeSubnetIds":  v.ComputeSubnetIDs,
		"databaseSubnetIds": v.DatabaseSubnetIDs,
	}); err != nil {
		return nil, err
	}
	return v, nil
}

func routeTable(ctx *pulumi.Context, name string, vpc *ec2.Vpc, parent pulumi.ResourceOption) (*ec2.RouteTable, error) {
	return ec2.NewRouteTable(ctx, name, &ec2.RouteTableArgs{
		VpcId: vpc.ID(),
		Tags:  pulumi.StringMap{"Name": pulumi.String(name)},
	}, parent)
}

func associate(ctx *pulumi.Context, name string, sn *ec2.Subnet, rt *ec2.RouteTable, parent pulumi.ResourceOption) error {
	_, err := ec2.NewRouteTableAssociation(ctx, name, &ec2.RouteTableAssociationArgs{
		SubnetId:     sn.ID(),
		RouteTableId: rt.ID(),
	}, parent)
	return err
}

func ids(subnets []*ec2.Subnet) pulumi.StringArrayOutput {
	var out pulumi.StringArray
	for _, s := range subnets {
		out = append(out, s.ID().ToStringOutput())
	}
	return out.ToStringArrayOutput()
}

// flowLogs sends the VPC's flow logs (all traffic) to a CloudWatch log group
// with retention (EC2.6, CloudWatch.16).
func flowLogs(ctx *pulumi.Context, name string, vpc *ec2.Vpc, retentionDays int, parent pulumi.ResourceOption) error {
	group, err := cloudwatch.NewLogGroup(ctx, name+"-flow-logs", &cloudwatch.LogGroupArgs{
		Name:            pulumi.Sprintf("/hookline/%s/vpc-flow-logs", name),
		RetentionInDays: pulumi.Int(retentionDays),
	}, parent)
	if err != nil {
		return err
	}
	role, err := iam.NewRole(ctx, name+"-flow-logs", &iam.RoleArgs{
		AssumeRolePolicy: pulumi.String(`{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Principal":{"Service":"vpc-flow-logs.amazonaws.com"},"Action":"sts:AssumeRole"}]}`),
	}, parent)
	if err != nil {
		return err
	}
	if _, err := iam.NewRolePolicy(ctx, name+"-flow-logs", &iam.RolePolicyArgs{
		Role: role.ID(),
		Policy: group.Arn.ApplyT(func(arn string) string {
			return fmt.Sprintf(`{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Action":["logs:CreateLogStream","logs:PutLogEvents","logs:DescribeLogStreams"],"Resource":["%s","%s:*"]}]}`, arn, arn)
		}).(pulumi.StringOutput),
	}, parent); err != nil {
		return err
	}
	_, err = ec2.NewFlowLog(ctx, name, &ec2.FlowLogArgs{
		VpcId:              vpc.ID(),
		TrafficType:        pulumi.String("ALL"),
		LogDestinationType: pulumi.String("cloud-watch-logs"),
		LogDestination:     group.Arn,
		IamRoleArn:         role.Arn,
	}, parent)
	return err
}
