// Package configdoc renders docs/config.md, the one table of every stack
// config key, from what the program itself reads: infra/config's types
// (their `config` and `json` tags and field comments), its defaults per
// profile and the shipped stack files as the offline plan parses them. A
// key added, renamed, re-described or re-defaulted changes the table, and
// the package's test fails until the committed file is regenerated
// (make config-doc).
package configdoc

import (
	"bytes"
	"encoding/json"
	"fmt"
	"go/ast"
	"go/parser"
	"go/token"
	"os"
	"path/filepath"
	"reflect"
	"slices"
	"sort"
	"strconv"
	"strings"

	"github.com/hookline/hookline/infra/config"
	"github.com/hookline/hookline/infra/plan"
)

// Path is where the table lives, relative to the project root.
const Path = "docs/config.md"

// Profiles and Stacks are the table's value columns, in order.
var (
	Profiles = []string{"dev", "prod"}
	Stacks   = []string{"dev", "prod"}
)

// Input is everything the table is made of.
type Input struct {
	// Sources are infra/config's Go files (tests excluded) by file name:
	// the field comments are each key's meaning.
	Sources map[string][]byte
	// Defaults are config.Defaults per profile, with the edge's defaults
	// (config.DefaultEdge) in Edge.
	Defaults map[string]config.Config
	// Stacks are the shipped stacks' configs as the offline plan reads them
	// (secrets as placeholders), by stack name.
	Stacks map[string]config.Config
	// Raw are the stack files' plain values by stack name: the keys that
	// Pulumi or a provider reads rather than hookline (External).
	Raw map[string]map[string]string
}

// ExternalKey is a stack config key the stack files or operators set that
// Pulumi itself or a provider reads, not infra/config.
type ExternalKey struct {
	Key, Type, Meaning string
	Secret             bool
}

// External are the keys of the table that infra/config does not read.
var External = []ExternalKey{
	{Key: "pulumi:disable-default-providers", Type: "list of strings", Meaning: "providers Pulumi must not create implicitly: `aws`, so every AWS resource uses the program's explicit provider and its default tags"},
	{Key: "cloudflare:apiToken", Type: "string", Secret: true, Meaning: "the Cloudflare provider's API token, with hookline:edge (docs/edge.md)"},
}

// Row is one key of the table.
type Row struct {
	Key     string
	Type    string
	Meaning string
	Object  bool              // an object-valued key or field: its fields follow
	Default map[string]string // by profile, rendered
	Value   map[string]string // by stack, rendered
}

// Load reads the input from the project at root.
func Load(root string) (Input, error) {
	in := Input{
		Sources:  map[string][]byte{},
		Defaults: map[string]config.Config{},
		Stacks:   map[string]config.Config{},
		Raw:      map[string]map[string]string{},
	}
	files, err := filepath.Glob(filepath.Join(root, "infra", "config", "*.go"))
	if err != nil {
		return Input{}, err
	}
	for _, f := range files {
		if strings.HasSuffix(f, "_test.go") {
			continue
		}
		b, err := os.ReadFile(f)
		if err != nil {
			return Input{}, err
		}
		in.Sources[filepath.Base(f)] = b
	}
	for _, p := range Profiles {
		c := config.Defaults(p)
		e := config.DefaultEdge(p)
		c.Edge = &e
		in.Defaults[p] = c
	}
	for _, s := range Stacks {
		values, placeholders, err := plan.StackConfig(plan.Options{Root: root, Stack: s})
		if err != nil {
			return Input{}, err
		}
		for _, k := range placeholders {
			if slices.Contains(plan.ImageKeys, k) {
				delete(values, k) // the table shows what the stack file records
			}
		}
		c, err := config.Parse(config.Namespace, s, func(k string) (string, bool) {
			v, ok := values[k]
			return v, ok
		})
		if err != nil {
			return Input{}, fmt.Errorf("stack %s: %w", s, err)
		}
		in.Stacks[s] = c
		sf, err := config.ReadStackFile(root, s)
		if err != nil {
			return Input{}, err
		}
		in.Raw[s] = sf.Values
	}
	return in, nil
}

