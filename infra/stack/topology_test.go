package stack_test

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/hookline/hookline/infra/config"
	"github.com/hookline/hookline/infra/plan/topology"
)

// The committed picture's source is what the prod plan draws today (make
// topology rewrites it and renders docs/topology.svg; the SVG is not
// compared, Graphviz versions lay it out differently).
func TestTopologyIsCurrent(t *testing.T) {
	root, err := config.FindRoot(".")
	if err != nil {
		t.Fatal(err)
	}
	committed, err := os.ReadFile(filepath.Join(root, topology.Path))
	if err != nil {
		t.Fatal(err)
	}
	got, err := topology.DOT(run(t, shipped[1]).File())
	if err != nil {
		t.Fatal(err)
	}
	if string(got) != string(committed) {
		t.Fatalf("%s is stale; run `make topology` and commit it and docs/topology.svg:\n%s", topology.Path, lineDiff(string(committed), string(got)))
	}
}

// TestTopologyStaleIsCaught proves the check above can fail: a plan with
// three broker nodes draws a picture other than the committed one, and the
// difference is the broker's nodes.
func TestTopologyStaleIsCaught(t *testing.T) {
	root, err := config.FindRoot(".")
	if err != nil {
		t.Fatal(err)
	}
	committed, err := os.ReadFile(filepath.Join(root, topology.Path))
	if err != nil {
		t.Fatal(err)
	}
	got, err := topology.DOT(run(t, shipped[2]).File()) // prod-cluster
	if err != nil {
		t.Fatal(err)
	}
	d := lineDiff(string(committed), string(got))
	if d == "" {
		t.Fatal("three broker nodes draw the committed picture: the staleness check could not fail")
	}
	if !strings.Contains(d, `RabbitMQ node 2`) {
		t.Fatalf("the diff does not show the third broker node:\n%s", d)
	}
}

// lineDiff is the lines only one side has, marked - (committed) and + (new).
func lineDiff(a, b string) string {
	inA, inB := map[string]bool{}, map[string]bool{}
	for _, l := range strings.Split(a, "\n") {
		inA[l] = true
	}
	for _, l := range strings.Split(b, "\n") {
		inB[l] = true
	}
	var out strings.Builder
	for _, l := range strings.Split(a, "\n") {
		if !inB[l] {
			out.WriteString("- " + l + "\n")
		}
	}
	for _, l := range strings.Split(b, "\n") {
		if !inA[l] {
			out.WriteString("+ " + l + "\n")
		}
	}
	return out.String()
}
