#!/usr/bin/env bash
# `make image STACK=…`: builds the processor image with ko (no Docker
# daemon; linux/arm64; distroless static, nonroot; SPDX SBOM pushed next to
# it) and pushes it to the stack's ECR repository (stack output
# registryRepositoryUrl). Prints the image digest (sha256:…) on stdout, everything
# else on stderr, and writes it to build/image/<stack>.digest.
#
# The tag is src-<hash of the processor's sources, go.mod/go.sum, ko's
# version and the base image>: the repository's tags are immutable, so an
# image whose tag is already there is reused, not rebuilt — a second run
# with nothing changed pushes nothing and yields the same digest.
#
# Usage: scripts/image.sh STACK
# Tools (override for tests): GO, PULUMI, AWS, CURL; HOOKLINE_BUILD_DIR
# (build/), HOOKLINE_KODATA (processor/kodata, which ko ships as /var/run/ko).
#
# The image carries the RDS CA bundle (fetched fresh for each build) at
# /var/run/ko/rds-ca-bundle.pem: RDS certificates do not chain to the base
# image's public roots, and the task definition's MYSQL_CA points there.
set -euo pipefail

stack="${1:?usage: image.sh STACK}"
go="${GO:-go}"
pulumi="${PULUMI:-pulumi}"
aws="${AWS:-aws}"
curl="${CURL:-curl}"
rds_ca_url="https://truststore.pki.rds.amazonaws.com/global/global-bundle.pem"
ko_version="v0.18.1"
ko="github.com/google/ko@${ko_version}"
base_image="gcr.io/distroless/static-debian12:nonroot"

root="$(cd "$(dirname "$0")/.." && pwd)"
cd "$root"
build_dir="${HOOKLINE_BUILD_DIR:-$root/build}"
kodata="${HOOKLINE_KODATA:-$root/processor/kodata}"
say() { echo "image[$stack]: $*" >&2; }

repo_url="$("$pulumi" stack output registryRepositoryUrl --stack "$stack" 2>/dev/null || true)"
if [[ -z "$repo_url" ]]; then
	say "stack $stack has no registryRepositoryUrl output yet; run 'make deploy STACK=$stack' (it creates the repository first)"
	exit 1
fi
registry="${repo_url%%/*}"
repo_name="${repo_url#*/}"
region="$("$pulumi" config get aws:region --stack "$stack")"

# What the image is built from, and how: the same inputs give the same tag.
sources=(processor internal go.mod go.sum)
tag="src-$(
	{
		git --no-optional-locks rev-parse "${sources[@]/#/HEAD:}"
		git --no-optional-locks diff HEAD -- "${sources[@]}"
		git --no-optional-locks ls-files --others --exclude-standard -- "${sources[@]}" | LC_ALL=C sort | while read -r f; do sha256sum "$f"; done
		echo "$ko_version $base_image linux/arm64"
	} | sha256sum | cut -c1-20
)"

digest="$("$aws" ecr describe-images --region "$region" --repository-name "$repo_name" \
	--image-ids "imageTag=$tag" --query 'imageDetails[0].imageDigest' --output text 2>/dev/null || true)"
if [[ "$digest" == sha256:* ]]; then
	say "$repo_url:$tag is already pushed ($digest); not rebuilding"
else
	say "building $repo_url:$tag with ko $ko_version (linux/arm64, $base_image)"
	mkdir -p "$kodata"
	"$curl" -fsSL --proto '=https' --tlsv1.2 -o "$kodata/rds-ca-bundle.pem.new" "$rds_ca_url"
	if ! grep -q -- "-----BEGIN CERTIFICATE-----" "$kodata/rds-ca-bundle.pem.new"; then
		say "the RDS CA bundle from $rds_ca_url is not PEM; not building an image that could not verify the database"
		exit 1
	fi
	mv "$kodata/rds-ca-bundle.pem.new" "$kodata/rds-ca-bundle.pem"
	"$aws" ecr get-login-password --region "$region" |
		"$go" run "$ko" login "$registry" --username AWS --password-stdin >&2
	refs="$(mktemp)"
	trap 'rm -f "$refs"' EXIT
	KO_DOCKER_REPO="$repo_url" KO_DEFAULTBASEIMAGE="$base_image" \
		"$go" run "$ko" build ./processor \
		--bare --platform=linux/arm64 --sbom=spdx --tags="$tag" --image-refs="$refs" >&2
	ref="$(head -n1 "$refs")"
	digest="${ref##*@}"
fi
if [[ ! "$digest" =~ ^sha256:[a-f0-9]{64}$ ]]; then
	say "no image digest (got '$digest')"
	exit 1
fi
mkdir -p "$build_dir/image"
echo "$digest" >"$build_dir/image/$stack.digest"
say "$repo_url@$digest"
echo "$digest"
