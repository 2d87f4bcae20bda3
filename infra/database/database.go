// Package database declares the RDS instance (MariaDB 10.11 by default,
// MySQL 8.x by config) in the database tier: TLS forced by its parameter
// group, storage, backups, Performance Insights and the RDS-managed master
// secret all encrypted with a customer-managed key, never publicly accessible;
// the log groups it exports to, declared before it with the stack's retention;
// and the processor's own database user secret under the same key, which
// `processor migrate` applies to the database.
package database

import (
	"encoding/json"

	"github.com/pulumi/pulumi-aws/sdk/v6/go/aws/cloudwatch"
	"github.com/pulumi/pulumi-aws/sdk/v6/go/aws/rds"
	"github.com/pulumi/pulumi/sdk/v3/go/pulumi"

	"github.com/hookline/hookline/infra/encryption"
)

// LogExports are the logs the instance publishes to CloudWatch Logs (the
// parameter group writes the slow-query log to a file for it).
var LogExports = []string{"error", "slowquery"}

// Args is what a stack decides about its database.
type Args struct {
	Engine              string // mariadb | mysql
	EngineVersion       string // major version, e.g. 10.11
	ParameterFamily     string // e.g. mariadb10.11
	InstanceClass       string
	AllocatedStorageGiB int
	MaxStorageGiB       int
	MultiAZ             bool
	BackupRetentionDays int
	DeletionProtection  bool
	FinalSnapshot       bool
	PerformanceInsights bool
	FinalSnapshotName   string // deterministic; bumped by the teardown procedure (docs/broker.md, "Destroy and recreate")
	MaintenanceWindow   string // ddd:hh24:mi-ddd:hh24:mi, UTC
	BackupWindow        string // hh24:mi-hh24:mi, UTC
	Protect             bool   // prod: the instance and its key are protected from deletion
	Identifier          string // the DB instance identifier, explicit: the log groups are named after it
	LogRetentionDays    int    // the exported logs' groups
	DatabaseName        string
	MasterUsername      string
	// The processor's own user: `processor migrate` creates it with these
	// credentials (PROCESSOR_DB_USER, PROCESSOR_DB_PASSWORD) and grants it
	// rows only; the processor connects as it.
	ProcessorUsername string
	ProcessorPassword pulumi.StringInput // a secret

	SubnetIDs       pulumi.StringArrayInput // database tier
	SecurityGroupID pulumi.IDInput          // the database role
}

// Database is the database component.
type Database struct {
	pulumi.ResourceState

	Address         pulumi.StringOutput
	Port            pulumi.IntOutput
	KeyArn          pulumi.StringOutput
	MasterSecretArn pulumi.StringOutput // RDS-managed master user secret
	// ProcessorSecretArn is the processor user's secret, JSON
	// {"username","password"}, encrypted with KeyArn.
	ProcessorSecretArn pulumi.StringOutput
	InstanceArn        pulumi.StringOutput
	Identifier         pulumi.StringOutput // DBInstanceIdentifier, the metrics' dimension
}

