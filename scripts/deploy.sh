#!/usr/bin/env bash
# `make deploy STACK=…`: one command from a clean checkout to a running
# stack, on an empty account too; a second run with nothing changed changes
# nothing. Steps:
#   1. make build                     the receiver zip (reproducible)
#   2. pulumi up, only if the stack has no image repository yet: the first
#      deploy creates the platform and the ECR repository; the program
#      declares no ECS service until an image digest is recorded
#   3. scripts/image.sh               ko build + push (skipped when the tag exists)
#   4. when the digest differs from hookline:processorImageDigest:
#        pulumi config set hookline:migrationImageDigest <digest>
#        pulumi up                    registers the migration task definition;
#                                     the service keeps its image
#        broker.sh wait, reconcile    every broker node ready (its marker, then
#                                     check_running and check_port_connectivity),
#                                     then users, passwords and definitions
#                                     applied on every node (SSM document)
#        aws ecs run-task … migrate   waits for it; a non-zero exit stops here
#        pulumi config set hookline:processorImageDigest <digest>
#   5. pulumi up                      the service rolls to the new image (the
#                                     circuit breaker rolls back a failing one)
# The digests are recorded in Pulumi.<stack>.yaml: commit them.
#
# Usage: scripts/deploy.sh STACK
# Tools (override for tests): MAKE, PULUMI, AWS, GO, BROKER; HOOKLINE_BUILD_DIR.
set -euo pipefail

stack="${1:?usage: deploy.sh STACK}"
make="${MAKE:-make}"
pulumi="${PULUMI:-pulumi}"
aws="${AWS:-aws}"
root="$(cd "$(dirname "$0")/.." && pwd)"
broker="${BROKER:-$root/scripts/broker.sh}"
cd "$root"
say() { echo "deploy[$stack]: $*" >&2; }
up() { "$pulumi" up --stack "$stack" --yes --non-interactive; }
output() { "$pulumi" stack output "$@" --stack "$stack" 2>/dev/null || true; }
# broker_ready: nothing migrates or rolls before the broker is ready and
# runs the current definitions.
broker_ready() {
	PULUMI="$pulumi" AWS="$aws" bash "$broker" wait "$stack"
	PULUMI="$pulumi" AWS="$aws" bash "$broker" reconcile "$stack"
}

say "1/5 build"
"$make" build

"$pulumi" stack select --create "$stack" >&2
if [[ -z "$(output registryRepositoryUrl)" ]]; then
	say "2/5 first deploy: creating the platform and the image repository (the service waits for its image)"
	up
else
	say "2/5 image repository exists"
fi

say "3/5 image"
digest="$(bash "$root/scripts/image.sh" "$stack")"
current="$("$pulumi" config get hookline:processorImageDigest --stack "$stack" 2>/dev/null || true)"

if [[ "$digest" != "$current" ]]; then
	say "4/5 migrate: ${current:-no image yet} -> $digest"
	"$pulumi" config set hookline:migrationImageDigest "$digest" --stack "$stack"
	up
	broker_ready
	region="$("$pulumi" config get aws:region --stack "$stack")"
	cluster="$(output processorClusterName)"
	taskdef="$(output processorMigrationTaskDefinitionArn)"
	container="$(output processorMigrationContainerName)"
	subnets="$(output networkComputeSubnetIds --json | tr -d ' \n')"
	group="$(output securityProcessorGroupId)"
	network="{\"awsvpcConfiguration\":{\"subnets\":$subnets,\"securityGroups\":[\"$group\"],\"assignPublicIp\":\"DISABLED\"}}"
	task="$("$aws" ecs run-task --region "$region" --cluster "$cluster" --task-definition "$taskdef" \
		--launch-type FARGATE --count 1 --started-by hookline-deploy --network-configuration "$network" \
		--query 'tasks[0].taskArn' --output text)"
	if [[ "$task" != arn:* ]]; then
		say "the migration task did not start ($task); the service keeps its image"
		exit 1
	fi
	say "migration task $task: waiting for it to stop"
	for attempt in 1 2 3 4 5 6; do # aws ecs wait gives up after 10 minutes
		if "$aws" ecs wait tasks-stopped --region "$region" --cluster "$cluster" --tasks "$task"; then
			break
		fi
		if [[ $attempt == 6 ]]; then
			say "migration still running after an hour; the service keeps its image"
			exit 1
		fi
	done
	code="$("$aws" ecs describe-tasks --region "$region" --cluster "$cluster" --tasks "$task" \
		--query "tasks[0].containers[?name=='$container'].exitCode | [0]" --output text)"
	if [[ "$code" != "0" ]]; then
		reason="$("$aws" ecs describe-tasks --region "$region" --cluster "$cluster" --tasks "$task" \
			--query 'tasks[0].stoppedReason' --output text || true)"
		say "migration failed (exit code $code: $reason); the service keeps its image."
		say "logs: aws logs tail $(output processorLogGroupName) --log-stream-name-prefix $container --region $region"
		exit 1
	fi
	say "migration done"
	"$pulumi" config set hookline:processorImageDigest "$digest" --stack "$stack"
else
	say "4/5 image unchanged ($digest): no migration"
fi

say "5/5 pulumi up"
up
if [[ "$digest" == "$current" ]]; then
	broker_ready
fi
say "done: $(output processorServiceName) runs $digest"