// Rows are the table's keys in declaration order, then External.
func Rows(in Input) ([]Row, error) {
	docs, err := fieldDocs(in.Sources)
	if err != nil {
		return nil, err
	}
	w := &walker{docs: docs}
	cols := map[string]reflect.Value{}
	for _, p := range Profiles {
		cols["default:"+p] = reflect.ValueOf(in.Defaults[p])
	}
	for _, s := range Stacks {
		cols["stack:"+s] = reflect.ValueOf(in.Stacks[s])
	}
	if err := w.group(reflect.TypeOf(config.Config{}), cols); err != nil {
		return nil, err
	}
	for _, e := range External {
		r := Row{Key: e.Key, Type: e.Type, Meaning: e.Meaning, Default: map[string]string{}, Value: map[string]string{}}
		if e.Secret {
			r.Type += " (secret)"
		}
		for _, p := range Profiles {
			r.Default[p] = none
		}
		for _, s := range Stacks {
			raw, ok := in.Raw[s][e.Key]
			switch {
			case e.Secret:
				r.Value[s] = "*secret*"
			case ok:
				r.Value[s] = "`" + raw + "`"
			default:
				r.Value[s] = none
			}
		}
		w.rows = append(w.rows, r)
	}
	return w.rows, nil
}

const none = "—"

type walker struct {
	docs map[string]string // "Type.Field" → comment
	rows []Row
}

// meaning is the comment of field f of struct type t, or an error: every
// key is described.
func (w *walker) meaning(t reflect.Type, f reflect.StructField) (string, error) {
	d, ok := w.docs[t.Name()+"."+f.Name]
	if !ok || d == "" {
		return "", fmt.Errorf("configdoc: config.%s.%s has no comment; every config key's meaning is its field's comment (%s)", t.Name(), f.Name, Path)
	}
	return d, nil
}

// group walks a struct whose fields carry `config` tags (Config, Secrets,
// Images, Alarms): a tagged field is a top-level key, an untagged struct
// field another group.
func (w *walker) group(t reflect.Type, cols map[string]reflect.Value) error {
	for i := 0; i < t.NumField(); i++ {
		f := t.Field(i)
		tag, ok := f.Tag.Lookup("config")
		child := field(cols, i)
		if !ok {
			if f.Type.Kind() != reflect.Struct {
				return fmt.Errorf("configdoc: config.%s.%s has no `config` tag; tag it with its stack config key, or \"-\"", t.Name(), f.Name)
			}
			if err := w.group(f.Type, child); err != nil {
				return err
			}
			continue
		}
		name, opts, _ := strings.Cut(tag, ",")
		if name == "-" {
			continue
		}
		key := name
		if !strings.Contains(key, ":") {
			key = config.Namespace + ":" + name
		}
		if err := w.key(t, f, key, opts == "secret", child); err != nil {
			return err
		}
	}
	return nil
}

// key adds the row of one key or object field, and its fields' rows.
func (w *walker) key(parent reflect.Type, f reflect.StructField, key string, secret bool, cols map[string]reflect.Value) error {
	m, err := w.meaning(parent, f)
	if err != nil {
		return err
	}
	t := f.Type
	if t.Kind() == reflect.Pointer {
		t = t.Elem()
	}
	r := Row{Key: key, Type: typeName(t), Meaning: m, Default: map[string]string{}, Value: map[string]string{}}
	if secret {
		r.Type += " (secret)"
	}
	for _, p := range Profiles {
		r.Default[p] = render(cols["default:"+p], secret, false)
	}
	for _, s := range Stacks {
		r.Value[s] = render(cols["stack:"+s], secret, true)
	}
	switch {
	case t.Kind() == reflect.Struct:
		r.Object = true
		w.rows = append(w.rows, r)
		return w.object(t, key, cols)
	case t.Kind() == reflect.Map && t.Elem().Kind() == reflect.Struct:
		w.rows = append(w.rows, r)
		// The fields of one entry: their values are in the map's row.
		return w.object(t.Elem(), key+".<"+singular(f.Name)+">", nil)
	}
	w.rows = append(w.rows, r)
	return nil
}

