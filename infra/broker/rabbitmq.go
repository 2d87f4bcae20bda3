// Package broker declares RabbitMQ 4.x on Graviton EC2 in the compute tier:
// per node a launch template (IMDSv2 required, no key pair, encrypted root),
// a network interface and an encrypted gp3 data volume that both outlive the
// instance, alarms that recover or reboot a failed instance, and user data
// (userdata.sh) that installs and configures RabbitMQ from Secrets Manager.
// Nodes: 3 builds a quorum cluster that finds its peers by tag.
package broker

import (
	"encoding/base64"
	"encoding/json"
	"fmt"
	"strconv"

	"github.com/pulumi/pulumi-aws/sdk/v6/go/aws/cloudwatch"
	"github.com/pulumi/pulumi-aws/sdk/v6/go/aws/ebs"
	"github.com/pulumi/pulumi-aws/sdk/v6/go/aws/ec2"
	"github.com/pulumi/pulumi-aws/sdk/v6/go/aws/iam"
	"github.com/pulumi/pulumi-aws/sdk/v6/go/aws/kms"
	"github.com/pulumi/pulumi-aws/sdk/v6/go/aws/secretsmanager"
	"github.com/pulumi/pulumi/sdk/v3/go/pulumi"

	"github.com/hookline/hookline/infra/encryption"
)

// Users are the RabbitMQ users the broker creates, each with a secret
// holding {"username","password","host","port","vhost"}.
var Users = []string{"admin", "receiver", "processor"}

// Args is what a stack decides about its broker.
type Args struct {
	Region          string
	Stack           string
	Nodes           int // 1, or 3 for a quorum cluster
	InstanceType    string
	AMIParameter    string // public SSM parameter, resolved by EC2 at launch
	DataVolumeGiB   int
	RabbitMQVersion string
	Vhost           string
	DeliveryLimit   int

	AZs             []string             // node i runs in AZs[i % len]
	SubnetIDs       []pulumi.StringInput // compute subnets, aligned with AZs
	SecurityGroupID pulumi.IDInput       // the broker role

	Passwords    map[string]pulumi.StringInput // by user in Users; secrets
	ErlangCookie pulumi.StringInput            // secret; only with Nodes > 1
}

// RabbitMQ is the broker component.
type RabbitMQ struct {
	pulumi.ResourceState

	PrivateIPs  pulumi.StringArrayOutput       // one per node, stable across instance replacement
	Host        pulumi.StringOutput            // node 0's address, for clients
	Port        int                            // AMQP
	SecretArns  map[string]pulumi.StringOutput // by user
	InstanceIDs pulumi.StringArrayOutput
	KeyArn      pulumi.StringOutput
}

