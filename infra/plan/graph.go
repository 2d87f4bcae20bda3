package plan

import (
	"strings"

	"github.com/pulumi/pulumi/sdk/v3/go/common/resource"
)

// ID is the ID the recording mock gives a resource: other resources'
// inputs refer to it by this value.
func (r Resource) ID() string { return MockID(r.Type, r.Name) }

// Input is the plain value at a path of the resource's inputs
// ("metadataOptions", "httpTokens"); nil when absent. Secrets read as "[secret]".
func (r Resource) Input(path ...string) any {
	v := Plain(resource.NewObjectProperty(r.Inputs))
	for _, p := range path {
		m, ok := v.(map[string]any)
		if !ok {
			return nil
		}
		v = m[p]
	}
	return v
}

// Str is the input at path as a string ("" when absent or not a string).
func (r Resource) Str(path ...string) string {
	s, _ := r.Input(path...).(string)
	return s
}

// Bool is the input at path as a bool (false when absent).
func (r Resource) Bool(path ...string) bool {
	b, _ := r.Input(path...).(bool)
	return b
}

// Int is the input at path as an int (0 when absent).
func (r Resource) Int(path ...string) int {
	f, _ := r.Input(path...).(float64)
	return int(f)
}

// Strs is the input at path as a list of strings.
func (r Resource) Strs(path ...string) []string {
	list, _ := r.Input(path...).([]any)
	var out []string
	for _, e := range list {
		if s, ok := e.(string); ok {
			out = append(out, s)
		}
	}
	return out
}

// Has reports whether the input is set (and not null).
func (r Resource) Has(path ...string) bool { return r.Input(path...) != nil }

// IsSecret reports whether the top-level input key is a secret.
func (r Resource) IsSecret(key string) bool {
	v, ok := r.Inputs[resource.PropertyKey(key)]
	return ok && (v.IsSecret() || (v.IsOutput() && v.OutputValue().Secret))
}

// OfType are the resources of a type token, sorted by URN.
func (r *Result) OfType(typ string) []Resource {
	var out []Resource
	for _, res := range r.Resources {
		if res.Type == typ {
			out = append(out, res)
		}
	}
	return out
}

// ByID finds the resource of a type whose mock ID is id.
func (r *Result) ByID(typ, id string) (Resource, bool) {
	for _, res := range r.OfType(typ) {
		if res.ID() == id {
			return res, true
		}
	}
	return Resource{}, false
}

// ByURN finds a resource by URN.
func (r *Result) ByURN(urn string) (Resource, bool) {
	for _, res := range r.Resources {
		if res.URN == urn {
			return res, true
		}
	}
	return Resource{}, false
}

// ProviderURN is the URN part of a provider reference ("urn::id").
func ProviderURN(ref string) string {
	if i := strings.LastIndex(ref, "::"); i > 0 {
		return ref[:i]
	}
	return ref
}