// object walks the fields of an object-valued key by their `json` names.
func (w *walker) object(t reflect.Type, prefix string, cols map[string]reflect.Value) error {
	for i := 0; i < t.NumField(); i++ {
		f := t.Field(i)
		name, _, _ := strings.Cut(f.Tag.Get("json"), ",")
		if name == "-" {
			continue
		}
		if name == "" {
			return fmt.Errorf("configdoc: config.%s.%s has no `json` tag: the stack files could not set it", t.Name(), f.Name)
		}
		if err := w.key(t, f, prefix+"."+name, false, field(cols, i)); err != nil {
			return err
		}
	}
	return nil
}

// field is each column's value of field i (invalid where a pointer on the
// way is nil, or there are no columns).
func field(cols map[string]reflect.Value, i int) map[string]reflect.Value {
	if cols == nil {
		return nil
	}
	out := make(map[string]reflect.Value, len(cols))
	for k, v := range cols {
		if v.IsValid() && v.Kind() == reflect.Pointer {
			if v.IsNil() {
				out[k] = reflect.Value{}
				continue
			}
			v = v.Elem()
		}
		if v.IsValid() {
			out[k] = v.Field(i)
		} else {
			out[k] = v
		}
	}
	return out
}

// singular names one entry of a map field: Allow → source (the map is by
// source name).
func singular(field string) string {
	if field == "Allow" {
		return "source"
	}
	return "name"
}

func typeName(t reflect.Type) string {
	switch t.Kind() {
	case reflect.String:
		return "string"
	case reflect.Int:
		return "integer"
	case reflect.Float64:
		return "number"
	case reflect.Bool:
		return "boolean"
	case reflect.Struct:
		return "object"
	case reflect.Slice:
		return "list of " + typeName(t.Elem()) + "s"
	case reflect.Map:
		return "map of " + typeName(t.Key()) + " to " + typeName(t.Elem())
	}
	return t.String()
}

// render is one cell: a value in backticks, "—" for none, "*secret*" for a
// stack's secret; object rows have no value of their own.
func render(v reflect.Value, secret, stack bool) string {
	if !v.IsValid() {
		return none
	}
	if v.Kind() == reflect.Pointer {
		if v.IsNil() {
			return none
		}
		v = v.Elem()
	}
	if v.Kind() == reflect.Struct {
		return ""
	}
	switch v.Kind() {
	case reflect.String, reflect.Slice, reflect.Map:
		if v.Len() == 0 {
			return none
		}
	}
	if secret {
		if stack {
			return "*secret*"
		}
		return none
	}
	var s string
	switch v.Kind() {
	case reflect.String:
		s = v.String()
	case reflect.Float64:
		s = strconv.FormatFloat(v.Float(), 'f', -1, 64)
	case reflect.Slice, reflect.Map:
		s = compactJSON(v.Interface())
	default:
		s = fmt.Sprintf("%v", v.Interface())
	}
	return "`" + s + "`"
}

// compactJSON is x as JSON without the fields it leaves empty.
func compactJSON(x any) string {
	b, err := json.Marshal(x)
	if err != nil {
		return fmt.Sprintf("%v", x)
	}
	var generic any
	if err := json.Unmarshal(b, &generic); err != nil {
		return string(b)
	}
	b, _ = json.Marshal(prune(generic))
	return string(b)
}

func prune(x any) any {
	switch t := x.(type) {
	case map[string]any:
		for k, v := range t {
			if v == nil {
				delete(t, k)
				continue
			}
			t[k] = prune(v)
		}
	case []any:
		for i, v := range t {
			t[i] = prune(v)
		}
	}
	return x
}

// fieldDocs maps "Type.Field" to the field's comment, in one line, without
// a leading "Field is".
func fieldDocs(sources map[string][]byte) (map[string]string, error) {
	out := map[string]string{}
	names := make([]string, 0, len(sources))
	for n := range sources {
		names = append(names, n)
	}
	sort.Strings(names)
	fset := token.NewFileSet()
	for _, n := range names {
		f, err := parser.ParseFile(fset, n, sources[n], parser.ParseComments)
		if err != nil {
			return nil, fmt.Errorf("configdoc: %w", err)
		}
		ast.Inspect(f, func(node ast.Node) bool {
			ts, ok := node.(*ast.TypeSpec)
			if !ok {
				return true
			}
			st, ok := ts.Type.(*ast.StructType)
			if !ok {
				return false
			}
			for _, fl := range st.Fields.List {
				// A line comment is the field's own; a doc comment above
				// it may introduce a group of fields.
				text := fl.Comment.Text()
				if text == "" {
					text = fl.Doc.Text()
				}
				fieldNames := fl.Names
				if len(fieldNames) == 0 { // embedded
					if id, ok := fl.Type.(*ast.Ident); ok {
						fieldNames = []*ast.Ident{id}
					}
				}
				for _, id := range fieldNames {
					out[ts.Name.Name+"."+id.Name] = oneLine(id.Name, text)
				}
			}
			return false
		})
	}
	return out, nil
}