// New declares the broker.
func New(ctx *pulumi.Context, name string, args Args, opts ...pulumi.ResourceOption) (*RabbitMQ, error) {
	b := &RabbitMQ{Port: 5672, SecretArns: map[string]pulumi.StringOutput{}}
	if err := ctx.RegisterComponentResource("hookline:broker:RabbitMQ", name, b, opts...); err != nil {
		return nil, err
	}
	parent := pulumi.Parent(b)

	key, err := encryption.NewKey(ctx, name, "hookline RabbitMQ volumes and credentials ("+name+")", parent)
	if err != nil {
		return nil, err
	}

	// Addresses first: the credentials secrets carry node 0's host.
	var enis []*ec2.NetworkInterface
	for i := 0; i < args.Nodes; i++ {
		eni, err := ec2.NewNetworkInterface(ctx, fmt.Sprintf("%s-%d", name, i), &ec2.NetworkInterfaceArgs{
			SubnetId:       args.SubnetIDs[i%len(args.SubnetIDs)],
			SecurityGroups: pulumi.StringArray{args.SecurityGroupID.ToIDOutput().ToStringOutput()},
			Description:    pulumi.Sprintf("%s node %d: stable address across instance replacement", name, i),
			Tags:           pulumi.StringMap{"Name": pulumi.Sprintf("%s-%d", name, i)},
		}, parent)
		if err != nil {
			return nil, err
		}
		enis = append(enis, eni)
	}
	host := enis[0].PrivateIp

	secretArns := map[string]pulumi.StringOutput{}
	for _, user := range Users {
		secret, err := secretsmanager.NewSecret(ctx, name+"-"+user, &secretsmanager.SecretArgs{
			Description: pulumi.Sprintf("hookline RabbitMQ user %s (%s)", user, name),
			KmsKeyId:    key.Arn,
		}, parent)
		if err != nil {
			return nil, err
		}
		user := user
		value := pulumi.All(args.Passwords[user], host).ApplyT(func(v []any) (string, error) {
			out, err := json.Marshal(map[string]any{
				"username": "hookline-" + user,
				"password": v[0].(string),
				"host":     v[1].(string),
				"port":     5672,
				"vhost":    args.Vhost,
			})
			return string(out), err
		}).(pulumi.StringOutput)
		if _, err := secretsmanager.NewSecretVersion(ctx, name+"-"+user, &secretsmanager.SecretVersionArgs{
			SecretId:     secret.ID(),
			SecretString: pulumi.ToSecret(value).(pulumi.StringOutput),
		}, parent); err != nil {
			return nil, err
		}
		secretArns[user] = secret.Arn
	}
	cookieArn := pulumi.String("").ToStringOutput()
	if args.Nodes > 1 {
		cookie, err := secretsmanager.NewSecret(ctx, name+"-erlang-cookie", &secretsmanager.SecretArgs{
			Description: pulumi.Sprintf("hookline RabbitMQ cluster Erlang cookie (%s)", name),
			KmsKeyId:    key.Arn,
		}, parent)
		if err != nil {
			return nil, err
		}
		value := pulumi.ToSecret(pulumi.All(args.ErlangCookie).ApplyT(func(v []any) (string, error) {
			out, err := json.Marshal(map[string]string{"cookie": v[0].(string)})
			return string(out), err
		})).(pulumi.StringOutput)
		if _, err := secretsmanager.NewSecretVersion(ctx, name+"-erlang-cookie", &secretsmanager.SecretVersionArgs{
			SecretId:     cookie.ID(),
			SecretString: value,
		}, parent); err != nil {
			return nil, err
		}
		cookieArn = cookie.Arn
	}

	profile, err := instanceProfile(ctx, name, args, key, secretArns, cookieArn, parent)
	if err != nil {
		return nil, err
	}

	clusterTag := name
	var ips pulumi.StringArray
	var instanceIDs pulumi.StringArray
	for i, eni := range enis {
		node := fmt.Sprintf("%s-%d", name, i)
		az := args.AZs[i%len(args.AZs)]
		volume, err := ebs.NewVolume(ctx, node+"-data", &ebs.VolumeArgs{
			AvailabilityZone: pulumi.String(az),
			Size:             pulumi.Int(args.DataVolumeGiB),
			Type:             pulumi.String("gp3"),
			Encrypted:        pulumi.Bool(true),
			KmsKeyId:         key.Arn,
			FinalSnapshot:    pulumi.Bool(true),
			Tags:             pulumi.StringMap{"Name": pulumi.String(node + "-data")},
		}, parent)
		if err != nil {
			return nil, err
		}
		userData := pulumi.All(volume.ID(), secretArns["admin"], secretArns["receiver"], secretArns["processor"], cookieArn).ApplyT(
			func(v []any) (string, error) {
				script, err := RenderUserData(UserData{
					Region:             args.Region,
					Stack:              args.Stack,
					Nodes:              args.Nodes,
					ClusterTag:         clusterTag,
					DataVolumeID:       string(v[0].(pulumi.ID)),
					RabbitMQVersion:    args.RabbitMQVersion,
					Vhost:              args.Vhost,
					DeliveryLimit:      args.DeliveryLimit,
					AdminSecretArn:     v[1].(string),
					ReceiverSecretArn:  v[2].(string),
					ProcessorSecretArn: v[3].(string),
					CookieSecretArn:    v[4].(string),
				})
				return base64.StdEncoding.EncodeToString([]byte(script)), err
			}).(pulumi.StringOutput)

		lt, err := ec2.NewLaunchTemplate(ctx, node, &ec2.LaunchTemplateArgs{
			Description:  pulumi.Sprintf("hookline RabbitMQ node %d", i),
			ImageId:      pulumi.String("resolve:ssm:" + args.AMIParameter),
			InstanceType: pulumi.String(args.InstanceType),
			// No key pair: access is through SSM Session Manager only.
			IamInstanceProfile: &ec2.LaunchTemplateIamInstanceProfileArgs{Arn: profile.Arn},
			MetadataOptions: &ec2.LaunchTemplateMetadataOptionsArgs{
				HttpEndpoint:            pulumi.String("enabled"),
				HttpTokens:              pulumi.String("required"), // IMDSv2 only (EC2.8)
				HttpPutResponseHopLimit: pulumi.Int(1),
			},
			MaintenanceOptions: &ec2.LaunchTemplateMaintenanceOptionsArgs{AutoRecovery: pulumi.String("default")},
			Monitoring:         &ec2.LaunchTemplateMonitoringArgs{Enabled: pulumi.Bool(true)},
			BlockDeviceMappings: ec2.LaunchTemplateBlockDeviceMappingArray{
				ec2.LaunchTemplateBlockDeviceMappingArgs{
					DeviceName: pulumi.String("/dev/xvda"),
					Ebs: &ec2.LaunchTemplateBlockDeviceMappingEbsArgs{
						VolumeSize:          pulumi.Int(16),
						VolumeType:          pulumi.String("gp3"),
						Encrypted:           pulumi.String("true"),
						KmsKeyId:            key.Arn,
						DeleteOnTermination: pulumi.String("true"),
					},
				},
			},
			UserData:             userData,
			UpdateDefaultVersion: pulumi.Bool(true),
		}, parent)
		if err != nil {
			return nil, err
		}

		// The instance is disposable: the interface (address) and the data
		// volume are separate resources, so a replacement gets both back.
		instance, err := ec2.NewInstance(ctx, node, &ec2.InstanceArgs{
			LaunchTemplate: &ec2.InstanceLaunchTemplateArgs{
				Id:      lt.ID(),
				Version: lt.LatestVersion.ApplyT(func(v int) string { return strconv.Itoa(v) }).(pulumi.StringOutput),
			},
			NetworkInterfaces: ec2.InstanceNetworkInterfaceArray{
				ec2.InstanceNetworkInterfaceArgs{DeviceIndex: pulumi.Int(0), NetworkInterfaceId: eni.ID()},
			},
			Tags: pulumi.StringMap{
				"Name":                    pulumi.String(node),
				"hookline-broker-cluster": pulumi.String(clusterTag),
			},
		}, parent, pulumi.DeleteBeforeReplace(true))
		if err != nil {
			return nil, err
		}
		if _, err := ec2.NewVolumeAttachment(ctx, node+"-data", &ec2.VolumeAttachmentArgs{
			DeviceName:                  pulumi.String("/dev/sdf"),
			VolumeId:                    volume.ID(),
			InstanceId:                  instance.ID(),
			StopInstanceBeforeDetaching: pulumi.Bool(true),
		}, parent); err != nil {
			return nil, err
		}
		if err := recoveryAlarms(ctx, node, args.Region, instance, parent); err != nil {
			return nil, err
		}
		ips = append(ips, eni.PrivateIp)
		instanceIDs = append(instanceIDs, instance.ID().ToStringOutput())
	}

	b.PrivateIPs = ips.ToStringArrayOutput()
	b.Host = host
	b.SecretArns = secretArns
	b.InstanceIDs = instanceIDs.ToStringArrayOutput()
	b.KeyArn = key.Arn
	if err := ctx.RegisterResourceOutputs(b, pulumi.Map{
		"privateIps": b.PrivateIPs,
		"host":       b.Host,
	}); err != nil {
		return nil, err
	}
	return b, nil
}

