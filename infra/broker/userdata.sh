#!/bin/bash
# hookline RabbitMQ node bootstrap: EC2 user data, rendered per stack and
# node by infra/broker (text/template; values are validated by infra/config).
# Idempotent: a replacement instance runs it again against the same data
# volume and the same private address, and keeps the node's state.
set -euo pipefail
exec > >(tee -a /var/log/hookline-broker-bootstrap.log) 2>&1

readonly REGION='{{.Region}}'
readonly STACK='{{.Stack}}'
readonly NODES='{{.Nodes}}'
readonly CLUSTER_TAG='{{.ClusterTag}}'
readonly DATA_VOLUME_ID='{{.DataVolumeID}}'
readonly RABBITMQ_VERSION='{{.RabbitMQVersion}}'
readonly VHOST='{{.Vhost}}'
readonly DELIVERY_LIMIT='{{.DeliveryLimit}}'
readonly ADMIN_SECRET_ARN='{{.AdminSecretArn}}'
readonly RECEIVER_SECRET_ARN='{{.ReceiverSecretArn}}'
readonly PROCESSOR_SECRET_ARN='{{.ProcessorSecretArn}}'
readonly COOKIE_SECRET_ARN='{{.CookieSecretArn}}'
readonly DATA_DIR=/var/lib/rabbitmq
readonly SIGNING_KEYS=https://github.com/rabbitmq/signing-keys/releases/download/3.0

log() { printf '%s hookline-broker[%s]: %s\n' "$(date -u +%FT%TZ)" "$STACK" "$*"; }

# secret_field ARN FIELD prints one field of a JSON secret.
secret_field() {
	aws secretsmanager get-secret-value --region "$REGION" --secret-id "$1" \
		--query SecretString --output text | jq -er --arg f "$2" '.[$f]'
}

# imds PATH reads instance metadata with an IMDSv2 session token.
imds() {
	local token
	token="$(curl -sf -X PUT http://169.254.169.254/latest/api/token -H 'X-aws-ec2-metadata-token-ttl-seconds: 300')"
	curl -sf -H "X-aws-ec2-metadata-token: $token" "http://169.254.169.254/latest/meta-data/$1"
}

# The data volume is attached by Pulumi after the instance starts; on Nitro
# it appears as an NVMe device named after the volume id.
wait_for_data_volume() {
	local link="/dev/disk/by-id/nvme-Amazon_Elastic_Block_Store_${DATA_VOLUME_ID//-/}"
	for _ in $(seq 1 180); do
		if [[ -e "$link" ]]; then
			readlink -f "$link"
			return 0
		fi
		sleep 5
	done
	log "data volume $DATA_VOLUME_ID was not attached within 15 minutes"
	return 1
}

mount_data_volume() {
	local dev
	dev="$(wait_for_data_volume)"
	if ! blkid "$dev" >/dev/null 2>&1; then
		log "formatting new data volume $DATA_VOLUME_ID ($dev)"
		mkfs.xfs -L rabbitmq "$dev"
	fi
	mkdir -p "$DATA_DIR"
	if ! grep -q '^LABEL=rabbitmq ' /etc/fstab; then
		echo "LABEL=rabbitmq $DATA_DIR xfs defaults,noatime,nofail 0 2" >>/etc/fstab
	fi
	mountpoint -q "$DATA_DIR" || mount "$DATA_DIR"
}

# Erlang and RabbitMQ from the RabbitMQ team's repositories (el/9 builds,
# which is what they publish for Amazon Linux 2023).
install_packages() {
	rpm --import "$SIGNING_KEYS/rabbitmq-release-signing-key.asc"
	rpm --import "$SIGNING_KEYS/cloudsmith.rabbitmq-erlang.E495BB49CC4BBE5B.key"
	rpm --import "$SIGNING_KEYS/cloudsmith.rabbitmq-server.9F4587F226208342.key"
	cat >/etc/yum.repos.d/rabbitmq.repo <<REPO
[modern-erlang]
name=modern-erlang-el9
baseurl=https://yum1.rabbitmq.com/erlang/el/9/\$basearch
        https://yum2.rabbitmq.com/erlang/el/9/\$basearch
repo_gpgcheck=1
gpgcheck=1
enabled=1
gpgkey=$SIGNING_KEYS/cloudsmith.rabbitmq-erlang.E495BB49CC4BBE5B.key
sslverify=1
metadata_expire=300
type=rpm-md

[modern-erlang-noarch]
name=modern-erlang-el9-noarch
baseurl=https://yum1.rabbitmq.com/erlang/el/9/noarch
        https://yum2.rabbitmq.com/erlang/el/9/noarch
repo_gpgcheck=1
gpgcheck=1
enabled=1
gpgkey=$SIGNING_KEYS/cloudsmith.rabbitmq-erlang.E495BB49CC4BBE5B.key
       $SIGNING_KEYS/rabbitmq-release-signing-key.asc
sslverify=1
metadata_expire=300
type=rpm-md

[rabbitmq-el9-noarch]
name=rabbitmq-el9-noarch
baseurl=https://yum2.rabbitmq.com/rabbitmq/el/9/noarch
        https://yum1.rabbitmq.com/rabbitmq/el/9/noarch
repo_gpgcheck=1
gpgcheck=1
enabled=1
gpgkey=$SIGNING_KEYS/cloudsmith.rabbitmq-server.9F4587F226208342.key
       $SIGNING_KEYS/rabbitmq-release-signing-key.asc
sslverify=1
metadata_expire=300
type=rpm-md
REPO
	dnf -y -q makecache
	dnf -y install jq socat logrotate amazon-cloudwatch-agent erlang "rabbitmq-server-${RABBITMQ_VERSION}*"
}

