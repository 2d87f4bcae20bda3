package plan_test

import (
	"bytes"
	"encoding/json"
	"os"
	"reflect"
	"strings"
	"testing"

	"github.com/pulumi/pulumi/sdk/v3/go/common/resource"
	"github.com/pulumi/pulumi/sdk/v3/go/pulumi"

	"github.com/hookline/hookline/infra/plan"
)

func TestPlainHidesSecrets(t *testing.T) {
	for _, tc := range []struct {
		name string
		in   resource.PropertyValue
		want any
	}{
		{"string", resource.NewStringProperty("x"), "x"},
		{"secret", resource.MakeSecret(resource.NewStringProperty("hunter2hunter2")), plan.Secret},
		{"secret output", resource.NewOutputProperty(resource.Output{Element: resource.NewStringProperty("s"), Known: true, Secret: true}), plan.Secret},
		{"unknown output", resource.NewOutputProperty(resource.Output{Known: false}), plan.Unknown},
		{"nested secret", resource.NewObjectProperty(resource.PropertyMap{
			"a": resource.NewArrayProperty([]resource.PropertyValue{resource.MakeSecret(resource.NewNumberProperty(1))}),
			"b": resource.NewBoolProperty(true),
		}), map[string]any{"a": []any{plan.Secret}, "b": true}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if got := plan.Plain(tc.in); !reflect.DeepEqual(got, tc.want) {
				t.Errorf("Plain = %#v; want %#v", got, tc.want)
			}
		})
	}
}

func TestFileFormat(t *testing.T) {
	r := &plan.Result{Project: "hookline", Stack: "dev", Resources: []plan.Resource{{
		URN: "urn:pulumi:dev::hookline::aws:kms/key:Key::k", Type: "aws:kms/key:Key", Name: "k",
		Inputs: resource.PropertyMap{
			"description": resource.NewStringProperty("d"),
			"policy":      resource.MakeSecret(resource.NewStringProperty("p")),
			"__defaults":  resource.NewArrayProperty(nil),
		},
	}}}
	var buf bytes.Buffer
	if err := r.WriteJSON(&buf); err != nil {
		t.Fatal(err)
	}
	var got map[string]any
	if err := json.Unmarshal(buf.Bytes(), &got); err != nil {
		t.Fatal(err)
	}
	want := map[string]any{"project": "hookline", "stack": "dev", "resources": []any{map[string]any{
		"urn": "urn:pulumi:dev::hookline::aws:kms/key:Key::k", "type": "aws:kms/key:Key", "name": "k", "parent": "",
		"inputs": map[string]any{"description": "d", "policy": "[secret]"},
	}}}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("plan file\n%s\nwant the DESIGN.md format %v", buf.String(), want)
	}
}

func TestDiff(t *testing.T) {
	res := func(urn string, inputs map[string]any) plan.FileResource {
		return plan.FileResource{URN: urn, Type: "t", Name: urn, Inputs: inputs}
	}
	before := plan.File{Resources: []plan.FileResource{
		res("a", map[string]any{"x": 1.0}),
		res("b", map[string]any{"x": 1.0, "y": "same"}),
		res("gone", nil),
	}}
	after := plan.File{Resources: []plan.FileResource{
		res("a", map[string]any{"x": 1.0}),
		res("b", map[string]any{"x": 2.0, "y": "same", "z": true}),
		res("new", nil),
	}}
	got := plan.Diff(before, after)
	want := []plan.Change{
		{URN: "gone", Type: "t", Kind: "removed"},
		{URN: "new", Type: "t", Kind: "added"},
		{URN: "b", Type: "t", Kind: "changed", Inputs: []string{"x", "z"}, Untabled: true,
			Values: []plan.InputChange{{Key: "x", Old: "1", New: "2"}, {Key: "z", Old: "(unset)", New: "true"}}},
	}
	if !reflect.DeepEqual(got, want) {
		t.Fatalf("Diff = %+v; want %+v", got, want)
	}
	var buf bytes.Buffer
	if err := plan.WriteDiff(&buf, got); err != nil {
		t.Fatal(err)
	}
	if !strings.HasSuffix(buf.String(), "1 added, 1 removed, 0 replaced, 1 changed; 0 warnings\n") {
		t.Errorf("summary line: %q", buf.String())
	}
	if !strings.Contains(buf.String(), "(no replace table entry for t: may replace)") {
		t.Errorf("a change to an untabled type is not flagged:\n%s", buf.String())
	}
}

