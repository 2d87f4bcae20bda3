package stack_test

import (
	"fmt"
	"sort"
	"strings"
	"testing"

	"github.com/hookline/hookline/infra/config"
	"github.com/hookline/hookline/infra/plan"
	"github.com/hookline/hookline/infra/stack"
)

// The security group graph, edge by edge: every rule the stack declares,
// written as "from -> to port", must be in this list and every listed edge
// must be declared on both ends. Internet egress is HTTPS only; nothing is
// admitted from 0.0.0.0/0 or ::/0; port 22 is open nowhere.
func TestSecurityGroupGraph(t *testing.T) {
	base := []string{
		"receiver -> broker 5671",
		"processor -> broker 5671",
		"processor -> broker 15691",
		"processor -> broker 15671",
		"processor -> database 3306",
		"processor -> cache 6379",
		"receiver -> endpoints 443",
		"processor -> endpoints 443",
		"broker -> endpoints 443",
	}
	cluster := []string{
		"broker -> broker 5671",
		"broker -> broker 4369",
		"broker -> broker 25672",
		"broker -> broker 35672-35682",
	}
	internet := []string{"receiver -> 0.0.0.0/0 443", "processor -> 0.0.0.0/0 443", "broker -> 0.0.0.0/0 443"}
	want := map[string][]string{
		"dev":          base,
		"prod":         base,
		"prod-cluster": append(append([]string{}, base...), cluster...),
	}
	forEachStack(t, func(t *testing.T, v variant, r *plan.Result) {
		role := map[string]string{}
		for _, sg := range r.OfType("aws:ec2/securityGroup:SecurityGroup") {
			role[sg.ID()] = sg.Str("tags", "role")
			if sg.Has("ingress") || sg.Has("egress") {
				t.Errorf("group %s has inline rules; each rule is its own resource here", sg.Name)
			}
			if sg.Str("description") == "" {
				t.Errorf("group %s has no description", sg.Name)
			}
		}
		if got := sortedValues(role); strings.Join(got, ",") != "broker,cache,database,endpoints,processor,receiver" {
			t.Fatalf("roles %v; want one group each for broker, cache, database, endpoints, processor, receiver", got)
		}

		ingress, egress, out := map[string]int{}, map[string]int{}, map[string]int{}
		check := func(kind string, rule plan.Resource) (string, bool) {
			from, to := rule.Int("fromPort"), rule.Int("toPort")
			if rule.Str("ipProtocol") != "tcp" {
				t.Errorf("%s rule %s: protocol %q; want tcp", kind, rule.Name, rule.Str("ipProtocol"))
			}
			if from <= 22 && 22 <= to {
				t.Errorf("%s rule %s opens port 22", kind, rule.Name)
			}
			ports := fmt.Sprint(from)
			if to != from {
				ports += fmt.Sprintf("-%d", to)
			}
			return ports, rule.Has("referencedSecurityGroupId")
		}
		for _, rule := range r.OfType("aws:vpc/securityGroupIngressRule:SecurityGroupIngressRule") {
			ports, ref := check("ingress", rule)
			if !ref || rule.Has("cidrIpv4") || rule.Has("cidrIpv6") || rule.Has("prefixListId") {
				t.Errorf("ingress rule %s admits %q%q%q; want only another security group", rule.Name, rule.Str("cidrIpv4"), rule.Str("cidrIpv6"), rule.Str("prefixListId"))
				continue
			}
			ingress[fmt.Sprintf("%s -> %s %s", role[rule.Str("referencedSecurityGroupId")], role[rule.Str("securityGroupId")], ports)]++
		}
		for _, rule := range r.OfType("aws:vpc/securityGroupEgressRule:SecurityGroupEgressRule") {
			ports, ref := check("egress", rule)
			switch {
			case ref:
				egress[fmt.Sprintf("%s -> %s %s", role[rule.Str("securityGroupId")], role[rule.Str("referencedSecurityGroupId")], ports)]++
			case rule.Str("cidrIpv4") == "0.0.0.0/0" && !rule.Has("cidrIpv6"):
				out[fmt.Sprintf("%s -> 0.0.0.0/0 %s", role[rule.Str("securityGroupId")], ports)]++
			default:
				t.Errorf("egress rule %s to %q%q", rule.Name, rule.Str("cidrIpv4"), rule.Str("cidrIpv6"))
			}
		}
		for _, legacy := range r.OfType("aws:ec2/securityGroupRule:SecurityGroupRule") {
			t.Errorf("legacy rule %s; use the per-direction rule resources", legacy.Name)
		}
		for _, d := range r.OfType("aws:ec2/defaultSecurityGroup:DefaultSecurityGroup") {
			if d.Has("ingress") || d.Has("egress") {
				t.Errorf("default security group %s allows traffic", d.Name)
			}
		}
		if len(r.OfType("aws:ec2/defaultSecurityGroup:DefaultSecurityGroup")) != 1 {
			t.Errorf("the VPC's default security group is not taken over (it would allow all traffic between its members)")
		}

		expect := map[string]bool{}
		for _, e := range want[v.name] {
			expect[e] = true
			if ingress[e] != 1 || egress[e] != 1 {
				t.Errorf("edge %q: %d ingress, %d egress rules; want exactly one of each", e, ingress[e], egress[e])
			}
		}
		for e := range ingress {
			if !expect[e] {
				t.Errorf("unexpected ingress edge %q", e)
			}
		}
		for e := range egress {
			if !expect[e] {
				t.Errorf("unexpected egress edge %q", e)
			}
		}
		if got := sortedKeys(out); strings.Join(got, "|") != strings.Join(sorted(internet), "|") {
			t.Errorf("internet egress %v; want %v", got, sorted(internet))
		}
	})
}

