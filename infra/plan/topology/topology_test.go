package topology_test

import (
	"math/rand"
	"strings"
	"testing"

	"github.com/hookline/hookline/infra/plan"
	"github.com/hookline/hookline/infra/plan/topology"
)

// small is a plan with a receiver and a broker node whose security groups
// admit the receiver on 5671, the shape of the real one.
func small() plan.File {
	urn := func(typ, name string) string { return "urn:pulumi:t::hookline::" + typ + "::" + name }
	res := func(typ, name, parent string, inputs map[string]any) plan.FileResource {
		p := ""
		if parent != "" {
			p = urn("hookline:"+parent, strings.SplitN(name, "-", 2)[0])
		}
		return plan.FileResource{URN: urn(typ, name), Type: typ, Name: name, Parent: p, Inputs: inputs}
	}
	return plan.File{Project: "hookline", Stack: "t", Resources: []plan.FileResource{
		res("hookline:receiver:Function", "r", "", nil),
		res("hookline:broker:RabbitMQ", "b", "", nil),
		res("hookline:security:Groups", "s", "", nil),
		res("aws:lambda/function:Function", "r-fn", "receiver:Function", map[string]any{
			"memorySize": 256.0,
			"vpcConfig":  map[string]any{"securityGroupIds": []any{"securitygroup-s-receiver"}},
		}),
		res("aws:ec2/networkInterface:NetworkInterface", "b-eni-0", "broker:RabbitMQ", map[string]any{
			"securityGroups": []any{"securitygroup-s-broker"},
		}),
		res("aws:ec2/instance:Instance", "b-0", "broker:RabbitMQ", map[string]any{
			"instanceType":      "t4g.small",
			"networkInterfaces": []any{map[string]any{"networkInterfaceId": "networkinterface-b-eni-0"}},
		}),
		res("aws:ec2/securityGroup:SecurityGroup", "s-receiver", "security:Groups", nil),
		res("aws:ec2/securityGroup:SecurityGroup", "s-broker", "security:Groups", nil),
		res("aws:vpc/securityGroupIngressRule:SecurityGroupIngressRule", "s-broker-from-receiver-5671", "security:Groups", map[string]any{
			"securityGroupId":           "securitygroup-s-broker",
			"referencedSecurityGroupId": "securitygroup-s-receiver",
			"fromPort":                  5671.0, "toPort": 5671.0,
		}),
	}}
}

func TestDataPathFromSecurityGroupRules(t *testing.T) {
	t.Parallel()
	dot, err := topology.DOT(small())
	if err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{
		`subgraph "cluster_compute"`,
		`"r/lambda" [label="receiver Lambda\n256 MiB, arm64"];`,
		`subgraph "cluster_broker"`,
		`"b/node/b-0" [label="RabbitMQ node 0\nt4g.small"];`,
		`"r/lambda" -> "b/node/b-0" [label="5671 AMQPS", penwidth=1.6];`,
	} {
		if !strings.Contains(string(dot), want) {
			t.Errorf("DOT lacks %s:\n%s", want, dot)
		}
	}
	// Without the rule there is no data path between them.
	f := small()
	f.Resources = f.Resources[:len(f.Resources)-1]
	dot, err = topology.DOT(f)
	if err != nil {
		t.Fatal(err)
	}
	if strings.Contains(string(dot), `"r/lambda" -> "b/node/b-0"`) {
		t.Errorf("an arrow without the security group rule:\n%s", dot)
	}
}

func TestSameWhateverTheOrder(t *testing.T) {
	t.Parallel()
	want, err := topology.DOT(small())
	if err != nil {
		t.Fatal(err)
	}
	for seed := int64(1); seed <= 5; seed++ {
		f := small()
		rand.New(rand.NewSource(seed)).Shuffle(len(f.Resources), func(i, j int) {
			f.Resources[i], f.Resources[j] = f.Resources[j], f.Resources[i]
		})
		got, err := topology.DOT(f)
		if err != nil {
			t.Fatal(err)
		}
		if string(got) != string(want) {
			t.Fatalf("seed %d: a reordered plan draws another picture:\n%s\nwant\n%s", seed, got, want)
		}
	}
}

func TestUnknownComponentRefused(t *testing.T) {
	t.Parallel()
	f := small()
	f.Resources = append(f.Resources, plan.FileResource{URN: "urn:pulumi:t::hookline::hookline:queue:Sqs::q", Type: "hookline:queue:Sqs", Name: "q"})
	if _, err := topology.DOT(f); err == nil || !strings.Contains(err.Error(), "hookline:queue:Sqs is in no cluster") {
		t.Fatalf("DOT with an unplaced component = %v, want it refused by name", err)
	}
}
