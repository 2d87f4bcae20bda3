// Command configdoc writes docs/config.md, the table of every stack config
// key (make config-doc).
package main

import (
	"fmt"
	"os"
	"path/filepath"

	"github.com/hookline/hookline/infra/config"
	"github.com/hookline/hookline/infra/config/configdoc"
)

func main() {
	if err := run(); err != nil {
		fmt.Fprintln(os.Stderr, "configdoc:", err)
		os.Exit(1)
	}
}

func run() error {
	root, err := config.FindRoot(".")
	if err != nil {
		return err
	}
	in, err := configdoc.Load(root)
	if err != nil {
		return err
	}
	doc, err := configdoc.Render(in)
	if err != nil {
		return err
	}
	out := filepath.Join(root, configdoc.Path)
	if err := os.WriteFile(out, doc, 0o644); err != nil {
		return err
	}
	fmt.Println("wrote", configdoc.Path)
	return nil
}
