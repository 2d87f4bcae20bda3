// Command processor consumes webhooks.inbound: Redis lock per entity, one
// MySQL/MariaDB transaction per batch, ack after commit, optional signed
// callback. See `processor help` and DESIGN.md's Processor section.
package main

import (
	"os"

	"github.com/hookline/hookline/processor/command"
)

func main() {
	os.Exit(command.Main(os.Args[1:], os.Getenv, os.Stdout, os.Stderr))
}
