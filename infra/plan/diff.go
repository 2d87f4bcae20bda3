package plan

import (
	"encoding/json"
	"fmt"
	"io"
	"reflect"
	"sort"
)

// Change is one resource that differs between two plans.
type Change struct {
	URN    string
	Kind   string   // added | removed | changed
	Inputs []string // changed input keys (top level)
}

// Diff compares two plans by URN.
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
			out = append(out, Change{URN: r.URN, Kind: "added"})
			continue
		}
		var keys []string
		for k := range union(o.Inputs, r.Inputs) {
			if !reflect.DeepEqual(o.Inputs[k], r.Inputs[k]) {
				keys = append(keys, k)
			}
		}
		if o.Parent != r.Parent {
			keys = append(keys, "(parent)")
		}
		if len(keys) > 0 {
			sort.Strings(keys)
			out = append(out, Change{URN: r.URN, Kind: "changed", Inputs: keys})
		}
	}
	for _, r := range before.Resources {
		if !seen[r.URN] {
			out = append(out, Change{URN: r.URN, Kind: "removed"})
		}
	}
	sort.Slice(out, func(i, j int) bool {
		if out[i].Kind != out[j].Kind {
			return out[i].Kind < out[j].Kind
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

// ReadFile decodes a plan file.
func ReadFile(r io.Reader) (File, error) {
	var f File
	err := json.NewDecoder(r).Decode(&f)
	return f, err
}

// WriteDiff prints the changes, one a line, and a count line.
func WriteDiff(w io.Writer, changes []Change) error {
	counts := map[string]int{}
	for _, c := range changes {
		counts[c.Kind]++
		line := fmt.Sprintf("%-8s %s", c.Kind, c.URN)
		if len(c.Inputs) > 0 {
			line += fmt.Sprintf(" %v", c.Inputs)
		}
		if _, err := fmt.Fprintln(w, line); err != nil {
			return err
		}
	}
	_, err := fmt.Fprintf(w, "%d added, %d removed, %d changed\n", counts["added"], counts["removed"], counts["changed"])
	return err
}