// instanceProfile lets a node use SSM Session Manager and the CloudWatch
// agent, read its own credentials and, in a cluster, find its peers.
func instanceProfile(ctx *pulumi.Context, name string, args Args, key *kms.Key, secretArns map[string]pulumi.StringOutput, cookieArn pulumi.StringOutput, parent pulumi.ResourceOption) (*iam.InstanceProfile, error) {
	role, err := iam.NewRole(ctx, name, &iam.RoleArgs{
		Description:      pulumi.Sprintf("hookline RabbitMQ nodes (%s)", name),
		AssumeRolePolicy: pulumi.String(`{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Principal":{"Service":"ec2.amazonaws.com"},"Action":"sts:AssumeRole"}]}`),
	}, parent)
	if err != nil {
		return nil, err
	}
	for _, policy := range []string{"AmazonSSMManagedInstanceCore", "CloudWatchAgentServerPolicy"} {
		if _, err := iam.NewRolePolicyAttachment(ctx, name+"-"+policy, &iam.RolePolicyAttachmentArgs{
			Role:      role.Name,
			PolicyArn: pulumi.String("arn:aws:iam::aws:policy/" + policy),
		}, parent); err != nil {
			return nil, err
		}
	}
	cluster := args.Nodes > 1
	document := pulumi.All(key.Arn, secretArns["admin"], secretArns["receiver"], secretArns["processor"], cookieArn).ApplyT(
		func(v []any) (string, error) {
			secrets := []string{v[1].(string), v[2].(string), v[3].(string)}
			if cluster {
				secrets = append(secrets, v[4].(string))
			}
			statements := []map[string]any{
				{"Sid": "ReadOwnCredentials", "Effect": "Allow", "Action": []string{"secretsmanager:GetSecretValue"}, "Resource": secrets},
				{"Sid": "DecryptOwnCredentials", "Effect": "Allow", "Action": []string{"kms:Decrypt"}, "Resource": []string{v[0].(string)}},
			}
			if cluster {
				statements = append(statements, map[string]any{
					"Sid": "PeerDiscovery", "Effect": "Allow", "Action": []string{"ec2:DescribeInstances"}, "Resource": []string{"*"},
				})
			}
			out, err := json.Marshal(map[string]any{"Version": "2012-10-17", "Statement": statements})
			return string(out), err
		}).(pulumi.StringOutput)
	if _, err := iam.NewRolePolicy(ctx, name, &iam.RolePolicyArgs{Role: role.ID(), Policy: document}, parent); err != nil {
		return nil, err
	}
	return iam.NewInstanceProfile(ctx, name, &iam.InstanceProfileArgs{Role: role.Name}, parent)
}

