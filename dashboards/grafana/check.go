// Package grafana holds hookline's Grafana dashboards (the *.json files
// next to this one, as Grafana's "Export for sharing externally" writes
// them) and the checks `make test` runs on them: each parses, every panel
// has a data source given by a data source variable (${DS_CLOUDWATCH},
// ${DS_PROMETHEUS}, never a hard-coded uid) and at least one query, and
// every metric a query names is one the code emits (internal/metricnames)
// or one AWS or RabbitMQ documents (known.go, with the citation per group).
// It imports no Pulumi.
package grafana

import (
	"embed"
	"encoding/json"
	"fmt"
	"io/fs"
	"slices"
	"sort"
	"strings"

	"github.com/hookline/hookline/internal/metricnames"
)

//go:embed *.json
var files embed.FS

// Dashboards returns every dashboard file's name and contents.
func Dashboards() (map[string][]byte, error) {
	names, err := fs.Glob(files, "*.json")
	if err != nil {
		return nil, err
	}
	out := make(map[string][]byte, len(names))
	for _, n := range names {
		if out[n], err = files.ReadFile(n); err != nil {
			return nil, err
		}
	}
	return out, nil
}

// DataSources are the data source variables a dashboard may use, by
// the plugin id each stands for.
var DataSources = map[string]string{
	"DS_CLOUDWATCH": "cloudwatch",
	"DS_PROMETHEUS": "prometheus",
}

// Problem is one thing wrong with a dashboard, naming the panel (empty for
// the dashboard itself) and the query (its refId) where there is one.
type Problem struct {
	Panel, RefID, Msg string
}

func (p Problem) Error() string {
	switch {
	case p.Panel == "":
		return p.Msg
	case p.RefID == "":
		return fmt.Sprintf("panel %q: %s", p.Panel, p.Msg)
	default:
		return fmt.Sprintf("panel %q, query %s: %s", p.Panel, p.RefID, p.Msg)
	}
}

type dashboard struct {
	Title      string  `json:"title"`
	UID        string  `json:"uid"`
	Panels     []panel `json:"panels"`
	Templating struct {
		List []struct {
			Name  string `json:"name"`
			Type  string `json:"type"`
			Query any    `json:"query"`
		} `json:"list"`
	} `json:"templating"`
}

type panel struct {
	ID         int              `json:"id"`
	Title      string           `json:"title"`
	Type       string           `json:"type"`
	Datasource *datasource      `json:"datasource"`
	Targets    []map[string]any `json:"targets"`
	Panels     []panel          `json:"panels"` // a collapsed row's
}

type datasource struct {
	Type string `json:"type"`
	UID  string `json:"uid"`
}

// Check returns every problem found in one dashboard's JSON, in order.
func Check(data []byte) []Problem {
	var d dashboard
	if err := json.Unmarshal(data, &d); err != nil {
		return []Problem{{Msg: "does not parse: " + err.Error()}}
	}
	var out []Problem
	if d.Title == "" || d.UID == "" {
		out = append(out, Problem{Msg: "no title or uid"})
	}
	declared := map[string]string{} // variable name → plugin id
	for _, v := range d.Templating.List {
		if v.Type == "datasource" {
			q, _ := v.Query.(string)
			declared[v.Name] = q
		}
	}
	var panels []panel
	for _, p := range d.Panels {
		panels = append(panels, p)
		panels = append(panels, p.Panels...)
	}
	if len(panels) == 0 {
		out = append(out, Problem{Msg: "no panels"})
	}
	ids := map[int]bool{}
	for _, p := range panels {
		if ids[p.ID] {
			out = append(out, Problem{Panel: p.Title, Msg: fmt.Sprintf("panel id %d used twice", p.ID)})
		}
		ids[p.ID] = true
		out = append(out, checkPanel(p, declared)...)
	}
	return out
}

