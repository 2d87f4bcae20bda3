package plan

import (
	"encoding/json"
	"fmt"
	"io"
	"reflect"
	"regexp"
	"sort"
	"strings"
)

// Change is one resource that differs between two plans.
type Change struct {
	URN  string
	Type string
	Kind string // replaced | removed | added | changed
	// Inputs are the changed top-level input keys, sorted.
	Inputs []string
	// Values say how each changed input moved, secrets masked.
	Values []InputChange
	// Replace names the changed inputs that force a replacement
	// (ReplaceOn), the reason Kind is "replaced".
	Replace []string
	// Untabled is set on a change to a type that has no ReplaceOn entry:
	// whether it replaces is not known offline.
	Untabled bool
	// Stateful is set when the type holds data or keys (Stateful).
	Stateful bool
}

// InputChange is one changed input, old and new value as short JSON, or
// "[secret]" for secret inputs; "(unset)" when absent on one side.
type InputChange struct {
	Key, Old, New string
}

// Warning reports whether the change destroys a stateful resource.
func (c Change) Warning() bool {
	return c.Stateful && (c.Kind == "replaced" || c.Kind == "removed")
}

var kindOrder = map[string]int{"replaced": 0, "removed": 1, "added": 2, "changed": 3}

// Diff compares two plans by URN. A changed resource whose changed inputs
// include one of its type's replace-forcing inputs is "replaced".
func Diff(before, after File) []Change {
	old := map[string]FileResource{}
	for _, r := range before.Resources {
		old[r.URN] = r
	}
	var out []Change
	seen := map[string]bool{}
	for _, r := range after.Resources {
		seen[r.URN] = true
		o, ok := old[r.URN]
		if !ok {
			out = append(out, Change{URN: r.URN, Type: r.Type, Kind: "added", Stateful: Stateful(r.Type)})
			continue
		}
		var keys []string
		for k := range union(o.Inputs, r.Inputs) {
			if !reflect.DeepEqual(o.Inputs[k], r.Inputs[k]) {
				keys = append(keys, k)
			}
		}
		sort.Strings(keys)
		c := Change{URN: r.URN, Type: r.Type, Kind: "changed", Inputs: keys, Stateful: Stateful(r.Type)}
		for _, k := range keys {
			c.Values = append(c.Values, InputChange{Key: k, Old: show(k, o.Inputs, k), New: show(k, r.Inputs, k)})
		}
		if o.Parent != r.Parent {
			c.Inputs = append(c.Inputs, "(parent)")
			c.Values = append(c.Values, InputChange{Key: "(parent)", Old: o.Parent, New: r.Parent})
		}
		if len(c.Inputs) == 0 {
			continue
		}
		table, tabled := ReplaceOn[r.Type]
		c.Untabled = !tabled
		for _, rule := range table {
			ov, oOK := lookup(o.Inputs, rule.Input)
			nv, nOK := lookup(r.Inputs, rule.Input)
			if oOK == nOK && reflect.DeepEqual(ov, nv) {
				continue
			}
			if rule.If != "" {
				if on, _ := lookup(r.Inputs, rule.If); on != true {
					continue
				}
			}
			c.Replace = append(c.Replace, rule.Input)
		}
		if len(c.Replace) > 0 {
			c.Kind = "replaced"
		}
		out = append(out, c)
	}
	for _, r := range before.Resources {
		if !seen[r.URN] {
			out = append(out, Change{URN: r.URN, Type: r.Type, Kind: "removed", Stateful: Stateful(r.Type)})
		}
	}
	sort.Slice(out, func(i, j int) bool {
		if out[i].Kind != out[j].Kind {
			return kindOrder[out[i].Kind] < kindOrder[out[j].Kind]
		}
		return out[i].URN < out[j].URN
	})
	return out
}

func union(a, b map[string]any) map[string]bool {
	out := map[string]bool{}
	for k := range a {
		out[k] = true
	}
	for k := range b {
		out[k] = true
	}
	return out
}

// secretKey matches input names whose values a diff never prints, even if a
// plan carried them in clear (plan files already replace Pulumi secrets by
// "[secret]").
var secretKey = regexp.MustCompile(`(?i)(password|passwd|passphrase|authtoken|token$|secretstring|secretbinary|privatekey|apikey)`)

// maxValue bounds one printed value: a policy document or container
// definition would otherwise fill the comment.
const maxValue = 120

func show(key string, inputs map[string]any, path string) string {
	v, ok := lookup(inputs, path)
	if !ok {
		return "(unset)"
	}
	if secretKey.MatchString(key) || v == Secret {
		return Secret
	}
	b, err := json.Marshal(v)
	if err != nil {
		return fmt.Sprint(v)
	}
	s := string(b)
	if len(s) > maxValue {
		s = fmt.Sprintf("%s… (%d bytes)", s[:maxValue], len(s))
	}
	return s
}

// ReadFile decodes a plan file.
func ReadFile(r io.Reader) (File, error) {
	var f File
	err := json.NewDecoder(r).Decode(&f)
	return f, err
}

// WriteDiff prints what a reviewer reads: a WARNING line for every
// stateful resource replaced or removed, then each change (replacements
// with the inputs that force them, changed inputs old → new, secrets
// masked), and a count line.
func WriteDiff(w io.Writer, changes []Change) error {
	p := &printer{w: w}
	counts := map[string]int{}
	warnings := 0
	for _, c := range changes {
		counts[c.Kind]++
		if !c.Warning() {
			continue
		}
		warnings++
		if c.Kind == "replaced" {
			p.printf("WARNING: replaces stateful %s %s (forced by %s): its data does not carry over\n", c.Type, c.URN, strings.Join(c.Replace, ", "))
		} else {
			p.printf("WARNING: removes stateful %s %s: its data is deleted\n", c.Type, c.URN)
		}
	}
	for _, c := range changes {
		line := fmt.Sprintf("%-8s %s", c.Kind, c.URN)
		switch {
		case c.Kind == "replaced":
			line += fmt.Sprintf("  (replace forced by %s)", strings.Join(c.Replace, ", "))
		case c.Kind == "changed" && c.Untabled:
			line += fmt.Sprintf("  (no replace table entry for %s: may replace)", c.Type)
		}
		p.printf("%s\n", line)
		for _, v := range c.Values {
			p.printf("           %s: %s → %s\n", v.Key, v.Old, v.New)
		}
	}
	p.printf("%d added, %d removed, %d replaced, %d changed; %d warnings\n",
		counts["added"], counts["removed"], counts["replaced"], counts["changed"], warnings)
	return p.err
}

type printer struct {
	w   io.Writer
	err error
}

func (p *printer) printf(format string, args ...any) {
	if p.err == nil {
		_, p.err = fmt.Fprintf(p.w, format, args...)
	}
}
