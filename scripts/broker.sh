#!/usr/bin/env bash
# Broker operations on a deployed stack (docs/broker.md):
#   broker.sh wait STACK       every node's ready marker says ready, and RabbitMQ
#                              answers check_running and check_port_connectivity
#   broker.sh reconcile STACK  runs the configuration document (users, passwords,
#                              vhost, grants, topology, policies) on every node
#   broker.sh roll STACK       replaces the nodes one at a time with the current
#                              launch template (new user data, image, instance
#                              type), each waiting for the last to be ready and,
#                              in a cluster, for its queues to have their members back
# `make deploy` runs wait and reconcile before migrating; `make broker-roll` runs roll.
# Tools (override for tests): PULUMI, AWS; BROKER_POLL_SECONDS, BROKER_WAIT_SECONDS.
set -euo pipefail

cmd="${1:?usage: broker.sh wait|reconcile|roll STACK}"
stack="${2:?usage: broker.sh wait|reconcile|roll STACK}"
pulumi="${PULUMI:-pulumi}"
aws="${AWS:-aws}"
poll="${BROKER_POLL_SECONDS:-10}"
timeout="${BROKER_WAIT_SECONDS:-1500}"
say() { echo "broker[$stack]: $*" >&2; }
output() { "$pulumi" stack output "$@" --stack "$stack"; }
json_list() { python3 -c 'import json, sys; print("\n".join(json.load(sys.stdin)))'; }
field() { python3 -c 'import json, sys; print(json.loads(sys.stdin.read() or "{}").get(sys.argv[1], ""))' "$1"; }

region="$("$pulumi" config get aws:region --stack "$stack")"
mapfile -t nodes < <(output brokerNodeNames --json | json_list)
mapfile -t markers < <(output brokerStatusParameterNames --json | json_list)
document="$(output brokerConfigureDocumentName)"
instance_ids() { output brokerInstanceIds --json | json_list; }

# marker NODE: the node's ready marker (its parameter is at NODE's index in
# brokerStatusParameterNames).
marker() {
	local i
	for i in "${!nodes[@]}"; do
		if [[ ${nodes[$i]} == "$1" ]]; then
			"$aws" ssm get-parameter --region "$region" --name "${markers[$i]}" --query Parameter.Value --output text 2>/dev/null || true
			return
		fi
	done
}

# wait_ready NODE [INSTANCE]: until NODE's marker says ready (for INSTANCE).
wait_ready() {
	local node="$1" want="${2:-}" deadline=$((SECONDS + timeout)) m status
	while :; do
		m="$(marker "$node")"
		status="$(field status <<<"$m")"
		if [[ $status == ready && (-z $want || "$(field instance <<<"$m")" == "$want") ]]; then
			say "$node ready: $m"
			return 0
		fi
		if [[ $status == failed && (-z $want || "$(field instance <<<"$m")" == "$want") ]]; then
			say "$node failed to bootstrap: $m"
			return 1
		fi
		if ((SECONDS >= deadline)); then
			say "$node not ready after ${timeout}s (marker: ${m:-none})"
			return 1
		fi
		sleep "$poll"
	done
}

# run_command DOCUMENT PARAMETERS INSTANCE...: SSM Run Command, waited for.
run_command() {
	local doc="$1" params="$2" id deadline=$((SECONDS + timeout)) statuses
	shift 2
	id="$("$aws" ssm send-command --region "$region" --document-name "$doc" --parameters "$params" \
		--instance-ids "$@" --comment "hookline broker $cmd" --query Command.CommandId --output text)"
	while :; do
		statuses="$("$aws" ssm list-command-invocations --region "$region" --command-id "$id" \
			--query 'CommandInvocations[].Status' --output text)"
		if [[ -n $statuses && $(wc -w <<<"$statuses") -eq $# && -z "$(tr -s '[:space:]' '\n' <<<"$statuses" | grep -vx Success || true)" ]]; then
			return 0
		fi
		if grep -qE 'Failed|Cancelled|TimedOut' <<<"$statuses"; then
			say "$doc on $*: $statuses (aws ssm list-command-invocations --command-id $id --details)"
			return 1
		fi
		if ((SECONDS >= deadline)); then
			say "$doc on $* still running after ${timeout}s: $statuses"
			return 1
		fi
		sleep "$poll"
	done
}

checks='{"commands":["rabbitmq-diagnostics -q check_running","rabbitmq-diagnostics -q check_port_connectivity"]}'

wait_all() {
	local node
	for node in "${nodes[@]}"; do
		wait_ready "$node"
	done
	mapfile -t ids < <(instance_ids)
	run_command AWS-RunShellScript "$checks" "${ids[@]}"
	say "all ${#nodes[@]} node(s) run and accept connections"
}

reconcile() {
	mapfile -t ids < <(instance_ids)
	run_command "$document" '{}' "${ids[@]}"
	say "definitions and passwords applied on ${#ids[@]} node(s)"
}

instance_urn() {
	"$pulumi" stack export --stack "$stack" | python3 -c '
import json, sys
for r in json.load(sys.stdin)["deployment"]["resources"]:
    if r["type"] == "aws:ec2/instance:Instance" and r["urn"].endswith("::" + sys.argv[1]):
        print(r["urn"])' "$1"
}

roll() {
	local i node urn old new quorum='{"commands":["rabbitmq-queues -q check_if_node_is_quorum_critical"]}'
	wait_all
	if ((${#nodes[@]} == 1)); then
		say "one node: the broker is unavailable while it is replaced (clients retry; the receiver answers 503)"
	fi
	for i in "${!nodes[@]}"; do
		node="${nodes[$i]}"
		mapfile -t ids < <(instance_ids)
		old="${ids[$i]}"
		if ((${#nodes[@]} > 1)); then
			# Refuses while a quorum queue would lose its majority without this node.
			run_command AWS-RunShellScript "$quorum" "$old"
		fi
		urn="$(instance_urn "$node")"
		[[ -n $urn ]] || {
			say "no instance $node in the stack"
			return 1
		}
		say "replacing $node ($old)"
		"$pulumi" up --stack "$stack" --yes --non-interactive --replace "$urn" --target "$urn" --target-dependents
		mapfile -t ids < <(instance_ids)
		new="${ids[$i]}"
		[[ $new != "$old" ]] || {
			say "$node was not replaced"
			return 1
		}
		wait_ready "$node" "$new"
		if ((${#nodes[@]} > 1)); then
			# Its queues have their members back (the bootstrap grew them).
			run_command AWS-RunShellScript "$quorum" "${ids[@]}"
		fi
		run_command AWS-RunShellScript "$checks" "$new"
	done
	say "rolled ${#nodes[@]} node(s)"
}

case "$cmd" in
wait) wait_all ;;
reconcile) reconcile ;;
roll) roll ;;
*)
	echo "usage: broker.sh wait|reconcile|roll STACK" >&2
	exit 2
	;;
esac