// checkPanel checks one panel that is not a row or text.
func checkPanel(p panel, declared map[string]string) []Problem {
	if p.Type == "row" || p.Type == "text" {
		return nil
	}
	var out []Problem
	bad := func(ref, format string, a ...any) {
		out = append(out, Problem{Panel: p.Title, RefID: ref, Msg: fmt.Sprintf(format, a...)})
	}
	if p.Title == "" {
		bad("", "no title")
	}
	plugin, ok := dataSource(p.Datasource)
	switch {
	case p.Datasource == nil || p.Datasource.UID == "":
		bad("", "no data source")
		ok = false
	case !ok:
		bad("", "data source uid %q is not one of the data source variables %s", p.Datasource.UID, variables())
	case declared[varName(p.Datasource.UID)] != plugin:
		bad("", "uses %s, which the dashboard's templating does not declare as a %s data source variable", p.Datasource.UID, plugin)
		ok = false
	case p.Datasource.Type != plugin:
		bad("", "data source %s has type %q, want %q", p.Datasource.UID, p.Datasource.Type, plugin)
	}
	if len(p.Targets) == 0 {
		bad("", "no query")
		return out
	}
	for i, t := range p.Targets {
		ref, _ := t["refId"].(string)
		if ref == "" {
			ref = fmt.Sprint("#", i+1)
		}
		if tds, has := t["datasource"]; has {
			b, _ := json.Marshal(tds)
			var ds datasource
			_ = json.Unmarshal(b, &ds)
			if ds.UID != p.Datasource.UIDOrEmpty() {
				bad(ref, "data source %q differs from the panel's", ds.UID)
			}
		}
		if !ok {
			continue
		}
		switch plugin {
		case "cloudwatch":
			out = append(out, checkCloudWatch(p.Title, ref, t)...)
		case "prometheus":
			out = append(out, checkPrometheus(p.Title, ref, t)...)
		}
	}
	return out
}

// UIDOrEmpty is the data source's uid, or "" for none.
func (d *datasource) UIDOrEmpty() string {
	if d == nil {
		return ""
	}
	return d.UID
}

// dataSource returns the plugin id of a ${DS_…} uid.
func dataSource(d *datasource) (string, bool) {
	if d == nil {
		return "", false
	}
	plugin, ok := DataSources[varName(d.UID)]
	return plugin, ok
}

func varName(uid string) string {
	if s, ok := strings.CutPrefix(uid, "${"); ok {
		if s, ok := strings.CutSuffix(s, "}"); ok {
			return s
		}
	}
	return ""
}

func variables() string {
	var v []string
	for n := range DataSources {
		v = append(v, "${"+n+"}")
	}
	sort.Strings(v)
	return strings.Join(v, ", ")
}

func str(t map[string]any, key string) string {
	s, _ := t[key].(string)
	return s
}

// checkCloudWatch checks a CloudWatch query: a metric query in the
// builder names a namespace and metric the code or AWS has, and a
// Hookline/* metric is filtered by Stack (every datum carries it, so a
// query without it mixes stacks); a Logs Insights query names a log group
// and a query.
func checkCloudWatch(title, ref string, t map[string]any) []Problem {
	var out []Problem
	bad := func(format string, a ...any) {
		out = append(out, Problem{Panel: title, RefID: ref, Msg: fmt.Sprintf(format, a...)})
	}
	switch mode := str(t, "queryMode"); mode {
	case "Logs":
		groups, _ := t["logGroupNames"].([]any)
		if len(groups) == 0 || strings.TrimSpace(str(t, "expression")) == "" {
			bad("a Logs query needs logGroupNames and an expression")
		}
	case "", "Metrics":
		if q, _ := t["metricQueryType"].(float64); q != 0 {
			bad("metricQueryType %v: only metric search (0) queries can be checked", q)
			return out
		}
		ns, name := str(t, "namespace"), str(t, "metricName")
		if ns == "" || name == "" {
			bad("no query: a metric query needs a namespace and a metricName")
			return out
		}
		if !KnownCloudWatch(ns, name) {
			bad("unknown metric %s %s: not in internal/metricnames nor in the documented AWS list (known.go)", ns, name)
		}
		dims, _ := t["dimensions"].(map[string]any)
		if strings.HasPrefix(ns, "Hookline/") {
			if _, ok := dims[metricnames.StackDimension]; !ok {
				bad("%s %s without the %s dimension mixes every stack's data", ns, name, metricnames.StackDimension)
			}
		}
	default:
		bad("unknown queryMode %q", mode)
	}
	return out
}

// checkPrometheus checks a PromQL query: every metric it names is known.
func checkPrometheus(title, ref string, t map[string]any) []Problem {
	expr := str(t, "expr")
	if strings.TrimSpace(expr) == "" {
		return []Problem{{Panel: title, RefID: ref, Msg: "no query: empty expr"}}
	}
	var out []Problem
	for _, m := range MetricNames(expr) {
		if !KnownPrometheus(m) {
			out = append(out, Problem{Panel: title, RefID: ref, Msg: fmt.Sprintf("unknown metric %s: not in internal/metricnames nor in the documented RabbitMQ and Prometheus lists (known.go)", m)})
		}
	}
	return out
}

// KnownCloudWatch reports whether a CloudWatch metric is one the code
// emits or one AWS documents.
func KnownCloudWatch(namespace, name string) bool {
	return metricnames.Known(namespace, name) || slices.Contains(AWS[namespace], name)
}