func sortedValues(m map[string]string) []string {
	var out []string
	for _, v := range m {
		out = append(out, v)
	}
	sort.Strings(out)
	return out
}

func sortedKeys(m map[string]int) []string {
	var out []string
	for k := range m {
		out = append(out, k)
	}
	sort.Strings(out)
	return out
}

func sorted(s []string) []string {
	out := append([]string(nil), s...)
	sort.Strings(out)
	return out
}

// The broker's Prometheus port (15691, rabbitmq_prometheus over TLS)
// admits only the collector (the processor group) unless
// broker.prometheusSources names more: then exactly one ingress rule per
// source on the broker group, a CIDR as cidrIpv4 and a group id as the
// referenced group, on 15691 only, and no egress rule for them (the
// source's owner declares its own). Plaintext 15692 stays closed.
func TestBrokerPrometheusSources(t *testing.T) {
	root, err := config.FindRoot(".")
	if err != nil {
		t.Fatal(err)
	}
	sources := []string{"10.99.0.0/16", "sg-0123456789abcdef0"}
	for _, tc := range []struct {
		name string
		set  []string
		want []string // "cidr 10.99.0.0/16", "group sg-…"
	}{
		{"default", nil, nil},
		{"two sources", []string{`hookline:broker.prometheusSources=["10.99.0.0/16","sg-0123456789abcdef0"]`}, []string{"cidr " + sources[0], "group " + sources[1]}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			r, err := plan.Run(stack.Program, plan.Options{Root: root, Stack: "prod", Set: tc.set})
			if err != nil {
				t.Fatal(err)
			}
			groups := map[string]string{} // id → role
			for _, sg := range r.OfType("aws:ec2/securityGroup:SecurityGroup") {
				groups[sg.ID()] = sg.Str("tags", "role")
			}
			var got []string
			collector := 0
			for _, rule := range r.OfType("aws:vpc/securityGroupIngressRule:SecurityGroupIngressRule") {
				from, to := rule.Int("fromPort"), rule.Int("toPort")
				if from <= 15692 && 15692 <= to {
					t.Errorf("%s opens plaintext Prometheus 15692", rule.Name)
				}
				if from > 15691 || to < 15691 {
					continue
				}
				if groups[rule.Str("securityGroupId")] != "broker" || from != to || rule.Str("ipProtocol") != "tcp" {
					t.Errorf("%s: 15691 rule on %s, ports %d-%d, %s; want tcp 15691 on the broker", rule.Name, groups[rule.Str("securityGroupId")], from, to, rule.Str("ipProtocol"))
				}
				ref := rule.Str("referencedSecurityGroupId")
				switch {
				case groups[ref] == "processor":
					collector++
				case ref != "" && !rule.Has("cidrIpv4"):
					got = append(got, "group "+ref)
				case rule.Has("cidrIpv4") && ref == "":
					got = append(got, "cidr "+rule.Str("cidrIpv4"))
				default:
					t.Errorf("%s: source %q / %q", rule.Name, ref, rule.Str("cidrIpv4"))
				}
				if !strings.Contains(rule.Str("description"), "Prometheus") && groups[ref] != "processor" {
					t.Errorf("%s: description %q does not say what it is for", rule.Name, rule.Str("description"))
				}
			}
			if collector != 1 {
				t.Errorf("%d rules from the processor (the collector) to 15691; want 1", collector)
			}
			if strings.Join(sorted(got), "|") != strings.Join(sorted(tc.want), "|") {
				t.Errorf("extra Prometheus sources %v; want %v", got, tc.want)
			}
			for _, rule := range r.OfType("aws:vpc/securityGroupEgressRule:SecurityGroupEgressRule") {
				if rule.Int("fromPort") == 15691 && groups[rule.Str("securityGroupId")] != "processor" {
					t.Errorf("egress rule %s to 15691 from %s; only the collector's own", rule.Name, groups[rule.Str("securityGroupId")])
				}
			}
		})
	}
}
