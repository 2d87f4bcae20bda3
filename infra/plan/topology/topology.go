// Package topology draws the offline plan as a Graphviz picture: one
// cluster per kind of component (edge, network, broker, database, cache,
// compute, alarms), a node for each resource a reader looks for, the data
// path from the security group rules and the wiring between components
// from the references in the resources' inputs. It reads the plan file
// (DESIGN.md's format) only, so it needs neither the Pulumi SDKs nor
// Graphviz; `make topology` renders docs/topology.dot to SVG.
package topology

import (
	"bytes"
	"fmt"
	"sort"
	"strings"

	"github.com/hookline/hookline/infra/plan"
)

// Path is the committed picture's source, relative to the project root.
const Path = "docs/topology.dot"

// Clusters are the picture's clusters, in drawing order, and the component
// types each holds. A component type in the plan that no cluster names is
// an error: a new component is drawn on purpose, not left out.
var Clusters = []struct {
	Name       string
	Components []string
}{
	{"edge", []string{"hookline:edge:Edge"}},
	{"network", []string{"hookline:network:Vpc", "hookline:network:Endpoints", "hookline:security:Groups"}},
	{"compute", []string{"hookline:receiver:Function", "hookline:service:Processor", "hookline:scaling:Processor", "hookline:registry:Repository", "hookline:sources:Document", "hookline:logship:Shipper"}},
	{"broker", []string{"hookline:broker:RabbitMQ"}},
	{"database", []string{"hookline:database:Database"}},
	{"cache", []string{"hookline:cache:Redis"}},
	{"alarms", []string{"hookline:alarms:Topic", "hookline:alarms:Platform", "hookline:dashboard:Dashboard", "hookline:canary:Canary"}},
}

// kind is a node drawn for resources of one type inside one component:
// each resource its own node (each), or all of them one node.
type kind struct {
	component, typ string
	key            string // node id suffix
	each           bool
	// label names the node from its resources and, for what they leave
	// to another resource (an instance's type to its launch template),
	// the component's other resources.
	label func(rs, siblings []plan.FileResource) string
}

func count(rs []plan.FileResource, one, many string) string {
	if len(rs) == 1 {
		return one
	}
	return fmt.Sprintf("%s ×%d", many, len(rs))
}

func str(r plan.FileResource, path ...string) string {
	var v any = r.Inputs
	for _, p := range path {
		m, ok := v.(map[string]any)
		if !ok {
			return ""
		}
		v = m[p]
	}
	switch x := v.(type) {
	case string:
		return x
	case float64:
		return fmt.Sprintf("%g", x)
	case bool:
		return fmt.Sprintf("%t", x)
	}
	return ""
}

func tier(r plan.FileResource) string { return str(r, "tags", "tier") }

