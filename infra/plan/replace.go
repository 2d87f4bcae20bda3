package plan

import (
	"sort"
	"strings"
)

// ReplaceRule is one input of a resource type whose change makes the
// provider delete and recreate the resource instead of updating it.
type ReplaceRule struct {
	// Input is the input's key in the plan (camelCase), dotted for a
	// nested object field ("rootBlockDevice.encrypted").
	Input string
	// If names another input that must be true for the rule to hold
	// (userData replaces an instance only with userDataReplaceOnChange).
	If string
}

// ReplaceOn is the maintained table of replace-forcing inputs, per resource
// type the program uses (and a few it is about to). It is read from the
// provider schemas (pulumi-aws bridges the Terraform AWS provider: its
// ForceNew attributes; pulumi-cloudflare likewise) for the inputs that
// matter to a reviewer; an entry with no rules says the type was looked at
// and nothing the program sets forces a replacement. Every stateful type
// in a plan must have an entry (TestStatefulTypesInPlanHaveReplaceEntries).
var ReplaceOn = map[string][]ReplaceRule{
	// stateful
	"aws:rds/instance:Instance": rules("identifier", "identifierPrefix", "engine", "dbName", "username",
		"storageEncrypted", "kmsKeyId", "availabilityZone", "characterSetName", "ncharCharacterSetName",
		"snapshotIdentifier", "restoreToPointInTime", "s3Import", "timezone", "customIamInstanceProfile"),
	"aws:elasticache/replicationGroup:ReplicationGroup": rules("replicationGroupId", "atRestEncryptionEnabled",
		"kmsKeyId", "port", "subnetGroupName", "snapshotArns", "snapshotName", "preferredCacheClusterAzs",
		"dataTieringEnabled", "globalReplicationGroupId", "networkType"),
	"aws:ec2/instance:Instance": append(rules("ami", "availabilityZone", "subnetId", "keyName", "privateIp",
		"placementGroup", "associatePublicIpAddress", "networkInterfaces", "launchTemplate.id", "launchTemplate.name",
		"hostId", "ebsBlockDevices", "ephemeralBlockDevices", "rootBlockDevice.encrypted",
		"rootBlockDevice.kmsKeyId", "cpuOptions"),
		ReplaceRule{Input: "userData", If: "userDataReplaceOnChange"},
		ReplaceRule{Input: "userDataBase64", If: "userDataReplaceOnChange"}),
	"aws:ebs/volume:Volume":                     rules("availabilityZone", "encrypted", "kmsKeyId", "snapshotId", "outpostArn"),
	"aws:kms/key:Key":                           rules("keyUsage", "keySpec", "customerMasterKeySpec", "multiRegion", "customKeyStoreId", "xksKeyId"),
	"aws:secretsmanager/secret:Secret":          rules("name", "namePrefix"),
	"aws:ecr/repository:Repository":             rules("name", "encryptionConfigurations"),
	"aws:ec2/volumeAttachment:VolumeAttachment": rules("deviceName", "instanceId", "volumeId"),

	// network
	"aws:ec2/vpc:Vpc":                                           rules("cidrBlock", "instanceTenancy", "ipv4IpamPoolId"),
	"aws:ec2/subnet:Subnet":                                     rules("vpcId", "cidrBlock", "availabilityZone", "availabilityZoneId", "ipv6Native", "outpostArn"),
	"aws:ec2/internetGateway:InternetGateway":                   rules(),
	"aws:ec2/natGateway:NatGateway":                             rules("subnetId", "allocationId", "connectivityType", "privateIp"),
	"aws:ec2/eip:Eip":                                           rules("domain", "vpc", "publicIpv4Pool", "networkBorderGroup", "address", "customerOwnedIpv4Pool", "ipamPoolId"),
	"aws:ec2/eipAssociation:EipAssociation":                     rules("allocationId", "instanceId", "networkInterfaceId", "privateIpAddress", "publicIp"),
	"aws:ec2/route:Route":                                       rules("routeTableId", "destinationCidrBlock", "destinationIpv6CidrBlock", "destinationPrefixListId"),
	"aws:ec2/routeTable:RouteTable":                             rules("vpcId"),
	"aws:ec2/routeTableAssociation:RouteTableAssociation":       rules("subnetId", "gatewayId"),
	"aws:ec2/securityGroup:SecurityGroup":                       rules("name", "namePrefix", "vpcId", "description"),
	"aws:ec2/defaultSecurityGroup:DefaultSecurityGroup":         rules("vpcId"),
	"aws:vpc/securityGroupIngressRule:SecurityGroupIngressRule": rules("securityGroupId"),
	"aws:vpc/securityGroupEgressRule:SecurityGroupEgressRule":   rules("securityGroupId"),
	"aws:ec2/vpcEndpoint:VpcEndpoint":                           rules("vpcId", "serviceName", "vpcEndpointType", "serviceRegion"),
	"aws:ec2/networkInterface:NetworkInterface":                 rules("subnetId", "privateIp", "privateIps", "interfaceType", "ipv6AddressCount", "ipv6Addresses"),
	"aws:ec2/flowLog:FlowLog":                                   rules("vpcId", "subnetId", "eniId", "trafficType", "logDestination", "logDestinationType", "logGroupName", "iamRoleArn", "maxAggregationInterval", "logFormat", "destinationOptions"),
	"aws:ec2/launchTemplate:LaunchTemplate":                     rules("name", "namePrefix"),
	"aws:lb/loadBalancer:LoadBalancer":                          rules("name", "namePrefix", "internal", "loadBalancerType", "customerOwnedIpv4Pool"),
	"aws:lb/targetGroup:TargetGroup":                            rules("name", "namePrefix", "port", "protocol", "vpcId", "targetType", "protocolVersion", "ipAddressType"),
	"aws:lb/targetGroupAttachment:TargetGroupAttachment":        rules("targetGroupArn", "targetId", "port", "availabilityZone"),
	"aws:lb/listener:Listener":                                  rules("loadBalancerArn"),

	// compute, identity, observability
	"aws:lambda/function:Function":                      rules("name", "packageType"),
	"aws:lambda/permission:Permission":                  rules("function", "action", "principal", "sourceArn", "sourceAccount", "statementId", "statementIdPrefix", "qualifier", "eventSourceToken", "functionUrlAuthType", "principalOrgId"),
	"aws:ecs/cluster:Cluster":                           rules("name"),
	"aws:ecs/service:Service":                           rules("name", "cluster", "launchType", "schedulingStrategy", "iamRole"),
	"aws:ecs/taskDefinition:TaskDefinition":             rules(), // every change registers a new revision; the service rolls to it
	"aws:ecr/lifecyclePolicy:LifecyclePolicy":           rules("repository"),
	"aws:iam/role:Role":                                 rules("name", "namePrefix", "path"),
	"aws:iam/rolePolicy:RolePolicy":                     rules("name", "namePrefix", "role"),
	"aws:iam/rolePolicyAttachment:RolePolicyAttachment": rules("role", "policyArn"),
	"aws:iam/instanceProfile:InstanceProfile":           rules("name", "namePrefix", "path"),
	"aws:kms/alias:Alias":                               rules("name", "namePrefix"),
	"aws:secretsmanager/secretVersion:SecretVersion":    rules("secretId"), // a new value is a new version, not a replacement
	"aws:rds/subnetGroup:SubnetGroup":                   rules("name", "namePrefix"),
	"aws:rds/parameterGroup:ParameterGroup":             rules("name", "namePrefix", "family", "description"),
	"aws:elasticache/subnetGroup:SubnetGroup":           rules("name"),
	"aws:cloudwatch/logGroup:LogGroup":                  rules("name", "namePrefix", "logGroupClass"),
	"aws:cloudwatch/metricAlarm:MetricAlarm":            rules("name"),
	"aws:cloudwatch/dashboard:Dashboard":                rules("dashboardName"),
	"aws:sns/topic:Topic":                               rules("name", "namePrefix", "fifoTopic"),
	"aws:sns/topicSubscription:TopicSubscription":       rules("topic", "protocol", "endpoint", "endpointAutoConfirms", "confirmationTimeoutInMinutes"),
	"aws:ssm/document:Document":                         rules("name", "documentType"),
	"aws:appautoscaling/target:Target":                  rules("resourceId", "scalableDimension", "serviceNamespace"),
	"aws:appautoscaling/policy:Policy":                  rules("name", "resourceId", "scalableDimension", "serviceNamespace"),

	// edge (API Gateway custom domain, certificate, Cloudflare)
	"aws:apigatewayv2/api:Api":                            rules("protocolType"),
	"aws:apigatewayv2/stage:Stage":                        rules("apiId", "name"),
	"aws:apigatewayv2/integration:Integration":            rules("apiId", "integrationType"),
	"aws:apigatewayv2/route:Route":                        rules("apiId"),
	"aws:apigatewayv2/domainName:DomainName":              rules("domainName"),
	"aws:apigatewayv2/apiMapping:ApiMapping":              rules("domainName"),
	"aws:acm/certificate:Certificate":                     rules("domainName", "subjectAlternativeNames", "validationMethod", "keyAlgorithm", "certificateAuthorityArn"),
	"aws:acm/certificateValidation:CertificateValidation": rules("certificateArn", "validationRecordFqdns"),
	"cloudflare:index/record:Record":                      rules("zoneId", "allowOverwrite"),
	"cloudflare:index/ruleset:Ruleset":                    rules("zoneId", "accountId", "phase", "kind", "name"),
	"pulumi:providers:aws":                                rules(),
	"pulumi:providers:cloudflare":                         rules(),
}

