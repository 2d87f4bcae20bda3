package stack

import (
	"fmt"
	"sort"
	"strings"

	"github.com/pulumi/pulumi/sdk/v3/go/pulumi"

	"github.com/hookline/hookline/infra/broker"
	"github.com/hookline/hookline/infra/security"
	"github.com/hookline/hookline/internal/topology"
)

// Output is one stack output.
type Output struct {
	Name  string
	Value pulumi.Input
}

// OutputPrefixes are the components' output prefixes, and OutputSuffixes
// the fixed suffixes every output name ends in, the terraform-aws-modules
// way: <component><Thing><Suffix>, one name per thing. docs/outputs.md
// describes each output; TestOutputNames holds both to these lists.
var (
	OutputPrefixes = []string{"network", "security", "database", "cache", "broker", "alarms", "sources", "registry", "processor", "receiver", "dashboard", "edge", "logship", "canary"}
	OutputSuffixes = []string{"Id", "Ids", "Arn", "Name", "Names", "Url", "Endpoint", "Endpoints"}
)

// Outputs are the stack outputs operators and the scripts read, in the
// order of the picture.
func (p *Platform) Outputs() []Output {
	var o []Output
	out := func(name string, v pulumi.Input) { o = append(o, Output{name, v}) }

	out("networkVpcId", p.Network.VpcID)
	out("networkComputeSubnetIds", p.Network.ComputeSubnetIDs)
	out("networkDatabaseSubnetIds", p.Network.DatabaseSubnetIDs)
	for _, r := range security.Roles {
		out("security"+capitalize(string(r))+"GroupId", p.Security.ID(r))
	}

	out("databaseEndpoint", pulumi.Sprintf("%s:%d", p.Database.Address, security.MySQL))
	out("databaseMasterSecretArn", p.Database.MasterSecretArn)
	out("databaseProcessorSecretArn", p.Database.ProcessorSecretArn)
	out("cacheEndpoint", pulumi.Sprintf("%s:%d", p.Cache.PrimaryEndpoint, p.Cache.Port))
	out("cacheAuthSecretArn", p.Cache.AuthSecretArn)

	out("brokerUrl", pulumi.Sprintf("amqps://%s:%d/%s", p.Broker.Host, p.Broker.Port, p.Config.Broker.Vhost))
	out("brokerInstanceIds", p.Broker.InstanceIDs)
	out("brokerPrometheusEndpoints", p.Broker.PrivateIPs.ApplyT(func(ips []string) []string {
		eps := make([]string, len(ips))
		for i, ip := range ips {
			eps[i] = fmt.Sprintf("%s:%d", ip, security.Prometheus)
		}
		return eps
	}).(pulumi.StringArrayOutput))
	out("brokerNodeNames", pulumi.ToStringArray(p.Broker.Nodes))
	var markers []string
	for _, n := range p.Broker.Nodes {
		markers = append(markers, p.Broker.StatusPrefix+n+"/status")
	}
	out("brokerStatusParameterNames", pulumi.ToStringArray(markers))
	out("brokerConfigureDocumentName", p.Broker.DocumentName)
	out("brokerCaSecretArn", p.Broker.CACertArn)
	roles := append([]topology.Role(nil), broker.Roles...)
	sort.Slice(roles, func(i, j int) bool { return roles[i] < roles[j] })
	for _, r := range roles {
		// The active credential's secret and user (what the role's clients
		// use, broker.credentials), then each credential's secret.
		out("broker"+capitalize(string(r))+"SecretArn", p.BrokerSecretArn(r))
		out("broker"+capitalize(string(r))+"UserName", pulumi.String(topology.UserName(r, p.Config.Broker.Credential(r))))
		for _, c := range topology.Credentials {
			out("broker"+capitalize(string(r))+strings.ToUpper(string(c))+"SecretArn", p.Broker.SecretArns[broker.Login{Role: r, Credential: c}])
		}
	}
	out("alarmsTopicArn", p.Alarms.Arn)

	out("sourcesSecretArn", p.Sources.SecretArn)
	out("registryRepositoryUrl", p.Registry.URL)
	out("registryRepositoryName", p.Registry.Name)
	out("processorClusterName", p.Processor.ClusterName)
	out("processorServiceName", p.Processor.ServiceName)
	out("processorLogGroupName", p.Processor.LogGroupName)
	out("processorMigrationTaskDefinitionArn", p.Processor.MigrationTaskArn)
	out("processorMigrationContainerName", pulumi.String(p.Processor.Migration))
	out("receiverFunctionName", p.Receiver.Name)
	out("receiverLogGroupName", p.Receiver.LogGroupName)
	out("dashboardUrl", p.Dashboard.URL)
	if p.Edge != nil { // no edge, no public endpoint and no webhook URL
		out("edgeWebhookUrl", p.Edge.WebhookURL)
		out("edgeApiId", p.Edge.APIID)
		out("edgeAccessLogGroupName", p.Edge.LogGroupName)
	}
	if p.Logship != nil { // no hookline:logs.lokiUrl, no shipper
		out("logshipFunctionName", p.Logship.FunctionName)
		out("logshipLogGroupName", p.Logship.LogGroupName)
	}
	if p.Canary != nil { // the canary posts to the edge
		out("canaryFunctionName", p.Canary.FunctionName)
		out("canaryLogGroupName", p.Canary.LogGroupName)
		out("canarySecretArn", p.Canary.SecretArn)
	}
	return o
}

// Export publishes the stack outputs.
func (p *Platform) Export(ctx *pulumi.Context) {
	for _, o := range p.Outputs() {
		ctx.Export(o.Name, o.Value)
	}
}