var kinds = []kind{
	{"hookline:edge:Edge", "cloudflare:index/record:Record", "dns", false, func(rs, _ []plan.FileResource) string {
		var names []string
		for _, r := range rs {
			if str(r, "proxied") == "true" {
				names = append(names, str(r, "name"))
			}
		}
		sort.Strings(names)
		return "Cloudflare DNS (proxied)\n" + strings.Join(names, "\n")
	}},
	{"hookline:edge:Edge", "cloudflare:index/ruleset:Ruleset", "rules", false, func(rs, _ []plan.FileResource) string {
		var phases []string
		for _, r := range rs {
			phases = append(phases, strings.TrimPrefix(str(r, "phase"), "http_"))
		}
		sort.Strings(phases)
		return "Cloudflare rulesets\n" + strings.Join(phases, "\n")
	}},
	{"hookline:edge:Edge", "aws:apigatewayv2/domainName:DomainName", "domains", false, func(rs, _ []plan.FileResource) string {
		return count(rs, "API custom domain", "API custom domains") + "\n(ACM certificate)"
	}},
	{"hookline:edge:Edge", "aws:apigatewayv2/api:Api", "api", false, func(rs, _ []plan.FileResource) string {
		return "API Gateway HTTP API\nexecute-api endpoint disabled"
	}},

	{"hookline:network:Vpc", "aws:ec2/vpc:Vpc", "vpc", false, func(rs, _ []plan.FileResource) string {
		return "VPC " + str(rs[0], "cidrBlock")
	}},
	{"hookline:network:Vpc", "aws:ec2/internetGateway:InternetGateway", "igw", false, func(_, _ []plan.FileResource) string { return "internet gateway" }},
	{"hookline:network:Vpc", "aws:ec2/natGateway:NatGateway", "nat", false, func(rs, _ []plan.FileResource) string {
		return count(rs, "NAT gateway", "NAT gateways")
	}},
	{"hookline:network:Vpc", "aws:ec2/subnet:Subnet", "subnets", false, nil}, // one node per tier: see subnets
	{"hookline:network:Vpc", "aws:ec2/vpcEndpoint:VpcEndpoint", "s3", false, func(rs, _ []plan.FileResource) string {
		return "S3 gateway endpoint"
	}},
	{"hookline:network:Endpoints", "aws:ec2/vpcEndpoint:VpcEndpoint", "interface", false, func(rs, _ []plan.FileResource) string {
		return count(rs, "interface endpoint", "interface endpoints")
	}},

	{"hookline:receiver:Function", "aws:lambda/function:Function", "lambda", false, func(rs, _ []plan.FileResource) string {
		return "receiver Lambda\n" + str(rs[0], "memorySize") + " MiB, arm64"
	}},
	{"hookline:logship:Shipper", "aws:lambda/function:Function", "lambda", false, func(_, _ []plan.FileResource) string {
		return "log shipper Lambda\n(to Loki)"
	}},
	{"hookline:service:Processor", "aws:ecs/service:Service", "service", false, func(rs, _ []plan.FileResource) string {
		return "processor ECS service\nFargate arm64"
	}},
	{"hookline:service:Processor", "aws:ecs/taskDefinition:TaskDefinition", "tasks", true, func(rs, _ []plan.FileResource) string {
		return "task definition\n" + str(rs[0], "family")
	}},
	{"hookline:scaling:Processor", "aws:appautoscaling/target:Target", "target", false, func(rs, _ []plan.FileResource) string {
		return "autoscaling " + str(rs[0], "minCapacity") + "–" + str(rs[0], "maxCapacity") + " tasks"
	}},
	{"hookline:scaling:Processor", "aws:cloudwatch/metricAlarm:MetricAlarm", "alarms", false, func(rs, _ []plan.FileResource) string {
		return count(rs, "scaling alarm", "scaling alarms")
	}},
	{"hookline:registry:Repository", "aws:ecr/repository:Repository", "ecr", false, func(rs, _ []plan.FileResource) string {
		return "ECR " + str(rs[0], "name")
	}},
	{"hookline:sources:Document", "aws:secretsmanager/secret:Secret", "secret", false, func(rs, _ []plan.FileResource) string {
		return "sources document\n(Secrets Manager)"
	}},

	{"hookline:broker:RabbitMQ", "aws:ec2/instance:Instance", "node", true, func(rs, siblings []plan.FileResource) string {
		typ := str(rs[0], "instanceType")
		for _, s := range siblings {
			if s.Type == "aws:ec2/launchTemplate:LaunchTemplate" && plan.MockID(s.Type, s.Name) == str(rs[0], "launchTemplate", "id") {
				typ = str(s, "instanceType")
			}
		}
		return "RabbitMQ node\n" + typ
	}},
	{"hookline:broker:RabbitMQ", "aws:lb/loadBalancer:LoadBalancer", "nlb", false, func(rs, _ []plan.FileResource) string {
		return "network load balancer"
	}},
	{"hookline:database:Database", "aws:rds/instance:Instance", "rds", false, func(rs, _ []plan.FileResource) string {
		l := "RDS " + str(rs[0], "engine") + " " + str(rs[0], "engineVersion") + "\n" + str(rs[0], "instanceClass")
		if str(rs[0], "multiAz") == "true" {
			l += ", Multi-AZ"
		}
		return l
	}},
	{"hookline:cache:Redis", "aws:elasticache/replicationGroup:ReplicationGroup", "redis", false, func(rs, _ []plan.FileResource) string {
		return "Redis " + str(rs[0], "engineVersion") + "\n" + str(rs[0], "nodeType") + " ×" + str(rs[0], "numCacheClusters")
	}},

	{"hookline:alarms:Topic", "aws:sns/topic:Topic", "topic", false, func(_, _ []plan.FileResource) string { return "SNS alarm topic" }},
	{"hookline:alarms:Topic", "aws:sns/topicSubscription:TopicSubscription", "pagerduty", false, func(_, _ []plan.FileResource) string { return "PagerDuty subscription" }},
	{"hookline:alarms:Platform", "aws:cloudwatch/metricAlarm:MetricAlarm", "alarms", false, func(rs, _ []plan.FileResource) string {
		return count(rs, "metric alarm", "metric alarms")
	}},
	{"hookline:alarms:Platform", "aws:cloudwatch/eventRule:EventRule", "events", false, func(rs, _ []plan.FileResource) string {
		return count(rs, "EventBridge rule", "EventBridge rules") + "\n(ECS stops, deployments)"
	}},
	{"hookline:dashboard:Dashboard", "aws:cloudwatch/dashboard:Dashboard", "dashboard", false, func(_, _ []plan.FileResource) string { return "CloudWatch dashboard" }},
}

