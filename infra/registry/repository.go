// Package registry declares the ECR repository the processor image is
// pushed to by `make image` (ko): scan on push, immutable tags, and a
// lifecycle policy that keeps rollback targets while bounding storage.
package registry

import (
	"encoding/json"

	"github.com/pulumi/pulumi-aws/sdk/v6/go/aws/ecr"
	"github.com/pulumi/pulumi/sdk/v3/go/pulumi"
)

// Args is what a stack decides about its repository.
type Args struct {
	RepositoryName    string // e.g. hookline-dev/processor
	KeepImages        int    // tagged images (and their SBOM artifacts) kept
	UntaggedAfterDays int    // untagged manifests expire after this many days
}

// Repository is the image repository component.
type Repository struct {
	pulumi.ResourceState

	URL  pulumi.StringOutput // <account>.dkr.ecr.<region>.amazonaws.com/<name>
	Arn  pulumi.StringOutput
	Name pulumi.StringOutput
}

// New declares the repository and its lifecycle policy.
func New(ctx *pulumi.Context, name string, args Args, opts ...pulumi.ResourceOption) (*Repository, error) {
	r := &Repository{}
	if err := ctx.RegisterComponentResource("hookline:registry:Repository", name, r, opts...); err != nil {
		return nil, err
	}
	parent := pulumi.Parent(r)
	repo, err := ecr.NewRepository(ctx, name, &ecr.RepositoryArgs{
		Name:                       pulumi.String(args.RepositoryName),
		ImageTagMutability:         pulumi.String("IMMUTABLE"),
		ImageScanningConfiguration: &ecr.RepositoryImageScanningConfigurationArgs{ScanOnPush: pulumi.Bool(true)},
		EncryptionConfigurations: ecr.RepositoryEncryptionConfigurationArray{
			ecr.RepositoryEncryptionConfigurationArgs{EncryptionType: pulumi.String("AES256")},
		},
		ForceDelete: pulumi.Bool(false), // a stack's destroy must not drop the images its tasks run
	}, parent)
	if err != nil {
		return nil, err
	}
	policy, err := LifecyclePolicy(args)
	if err != nil {
		return nil, err
	}
	if _, err := ecr.NewLifecyclePolicy(ctx, name, &ecr.LifecyclePolicyArgs{
		Repository: repo.Name,
		Policy:     pulumi.String(policy),
	}, parent); err != nil {
		return nil, err
	}
	r.URL, r.Arn, r.Name = repo.RepositoryUrl, repo.Arn, repo.Name
	if err := ctx.RegisterResourceOutputs(r, pulumi.Map{"url": r.URL}); err != nil {
		return nil, err
	}
	return r, nil
}

// LifecyclePolicy expires untagged manifests after a few days and keeps the
// newest KeepImages tagged ones. Every image `make image` pushes is tagged
// (src-<hash>, and ko's sha256-<digest>.sbom for its SBOM), so the images
// the service and its rollback target run are never untagged.
func LifecyclePolicy(args Args) (string, error) {
	b, err := json.Marshal(map[string]any{"rules": []map[string]any{
		{
			"rulePriority": 1,
			"description":  "expire untagged manifests (interrupted pushes)",
			"selection":    map[string]any{"tagStatus": "untagged", "countType": "sinceImagePushed", "countUnit": "days", "countNumber": args.UntaggedAfterDays},
			"action":       map[string]string{"type": "expire"},
		},
		{
			"rulePriority": 2,
			"description":  "keep the newest tagged images: the running one and its rollback targets",
			"selection":    map[string]any{"tagStatus": "any", "countType": "imageCountMoreThan", "countNumber": args.KeepImages},
			"action":       map[string]string{"type": "expire"},
		},
	}})
	return string(b), err
}
