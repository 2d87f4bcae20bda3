package plan

import (
	"encoding/json"
	"fmt"
	"os"
	"sort"
	"strings"

	"github.com/pulumi/pulumi/sdk/v3/go/pulumi"

	"github.com/hookline/hookline/infra/config"
)

// Placeholder is the value a secret takes offline when the stack file has it
// encrypted or not at all: it never reaches the plan, which prints "[secret]".
const Placeholder = "offlinePlanPlaceholder0123456789"

// PlaceholderDigest is the processor image digest offline when the stack
// file records none yet (`make deploy` records the real one), so that the
// plan and the tests always see the ECS service and the migration task.
const PlaceholderDigest = "sha256:0000000000000000000000000000000000000000000000000000000000000000"

// ImageKeys are the config keys `make deploy` sets to image digests.
var ImageKeys = []string{config.Namespace + ":processorImageDigest"}

// Options say which stack to run and how.
type Options struct {
	Root  string // directory of Pulumi.yaml
	Stack string
	// Override replaces or adds raw config values (full keys), e.g. to run
	// a variant of a shipped stack in a test.
	Override map[string]string
	// Omit removes keys from the stack's config before the run.
	Omit []string
	// Set changes one field of an object key, as `pulumi config set --path`
	// does: "hookline:broker.nodes=3". The value is JSON when it parses as
	// JSON, a string otherwise. Applied after Override.
	Set []string
}

// Result is one offline run.
type Result struct {
	Project, Stack string
	Root           string // directory of Pulumi.yaml: paths under it print relative
	Resources      []Resource
	Placeholders   []string // secret keys that took Placeholder, image keys that took PlaceholderDigest
}

// Run runs program against a stack's config under the recording mock.
func Run(program pulumi.RunFunc, opt Options) (*Result, error) {
	values, placeholders, err := StackConfig(opt)
	if err != nil {
		return nil, err
	}
	rec := &Recorder{Project: config.Namespace, Stack: opt.Stack, Region: values["aws:region"]}
	withConfig := func(info *pulumi.RunInfo) {
		info.Config = values
		info.ConfigSecretKeys = config.SecretKeys
		info.RootDirectory = opt.Root
	}
	err = pulumi.RunErr(program, pulumi.WithMocks(config.Namespace, opt.Stack, rec), withConfig)
	// The result comes back with the error too: a test can check that a bad
	// config stopped the program before it declared anything.
	return &Result{Project: config.Namespace, Stack: opt.Stack, Root: opt.Root, Resources: rec.Resources(), Placeholders: placeholders}, err
}

// StackConfig is the raw config a stack's program sees offline: the stack
// file's plain values, every secret key it does not give in clear set to
// Placeholder, then the overrides and omissions.
func StackConfig(opt Options) (map[string]string, []string, error) {
	sf, err := config.ReadStackFile(opt.Root, opt.Stack)
	if err != nil {
		return nil, nil, fmt.Errorf("plan: %w", err)
	}
	values := sf.Values
	var placeholders []string
	for _, k := range config.SecretKeys {
		if _, ok := values[k]; !ok {
			values[k] = Placeholder
			if k == config.Namespace+":webhookSources" {
				// A document the program can parse: the edge checks its hosts.
				if b, err := os.ReadFile(config.SampleSourcesPath(opt.Root, opt.Stack)); err == nil {
					values[k] = string(b)
				}
			}
			placeholders = append(placeholders, k)
		}
	}
	for _, k := range ImageKeys {
		if _, ok := values[k]; !ok {
			values[k] = PlaceholderDigest
			placeholders = append(placeholders, k)
		}
	}
	for k, v := range opt.Override {
		values[k] = v
	}
	for _, k := range opt.Omit {
		delete(values, k)
	}
	for _, expr := range opt.Set {
		if err := setPath(values, expr); err != nil {
			return nil, nil, fmt.Errorf("plan: -set %s: %w", expr, err)
		}
	}
	sort.Strings(placeholders)
	return values, placeholders, nil
}

// setPath applies one "namespace:key.field[.field…]=value" to values, whose
// object keys hold JSON.
func setPath(values map[string]string, expr string) error {
	path, raw, ok := strings.Cut(expr, "=")
	if !ok {
		return fmt.Errorf("want namespace:key.field=value")
	}
	key, fields, _ := strings.Cut(path, ".")
	if !strings.Contains(key, ":") || fields == "" {
		return fmt.Errorf("want namespace:key.field=value (a field of an object key)")
	}
	var value any = raw
	var parsed any
	if json.Unmarshal([]byte(raw), &parsed) == nil {
		value = parsed
	}
	obj := map[string]any{}
	if cur, ok := values[key]; ok {
		if err := json.Unmarshal([]byte(cur), &obj); err != nil {
			return fmt.Errorf("%s is not an object: %w", key, err)
		}
	}
	names := strings.Split(fields, ".")
	m := obj
	for _, f := range names[:len(names)-1] {
		next, ok := m[f].(map[string]any)
		if !ok {
			if _, exists := m[f]; exists {
				return fmt.Errorf("%s.%s is not an object", key, f)
			}
			next = map[string]any{}
			m[f] = next
		}
		m = next
	}
	m[names[len(names)-1]] = value
	b, err := json.Marshal(obj)
	if err != nil {
		return err
	}
	values[key] = string(b)
	return nil
}