func rules(inputs ...string) []ReplaceRule {
	out := make([]ReplaceRule, 0, len(inputs))
	for _, in := range inputs {
		out = append(out, ReplaceRule{Input: in})
	}
	return out
}

// statefulTypes hold data or keys that a replacement destroys: databases,
// caches, the broker's instance and volume, KMS keys, and the secrets and
// image repository the running stack reads. It lists more than the program
// uses today, so that adding, say, an Amazon MQ broker or an EFS file
// system without a replace-table entry fails a test.
var statefulTypes = map[string]bool{
	"aws:rds/instance:Instance":                         true,
	"aws:rds/cluster:Cluster":                           true,
	"aws:rds/clusterInstance:ClusterInstance":           true,
	"aws:elasticache/replicationGroup:ReplicationGroup": true,
	"aws:elasticache/cluster:Cluster":                   true,
	"aws:elasticache/serverlessCache:ServerlessCache":   true,
	"aws:memorydb/cluster:Cluster":                      true,
	"aws:ec2/instance:Instance":                         true,
	"aws:ebs/volume:Volume":                             true,
	"aws:ec2/volumeAttachment:VolumeAttachment":         true,
	"aws:mq/broker:Broker":                              true,
	"aws:kms/key:Key":                                   true,
	"aws:secretsmanager/secret:Secret":                  true,
	"aws:ecr/repository:Repository":                     true,
	"aws:efs/fileSystem:FileSystem":                     true,
	"aws:dynamodb/table:Table":                          true,
	"aws:s3/bucket:Bucket":                              true,
	"aws:s3/bucketV2:BucketV2":                          true,
	"aws:docdb/cluster:Cluster":                         true,
	"aws:opensearch/domain:Domain":                      true,
}

// Stateful reports whether replacing or removing a resource of this type
// loses data or keys.
func Stateful(typ string) bool { return statefulTypes[typ] }

// MissingReplaceEntries lists the stateful types in a plan that have no
// entry in ReplaceOn, sorted: a reviewer could not be told that such a
// resource is about to be replaced.
func MissingReplaceEntries(f File) []string {
	seen := map[string]bool{}
	var out []string
	for _, r := range f.Resources {
		if _, ok := ReplaceOn[r.Type]; ok || !Stateful(r.Type) || seen[r.Type] {
			continue
		}
		seen[r.Type] = true
		out = append(out, r.Type)
	}
	sort.Strings(out)
	return out
}

// lookup finds a dotted path in plan inputs; a path through an array of
// objects (a nested block such as rootBlockDevice) looks into its first
// element.
func lookup(inputs map[string]any, path string) (any, bool) {
	var cur any = inputs
	for _, part := range strings.Split(path, ".") {
		if arr, ok := cur.([]any); ok && len(arr) > 0 {
			cur = arr[0]
		}
		m, ok := cur.(map[string]any)
		if !ok {
			return nil, false
		}
		if cur, ok = m[part]; !ok {
			return nil, false
		}
	}
	return cur, true
}
