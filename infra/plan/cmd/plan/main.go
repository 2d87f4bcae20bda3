// Command plan writes hookline's offline plan: the Pulumi program run under
// the recording mock (no credentials, no network).
//
//	go run ./infra/plan/cmd/plan -stack dev [-out build/plan/dev.json] [-set hookline:broker.nodes=3 …]
//	go run ./infra/plan/cmd/plan -diff before.json after.json
package main

import (
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"strings"

	"github.com/hookline/hookline/infra/config"
	"github.com/hookline/hookline/infra/plan"
	"github.com/hookline/hookline/infra/stack"
)

func main() {
	stackName := flag.String("stack", "dev", "stack name (Pulumi.<stack>.yaml)")
	out := flag.String("out", "", "plan file (default build/plan/<stack>.json under the project root)")
	diff := flag.Bool("diff", false, "compare two plan files given as arguments: before after")
	var sets setFlags
	flag.Var(&sets, "set", "change one field of a stack config object, as pulumi config set --path does: hookline:broker.nodes=3 (repeatable)")
	flag.Parse()
	if err := run(*stackName, *out, *diff, sets, flag.Args()); err != nil {
		fmt.Fprintln(os.Stderr, "plan:", err)
		os.Exit(1)
	}
}

// setFlags collects repeated -set flags.
type setFlags []string

func (s *setFlags) String() string     { return strings.Join(*s, " ") }
func (s *setFlags) Set(v string) error { *s = append(*s, v); return nil }

func run(stackName, out string, diff bool, sets []string, args []string) error {
	if diff {
		if len(args) != 2 {
			return fmt.Errorf("-diff needs two plan files: before after")
		}
		before, err := readPlan(args[0])
		if err != nil {
			return err
		}
		after, err := readPlan(args[1])
		if err != nil {
			return err
		}
		return plan.WriteDiff(os.Stdout, plan.Diff(before, after))
	}

	wd, err := os.Getwd()
	if err != nil {
		return err
	}
	root, err := config.FindRoot(wd)
	if err != nil {
		return err
	}
	result, err := plan.Run(stack.Program, plan.Options{Root: root, Stack: stackName, Set: sets})
	if err != nil {
		return err
	}
	if out == "" {
		out = filepath.Join(root, "build", "plan", stackName+".json")
	}
	if err := os.MkdirAll(filepath.Dir(out), 0o755); err != nil {
		return err
	}
	f, err := os.Create(out)
	if err != nil {
		return err
	}
	if err := result.WriteJSON(f); err != nil {
		f.Close()
		return err
	}
	if err := f.Close(); err != nil {
		return err
	}
	if err := plan.WriteSummary(os.Stdout, result.File()); err != nil {
		return err
	}
	if len(result.Placeholders) > 0 {
		fmt.Printf("  note: secrets not in clear and image digests not yet recorded in Pulumi.%s.yaml took offline placeholders (secrets shown as [secret]): %s\n",
			stackName, strings.Join(result.Placeholders, ", "))
	}
	if len(sets) > 0 {
		fmt.Printf("  note: Pulumi.%s.yaml with %s\n", stackName, strings.Join(sets, ", "))
	}
	fmt.Println("wrote", out)
	return nil
}

func readPlan(path string) (plan.File, error) {
	f, err := os.Open(path)
	if err != nil {
		return plan.File{}, err
	}
	defer f.Close()
	return plan.ReadFile(f)
}
