package plan

import (
	"encoding/json"
	"fmt"
	"io"
	"sort"
	"strings"

	"github.com/pulumi/pulumi/sdk/v3/go/common/resource"
)

// Secret is what a secret value becomes in a plan.
const Secret = "[secret]"

// Unknown is what a value not known before deployment becomes.
const Unknown = "[unknown]"

// File is DESIGN.md's plan format.
type File struct {
	Project   string         `json:"project"`
	Stack     string         `json:"stack"`
	Resources []FileResource `json:"resources"`
}

// FileResource is one resource of a plan file.
type FileResource struct {
	URN    string         `json:"urn"`
	Type   string         `json:"type"`
	Name   string         `json:"name"`
	Parent string         `json:"parent"`
	Inputs map[string]any `json:"inputs"`
	// Options are the resource options that change what pulumi does on
	// update and delete (omitted when none is set).
	Options *ResourceOptions `json:"options,omitempty"`
}

// ResourceOptions are the lifecycle options of a resource in a plan file.
type ResourceOptions struct {
	Protect             bool     `json:"protect,omitempty"`
	RetainOnDelete      bool     `json:"retainOnDelete,omitempty"`
	DeleteBeforeReplace bool     `json:"deleteBeforeReplace,omitempty"`
	IgnoreChanges       []string `json:"ignoreChanges,omitempty"`
}

// File converts the run into the plan format, secrets replaced by "[secret]".
func (r *Result) File() File {
	f := File{Project: r.Project, Stack: r.Stack, Resources: []FileResource{}}
	for _, res := range r.Resources {
		inputs, _ := relative(Plain(resource.NewObjectProperty(res.Inputs)), r.Root).(map[string]any)
		if inputs == nil {
			inputs = map[string]any{}
		}
		fr := FileResource{URN: res.URN, Type: res.Type, Name: res.Name, Parent: res.Parent, Inputs: inputs}
		if res.Protect || res.RetainOnDelete || res.DeleteBeforeReplace || len(res.IgnoreChanges) > 0 {
			fr.Options = &ResourceOptions{Protect: res.Protect, RetainOnDelete: res.RetainOnDelete, DeleteBeforeReplace: res.DeleteBeforeReplace, IgnoreChanges: res.IgnoreChanges}
		}
		f.Resources = append(f.Resources, fr)
	}
	return f
}

// relative rewrites absolute paths under root (build artifacts resolved from
// ctx.RootDirectory()) as paths relative to it, so that a plan does not
// depend on where the repository is checked out.
func relative(v any, root string) any {
	if root == "" {
		return v
	}
	switch x := v.(type) {
	case string:
		for _, prefix := range []string{"archive:", ""} {
			if strings.HasPrefix(x, prefix+root+"/") {
				return prefix + strings.TrimPrefix(x, prefix+root+"/")
			}
		}
	case []any:
		for i := range x {
			x[i] = relative(x[i], root)
		}
	case map[string]any:
		for k := range x {
			x[k] = relative(x[k], root)
		}
	}
	return v
}

// Plain turns a property value into plain JSON-able Go values.
func Plain(v resource.PropertyValue) any {
	switch {
	case v.IsSecret():
		return Secret
	case v.IsOutput():
		o := v.OutputValue()
		if o.Secret {
			return Secret
		}
		if !o.Known {
			return Unknown
		}
		return Plain(o.Element)
	case v.IsComputed():
		return Unknown
	case v.IsNull():
		return nil
	case v.IsBool():
		return v.BoolValue()
	case v.IsNumber():
		return v.NumberValue()
	case v.IsString():
		return v.StringValue()
	case v.IsArray():
		out := []any{}
		for _, e := range v.ArrayValue() {
			out = append(out, Plain(e))
		}
		return out
	case v.IsObject():
		out := map[string]any{}
		for k, e := range v.ObjectValue() {
			if strings.HasPrefix(string(k), "__") { // engine bookkeeping such as __defaults
				continue
			}
			out[string(k)] = Plain(e)
		}
		return out
	case v.IsResourceReference():
		return string(v.ResourceReferenceValue().URN)
	case v.IsAsset():
		return v.AssetValue().Hash
	case v.IsArchive():
		a := v.ArchiveValue()
		if a.Path != "" { // a file archive: its path says which build artifact
			return "archive:" + a.Path
		}
		return a.Hash
	}
	return fmt.Sprint(v)
}

// WriteJSON writes the plan file, indented, resources sorted by URN.
func (r *Result) WriteJSON(w io.Writer) error {
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	enc.SetEscapeHTML(false)
	return enc.Encode(r.File())
}

// Counts are the resources per type.
func Counts(f File) map[string]int {
	out := map[string]int{}
	for _, r := range f.Resources {
		out[r.Type]++
	}
	return out
}

// WriteSummary writes resource counts by type, most numerous first.
func WriteSummary(w io.Writer, f File) error {
	counts := Counts(f)
	types := make([]string, 0, len(counts))
	for t := range counts {
		types = append(types, t)
	}
	sort.Slice(types, func(i, j int) bool {
		if counts[types[i]] != counts[types[j]] {
			return counts[types[i]] > counts[types[j]]
		}
		return types[i] < types[j]
	})
	if _, err := fmt.Fprintf(w, "%s/%s: %d resources\n", f.Project, f.Stack, len(f.Resources)); err != nil {
		return err
	}
	for _, t := range types {
		if _, err := fmt.Fprintf(w, "  %4d  %s\n", counts[t], t); err != nil {
			return err
		}
	}
	return nil
}