func oneLine(name, text string) string {
	s := strings.Join(strings.Fields(text), " ")
	for _, verb := range []string{" is ", " are ", " "} {
		if rest, ok := strings.CutPrefix(s, name+verb); ok {
			return rest
		}
	}
	return s
}

// Render is the whole of docs/config.md.
func Render(in Input) ([]byte, error) {
	rows, err := Rows(in)
	if err != nil {
		return nil, err
	}
	var b bytes.Buffer
	b.WriteString(`<!-- Generated by make config-doc (infra/config/configdoc) from infra/config and the stack files; edit those, not this file. -->
# Stack configuration

Every key a stack file (` + "`Pulumi.<stack>.yaml`" + `) may set, with its meaning (the field's
comment in ` + "`infra/config`" + `), its type, each profile's default
(` + "`infra/config/defaults.go`" + `) and the value the shipped stacks run with (their
stack file over the defaults). An object key's fields are set under it in
the stack file, or one at a time with ` + "`pulumi config set --path 'hookline:processor.maxTasks' 4`" + `.
Secrets have no default; an operator sets each with ` + "`pulumi config set --secret`" + `
([operations.md](operations.md)). A key left out takes its profile's
default; validation names any key with a value it does not accept before a
resource is declared. ` + "`go test ./infra/config/configdoc/`" + ` fails when this file is stale.

`)
	b.WriteString("| key | type |")
	for _, p := range Profiles {
		fmt.Fprintf(&b, " default %s |", p)
	}
	for _, s := range Stacks {
		fmt.Fprintf(&b, " Pulumi.%s.yaml |", s)
	}
	b.WriteString(" meaning |\n|---|---|")
	for range len(Profiles) + len(Stacks) {
		b.WriteString("---|")
	}
	b.WriteString("---|\n")
	for _, r := range rows {
		key := "`" + r.Key + "`"
		if r.Object {
			key = "**" + key + "**"
		}
		fmt.Fprintf(&b, "| %s | %s |", key, r.Type)
		for _, p := range Profiles {
			fmt.Fprintf(&b, " %s |", cell(r.Default[p]))
		}
		for _, s := range Stacks {
			fmt.Fprintf(&b, " %s |", cell(r.Value[s]))
		}
		fmt.Fprintf(&b, " %s |\n", prose(r.Meaning))
	}
	return b.Bytes(), nil
}

// cell escapes what would end a table cell.
func cell(s string) string {
	return strings.NewReplacer("|", `\|`, "\n", " ").Replace(s)
}

// prose is a comment as a cell: what is not in backticks has < and >
// escaped, so that <key> shows rather than vanishing as an HTML tag.
func prose(s string) string {
	parts := strings.Split(s, "`")
	for i := 0; i < len(parts); i += 2 {
		parts[i] = strings.NewReplacer("<", "&lt;", ">", "&gt;").Replace(parts[i])
	}
	return cell(strings.Join(parts, "`"))
}

// Diff is "" when committed and generated are equal, else the lines each
// has that the other lacks, in order: what regenerating would change.
func Diff(committed, generated []byte) string {
	if bytes.Equal(committed, generated) {
		return ""
	}
	a := strings.Split(string(committed), "\n")
	b := strings.Split(string(generated), "\n")
	inA, inB := map[string]bool{}, map[string]bool{}
	for _, l := range a {
		inA[l] = true
	}
	for _, l := range b {
		inB[l] = true
	}
	var out strings.Builder
	for _, l := range a {
		if !inB[l] {
			fmt.Fprintf(&out, "- %s\n", l)
		}
	}
	for _, l := range b {
		if !inA[l] {
			fmt.Fprintf(&out, "+ %s\n", l)
		}
	}
	if out.Len() == 0 {
		out.WriteString("the same lines in another order or count\n")
	}
	return out.String()
}
