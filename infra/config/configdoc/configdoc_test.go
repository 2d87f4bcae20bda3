package configdoc_test

import (
	"bytes"
	"maps"
	"os"
	"path/filepath"
	"slices"
	"sort"
	"strings"
	"testing"

	"github.com/hookline/hookline/infra/config"
	"github.com/hookline/hookline/infra/config/configdoc"
	"github.com/hookline/hookline/infra/plan"
)

func load(t *testing.T) (string, configdoc.Input) {
	t.Helper()
	root, err := config.FindRoot(".")
	if err != nil {
		t.Fatal(err)
	}
	in, err := configdoc.Load(root)
	if err != nil {
		t.Fatal(err)
	}
	return root, in
}

// TestCommittedTableIsCurrent is the staleness check: docs/config.md is
// exactly what the config types, their comments, the defaults and the
// stack files give today.
func TestCommittedTableIsCurrent(t *testing.T) {
	t.Parallel()
	root, in := load(t)
	got, err := configdoc.Render(in)
	if err != nil {
		t.Fatal(err)
	}
	committed, err := os.ReadFile(filepath.Join(root, configdoc.Path))
	if err != nil {
		t.Fatal(err)
	}
	if d := configdoc.Diff(committed, got); d != "" {
		t.Fatalf("%s is stale; run `make config-doc` and commit it:\n%s", configdoc.Path, d)
	}
}

// TestStaleTableIsCaught proves the check above can fail: each change to
// an input the table is made of shows in the diff against the committed
// rendering, on the changed key's line.
func TestStaleTableIsCaught(t *testing.T) {
	t.Parallel()
	_, base := load(t)
	committed, err := configdoc.Render(base)
	if err != nil {
		t.Fatal(err)
	}
	cases := []struct {
		name   string
		mutate func(in *configdoc.Input)
		line   string // a line the diff must show
	}{
		{"a default", func(in *configdoc.Input) {
			c := in.Defaults["dev"]
			c.Processor.MaxTasks = 4
			in.Defaults["dev"] = c
		}, "+ | `hookline:processor.maxTasks` | integer | `4` |"},
		{"a stack value", func(in *configdoc.Input) {
			c := in.Stacks["prod"]
			c.Broker.Nodes = 3
			in.Stacks["prod"] = c
		}, "+ | `hookline:broker.nodes` | integer | `1` | `1` | `1` | `3` |"},
		{"a comment", func(in *configdoc.Input) {
			in.Sources["config.go"] = bytes.Replace(in.Sources["config.go"],
				[]byte("// retention of the VPC flow log group"), []byte("// days the VPC flow logs are kept"), 1)
		}, "days the VPC flow logs are kept |"},
		{"an edge default", func(in *configdoc.Input) {
			in.Defaults["prod"].Edge.ThrottleBurst = 3000
		}, "+ | `hookline:edge.throttleBurst` | integer | `100` | `3000` |"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			_, in := load(t)
			c.mutate(&in)
			got, err := configdoc.Render(in)
			if err != nil {
				t.Fatal(err)
			}
			d := configdoc.Diff(committed, got)
			if d == "" {
				t.Fatal("the changed input left the table as it was: the staleness check could not fail")
			}
			if !strings.Contains(d, c.line) {
				t.Fatalf("diff does not show %q:\n%s", c.line, d)
			}
		})
	}
}

// TestEveryKeyHasAMeaning: a field without a comment is refused by name,
// so no key reaches the table undescribed.
func TestEveryKeyHasAMeaning(t *testing.T) {
	t.Parallel()
	_, in := load(t)
	in.Sources["config.go"] = bytes.Replace(in.Sources["config.go"],
		[]byte("// the vhost the topology and the users live in"), nil, 1)
	_, err := configdoc.Render(in)
	if err == nil || !strings.Contains(err.Error(), "config.Broker.Vhost has no comment") {
		t.Fatalf("Render with an undescribed field = %v, want an error naming config.Broker.Vhost", err)
	}
}

func rows(t *testing.T, in configdoc.Input) []configdoc.Row {
	t.Helper()
	rs, err := configdoc.Rows(in)
	if err != nil {
		t.Fatal(err)
	}
	return rs
}

// topLevel is the table's keys that are read whole (not a field of an
// object), infra/config's only.
func topLevel(rs []configdoc.Row) []string {
	var out []string
	for _, r := range rs {
		external := slices.ContainsFunc(configdoc.External, func(e configdoc.ExternalKey) bool { return e.Key == r.Key })
		if !external && !strings.Contains(r.Key, ".") {
			out = append(out, r.Key)
		}
	}
	sort.Strings(out)
	return out
}

// TestParseReadsExactlyTheTable: the keys config.Parse asks Pulumi for are
// the table's, no more and no fewer, so a key read by hand in Parse but
// not tagged (or tagged and never read) fails here.
func TestParseReadsExactlyTheTable(t *testing.T) {
	t.Parallel()
	root, in := load(t)
	values, _, err := plan.StackConfig(plan.Options{Root: root, Stack: "prod"})
	if err != nil {
		t.Fatal(err)
	}
	asked := map[string]bool{}
	if _, err := config.Parse(config.Namespace, "prod", func(k string) (string, bool) {
		asked[k] = true
		v, ok := values[k]
		return v, ok
	}); err != nil {
		t.Fatal(err)
	}
	var read []string
	for k := range asked {
		read = append(read, k)
	}
	sort.Strings(read)
	if table := topLevel(rows(t, in)); !slices.Equal(read, table) {
		t.Fatalf("config.Parse reads\n  %v\nthe table lists\n  %v", read, table)
	}
}

// TestStackFilesSetOnlyTableKeys: a key a stack file sets that nothing
// reads (a typo such as hookline:netwrok) would be ignored by Pulumi and
// the program alike; here it fails.
func TestStackFilesSetOnlyTableKeys(t *testing.T) {
	t.Parallel()
	root, in := load(t)
	known := map[string]bool{}
	for _, r := range rows(t, in) {
		known[r.Key] = true
	}
	for _, s := range configdoc.Stacks {
		sf, err := config.ReadStackFile(root, s)
		if err != nil {
			t.Fatal(err)
		}
		keys := append(slices.Collect(maps.Keys(sf.Values)), sf.Secure...)
		for _, k := range keys {
			if !known[k] {
				t.Errorf("Pulumi.%s.yaml sets %s, which is not in %s (no code reads it)", s, k, configdoc.Path)
			}
		}
	}
}

// TestSecretKeysAreTaggedSecret: every key the offline plan replaces with
// a placeholder is marked secret in the table, so no secret shows a value.
func TestSecretKeysAreTaggedSecret(t *testing.T) {
	t.Parallel()
	_, in := load(t)
	types := map[string]string{}
	for _, r := range rows(t, in) {
		types[r.Key] = r.Type
	}
	for _, k := range config.SecretKeys {
		if !strings.HasSuffix(types[k], "(secret)") {
			t.Errorf("%s is a secret key but the table has it as %q", k, types[k])
		}
	}
}
