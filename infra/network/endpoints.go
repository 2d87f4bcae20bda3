package network

import (
	"github.com/pulumi/pulumi-aws/sdk/v6/go/aws/ec2"
	"github.com/pulumi/pulumi/sdk/v3/go/pulumi"
)

// EndpointsArgs lists the interface endpoints a stack asks for.
type EndpointsArgs struct {
	Vpc           *Vpc
	Services      []string // short names, e.g. "secretsmanager", "ecr.api"
	SecurityGroup pulumi.IDOutput
}

// Endpoints is the set of interface endpoints, in the compute subnets, with
// private DNS so that SDKs reach them under the usual names.
type Endpoints struct {
	pulumi.ResourceState
}

// NewEndpoints declares one interface endpoint per service.
func NewEndpoints(ctx *pulumi.Context, name string, args EndpointsArgs, opts ...pulumi.ResourceOption) (*Endpoints, error) {
	e := &Endpoints{}
	if err := ctx.RegisterComponentResource("hookline:network:Endpoints", name, e, opts...); err != nil {
		return nil, err
	}
	for _, svc := range args.Services {
		if _, err := ec2.NewVpcEndpoint(ctx, name+"-"+svc, &ec2.VpcEndpointArgs{
			VpcId:             args.Vpc.VpcID,
			ServiceName:       pulumi.Sprintf("com.amazonaws.%s.%s", args.Vpc.region, svc),
			VpcEndpointType:   pulumi.String("Interface"),
			PrivateDnsEnabled: pulumi.Bool(true),
			SubnetIds:         args.Vpc.ComputeSubnetIDs,
			SecurityGroupIds:  pulumi.StringArray{args.SecurityGroup.ToStringOutput()},
			Tags:              pulumi.StringMap{"Name": pulumi.String(name + "-" + svc)},
		}, pulumi.Parent(e)); err != nil {
			return nil, err
		}
	}
	if err := ctx.RegisterResourceOutputs(e, pulumi.Map{}); err != nil {
		return nil, err
	}
	return e, nil
}
