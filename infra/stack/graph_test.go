package stack_test

import (
	"sync"
	"testing"

	"github.com/hookline/hookline/infra/config"
	"github.com/hookline/hookline/infra/plan"
	"github.com/hookline/hookline/infra/stack"
)

// variant is a stack run offline: a shipped stack file, optionally edited.
type variant struct {
	name     string // test name
	stack    string // Pulumi.<stack>.yaml
	override map[string]string
}

// shipped are the stacks the repository ships, plus prod with the
// three-node broker that broker.nodes: 3 asks for.
var shipped = []variant{
	{name: "dev", stack: "dev"},
	{name: "prod", stack: "prod"},
	{name: "prod-cluster", stack: "prod", override: map[string]string{
		"hookline:broker": `{"nodes":3,"instanceType":"m7g.large","dataVolumeGiB":100}`,
	}},
}

var (
	runsMu sync.Mutex
	runs   = map[string]*plan.Result{}
)

// run runs the program for a variant once per test binary.
func run(t *testing.T, v variant) *plan.Result {
	t.Helper()
	runsMu.Lock()
	defer runsMu.Unlock()
	if r, ok := runs[v.name]; ok {
		return r
	}
	root, err := config.FindRoot(".")
	if err != nil {
		t.Fatal(err)
	}
	r, err := plan.Run(stack.Program, plan.Options{Root: root, Stack: v.stack, Override: v.override})
	if err != nil {
		t.Fatalf("%s: %v", v.name, err)
	}
	runs[v.name] = r
	return r
}

// forEachStack runs fn as a subtest per shipped variant.
func forEachStack(t *testing.T, fn func(t *testing.T, v variant, r *plan.Result)) {
	for _, v := range shipped {
		t.Run(v.name, func(t *testing.T) { fn(t, v, run(t, v)) })
	}
}

// subnetsByTier maps subnet ID → its tier tag and AZ.
type subnetInfo struct{ tier, az, cidr string }

func subnets(r *plan.Result) map[string]subnetInfo {
	out := map[string]subnetInfo{}
	for _, s := range r.OfType("aws:ec2/subnet:Subnet") {
		out[s.ID()] = subnetInfo{s.Str("tags", "tier"), s.Str("availabilityZone"), s.Str("cidrBlock")}
	}
	return out
}

func tierIDs(r *plan.Result, tier string) map[string]bool {
	out := map[string]bool{}
	for id, s := range subnets(r) {
		if s.tier == tier {
			out[id] = true
		}
	}
	return out
}