// recoveryAlarms recover the instance on a system status check failure
// (same instance ID, address and volumes on new hardware) and reboot it on
// an instance status check failure.
func recoveryAlarms(ctx *pulumi.Context, node, region string, instance *ec2.Instance, parent pulumi.ResourceOption) error {
	for _, a := range []struct{ suffix, metric, action string }{
		{"recover", "StatusCheckFailed_System", "recover"},
		{"reboot", "StatusCheckFailed_Instance", "reboot"},
	} {
		if _, err := cloudwatch.NewMetricAlarm(ctx, node+"-"+a.suffix, &cloudwatch.MetricAlarmArgs{
			AlarmDescription:   pulumi.Sprintf("%s: %s the instance when %s fails", node, a.action, a.metric),
			Namespace:          pulumi.String("AWS/EC2"),
			MetricName:         pulumi.String(a.metric),
			Dimensions:         pulumi.StringMap{"InstanceId": instance.ID().ToStringOutput()},
			Statistic:          pulumi.String("Maximum"),
			Period:             pulumi.Int(60),
			EvaluationPeriods:  pulumi.Int(2),
			Threshold:          pulumi.Float64(0),
			ComparisonOperator: pulumi.String("GreaterThanThreshold"),
			AlarmActions:       pulumi.Array{pulumi.Sprintf("arn:aws:automate:%s:ec2:%s", region, a.action)},
		}, parent); err != nil {
			return err
		}
	}
	return nil
}