// node is one box of the picture.
type node struct {
	id, cluster, label string
	resources          []plan.FileResource
}

// edge is one arrow; data edges are the path webhooks and their
// connections take, the others are references (dashed).
type edge struct {
	from, to string
	labels   []string
	data     bool
}

// DOT is the picture of a plan, deterministic for a given plan.
func DOT(f plan.File) ([]byte, error) {
	byURN := map[string]plan.FileResource{}
	for _, r := range f.Resources {
		byURN[r.URN] = r
	}
	// The component (a hookline:* resource) each resource belongs to: its
	// nearest hookline ancestor.
	componentOf := func(r plan.FileResource) (plan.FileResource, bool) {
		for p := r.Parent; p != ""; {
			c, ok := byURN[p]
			if !ok {
				return plan.FileResource{}, false
			}
			if strings.HasPrefix(c.Type, "hookline:") {
				return c, true
			}
			p = c.Parent
		}
		return plan.FileResource{}, false
	}
	clusterOf := map[string]string{}
	for _, c := range Clusters {
		for _, t := range c.Components {
			clusterOf[t] = c.Name
		}
	}
	for _, r := range f.Resources {
		if strings.HasPrefix(r.Type, "hookline:") && clusterOf[r.Type] == "" {
			return nil, fmt.Errorf("topology: component type %s is in no cluster; add it to topology.Clusters", r.Type)
		}
	}

	// Group the resources into nodes.
	nodes := map[string]*node{}
	nodeOf := map[string]string{} // resource URN → node id
	add := func(id, cluster, label string, rs []plan.FileResource) {
		nodes[id] = &node{id: id, cluster: cluster, label: label, resources: rs}
		for _, r := range rs {
			nodeOf[r.URN] = id
		}
	}
	type group struct {
		comp plan.FileResource
		k    kind
	}
	groups := map[string][]plan.FileResource{}
	children := map[string][]plan.FileResource{} // component URN → its resources
	for _, r := range f.Resources {
		if comp, ok := componentOf(r); ok {
			children[comp.URN] = append(children[comp.URN], r)
		}
	}
	groupInfo := map[string]group{}
	for _, r := range f.Resources {
		comp, ok := componentOf(r)
		if !ok {
			continue
		}
		for _, k := range kinds {
			if k.component != comp.Type || k.typ != r.Type {
				continue
			}
			gid := comp.Name + "/" + k.key
			if k.typ == "aws:ec2/subnet:Subnet" {
				gid += "/" + tier(r)
			}
			if k.each {
				gid += "/" + r.Name
			}
			groups[gid] = append(groups[gid], r)
			groupInfo[gid] = group{comp, k}
		}
	}
	for gid, rs := range groups {
		g := groupInfo[gid]
		sort.Slice(rs, func(i, j int) bool { return rs[i].URN < rs[j].URN })
		var label string
		if g.k.typ == "aws:ec2/subnet:Subnet" {
			var cidrs []string
			for _, r := range rs {
				cidrs = append(cidrs, str(r, "cidrBlock"))
			}
			label = fmt.Sprintf("%s subnets ×%d\n%s", tier(rs[0]), len(rs), strings.Join(cidrs, "\n"))
		} else {
			label = g.k.label(rs, children[g.comp.URN])
			if g.k.each {
				label = strings.Replace(label, "\n", " "+suffix(rs[0].Name)+"\n", 1)
			}
		}
		add(gid, clusterOf[g.comp.Type], label, rs)
	}

	edges := map[[2]string]*edge{}
	link := func(from, to, label string, data bool) {
		if from == "" || to == "" || from == to {
			return
		}
		e, ok := edges[[2]string{from, to}]
		if !ok {
			e = &edge{from: from, to: to}
			edges[[2]string{from, to}] = e
		}
		if data {
			e.data = true
		}
		if label != "" && !contains(e.labels, label) {
			e.labels = append(e.labels, label)
		}
	}

	// References: a string input that is another resource's mock ID or
	// ARN. An undrawn resource stands for the drawn one that references it
	// (the broker's network interface for its instance, a subnet group for
	// the database), one hop.
	ids := map[string]string{}    // mock ID → URN
	arns := map[string][]string{} // "<service>|<name>" → URNs (the mock's ARNs: arn:aws:<service>:<region>:<account>:<name>)
	for _, r := range f.Resources {
		if strings.HasPrefix(r.Type, "hookline:") || strings.HasPrefix(r.Type, "pulumi:") {
			continue
		}
		ids[plan.MockID(r.Type, r.Name)] = r.URN
		if parts := strings.Split(r.Type, ":"); len(parts) == 3 {
			k := strings.SplitN(parts[1], "/", 2)[0] + "|" + r.Name
			arns[k] = append(arns[k], r.URN)
		}
	}
	// byARN is the one resource an ARN names; where several of a service
	// share a name (an ECS cluster, service and task definition), the one
	// drawn, if only one is; never the resource that holds the ARN.
	byARN := func(s, self string) (string, bool) {
		parts := strings.SplitN(s, ":", 6)
		if len(parts) != 6 || parts[0] != "arn" {
			return "", false
		}
		var cands []string
		for _, u := range arns[parts[2]+"|"+strings.TrimSuffix(parts[5], ":*")] {
			if u != self {
				cands = append(cands, u)
			}
		}
		if len(cands) == 1 {
			return cands[0], true
		}
		var drawn []string
		for _, u := range cands {
			if _, ok := nodeOf[u]; ok {
				drawn = append(drawn, u)
			}
		}
		if len(drawn) == 1 {
			return drawn[0], true
		}
		return "", false
	}
	refs := func(r plan.FileResource) []string {
		var out []string
		walk(r.Inputs, func(s string) {
			u, ok := ids[s]
			if !ok {
				u, ok = byARN(s, r.URN)
			}
			if ok && u != r.URN {
				out = append(out, u)
			}
		})
		return out
	}
	reach := map[string][]string{} // node → resources it references, directly or through an undrawn one
	for _, n := range sortedNodes(nodes) {
		for _, r := range n.resources {
			for _, u := range refs(r) {
				reach[n.id] = append(reach[n.id], u)
				if _, drawn := nodeOf[u]; !drawn {
					reach[n.id] = append(reach[n.id], refs(byURN[u])...)
				}
			}
		}
	}

	// Security groups: which nodes each holds, then the data path from
	// its ingress rules.
	members := map[string][]string{} // security group URN → node ids
	for _, n := range sortedNodes(nodes) {
		for _, u := range reach[n.id] {
			if byURN[u].Type == "aws:ec2/securityGroup:SecurityGroup" && !contains(members[u], n.id) {
				members[u] = append(members[u], n.id)
			}
		}
	}
	var nat string
	for _, n := range sortedNodes(nodes) {
		if strings.HasSuffix(n.id, "/nat") {
			nat = n.id
		}
	}
	for _, r := range f.Resources {
		switch r.Type {
		case "aws:vpc/securityGroupIngressRule:SecurityGroupIngressRule":
			to, from := ids[str(r, "securityGroupId")], ids[str(r, "referencedSecurityGroupId")]
			for _, a := range members[from] {
				for _, b := range members[to] {
					link(a, b, port(r), true)
				}
			}
		case "aws:vpc/securityGroupEgressRule:SecurityGroupEgressRule":
			if str(r, "cidrIpv4") == "0.0.0.0/0" {
				for _, a := range members[ids[str(r, "securityGroupId")]] {
					link(a, nat, port(r), true)
				}
			}
		}
	}

	// The way in: Cloudflare's proxied records name the API's custom
	// domains (d-<domain resource>.execute-api…), each mapped to the API,
	// whose integration invokes the receiver.
	domainByName := map[string]string{}
	for _, r := range f.Resources {
		if r.Type == "aws:apigatewayv2/domainName:DomainName" {
			domainByName[r.Name] = r.URN
		}
	}
	for _, r := range f.Resources {
		switch r.Type {
		case "cloudflare:index/record:Record":
			target := str(r, "content")
			if i := strings.Index(target, ".execute-api."); strings.HasPrefix(target, "d-") && i > 0 {
				link(nodeOf[r.URN], nodeOf[domainByName[target[2:i]]], "HTTPS + X-Origin-Verify", true)
			}
		case "aws:apigatewayv2/apiMapping:ApiMapping":
			link(nodeOf[ids[str(r, "domainName")]], nodeOf[ids[str(r, "apiId")]], "", true)
		case "aws:apigatewayv2/integration:Integration":
			if u, ok := byARN(str(r, "integrationUri"), r.URN); ok {
				link(nodeOf[ids[str(r, "apiId")]], nodeOf[u], "invoke", true)
			}
		}
	}

	// The way in and out of the VPC.
	add("sender", "", "webhook sender", nil)
	add("internet", "", "internet\n(callbacks, AWS APIs)", nil)
	for _, n := range sortedNodes(nodes) {
		switch {
		case strings.HasSuffix(n.id, "/dns"):
			link("sender", n.id, "HTTPS", true)
		case strings.HasSuffix(n.id, "/igw"):
			link(nat, n.id, "", true)
			link(n.id, "internet", "", true)
		}
	}

	// Everything else a drawn resource references, between components'
	// nodes: what depends on what. Subnets and the VPC are referenced by
	// nearly everything: drawn as placement for the workloads and stores
	// only (their own tier), not as one arrow per resource.
	for _, n := range sortedNodes(nodes) {
		for _, u := range reach[n.id] {
			to, ok := nodeOf[u]
			if !ok || to == n.id {
				continue
			}
			if strings.HasSuffix(to, "/vpc") || strings.HasSuffix(n.id, "/vpc") {
				continue
			}
			if _, exists := edges[[2]string{n.id, to}]; exists {
				continue
			}
			if _, back := edges[[2]string{to, n.id}]; back {
				continue
			}
			link(n.id, to, "", false)
		}
	}

	return render(f, nodes, edges), nil
}

