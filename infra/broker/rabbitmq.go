// Package broker declares RabbitMQ 4.x on Graviton EC2 in the compute tier:
// per node a launch template (IMDSv2 required, no key pair, encrypted root),
// a network interface and an encrypted gp3 data volume that both outlive the
// instance, alarms that recover or reboot a failed instance or say it never
// became ready, and user data (bootstrap/install.sh) that runs the official
// RabbitMQ image pinned by digest, TLS only. The configuration half
// (bootstrap/configure.sh: users, vhost, the internal/topology definitions)
// is an SSM document: the node runs it at first boot and `make deploy` runs
// it on running nodes (reconcile). Nodes: 3 builds a quorum cluster that
// finds its peers by tag, behind an internal network load balancer.
package broker

import (
	"encoding/base64"
	"encoding/json"
	"fmt"
	"strconv"
	"strings"

	"github.com/pulumi/pulumi-aws/sdk/v6/go/aws/cloudwatch"
	"github.com/pulumi/pulumi-aws/sdk/v6/go/aws/ebs"
	"github.com/pulumi/pulumi-aws/sdk/v6/go/aws/ec2"
	"github.com/pulumi/pulumi-aws/sdk/v6/go/aws/iam"
	"github.com/pulumi/pulumi-aws/sdk/v6/go/aws/lb"
	"github.com/pulumi/pulumi-aws/sdk/v6/go/aws/secretsmanager"
	"github.com/pulumi/pulumi-aws/sdk/v6/go/aws/ssm"
	"github.com/pulumi/pulumi/sdk/v3/go/pulumi"

	"github.com/hookline/hookline/infra/alarms"
	"github.com/hookline/hookline/infra/broker/bootstrap"
	"github.com/hookline/hookline/infra/encryption"
	"github.com/hookline/hookline/internal/metricnames"
	"github.com/hookline/hookline/internal/topology"
)

// Port is AMQP over TLS, the only AMQP listener the nodes open.
const Port = 5671

// MetricsNamespace is where the nodes publish Booting, Ready, memory and disk.
const MetricsNamespace = metricnames.BrokerNamespace

// Roles are the broker users' roles. Each role has two users, credentials
// a and b (internal/topology defines their names, tags and grants), each
// with its own secret holding {"username","password","host","port","vhost"}:
// the broker always has both, and a stack points its clients at one
// (broker.credentials), so a password rotates without a refused connection.
var Roles = []topology.Role{topology.Admin, topology.Receiver, topology.Processor, topology.Collector}

// Login is one broker user: a role as one credential.
type Login struct {
	Role       topology.Role
	Credential topology.Credential
}

// Logins are every user the broker has, per role credential a then b.
func Logins() []Login {
	var out []Login
	for _, r := range Roles {
		for _, c := range topology.Credentials {
			out = append(out, Login{r, c})
		}
	}
	return out
}

// SecretName is the logical name of l's secret: <name>-<role> for
// credential a (the name every stack had before credential b), and
// <name>-<role>-b.
func SecretName(name string, l Login) string {
	return l.Credential.Login(name + "-" + string(l.Role))
}

// Args is what a stack decides about its broker.
type Args struct {
	Region        string
	Stack         string
	Nodes         int // 1, or 3 for a quorum cluster
	InstanceType  string
	AMIParameter  string // public SSM parameter, resolved by EC2 at launch
	DataVolumeGiB int
	Image         string // the official image pinned by digest
	Vhost         string
	DeliveryLimit int
	Protect       bool // prod: the data volumes and the key are protected from deletion
	LogGroupName  string
	LogRetention  int // days, the broker log group

	AZs             []string             // node i runs in AZs[i % len]
	SubnetIDs       []pulumi.StringInput // compute subnets, aligned with AZs
	SecurityGroupID pulumi.IDInput       // the broker role (nodes and load balancer)
	VpcID           pulumi.IDInput

	Passwords    map[Login]pulumi.StringInput // secrets, one per user (Logins)
	ErlangCookie pulumi.StringInput           // secret; only with Nodes > 1
	AlarmTopic   pulumi.StringInput           // the stack's SNS topic for alarms
}

