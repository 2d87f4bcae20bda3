// Package sources declares the webhook sources document (DESIGN.md: sources,
// hosts, schemes, signing secrets, callbacks) as a Secrets Manager secret
// under its own customer-managed key. The value comes from the operator's
// `pulumi config set --secret hookline:webhookSources`; the receiver reads it
// by ARN at cold start, the processor by ARN (WEBHOOK_SOURCES_SECRET_ARN) at
// start and again when it meets a source it does not know.
package sources

import (
	"github.com/pulumi/pulumi/sdk/v3/go/pulumi"

	"github.com/hookline/hookline/infra/encryption"
)

// Args is what a stack decides about its sources document.
type Args struct {
	Document pulumi.StringInput // a secret: the YAML or JSON document
}

// Document is the sources document component.
type Document struct {
	pulumi.ResourceState

	SecretArn pulumi.StringOutput
	KeyArn    pulumi.StringOutput
	// VersionID changes with every new value of the document: the receiver
	// carries it in its environment, so a new document (a rotated origin or
	// source secret) replaces warm instances, which read it at cold start.
	VersionID pulumi.StringOutput
}

// New declares the secret, its key and its value.
func New(ctx *pulumi.Context, name string, args Args, opts ...pulumi.ResourceOption) (*Document, error) {
	d := &Document{}
	if err := ctx.RegisterComponentResource("hookline:sources:Document", name, d, opts...); err != nil {
		return nil, err
	}
	parent := pulumi.Parent(d)
	sec, err := encryption.NewSecret(ctx, name, "hookline webhook sources document and its signing secrets ("+name+")",
		"hookline webhook sources document (DESIGN.md): read by the receiver and the processor", args.Document, parent)
	if err != nil {
		return nil, err
	}
	key, secret, version := sec.Key, sec.Secret, sec.Version
	d.VersionID = version.VersionId
	d.SecretArn = secret.Arn
	d.KeyArn = key.Arn
	if err := ctx.RegisterResourceOutputs(d, pulumi.Map{"secretArn": d.SecretArn}); err != nil {
		return nil, err
	}
	return d, nil
}
