// Package encryption declares the customer-managed KMS keys the data stores
// encrypt with: one per component, yearly rotation on (KMS.4), a 30-day
// deletion window, and an alias naming its purpose. Keys are retained when
// the stack is destroyed: final snapshots and retained volumes outlive it
// and must stay readable (delete a key by hand, in KMS, when its data is gone).
package encryption

import (
	"github.com/pulumi/pulumi-aws/sdk/v6/go/aws/kms"
	"github.com/pulumi/pulumi/sdk/v3/go/pulumi"
)

// NewKey declares a rotating symmetric key and its alias alias/<name>.
func NewKey(ctx *pulumi.Context, name, purpose string, opts ...pulumi.ResourceOption) (*kms.Key, error) {
	opts = append(opts, pulumi.RetainOnDelete(true))
	key, err := kms.NewKey(ctx, name, &kms.KeyArgs{
		Description:          pulumi.String(purpose),
		EnableKeyRotation:    pulumi.Bool(true),
		DeletionWindowInDays: pulumi.Int(30),
	}, opts...)
	if err != nil {
		return nil, err
	}
	if _, err := kms.NewAlias(ctx, name, &kms.AliasArgs{
		Name:        pulumi.String("alias/" + name),
		TargetKeyId: key.KeyId,
	}, opts...); err != nil {
		return nil, err
	}
	return key, nil
}
