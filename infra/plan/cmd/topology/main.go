// Command topology writes docs/topology.dot, the picture of an offline
// plan file (make topology renders it to docs/topology.svg).
//
//	go run ./infra/plan/cmd/topology -plan build/plan/prod.json [-out docs/topology.dot]
package main

import (
	"encoding/json"
	"flag"
	"fmt"
	"os"
	"path/filepath"

	"github.com/hookline/hookline/infra/config"
	"github.com/hookline/hookline/infra/plan"
	"github.com/hookline/hookline/infra/plan/topology"
)

func main() {
	in := flag.String("plan", "", "plan file written by make plan (build/plan/<stack>.json)")
	out := flag.String("out", "", "DOT file (default "+topology.Path+" under the project root)")
	flag.Parse()
	if err := run(*in, *out); err != nil {
		fmt.Fprintln(os.Stderr, "topology:", err)
		os.Exit(1)
	}
}

func run(in, out string) error {
	if in == "" {
		return fmt.Errorf("-plan is required (make plan STACK=prod writes build/plan/prod.json)")
	}
	data, err := os.ReadFile(in)
	if err != nil {
		return err
	}
	var f plan.File
	if err := json.Unmarshal(data, &f); err != nil {
		return fmt.Errorf("%s: %w", in, err)
	}
	dot, err := topology.DOT(f)
	if err != nil {
		return err
	}
	if out == "" {
		root, err := config.FindRoot(".")
		if err != nil {
			return err
		}
		out = filepath.Join(root, topology.Path)
	}
	if err := os.WriteFile(out, dot, 0o644); err != nil {
		return err
	}
	fmt.Println("wrote", out)
	return nil
}
