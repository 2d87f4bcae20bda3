// Package cache declares the ElastiCache Redis replication group in the
// database tier: TLS in transit, encryption at rest with a customer-managed
// key, an AUTH token kept in Secrets Manager, and in prod a replica with
// automatic failover and Multi-AZ.
package cache

import (
	"encoding/json"

	"github.com/pulumi/pulumi-aws/sdk/v6/go/aws/elasticache"
	"github.com/pulumi/pulumi/sdk/v3/go/pulumi"

	"github.com/hookline/hookline/infra/encryption"
)

// Args is what a stack decides about its cache.
type Args struct {
	NodeType              string
	EngineVersion         string
	Replicas              int // 0: one node; 1+: primary + replicas, automatic failover, Multi-AZ
	SnapshotRetentionDays int
	AuthToken             pulumi.StringInput // a secret
	Protect               bool               // prod: the key is protected from deletion

	SubnetIDs       pulumi.StringArrayInput // database tier
	SecurityGroupID pulumi.IDInput          // the cache role
}

// Redis is the cache component.
type Redis struct {
	pulumi.ResourceState

	PrimaryEndpoint pulumi.StringOutput
	// NodeIDs are the member clusters' ids (CacheClusterId, the dimension
	// of the per-node metrics): ElastiCache names them <group id>-001, -002…
	NodeIDs       []pulumi.StringOutput
	Port          int
	AuthSecretArn pulumi.StringOutput // JSON {"auth_token": …, "url": "rediss://…"}
	KeyArn        pulumi.StringOutput
}

// New declares the cache.
func New(ctx *pulumi.Context, name string, args Args, opts ...pulumi.ResourceOption) (*Redis, error) {
	r := &Redis{Port: 6379}
	if err := ctx.RegisterComponentResource("hookline:cache:Redis", name, r, opts...); err != nil {
		return nil, err
	}
	parent := pulumi.Parent(r)

	key, err := encryption.NewKey(ctx, name, "hookline Redis at rest and its AUTH secret ("+name+")", parent, pulumi.Protect(args.Protect))
	if err != nil {
		return nil, err
	}
	subnets, err := elasticache.NewSubnetGroup(ctx, name, &elasticache.SubnetGroupArgs{
		SubnetIds:   args.SubnetIDs,
		Description: pulumi.String("hookline database tier: no route to the internet"),
	}, parent)
	if err != nil {
		return nil, err
	}
	multi := args.Replicas > 0
	group, err := elasticache.NewReplicationGroup(ctx, name, &elasticache.ReplicationGroupArgs{
		Description:              pulumi.String("hookline entity locks and dedupe fast path"),
		Engine:                   pulumi.String("redis"),
		EngineVersion:            pulumi.String(args.EngineVersion),
		NodeType:                 pulumi.String(args.NodeType),
		NumCacheClusters:         pulumi.Int(1 + args.Replicas),
		AutomaticFailoverEnabled: pulumi.Bool(multi),
		MultiAzEnabled:           pulumi.Bool(multi),
		Port:                     pulumi.Int(r.Port),
		SubnetGroupName:          subnets.Name,
		SecurityGroupIds:         pulumi.StringArray{args.SecurityGroupID.ToIDOutput().ToStringOutput()},
		AtRestEncryptionEnabled:  pulumi.Bool(true),
		KmsKeyId:                 key.Arn,
		TransitEncryptionEnabled: pulumi.Bool(true),
		AuthToken:                pulumi.ToSecret(args.AuthToken).(pulumi.StringOutput),
		SnapshotRetentionLimit:   pulumi.Int(args.SnapshotRetentionDays),
		AutoMinorVersionUpgrade:  pulumi.Bool(true),
		ApplyImmediately:         pulumi.Bool(false),
	}, parent)
	if err != nil {
		return nil, err
	}

	value := pulumi.All(args.AuthToken, group.PrimaryEndpointAddress).ApplyT(func(v []any) (string, error) {
		token, host := v[0].(string), v[1].(string)
		b, err := json.Marshal(map[string]string{
			"auth_token": token,
			"url":        "rediss://:" + token + "@" + host + ":6379",
		})
		return string(b), err
	}).(pulumi.StringOutput)
	auth, err := encryption.NewSecretUnder(ctx, name+"-auth", key, "hookline Redis AUTH token and rediss:// URL", value, parent)
	if err != nil {
		return nil, err
	}

	r.PrimaryEndpoint = group.PrimaryEndpointAddress
	for i := 1; i <= 1+args.Replicas; i++ {
		r.NodeIDs = append(r.NodeIDs, pulumi.Sprintf("%s-%03d", group.ID(), i))
	}
	r.AuthSecretArn = auth.Secret.Arn
	r.KeyArn = key.Arn
	if err := ctx.RegisterResourceOutputs(r, pulumi.Map{
		"primaryEndpoint": r.PrimaryEndpoint,
		"authSecretArn":   r.AuthSecretArn,
	}); err != nil {
		return nil, err
	}
	return r, nil
}
