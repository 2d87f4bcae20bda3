package config

import "github.com/pulumi/pulumi/sdk/v3/go/pulumi"

// Load reads and validates the running stack's config. Call it before
// declaring any resource.
func Load(ctx *pulumi.Context) (Config, error) {
	return Parse(ctx.Project(), ctx.Stack(), ctx.GetConfig)
}
