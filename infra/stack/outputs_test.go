package stack_test

import (
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"sort"
	"strings"
	"testing"

	"github.com/pulumi/pulumi/sdk/v3/go/pulumi"

	"github.com/hookline/hookline/infra/config"
	"github.com/hookline/hookline/infra/plan"
	"github.com/hookline/hookline/infra/stack"
)

// exported are the output names the program exports for a stack run
// offline.
func exported(t *testing.T, opt plan.Options) []string {
	t.Helper()
	var names []string
	_, err := plan.Run(func(ctx *pulumi.Context) error {
		cfg, err := config.Load(ctx)
		if err != nil {
			return err
		}
		p, err := stack.Build(ctx, cfg)
		if err != nil {
			return err
		}
		for _, o := range p.Outputs() {
			names = append(names, o.Name)
		}
		return nil
	}, opt)
	if err != nil {
		t.Fatal(err)
	}
	return names
}

// outputsTable is the first column of docs/outputs.md's table.
func outputsTable(t *testing.T, root string) []string {
	t.Helper()
	doc, err := os.ReadFile(filepath.Join(root, "docs", "outputs.md"))
	if err != nil {
		t.Fatal(err)
	}
	row := regexp.MustCompile("(?m)^\\| `([A-Za-z0-9]+)` \\|")
	var out []string
	for _, m := range row.FindAllStringSubmatch(string(doc), -1) {
		out = append(out, m[1])
	}
	return out
}

// nameProblems says what is wrong with a set of output names against the
// documented table: a name used twice, one that breaks the
// <component><Thing><Suffix> rule, one the table lacks, a row the program
// does not export.
func nameProblems(names, table []string) []string {
	var problems []string
	shape := regexp.MustCompile(`^(` + strings.Join(stack.OutputPrefixes, "|") + `)((?:[A-Z][a-z0-9]*)*?)(` + strings.Join(stack.OutputSuffixes, "|") + `)$`)
	seen := map[string]bool{}
	for _, n := range names {
		if seen[n] {
			problems = append(problems, n+": exported twice")
		}
		seen[n] = true
		if !shape.MatchString(n) {
			problems = append(problems, fmt.Sprintf("%s: not <component><Thing><Suffix> with a component of %v and a suffix of %v", n, stack.OutputPrefixes, stack.OutputSuffixes))
		}
		if !slices.Contains(table, n) {
			problems = append(problems, n+": not described in docs/outputs.md")
		}
	}
	for _, n := range table {
		if !seen[n] {
			problems = append(problems, n+": in docs/outputs.md but not exported")
		}
	}
	sort.Strings(problems)
	return problems
}

// TestOutputNames: every output the shipped stacks export follows the
// naming rule and is described in docs/outputs.md, and the table names no
// output that does not exist.
func TestOutputNames(t *testing.T) {
	root, err := config.FindRoot(".")
	if err != nil {
		t.Fatal(err)
	}
	var all []string
	for _, v := range shipped {
		for _, n := range exported(t, plan.Options{Root: root, Stack: v.stack, Override: v.override}) {
			if !slices.Contains(all, n) {
				all = append(all, n)
			}
		}
	}
	// A stack with hookline:logs adds the shipper's; the shipped ones do not.
	for _, n := range all {
		if strings.HasPrefix(n, "logship") {
			t.Errorf("%s exported without hookline:logs", n)
		}
	}
	for _, v := range logshipOn {
		for _, n := range exported(t, plan.Options{Root: root, Stack: v.stack, Override: v.override}) {
			if !slices.Contains(all, n) {
				all = append(all, n)
			}
		}
	}
	// A stack without the edge exports a subset: nothing of the edge's.
	for _, n := range exported(t, plan.Options{Root: root, Stack: "dev", Omit: []string{"hookline:edge"}}) {
		if strings.HasPrefix(n, "edge") {
			t.Errorf("%s exported without hookline:edge", n)
		}
	}
	if p := nameProblems(all, outputsTable(t, root)); len(p) > 0 {
		t.Errorf("stack outputs:\n  %s", strings.Join(p, "\n  "))
	}
	// What the scripts, docs and dashboards read as `stack output <name>`
	// exists (docs/decisions.md keeps the old names as history).
	for _, ref := range outputReferences(t, root) {
		if !slices.Contains(all, ref.name) {
			t.Errorf("%s reads stack output %s, which the program does not export", ref.file, ref.name)
		}
	}
}