// New declares the database.
func New(ctx *pulumi.Context, name string, args Args, opts ...pulumi.ResourceOption) (*Database, error) {
	d := &Database{}
	if err := ctx.RegisterComponentResource("hookline:database:Database", name, d, opts...); err != nil {
		return nil, err
	}
	parent := pulumi.Parent(d)

	key, err := encryption.NewKey(ctx, name, "hookline RDS storage, snapshots, Performance Insights and master secret ("+name+")", parent, pulumi.Protect(args.Protect))
	if err != nil {
		return nil, err
	}
	subnets, err := rds.NewSubnetGroup(ctx, name, &rds.SubnetGroupArgs{
		SubnetIds:   args.SubnetIDs,
		Description: pulumi.String("hookline database tier: no route to the internet"),
	}, parent)
	if err != nil {
		return nil, err
	}
	params, err := rds.NewParameterGroup(ctx, name, &rds.ParameterGroupArgs{
		Family:      pulumi.String(args.ParameterFamily),
		Description: pulumi.String("hookline: TLS required for every connection"),
		Parameters: rds.ParameterGroupParameterArray{
			rds.ParameterGroupParameterArgs{Name: pulumi.String("require_secure_transport"), Value: pulumi.String("1")},
			// The slow-query log is exported to CloudWatch: write it.
			rds.ParameterGroupParameterArgs{Name: pulumi.String("slow_query_log"), Value: pulumi.String("1")},
			rds.ParameterGroupParameterArgs{Name: pulumi.String("long_query_time"), Value: pulumi.String("1")},
			rds.ParameterGroupParameterArgs{Name: pulumi.String("log_output"), Value: pulumi.String("FILE")},
		},
	}, parent)
	if err != nil {
		return nil, err
	}

	// RDS creates /aws/rds/instance/<identifier>/<log> itself, without
	// retention, when it starts exporting a log; declared first, the groups
	// are the ones it writes to, with the stack's retention.
	var exports pulumi.StringArray
	var logGroups []pulumi.Resource
	for _, log := range LogExports {
		g, err := cloudwatch.NewLogGroup(ctx, name+"-"+log, &cloudwatch.LogGroupArgs{
			Name:            pulumi.String("/aws/rds/instance/" + args.Identifier + "/" + log),
			RetentionInDays: pulumi.Int(args.LogRetentionDays),
		}, parent)
		if err != nil {
			return nil, err
		}
		exports = append(exports, pulumi.String(log))
		logGroups = append(logGroups, g)
	}

	instanceArgs := &rds.InstanceArgs{
		Identifier:                   pulumi.String(args.Identifier),
		Engine:                       pulumi.String(args.Engine),
		EngineVersion:                pulumi.String(args.EngineVersion),
		InstanceClass:                pulumi.String(args.InstanceClass),
		AllocatedStorage:             pulumi.Int(args.AllocatedStorageGiB),
		MaxAllocatedStorage:          pulumi.Int(args.MaxStorageGiB),
		StorageType:                  pulumi.String("gp3"),
		StorageEncrypted:             pulumi.Bool(true),
		KmsKeyId:                     key.Arn,
		DbName:                       pulumi.String(args.DatabaseName),
		Username:                     pulumi.String(args.MasterUsername),
		ManageMasterUserPassword:     pulumi.Bool(true),
		MasterUserSecretKmsKeyId:     key.Arn,
		DbSubnetGroupName:            subnets.Name,
		VpcSecurityGroupIds:          pulumi.StringArray{args.SecurityGroupID.ToIDOutput().ToStringOutput()},
		ParameterGroupName:           params.Name,
		PubliclyAccessible:           pulumi.Bool(false),
		MultiAz:                      pulumi.Bool(args.MultiAZ),
		BackupRetentionPeriod:        pulumi.Int(args.BackupRetentionDays),
		BackupWindow:                 pulumi.String(args.BackupWindow),
		MaintenanceWindow:            pulumi.String(args.MaintenanceWindow),
		CopyTagsToSnapshot:           pulumi.Bool(true),
		DeletionProtection:           pulumi.Bool(args.DeletionProtection),
		SkipFinalSnapshot:            pulumi.Bool(!args.FinalSnapshot),
		AutoMinorVersionUpgrade:      pulumi.Bool(true),
		PerformanceInsightsEnabled:   pulumi.Bool(args.PerformanceInsights),
		EnabledCloudwatchLogsExports: exports,
	}
	if args.FinalSnapshot {
		instanceArgs.FinalSnapshotIdentifier = pulumi.String(args.FinalSnapshotName)
	}
	if args.PerformanceInsights {
		instanceArgs.PerformanceInsightsKmsKeyId = key.Arn
		instanceArgs.PerformanceInsightsRetentionPeriod = pulumi.Int(7)
	}
	db, err := rds.NewInstance(ctx, name, instanceArgs, parent, pulumi.Protect(args.Protect), pulumi.DependsOn(logGroups))
	if err != nil {
		return nil, err
	}

	d.Address = db.Address
	d.Port = db.Port
	d.KeyArn = key.Arn
	d.InstanceArn = db.Arn
	d.Identifier = db.Identifier
	d.MasterSecretArn = db.MasterUserSecrets.ApplyT(func(secrets []rds.InstanceMasterUserSecret) string {
		if len(secrets) == 0 || secrets[0].SecretArn == nil {
			return ""
		}
		return *secrets[0].SecretArn
	}).(pulumi.StringOutput)

	// The processor's user: its value is owned by Pulumi config (no
	// rotation function: one would fight the next `pulumi up`); a new
	// password reaches the database through the migration task.
	value := args.ProcessorPassword.ToStringOutput().ApplyT(func(password string) (string, error) {
		b, err := json.Marshal(map[string]string{"username": args.ProcessorUsername, "password": password})
		return string(b), err
	}).(pulumi.StringOutput)
	user, err := encryption.NewSecretUnder(ctx, name+"-processor", key,
		"hookline processor database user ("+args.ProcessorUsername+"): set by processor migrate, read by the processor tasks", value, parent)
	if err != nil {
		return nil, err
	}
	d.ProcessorSecretArn = user.Secret.Arn

	if err := ctx.RegisterResourceOutputs(d, pulumi.Map{
		"address":            d.Address,
		"port":               d.Port,
		"masterSecretArn":    d.MasterSecretArn,
		"processorSecretArn": d.ProcessorSecretArn,
	}); err != nil {
		return nil, err
	}
	return d, nil
}
