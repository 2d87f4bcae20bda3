package plan_test

import (
	"bytes"
	"encoding/json"
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
		{URN: "new", Kind: "added"},
		{URN: "b", Kind: "changed", Inputs: []string{"x", "z"}},
		{URN: "gone", Kind: "removed"},
	}
	if !reflect.DeepEqual(got, want) {
		t.Fatalf("Diff = %+v; want %+v", got, want)
	}
	var buf bytes.Buffer
	if err := plan.WriteDiff(&buf, got); err != nil {
		t.Fatal(err)
	}
	if !strings.HasSuffix(buf.String(), "1 added, 1 removed, 1 changed\n") {
		t.Errorf("summary line: %q", buf.String())
	}
}

func TestInvokesAreRefused(t *testing.T) {
	rec := &plan.Recorder{Project: "hookline", Stack: "dev", Region: "us-east-1"}
	if _, err := rec.Call(pulumi.MockCallArgs{Token: "aws:index/getAvailabilityZones:getAvailabilityZones"}); err == nil {
		t.Error("an invoke was answered; the offline plan must refuse invokes that need the cloud")
	}
}