configure_rabbitmq() {
	install -d -o rabbitmq -g rabbitmq -m 0750 "$DATA_DIR"
	chown -R rabbitmq:rabbitmq "$DATA_DIR"
	cat >/etc/rabbitmq/rabbitmq.conf <<CONF
listeners.tcp.default = 5672
management.tcp.port = 15672
prometheus.tcp.port = 15692
loopback_users.guest = true
default_queue_type = quorum
vm_memory_high_watermark.relative = 0.6
disk_free_limit.absolute = 2GB
log.file.level = info
CONF
	local plugins=(rabbitmq_management rabbitmq_prometheus)
	if ((NODES > 1)); then
		local fqdn
		fqdn="$(imds local-hostname)"
		cat >/etc/rabbitmq/rabbitmq-env.conf <<ENV
USE_LONGNAME=true
NODENAME=rabbit@${fqdn}
ENV
		cat >>/etc/rabbitmq/rabbitmq.conf <<CONF
cluster_formation.peer_discovery_backend = aws
cluster_formation.aws.region = ${REGION}
cluster_formation.aws.instance_tags.hookline-broker-cluster = ${CLUSTER_TAG}
cluster_formation.target_cluster_size_hint = ${NODES}
cluster_partition_handling = pause_minority
CONF
		(
			umask 077
			secret_field "$COOKIE_SECRET_ARN" cookie | tr -d '\n' >"$DATA_DIR/.erlang.cookie"
		)
		chown rabbitmq:rabbitmq "$DATA_DIR/.erlang.cookie"
		chmod 0400 "$DATA_DIR/.erlang.cookie"
		plugins+=(rabbitmq_peer_discovery_aws)
	fi
	rabbitmq-plugins enable --offline "${plugins[@]}"
	systemctl enable --now rabbitmq-server
	rabbitmqctl await_startup --timeout 600
}

# ensure_user NAME SECRET_ARN TAGS...: creates or updates a user whose
# password lives in Secrets Manager; the password goes through stdin, never argv.
ensure_user() {
	local name="$1" arn="$2"
	shift 2
	if rabbitmqctl list_users --silent | cut -f1 | grep -qx "$name"; then
		secret_field "$arn" password | rabbitmqctl change_password "$name"
	else
		secret_field "$arn" password | rabbitmqctl add_user "$name"
	fi
	rabbitmqctl set_user_tags "$name" "$@"
}

configure_vhost() {
	if ! rabbitmqctl list_vhosts --silent | grep -qx "$VHOST"; then
		rabbitmqctl add_vhost "$VHOST" --default-queue-type quorum
	fi
	local admin receiver processor
	admin="$(secret_field "$ADMIN_SECRET_ARN" username)"
	receiver="$(secret_field "$RECEIVER_SECRET_ARN" username)"
	processor="$(secret_field "$PROCESSOR_SECRET_ARN" username)"
	ensure_user "$admin" "$ADMIN_SECRET_ARN" administrator
	ensure_user "$receiver" "$RECEIVER_SECRET_ARN"
	ensure_user "$processor" "$PROCESSOR_SECRET_ARN" monitoring
	rabbitmqctl set_permissions --vhost "$VHOST" "$admin" '.*' '.*' '.*'
	# Both sides declare the topology idempotently, so both configure the
	# webhooks.* names; neither touches anything else in the vhost.
	rabbitmqctl set_permissions --vhost "$VHOST" "$receiver" '^webhooks(\..*)?$' '^webhooks(\..*)?$' '^webhooks(\..*)?$'
	rabbitmqctl set_permissions --vhost "$VHOST" "$processor" '^webhooks(\..*)?$' '^webhooks(\..*)?$' '^webhooks(\..*)?$'
	rabbitmqctl delete_user guest >/dev/null 2>&1 || true

	# Quorum-queue and dead-letter policies: at-least-once dead-lettering
	# needs reject-publish overflow; the delivery limit is explicit.
	rabbitmqctl set_policy --vhost "$VHOST" --apply-to quorum_queues --priority 10 \
		hookline-inbound '^webhooks\.inbound$' \
		"{\"dead-letter-exchange\":\"webhooks.dlx\",\"dead-letter-strategy\":\"at-least-once\",\"overflow\":\"reject-publish\",\"delivery-limit\":${DELIVERY_LIMIT}}"
	rabbitmqctl set_policy --vhost "$VHOST" --apply-to quorum_queues --priority 10 \
		hookline-dead '^webhooks\.dead$' '{"overflow":"reject-publish"}'
}

# Memory and disk use reach CloudWatch through the agent (EC2 reports neither).
configure_cloudwatch_agent() {
	cat >/opt/aws/amazon-cloudwatch-agent/etc/hookline.json <<'JSON'
{
  "agent": {"metrics_collection_interval": 60},
  "metrics": {
    "namespace": "hookline/broker",
    "append_dimensions": {"InstanceId": "${aws:InstanceId}"},
    "metrics_collected": {
      "mem": {"measurement": ["mem_used_percent"]},
      "disk": {"measurement": ["used_percent"], "resources": ["/", "/var/lib/rabbitmq"], "drop_device": true}
    }
  }
}
JSON
	/opt/aws/amazon-cloudwatch-agent/bin/amazon-cloudwatch-agent-ctl -a fetch-config -m ec2 -s \
		-c file:/opt/aws/amazon-cloudwatch-agent/etc/hookline.json
}

main() {
	log "bootstrap start: $NODES node(s), RabbitMQ $RABBITMQ_VERSION, vhost $VHOST"
	mount_data_volume
	install_packages
	configure_rabbitmq
	configure_vhost
	configure_cloudwatch_agent
	log "bootstrap done"
}

main "$@"