func suffix(name string) string {
	if i := strings.LastIndex(name, "-"); i >= 0 {
		return name[i+1:]
	}
	return name
}

func port(r plan.FileResource) string {
	from, to := str(r, "fromPort"), str(r, "toPort")
	p := from
	if to != from {
		p = from + "-" + to
	}
	if name, ok := portNames[p]; ok {
		return p + " " + name
	}
	return p
}

var portNames = map[string]string{
	"443": "HTTPS", "3306": "MySQL TLS", "5671": "AMQPS", "6379": "Redis TLS",
	"15691": "metrics TLS", "15671": "management TLS", "4369": "epmd", "25672": "cluster", "35672-35682": "CLI",
}

func contains(list []string, s string) bool {
	for _, x := range list {
		if x == s {
			return true
		}
	}
	return false
}

func walk(v any, fn func(string)) {
	switch x := v.(type) {
	case string:
		fn(x)
	case map[string]any:
		keys := make([]string, 0, len(x))
		for k := range x {
			keys = append(keys, k)
		}
		sort.Strings(keys)
		for _, k := range keys {
			walk(x[k], fn)
		}
	case []any:
		for _, e := range x {
			walk(e, fn)
		}
	}
}

func sortedNodes(nodes map[string]*node) []*node {
	out := make([]*node, 0, len(nodes))
	for _, n := range nodes {
		out = append(out, n)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].id < out[j].id })
	return out
}