type outputRef struct{ file, name string }

// outputReferences are the camelCase names after "stack output" in the
// repository's scripts, docs, workflows and dashboards.
func outputReferences(t *testing.T, root string) []outputRef {
	t.Helper()
	pattern := regexp.MustCompile(`stack output ([a-z]+[A-Z][A-Za-z0-9]*)`)
	var refs []outputRef
	for _, dir := range []string{"docs", "scripts", ".github", "dashboards", "infra"} {
		err := filepath.WalkDir(filepath.Join(root, dir), func(path string, d os.DirEntry, err error) error {
			if err != nil || d.IsDir() {
				return err
			}
			switch filepath.Ext(path) {
			case ".md", ".sh", ".yml", ".yaml", ".json":
			default:
				return nil
			}
			if filepath.Base(path) == "decisions.md" {
				return nil
			}
			b, err := os.ReadFile(path)
			if err != nil {
				return err
			}
			rel, _ := filepath.Rel(root, path)
			for _, m := range pattern.FindAllStringSubmatch(string(b), -1) {
				refs = append(refs, outputRef{rel, m[1]})
			}
			return nil
		})
		if err != nil {
			t.Fatal(err)
		}
	}
	b, err := os.ReadFile(filepath.Join(root, "README.md"))
	if err != nil {
		t.Fatal(err)
	}
	for _, m := range pattern.FindAllStringSubmatch(string(b), -1) {
		refs = append(refs, outputRef{"README.md", m[1]})
	}
	return refs
}

// TestOutputNameRuleCatchesOldNames proves the check above fails: the
// names this rule replaced, and an output the table lacks or a row
// without an output, are each reported.
func TestOutputNameRuleCatchesOldNames(t *testing.T) {
	table := []string{"brokerUrl", "databaseEndpoint", "cacheEndpoint", "alarmsTopicArn"}
	cases := []struct {
		names []string
		want  string
	}{
		{[]string{"brokerUrl", "databaseEndpoint", "cacheEndpoint", "alarmsTopicArn", "rabbitmqHost"}, "rabbitmqHost: not <component><Thing><Suffix>"},
		{[]string{"brokerUrl", "databaseEndpoint", "cacheEndpoint", "alarmsTopicArn", "databaseAddress"}, "databaseAddress: not <component><Thing><Suffix>"},
		{[]string{"brokerUrl", "databaseEndpoint", "cacheEndpoint", "alarmsTopicArn", "alarmsTopicArn"}, "alarmsTopicArn: exported twice"},
		{[]string{"brokerUrl", "databaseEndpoint", "cacheEndpoint", "alarmsTopicArn", "cacheAuthSecretArn"}, "cacheAuthSecretArn: not described in docs/outputs.md"},
		{[]string{"brokerUrl", "databaseEndpoint", "alarmsTopicArn"}, "cacheEndpoint: in docs/outputs.md but not exported"},
		{[]string{"brokerUrl", "databaseEndpoint", "cacheEndpoint", "alarmsTopicArn", "processorLogGroup"}, "processorLogGroup: not <component><Thing><Suffix>"},
	}
	for _, c := range cases {
		p := nameProblems(c.names, table)
		if !slices.ContainsFunc(p, func(s string) bool { return strings.HasPrefix(s, c.want) }) {
			t.Errorf("names %v: problems %v; want one starting %q", c.names, p, c.want)
		}
	}
	if p := nameProblems(table, table); len(p) > 0 {
		t.Errorf("a clean set reports %v", p)
	}
}