func TestInvokesAreRefused(t *testing.T) {
	rec := &plan.Recorder{Project: "hookline", Stack: "dev", Region: "us-east-1"}
	if _, err := rec.Call(pulumi.MockCallArgs{Token: "aws:index/getAvailabilityZones:getAvailabilityZones"}); err == nil {
		t.Error("an invoke was answered; the offline plan must refuse invokes that need the cloud")
	}
}

// A file archive resolved from the project root prints relative to it, so a
// plan does not depend on where the repository is checked out.
func TestArchivePathsRelativeToRoot(t *testing.T) {
	code := resource.NewArchiveProperty(&resource.Archive{Path: "/src/hookline/build/lambda/bootstrap.zip"})
	r := &plan.Result{Project: "hookline", Stack: "dev", Root: "/src/hookline", Resources: []plan.Resource{{
		URN: "urn:pulumi:dev::hookline::aws:lambda/function:Function::f", Type: "aws:lambda/function:Function", Name: "f",
		Inputs: resource.PropertyMap{"code": code, "handler": resource.NewStringProperty("/src/hookline-other/x")},
	}}}
	in := r.File().Resources[0].Inputs
	if in["code"] != "archive:build/lambda/bootstrap.zip" {
		t.Errorf("code %v; want archive:build/lambda/bootstrap.zip", in["code"])
	}
	if in["handler"] != "/src/hookline-other/x" {
		t.Errorf("a path outside the root changed: %v", in["handler"])
	}
}

// Offline, a stack without a recorded image digest plans with the zero
// digest (and says so); a recorded one is kept.
func TestImageDigestPlaceholder(t *testing.T) {
	root := t.TempDir()
	if err := os.WriteFile(root+"/Pulumi.dev.yaml", []byte("config:\n  aws:region: us-east-1\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	values, placeholders, err := plan.StackConfig(plan.Options{Root: root, Stack: "dev"})
	if err != nil {
		t.Fatal(err)
	}
	if values["hookline:processorImageDigest"] != plan.PlaceholderDigest || !strings.Contains(strings.Join(placeholders, " "), "hookline:processorImageDigest") {
		t.Errorf("digest %q, placeholders %v; want the zero digest, noted", values["hookline:processorImageDigest"], placeholders)
	}
	recorded := "sha256:" + strings.Repeat("1", 64)
	if err := os.WriteFile(root+"/Pulumi.prod.yaml", []byte("config:\n  aws:region: us-east-1\n  hookline:processorImageDigest: "+recorded+"\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	values, _, err = plan.StackConfig(plan.Options{Root: root, Stack: "prod"})
	if err != nil || values["hookline:processorImageDigest"] != recorded {
		t.Errorf("recorded digest replaced: %q (%v)", values["hookline:processorImageDigest"], err)
	}
}

// -set changes one field of an object key and keeps the others, as
// `pulumi config set --path` would; a malformed expression is refused.
func TestStackConfigSetPath(t *testing.T) {
	root := t.TempDir()
	file := "config:\n  aws:region: us-east-1\n  hookline:owner: a@example.com\n  hookline:broker:\n    nodes: 1\n    instanceType: m7g.large\n"
	if err := os.WriteFile(root+"/Pulumi.prod.yaml", []byte(file), 0o644); err != nil {
		t.Fatal(err)
	}
	values, _, err := plan.StackConfig(plan.Options{Root: root, Stack: "prod", Set: []string{
		"hookline:broker.nodes=3", "hookline:broker.image=docker.io/x@sha256:1", "hookline:edge.rateLimit.periodSeconds=20",
	}})
	if err != nil {
		t.Fatal(err)
	}
	var broker map[string]any
	if err := json.Unmarshal([]byte(values["hookline:broker"]), &broker); err != nil {
		t.Fatal(err)
	}
	if broker["nodes"] != float64(3) || broker["instanceType"] != "m7g.large" || broker["image"] != "docker.io/x@sha256:1" {
		t.Errorf("hookline:broker = %v; want nodes 3 (a number), the image (a string), instanceType kept", broker)
	}
	if values["hookline:edge"] != `{"rateLimit":{"periodSeconds":20}}` {
		t.Errorf("hookline:edge = %s; want the nested field created", values["hookline:edge"])
	}
	for _, bad := range []string{"hookline:broker=3", "broker.nodes=3", "hookline:broker.nodes", "hookline:owner.x=1", "hookline:broker.nodes.x=1"} {
		if _, _, err := plan.StackConfig(plan.Options{Root: root, Stack: "prod", Set: []string{bad}}); err == nil || !strings.Contains(err.Error(), bad) {
			t.Errorf("-set %s: err %v; want a refusal naming it", bad, err)
		}
	}
}