func quote(s string) string {
	return `"` + strings.NewReplacer(`\`, `\\`, `"`, `\"`, "\n", `\n`).Replace(s) + `"`
}

func render(f plan.File, nodes map[string]*node, edges map[[2]string]*edge) []byte {
	var b bytes.Buffer
	fmt.Fprintf(&b, "// Generated by make topology (infra/plan/topology) from the offline plan of stack %s; edit the program, not this file.\n", f.Stack)
	b.WriteString("digraph hookline {\n")
	fmt.Fprintf(&b, "  graph [rankdir=LR, fontname=\"Helvetica\", fontsize=12, labelloc=t, label=%s, nodesep=0.25, ranksep=0.6];\n",
		quote(fmt.Sprintf("hookline %s: %d resources (offline plan); solid: data path with ports, dashed: references", f.Stack, len(f.Resources))))
	b.WriteString("  node [shape=box, style=\"rounded,filled\", fillcolor=white, fontname=\"Helvetica\", fontsize=10];\n")
	b.WriteString("  edge [fontname=\"Helvetica\", fontsize=9];\n")
	for _, n := range sortedNodes(nodes) {
		if n.cluster == "" {
			fmt.Fprintf(&b, "  %s [label=%s, shape=ellipse, fillcolor=\"#eeeeee\"];\n", quote(n.id), quote(n.label))
		}
	}
	for _, c := range Clusters {
		var in []*node
		for _, n := range sortedNodes(nodes) {
			if n.cluster == c.Name {
				in = append(in, n)
			}
		}
		if len(in) == 0 {
			continue
		}
		fmt.Fprintf(&b, "  subgraph %s {\n", quote("cluster_"+c.Name))
		fmt.Fprintf(&b, "    label=%s; style=\"rounded,filled\"; fillcolor=%s; color=\"#999999\";\n", quote(c.Name), quote(colors[c.Name]))
		for _, n := range in {
			fmt.Fprintf(&b, "    %s [label=%s];\n", quote(n.id), quote(n.label))
		}
		b.WriteString("  }\n")
	}
	keys := make([][2]string, 0, len(edges))
	for k := range edges {
		keys = append(keys, k)
	}
	sort.Slice(keys, func(i, j int) bool {
		if keys[i][0] != keys[j][0] {
			return keys[i][0] < keys[j][0]
		}
		return keys[i][1] < keys[j][1]
	})
	for _, k := range keys {
		e := edges[k]
		sort.Strings(e.labels)
		attrs := []string{}
		if len(e.labels) > 0 {
			attrs = append(attrs, "label="+quote(strings.Join(e.labels, "\n")))
		}
		if e.data {
			attrs = append(attrs, "penwidth=1.6")
		} else {
			attrs = append(attrs, "style=dashed", "color=\"#888888\"", "arrowsize=0.6")
		}
		fmt.Fprintf(&b, "  %s -> %s [%s];\n", quote(e.from), quote(e.to), strings.Join(attrs, ", "))
	}
	b.WriteString("}\n")
	return b.Bytes()
}

var colors = map[string]string{
	"edge": "#fdf1e4", "network": "#eef3fb", "compute": "#eef8ee", "broker": "#fbeef3",
	"database": "#f3eefb", "cache": "#fbf9e6", "alarms": "#f4f4f4",
}
