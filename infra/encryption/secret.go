package encryption

import (
	"github.com/pulumi/pulumi-aws/sdk/v6/go/aws/kms"
	"github.com/pulumi/pulumi-aws/sdk/v6/go/aws/secretsmanager"
	"github.com/pulumi/pulumi/sdk/v3/go/pulumi"
)

// Secret is a Secrets Manager secret under a key, with its one version.
type Secret struct {
	Key     *kms.Key
	Secret  *secretsmanager.Secret
	Version *secretsmanager.SecretVersion
}

// NewSecret declares a key (purpose as NewKey's), a secret encrypted with it
// and the version holding value (marked secret), all named name.
func NewSecret(ctx *pulumi.Context, name, purpose, description string, value pulumi.StringInput, opts ...pulumi.ResourceOption) (*Secret, error) {
	key, err := NewKey(ctx, name, purpose, opts...)
	if err != nil {
		return nil, err
	}
	return NewSecretUnder(ctx, name, key, description, value, opts...)
}

// NewSecretUnder declares a secret encrypted with key, a key the caller
// owns and shares (a data store's), and the version holding value (marked
// secret), both named name.
func NewSecretUnder(ctx *pulumi.Context, name string, key *kms.Key, description string, value pulumi.StringInput, opts ...pulumi.ResourceOption) (*Secret, error) {
	secret, err := secretsmanager.NewSecret(ctx, name, &secretsmanager.SecretArgs{
		Description: pulumi.String(description),
		KmsKeyId:    key.Arn,
	}, opts...)
	if err != nil {
		return nil, err
	}
	version, err := secretsmanager.NewSecretVersion(ctx, name, &secretsmanager.SecretVersionArgs{
		SecretId:     secret.ID(),
		SecretString: pulumi.ToSecret(value).(pulumi.StringOutput),
	}, opts...)
	if err != nil {
		return nil, err
	}
	return &Secret{Key: key, Secret: secret, Version: version}, nil
}