// RabbitMQ is the broker component.
type RabbitMQ struct {
	pulumi.ResourceState

	PrivateIPs   pulumi.StringArrayOutput      // one per node, stable across instance replacement
	Host         pulumi.StringOutput           // what clients connect to: node 0's address, or the load balancer with nodes: 3
	Port         int                           // AMQPS
	SecretArns   map[Login]pulumi.StringOutput // every user's; clients read the active credential's
	CACertArn    pulumi.StringOutput           // the stack's broker CA certificate (PEM), for clients to verify
	InstanceIDs  pulumi.StringArrayOutput
	KeyArn       pulumi.StringOutput
	DocumentName pulumi.StringOutput // the reconcile SSM document
	StatusPrefix string              // SSM parameter path of the nodes' ready markers
	Nodes        []string            // node names, in InstanceIDs' order
	Declared     []alarms.Declared   // every node's alarms, for the dashboard to draw
}

// New declares the broker.
func New(ctx *pulumi.Context, name string, args Args, opts ...pulumi.ResourceOption) (*RabbitMQ, error) {
	b := &RabbitMQ{Port: Port, SecretArns: map[Login]pulumi.StringOutput{}}
	if err := ctx.RegisterComponentResource("hookline:broker:RabbitMQ", name, b, opts...); err != nil {
		return nil, err
	}
	parent := pulumi.Parent(b)
	version, err := bootstrap.ImageVersion(args.Image)
	if err != nil {
		return nil, err
	}
	// Data that outlives the stack stays readable: the key is retained on
	// delete, and protected (like the volumes) in prod.
	key, err := encryption.NewKey(ctx, name, "hookline RabbitMQ volumes, snapshots and credentials ("+name+")", parent, pulumi.Protect(args.Protect))
	if err != nil {
		return nil, err
	}

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
	var nlb *lb.LoadBalancer
	if args.Nodes > 1 {
		if nlb, err = loadBalancer(ctx, name, args, enis, parent); err != nil {
			return nil, err
		}
		host = nlb.DnsName
	}

	describe := func(description string) string {
		return fmt.Sprintf("hookline RabbitMQ %s (%s)", description, name)
	}
	// secret declares a secret without a version, one the nodes write.
	secret := func(suffix, description string) (*secretsmanager.Secret, error) {
		return secretsmanager.NewSecret(ctx, name+"-"+suffix, &secretsmanager.SecretArgs{
			Description: pulumi.String(describe(description)),
			KmsKeyId:    key.Arn,
		}, parent)
	}
	var users []userSecret
	for _, l := range Logins() {
		password, ok := args.Passwords[l]
		if !ok {
			return nil, fmt.Errorf("broker: no password for the %s user, credential %s", l.Role, l.Credential)
		}
		user := topology.UserFor(l.Role, l.Credential)
		value := pulumi.All(password, host).ApplyT(func(v []any) (string, error) {
			out, err := json.Marshal(map[string]any{"username": user.Name, "password": v[0].(string), "host": v[1].(string), "port": Port, "vhost": args.Vhost})
			return string(out), err
		}).(pulumi.StringOutput)
		// "user receiver", as before credential b, and "user receiver-b".
		s, err := encryption.NewSecretUnder(ctx, SecretName(name, l), key, describe("user "+l.Credential.Login(string(l.Role))), value, parent)
		if err != nil {
			return nil, err
		}
		b.SecretArns[l] = s.Secret.Arn
		users = append(users, userSecret{user: user, arn: s.Secret.Arn})
	}
	// The CA: node 0 creates it on its first boot; no version is declared,
	// so pulumi never overwrites it, and every replacement reuses it.
	caKey, err := secret("ca-key", "CA private key (nodes only)")
	if err != nil {
		return nil, err
	}
	caCert, err := secret("ca-cert", "CA certificate (PEM, for clients)")
	if err != nil {
		return nil, err
	}
	cookieArn := pulumi.String("").ToStringOutput()
	if args.Nodes > 1 {
		value := pulumi.All(args.ErlangCookie).ApplyT(func(v []any) (string, error) {
			out, err := json.Marshal(map[string]string{"cookie": v[0].(string)})
			return string(out), err
		}).(pulumi.StringOutput)
		cookie, err := encryption.NewSecretUnder(ctx, name+"-erlang-cookie", key, describe("cluster Erlang cookie"), value, parent)
		if err != nil {
			return nil, err
		}
		cookieArn = cookie.Secret.Arn
	}

	document, err := configureDocument(ctx, name, args, users, parent)
	if err != nil {
		return nil, err
	}
	logGroup, err := cloudwatch.NewLogGroup(ctx, name, &cloudwatch.LogGroupArgs{
		Name:            pulumi.String(args.LogGroupName),
		RetentionInDays: pulumi.Int(args.LogRetention),
	}, parent)
	if err != nil {
		return nil, err
	}
	b.StatusPrefix = "/hookline/" + args.Stack + "/broker/"

	profile, err := instanceProfile(ctx, name, args, nodeAccess{
		key: key.Arn, document: document.Arn, logGroup: logGroup.Arn, statusPrefix: b.StatusPrefix,
		users: users, caKey: caKey.Arn, caCert: caCert.Arn, cookie: cookieArn,
	}, parent)
	if err != nil {
		return nil, err
	}

	clusterTag := name
	var ips, instanceIDs pulumi.StringArray
	for i, eni := range enis {
		node := fmt.Sprintf("%s-%d", name, i)
		b.Nodes = append(b.Nodes, node)
		az := args.AZs[i%len(args.AZs)]
		volume, err := ebs.NewVolume(ctx, node+"-data", &ebs.VolumeArgs{
			AvailabilityZone: pulumi.String(az),
			Size:             pulumi.Int(args.DataVolumeGiB),
			Type:             pulumi.String("gp3"),
			Encrypted:        pulumi.Bool(true),
			KmsKeyId:         key.Arn,
			FinalSnapshot:    pulumi.Bool(true),
			Tags:             pulumi.StringMap{"Name": pulumi.String(node + "-data")},
		}, parent, pulumi.Protect(args.Protect))
		if err != nil {
			return nil, err
		}
		i := i
		userData := pulumi.All(volume.ID(), host, document.Name, logGroup.Name, caKey.Arn, caCert.Arn, cookieArn).ApplyT(
			func(v []any) (string, error) {
				script, err := bootstrap.RenderInstall(bootstrap.Install{
					Region: args.Region, Stack: args.Stack, Node: node, NodeIndex: i, Nodes: args.Nodes,
					ClusterTag: clusterTag, DataVolumeID: string(v[0].(pulumi.ID)),
					Image: args.Image, RabbitMQVersion: version, ErlangSeries: bootstrap.ErlangSeries, DockerPackage: bootstrap.DockerPackage,
					Endpoint: v[1].(string), ConfigureDocument: v[2].(string), StatusParameter: b.StatusPrefix + node + "/status",
					LogGroup: v[3].(string), MetricsNamespace: MetricsNamespace,
					CAKeySecretArn: v[4].(string), CACertSecretArn: v[5].(string), CookieSecretArn: v[6].(string),
				})
				if err != nil {
					return "", err
				}
				gz, err := bootstrap.UserData(script)
				return base64.StdEncoding.EncodeToString(gz), err
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
		// It ignores its launch template: a new user data, image or
		// instance type reaches a node only through `make broker-roll`, one
		// node at a time, never as a side effect of pulumi up.
		instance, err := ec2.NewInstance(ctx, node, &ec2.InstanceArgs{
			LaunchTemplate: &ec2.InstanceLaunchTemplateArgs{
				// $Latest, not a number: the input never changes, and a
				// replacement (make broker-roll) launches the current version.
				Id:      lt.ID(),
				Version: pulumi.String("$Latest"),
			},
			NetworkInterfaces: ec2.InstanceNetworkInterfaceArray{
				ec2.InstanceNetworkInterfaceArgs{DeviceIndex: pulumi.Int(0), NetworkInterfaceId: eni.ID()},
			},
			Tags: pulumi.StringMap{
				"Name":                    pulumi.String(node),
				"hookline-broker-cluster": pulumi.String(clusterTag),
				"hookline-broker-node":    pulumi.String(node),
			},
		}, parent, pulumi.DeleteBeforeReplace(true), pulumi.IgnoreChanges([]string{"launchTemplate"}))
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
		recovery, err := recoveryAlarms(ctx, node, args.Region, instance, parent)
		if err != nil {
			return nil, err
		}
		ready, err := readyAlarm(ctx, node, args.AlarmTopic, parent)
		if err != nil {
			return nil, err
		}
		b.Declared = append(append(b.Declared, recovery...), ready)
		ips = append(ips, eni.PrivateIp)
		instanceIDs = append(instanceIDs, instance.ID().ToStringOutput())
	}

	b.PrivateIPs = ips.ToStringArrayOutput()
	b.Host = host
	b.CACertArn = caCert.Arn
	b.InstanceIDs = instanceIDs.ToStringArrayOutput()
	b.KeyArn = key.Arn
	b.DocumentName = document.Name
	if err := ctx.RegisterResourceOutputs(b, pulumi.Map{
		"privateIps":   b.PrivateIPs,
		"host":         b.Host,
		"documentName": b.DocumentName,
	}); err != nil {
		return nil, err
	}
	return b, nil
}

type userSecret struct {
	user topology.User
	arn  pulumi.StringOutput
}

// configureDocument is the configuration half as an SSM Command document:
// the definitions of internal/topology and the users, rendered into
// configure.sh. Nodes run it at first boot; `make deploy` runs it on the
// running nodes, so changed grants, policies or passwords converge
// without replacing an instance.
func configureDocument(ctx *pulumi.Context, name string, args Args, users []userSecret, parent pulumi.ResourceOption) (*ssm.Document, error) {
	doc, err := topology.Definitions(topology.Spec{Vhost: args.Vhost, DeliveryLimit: args.DeliveryLimit})
	if err != nil {
		return nil, err
	}
	var arns []any
	for _, u := range users {
		arns = append(arns, u.arn)
	}
	content := pulumi.All(arns...).ApplyT(func(v []any) (string, error) {
		c := bootstrap.Configure{Region: args.Region, Stack: args.Stack, Vhost: args.Vhost, Nodes: args.Nodes, Definitions: doc.JSON(), DeleteGuest: true}
		for i, u := range users {
			c.Users = append(c.Users, bootstrap.User{Name: u.user.Name, Tags: u.user.Tags, SecretArn: v[i].(string)})
		}
		script, err := bootstrap.RenderConfigure(c)
		if err != nil {
			return "", err
		}
		return Document(script)
	}).(pulumi.StringOutput)
	return ssm.NewDocument(ctx, name+"-configure", &ssm.DocumentArgs{
		DocumentType:   pulumi.String("Command"),
		DocumentFormat: pulumi.String("JSON"),
		Content:        content,
	}, parent)
}

// Document wraps a script as the content of an SSM Command document that
// runs it as root with bash (aws:runShellScript runs its lines with sh).
func Document(script string) (string, error) {
	lines := []string{"cat >/run/hookline-broker-configure.sh <<'HOOKLINE_SCRIPT'"}
	for _, l := range strings.Split(strings.TrimRight(script, "\n"), "\n") {
		if l == "HOOKLINE_SCRIPT" {
			return "", fmt.Errorf("broker document: the script contains its heredoc terminator")
		}
		lines = append(lines, l)
	}
	lines = append(lines, "HOOKLINE_SCRIPT", "exec bash /run/hookline-broker-configure.sh")
	out, err := json.Marshal(map[string]any{
		"schemaVersion": "2.2",
		"description":   "hookline broker: apply users, vhost and definitions (reconcile)",
		"mainSteps": []map[string]any{{
			"action": "aws:runShellScript",
			"name":   "configure",
			"inputs": map[string]any{"runCommand": lines, "timeoutSeconds": "1200"},
		}},
	})
	return string(out), err
}

// loadBalancer is the one endpoint of a cluster: an internal network load
// balancer across the nodes' fixed addresses, passing TLS through to them
// (each node's certificate names the balancer), in the broker's group.
func loadBalancer(ctx *pulumi.Context, name string, args Args, enis []*ec2.NetworkInterface, parent pulumi.ResourceOption) (*lb.LoadBalancer, error) {
	var subnets pulumi.StringArray
	for _, s := range args.SubnetIDs {
		subnets = append(subnets, s)
	}
	nlb, err := lb.NewLoadBalancer(ctx, name, &lb.LoadBalancerArgs{
		Internal:                     pulumi.Bool(true),
		LoadBalancerType:             pulumi.String("network"),
		Subnets:                      subnets,
		SecurityGroups:               pulumi.StringArray{args.SecurityGroupID.ToIDOutput().ToStringOutput()},
		EnableCrossZoneLoadBalancing: pulumi.Bool(true),
		EnableDeletionProtection:     pulumi.Bool(args.Protect),
	}, parent)
	if err != nil {
		return nil, err
	}
	tg, err := lb.NewTargetGroup(ctx, name+"-amqps", &lb.TargetGroupArgs{
		Port:                pulumi.Int(Port),
		Protocol:            pulumi.String("TCP"),
		TargetType:          pulumi.String("ip"),
		VpcId:               args.VpcID.ToIDOutput().ToStringOutput(),
		DeregistrationDelay: pulumi.Int(30),
		HealthCheck: &lb.TargetGroupHealthCheckArgs{
			Protocol: pulumi.String("TCP"), Port: pulumi.String(strconv.Itoa(Port)),
			Interval: pulumi.Int(10), HealthyThreshold: pulumi.Int(2), UnhealthyThreshold: pulumi.Int(2),
		},
	}, parent)
	if err != nil {
		return nil, err
	}
	for i, eni := range enis {
		if _, err := lb.NewTargetGroupAttachment(ctx, fmt.Sprintf("%s-amqps-%d", name, i), &lb.TargetGroupAttachmentArgs{
			TargetGroupArn: tg.Arn,
			TargetId:       eni.PrivateIp,
			Port:           pulumi.Int(Port),
		}, parent); err != nil {
			return nil, err
		}
	}
	if _, err := lb.NewListener(ctx, name+"-amqps", &lb.ListenerArgs{
		LoadBalancerArn: nlb.Arn,
		Port:            pulumi.Int(Port),
		Protocol:        pulumi.String("TCP"),
		DefaultActions:  lb.ListenerDefaultActionArray{lb.ListenerDefaultActionArgs{Type: pulumi.String("forward"), TargetGroupArn: tg.Arn}},
	}, parent); err != nil {
		return nil, err
	}
	return nlb, nil
}

type nodeAccess struct {
	key, document, logGroup pulumi.StringOutput
	statusPrefix            string
	users                   []userSecret
	caKey, caCert, cookie   pulumi.StringOutput
}

// instanceProfile lets a node use SSM Session Manager, read its users'
// secrets and the cookie, create and read the stack's CA, read its
// configuration document, write its ready marker, logs and metrics and, in
// a cluster, find its peers.
func instanceProfile(ctx *pulumi.Context, name string, args Args, a nodeAccess, parent pulumi.ResourceOption) (*iam.InstanceProfile, error) {
	role, err := iam.NewRole(ctx, name, &iam.RoleArgs{
		Description:      pulumi.Sprintf("hookline RabbitMQ nodes (%s)", name),
		AssumeRolePolicy: pulumi.String(`{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Principal":{"Service":"ec2.amazonaws.com"},"Action":"sts:AssumeRole"}]}`),
	}, parent)
	if err != nil {
		return nil, err
	}
	if _, err := iam.NewRolePolicyAttachment(ctx, name+"-AmazonSSMManagedInstanceCore", &iam.RolePolicyAttachmentArgs{
		Role:      role.Name,
		PolicyArn: pulumi.String("arn:aws:iam::aws:policy/AmazonSSMManagedInstanceCore"),
	}, parent); err != nil {
		return nil, err
	}
	cluster := args.Nodes > 1
	inputs := []any{a.key, a.document, a.logGroup, a.caKey, a.caCert, a.cookie}
	for _, u := range a.users {
		inputs = append(inputs, u.arn)
	}
	document := pulumi.All(inputs...).ApplyT(func(v []any) (string, error) {
		str := func(i int) string { return v[i].(string) }
		secrets := []string{str(3), str(4)}
		for i := range a.users {
			secrets = append(secrets, str(6+i))
		}
		if cluster {
			secrets = append(secrets, str(5))
		}
		statements := []map[string]any{
			{"Sid": "ReadOwnSecrets", "Effect": "Allow", "Action": []string{"secretsmanager:GetSecretValue"}, "Resource": secrets},
			{"Sid": "CreateTheCA", "Effect": "Allow", "Action": []string{"secretsmanager:ListSecretVersionIds", "secretsmanager:PutSecretValue"}, "Resource": []string{str(3), str(4)}},
			{"Sid": "UseOwnKey", "Effect": "Allow", "Action": []string{"kms:Decrypt", "kms:GenerateDataKey"}, "Resource": []string{str(0)}},
			{"Sid": "ReadConfiguration", "Effect": "Allow", "Action": []string{"ssm:GetDocument"}, "Resource": []string{str(1)}},
			{"Sid": "WriteReadyMarker", "Effect": "Allow", "Action": []string{"ssm:PutParameter"},
				"Resource": []string{fmt.Sprintf("arn:aws:ssm:%s:*:parameter%s*", args.Region, strings.TrimSuffix(a.statusPrefix, "/")+"/")}},
			{"Sid": "WriteLogs", "Effect": "Allow", "Action": []string{"logs:CreateLogStream", "logs:PutLogEvents"}, "Resource": []string{str(2), str(2) + ":log-stream:*"}},
			{"Sid": "WriteMetrics", "Effect": "Allow", "Action": []string{"cloudwatch:PutMetricData"}, "Resource": []string{"*"},
				"Condition": map[string]any{"StringEquals": map[string]string{"cloudwatch:namespace": MetricsNamespace}}},
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
func recoveryAlarms(ctx *pulumi.Context, node, region string, instance *ec2.Instance, parent pulumi.ResourceOption) ([]alarms.Declared, error) {
	var out []alarms.Declared
	for _, a := range []struct{ suffix, metric, action string }{
		{"recover", "StatusCheckFailed_System", "recover"},
		{"reboot", "StatusCheckFailed_Instance", "reboot"},
	} {
		d := alarms.Declared{Name: node + "-" + a.suffix, Alarm: alarms.Alarm{
			Suffix: a.suffix, Namespace: "AWS/EC2", Metric: a.metric, Statistic: "Maximum",
			Dimensions: pulumi.StringMap{"InstanceId": instance.ID().ToStringOutput()},
			Comparison: "GreaterThanThreshold", Threshold: 0, Period: 60, Evaluation: 2,
			Description: fmt.Sprintf("%s: %s the instance when %s fails", node, a.action, a.metric),
		}}
		if _, err := cloudwatch.NewMetricAlarm(ctx, d.Name, &cloudwatch.MetricAlarmArgs{
			AlarmDescription:   pulumi.String(d.Description),
			Namespace:          pulumi.String(d.Namespace),
			MetricName:         pulumi.String(d.Metric),
			Dimensions:         d.Dimensions,
			Statistic:          pulumi.String(d.Statistic),
			Period:             pulumi.Int(d.Period),
			EvaluationPeriods:  pulumi.Int(d.Evaluation),
			Threshold:          pulumi.Float64(d.Threshold),
			ComparisonOperator: pulumi.String(d.Comparison),
			AlarmActions:       pulumi.Array{pulumi.Sprintf("arn:aws:automate:%s:ec2:%s", region, a.action)},
		}, parent); err != nil {
			return nil, err
		}
		out = append(out, d)
	}
	return out, nil
}

// ReadyMinutes is how long a node may boot before its alarm fires.
const ReadyMinutes = 15

// readyAlarm fires when a node has been booting (bootstrap started, not
// ready) for ReadyMinutes: the bootstrap publishes Booting=1 every minute
// from its first step until the node is ready, and keeps publishing it when
// a step fails. No data (a node that is ready, or not launched) is not
// breaching, so the alarm is quiet when the stack is created.
func readyAlarm(ctx *pulumi.Context, node string, topic pulumi.StringInput, parent pulumi.ResourceOption) (alarms.Declared, error) {
	d := alarms.Declared{Name: node + "-not-ready", Alarm: alarms.Alarm{
		Suffix: "not-ready", Namespace: MetricsNamespace, Metric: metricnames.BrokerBooting, Statistic: "Minimum",
		Dimensions: pulumi.StringMap{metricnames.NodeDimension: pulumi.String(node)},
		Comparison: "GreaterThanOrEqualToThreshold", Threshold: 1,
		Period:     300, // ≥ 4 datapoints each: one every minute or so
		Evaluation: ReadyMinutes / 5, Datapoints: ReadyMinutes / 5, Missing: "notBreaching",
		Description: fmt.Sprintf("%s has not become ready within %d minutes of launch: see its ready marker (SSM) and /var/log/hookline-broker-bootstrap.log", node, ReadyMinutes),
	}}
	_, err := cloudwatch.NewMetricAlarm(ctx, d.Name, &cloudwatch.MetricAlarmArgs{
		AlarmDescription:   pulumi.String(d.Description),
		Namespace:          pulumi.String(d.Namespace),
		MetricName:         pulumi.String(d.Metric),
		Dimensions:         d.Dimensions,
		Statistic:          pulumi.String(d.Statistic),
		Period:             pulumi.Int(d.Period),
		EvaluationPeriods:  pulumi.Int(d.Evaluation),
		DatapointsToAlarm:  pulumi.Int(d.Datapoints),
		Threshold:          pulumi.Float64(d.Threshold),
		ComparisonOperator: pulumi.String(d.Comparison),
		TreatMissingData:   pulumi.String(d.Missing),
		AlarmActions:       pulumi.Array{topic},
		OkActions:          pulumi.Array{topic},
	}, parent)
	return d, err
}
