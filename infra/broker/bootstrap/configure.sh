#!/bin/bash
# hookline broker configuration (the half of the bootstrap that `make test`
# runs against the real local broker): the vhost, the users with their
# passwords from Secrets Manager, then the definitions document rendered from
# internal/topology (grants, exchanges, queues, bindings, policies), imported
# with `rabbitmqctl import_definitions`. The same script is the reconcile
# step: the SSM document that `make deploy` runs on every node, so a changed
# password or definition reaches running nodes without replacing them.
# Idempotent; in a cluster only the first running node (by name) applies, the
# others wait for the topology and then add themselves to every quorum queue.
# Rendered by infra/broker/bootstrap (text/template; values validated there).
set -euo pipefail

readonly REGION='{{.Region}}'
readonly STACK='{{.Stack}}'
readonly VHOST='{{.Vhost}}'
readonly NODES='{{.Nodes}}'
readonly DELETE_GUEST='{{.DeleteGuest}}'
readonly WAIT_SECONDS='{{.WaitSeconds}}'
readonly POLL_SECONDS='{{.PollSeconds}}'
# One line per user: name, tags (comma-separated, "-" for none), secret ARN.
readonly USERS=(
{{- range .Users}}
	'{{.Name}} {{.TagList}} {{.SecretArn}}'
{{- end}}
)
# The queues of the definitions document, for the nodes that wait for it.
readonly QUEUES=({{range .Queues}}'{{.}}' {{end}})

definitions() {
	cat <<'HOOKLINE_DEFINITIONS'
{{.Definitions}}
HOOKLINE_DEFINITIONS
}

log() { printf '%s hookline-broker-configure[%s]: %s\n' "$(date -u +%FT%TZ)" "$STACK" "$*" >&2; }

# secret_field ARN FIELD prints one field of a JSON secret (no newline).
secret_field() {
	aws secretsmanager get-secret-value --region "$REGION" --secret-id "$1" \
		--query SecretString --output text |
		python3 -c 'import json, sys; sys.stdout.write(str(json.load(sys.stdin)[sys.argv[1]]))' "$2"
}

# user_json NAME TAGS ARN prints the user as a definitions-document entry:
# the password is read from the secret into python's stdin and hashed there
# as RabbitMQ's internal backend does (rabbit_password_hashing_sha256: a
# 4-byte salt, then SHA-256 of salt and password), so the password is never
# in an argument, a file or the document's source.
user_json() {
	secret_field "$3" password | python3 -c '
import base64, hashlib, json, os, sys
password = sys.stdin.buffer.read()
if not password:
    sys.exit("empty password in the secret of " + sys.argv[1])
salt = os.urandom(4)
tags = [] if sys.argv[2] == "-" else sys.argv[2].split(",")
print(json.dumps({
    "name": sys.argv[1],
    "password_hash": base64.b64encode(salt + hashlib.sha256(salt + password).digest()).decode(),
    "hashing_algorithm": "rabbit_password_hashing_sha256",
    "tags": tags,
    "limits": {},
}))' "$1" "$2"
}

# with_users reads the definitions document, then one user per line, and
# prints the document with those users added.
with_users() {
	python3 -c '
import json, sys
text = sys.stdin.read().lstrip()
doc, end = json.JSONDecoder().raw_decode(text)
rest = text[end:]
doc["users"] = [json.loads(line) for line in rest.splitlines() if line.strip()]
if len(doc["users"]) != int(sys.argv[1]):
    sys.exit("expected %s users, got %d" % (sys.argv[1], len(doc["users"])))
json.dump(doc, sys.stdout)' "${#USERS[@]}"
}

this_node() { rabbitmqctl eval 'node().' | tr -d "'\r\n"; }

running_nodes() {
	rabbitmqctl cluster_status --formatter json |
		python3 -c 'import json, sys; print("\n".join(sorted(json.load(sys.stdin)["running_nodes"])))'
}

# wait_for_cluster blocks until NODES nodes run in this node's cluster.
wait_for_cluster() {
	local deadline=$((SECONDS + WAIT_SECONDS)) n
	while :; do
		n="$(running_nodes | grep -c . || true)"
		if ((n >= NODES)); then
			return 0
		fi
		if ((SECONDS >= deadline)); then
			log "only $n of $NODES nodes joined within ${WAIT_SECONDS}s"
			return 1
		fi
		log "waiting for the cluster: $n of $NODES nodes running"
		sleep "$POLL_SECONDS"
	done
}

# wait_for_topology blocks until every queue of the document exists.
wait_for_topology() {
	local deadline=$((SECONDS + WAIT_SECONDS)) have q missing
	while :; do
		have="$(rabbitmqctl list_queues --silent --vhost "$VHOST" name 2>/dev/null || true)"
		missing=""
		for q in "${QUEUES[@]}"; do
			grep -qxF -- "$q" <<<"$have" || missing+=" $q"
		done
		if [[ -z $missing ]]; then
			return 0
		fi
		if ((SECONDS >= deadline)); then
			log "the topology did not appear within ${WAIT_SECONDS}s (missing:$missing)"
			return 1
		fi
		sleep "$POLL_SECONDS"
	done
}

# apply imports the definitions with the users in one step: users (created,
# or updated with the secret's current password), vhost, grants, exchanges,
# queues, bindings and policies.
apply() {
	local line name tags arn users=""
	for line in "${USERS[@]}"; do
		read -r name tags arn <<<"$line"
		users+="$(user_json "$name" "$tags" "$arn")"$'\n'
	done
	local doc attempt
	doc="$({
		definitions
		printf '%s' "$users"
	} | with_users)"
	# An import can fail transiently (a busy node, a concurrent import):
	# it is idempotent, so try again before failing the step.
	for attempt in 1 2 3; do
		if printf '%s' "$doc" | rabbitmqctl import_definitions >/dev/null; then
			break
		fi
		if ((attempt == 3)); then
			log "import_definitions failed three times"
			return 1
		fi
		log "import_definitions failed (attempt $attempt); retrying"
		sleep "$POLL_SECONDS"
	done
	if [[ $DELETE_GUEST == true ]] && rabbitmqctl list_users --silent | cut -f1 | grep -qx guest; then
		log "deleting the default guest user"
		rabbitmqctl delete_user guest >/dev/null
	fi
	log "applied the definitions and ${#USERS[@]} users to vhost $VHOST"
}

main() {
	local self first
	if ((NODES == 1)); then
		apply
		return 0
	fi
	wait_for_cluster
	self="$(this_node)"
	first="$(running_nodes | sed -n 1p)"
	if [[ $self == "$first" ]]; then
		apply
	else
		log "$first applies the definitions; waiting for its topology"
		wait_for_topology
	fi
	# Queues declared before this node joined have no member here yet.
	rabbitmq-queues grow "$self" all --vhost-pattern "^${VHOST//./\\.}\$" --queue-pattern '.*' --errors-only >/dev/null
	log "$self is a member of every quorum queue of $VHOST"
}

main "$@"
