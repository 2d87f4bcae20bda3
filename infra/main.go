// Command infra is the hookline Pulumi program (Pulumi.yaml: main: infra/).
package main

import (
	"github.com/pulumi/pulumi/sdk/v3/go/pulumi"

	"github.com/hookline/hookline/infra/stack"
)

func main() { pulumi.Run(stack.Program) }
