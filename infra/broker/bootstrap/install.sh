#!/bin/bash
# hookline RabbitMQ node bootstrap, install half: EC2 user data, rendered per
# node by infra/broker/bootstrap (text/template; values validated there).
# Mounts the data volume, installs the pinned container runtime, runs the
# official RabbitMQ image pinned by digest under systemd, issues the node's
# TLS certificate from the stack's CA, then runs the configuration half (the
# reconcile SSM document, the same script `make deploy` runs) and records
# the outcome. Idempotent: a replacement instance runs it again against the
# same data volume and network interface and keeps the node's state.
set -euo pipefail
exec > >(tee -a /var/log/hookline-broker-bootstrap.log) 2>&1

readonly REGION='{{.Region}}'
readonly STACK='{{.Stack}}'
readonly NODE='{{.Node}}'
readonly NODE_INDEX='{{.NodeIndex}}'
readonly NODES='{{.Nodes}}'
readonly CLUSTER_TAG='{{.ClusterTag}}'
readonly DATA_VOLUME_ID='{{.DataVolumeID}}'
readonly IMAGE='{{.Image}}'
readonly RABBITMQ_VERSION='{{.RabbitMQVersion}}'
readonly ERLANG_SERIES='{{.ErlangSeries}}'
readonly DOCKER_PACKAGE='{{.DockerPackage}}'
readonly ENDPOINT='{{.Endpoint}}'
readonly CONFIGURE_DOCUMENT='{{.ConfigureDocument}}'
readonly STATUS_PARAMETER='{{.StatusParameter}}'
readonly LOG_GROUP='{{.LogGroup}}'
readonly METRICS_NAMESPACE='{{.MetricsNamespace}}'
readonly CA_KEY_SECRET_ARN='{{.CAKeySecretArn}}'
readonly CA_CERT_SECRET_ARN='{{.CACertSecretArn}}'
readonly COOKIE_SECRET_ARN='{{.CookieSecretArn}}'
readonly DATA_DIR=/var/lib/rabbitmq
readonly CONF_DIR=/etc/rabbitmq
readonly RABBITMQ_UID=999 # the rabbitmq user of the official image

step=start
log() { printf '%s hookline-broker[%s %s]: %s\n' "$(date -u +%FT%TZ)" "$STACK" "$NODE" "$*"; }

# imds PATH reads instance metadata with an IMDSv2 session token.
imds() {
	local token
	token="$(curl -sf -X PUT http://169.254.169.254/latest/api/token -H 'X-aws-ec2-metadata-token-ttl-seconds: 300')"
	curl -sf -H "X-aws-ec2-metadata-token: $token" "http://169.254.169.254/latest/meta-data/$1"
}

# cloudwatch_log MESSAGE sends one line to the stack's broker log group.
cloudwatch_log() {
	local ms
	ms="$(($(date +%s) * 1000))"
	aws logs create-log-stream --region "$REGION" --log-group-name "$LOG_GROUP" --log-stream-name "$NODE" 2>/dev/null || true
	aws logs put-log-events --region "$REGION" --log-group-name "$LOG_GROUP" --log-stream-name "$NODE" \
		--log-events "timestamp=$ms,message=$1" >/dev/null || true
}

# record STATUS DETAIL writes the node's ready marker (an SSM parameter that
# `make deploy` and operators read) and a log line to CloudWatch.
record() {
	local value
	value="$(printf '{"status":"%s","node":"%s","instance":"%s","step":"%s","rabbitmq":"%s","erlang":"%s","image":"%s","at":"%s"}' \
		"$1" "$NODE" "${INSTANCE_ID:-unknown}" "$step" "$RABBITMQ_VERSION" "${ERLANG_VERSION:-unknown}" "$IMAGE" "$(date -u +%FT%TZ)")"
	aws ssm put-parameter --region "$REGION" --name "$STATUS_PARAMETER" --type String --overwrite --value "$value" >/dev/null || true
	cloudwatch_log "hookline-broker $NODE $1 ($2): $value"
	log "$1: $2"
}

on_exit() {
	local rc=$?
	if ((rc != 0)); then
		record failed "step $step exited $rc; see /var/log/hookline-broker-bootstrap.log"
	fi
}
trap on_exit EXIT

# secret_field ARN FIELD prints one field of a JSON secret.
secret_field() {
	aws secretsmanager get-secret-value --region "$REGION" --secret-id "$1" \
		--query SecretString --output text |
		python3 -c 'import json, sys; sys.stdout.write(str(json.load(sys.stdin)[sys.argv[1]]))' "$2"
}

# booting_metric publishes Booting=1 every minute until the node is ready:
# the stack's alarm fires when a node has been booting for 15 minutes.
start_booting_metric() {
	systemd-run --unit hookline-broker-booting --description "hookline broker: not ready yet" \
		/bin/bash -c "while [[ ! -e /run/hookline-broker-ready ]]; do aws cloudwatch put-metric-data --region '$REGION' --namespace '$METRICS_NAMESPACE' --metric-name Booting --dimensions Node='$NODE' --value 1 || true; sleep 60; done; aws cloudwatch put-metric-data --region '$REGION' --namespace '$METRICS_NAMESPACE' --metric-name Booting --dimensions Node='$NODE' --value 0" ||
		true
}

# The data volume is attached after the instance starts; on Nitro it
# appears as an NVMe device named after the volume id. It mounts by UUID;
# a new (blank) volume is formatted, a volume with any signature never is.
mount_data_volume() {
	local link="/dev/disk/by-id/nvme-Amazon_Elastic_Block_Store_${DATA_VOLUME_ID//-/}" dev uuid
	for _ in $(seq 1 180); do
		[[ -e $link ]] && break
		sleep 5
	done
	[[ -e $link ]] || {
		log "data volume $DATA_VOLUME_ID was not attached within 15 minutes"
		return 1
	}
	dev="$(readlink -f "$link")"
	if ! blkid -p "$dev" >/dev/null 2>&1; then
		log "formatting the new data volume $DATA_VOLUME_ID ($dev)"
		mkfs.xfs -L rabbitmq "$dev"
	fi
	uuid="$(blkid -s UUID -o value "$dev")"
	[[ -n $uuid ]] || {
		log "data volume $DATA_VOLUME_ID has no filesystem UUID"
		return 1
	}
	mkdir -p "$DATA_DIR"
	sed -i "\|[[:space:]]${DATA_DIR}[[:space:]]|d" /etc/fstab
	# nofail: a missing volume fails the mount unit (and so the broker, which
	# requires it) instead of holding the boot in emergency mode without SSM.
	echo "UUID=$uuid $DATA_DIR xfs defaults,noatime,nofail 0 2" >>/etc/fstab
	systemctl daemon-reload
	mountpoint -q "$DATA_DIR" || mount "$DATA_DIR"
	chown "$RABBITMQ_UID:$RABBITMQ_UID" "$DATA_DIR"
	chmod 0750 "$DATA_DIR"
}

# The container runtime, pinned; the broker itself is the image by digest.
install_runtime() {
	dnf -y install "$DOCKER_PACKAGE"
	systemctl enable --now docker.service
	docker pull "$IMAGE"
}

# issue_certificate makes this node's TLS key and certificate, signed by
# the stack's CA. Node 0 creates the CA once (its key kept in Secrets
# Manager, its certificate published for clients); the others, and every
# replacement, wait for it and reuse it.
issue_certificate() {
	local tls="$CONF_DIR/tls" work ip host
	install -d -m 0750 -o root -g "$RABBITMQ_UID" "$tls"
	work="$(mktemp -d /run/hookline-ca.XXXXXX)"
	# Whether the CA exists is read from the secret's versions, never from a
	# failed read: a throttled or failed call must not make node 0 replace
	# the CA every client trusts (set -e stops the bootstrap instead).
	local versions
	versions="$(aws secretsmanager list-secret-version-ids --region "$REGION" --secret-id "$CA_KEY_SECRET_ARN" \
		--query 'length(Versions)' --output text)"
	if [[ $versions == 0 ]]; then
		if ((NODE_INDEX != 0)); then
			log "waiting for node 0 to create the CA"
			for _ in $(seq 1 120); do
				versions="$(aws secretsmanager list-secret-version-ids --region "$REGION" --secret-id "$CA_KEY_SECRET_ARN" \
					--query 'length(Versions)' --output text || echo 0)"
				[[ $versions != 0 ]] && break
				sleep 10
			done
		else
			log "creating the stack's broker CA"
			openssl ecparam -name prime256v1 -genkey -noout -out "$work/ca.key"
			openssl req -x509 -new -key "$work/ca.key" -sha256 -days 3650 -subj "/O=hookline/CN=hookline $STACK broker CA" \
				-addext "basicConstraints=critical,CA:TRUE,pathlen:0" -addext "keyUsage=critical,keyCertSign,cRLSign" -out "$work/ca.crt"
			aws secretsmanager put-secret-value --region "$REGION" --secret-id "$CA_CERT_SECRET_ARN" --secret-string "file://$work/ca.crt" >/dev/null
			aws secretsmanager put-secret-value --region "$REGION" --secret-id "$CA_KEY_SECRET_ARN" --secret-string "file://$work/ca.key" >/dev/null
		fi
	fi
	aws secretsmanager get-secret-value --region "$REGION" --secret-id "$CA_KEY_SECRET_ARN" \
		--query SecretString --output text >"$work/ca.key"
	[[ -s $work/ca.key ]] || {
		log "no CA key in $CA_KEY_SECRET_ARN"
		return 1
	}
	aws secretsmanager get-secret-value --region "$REGION" --secret-id "$CA_CERT_SECRET_ARN" \
		--query SecretString --output text >"$tls/ca.crt"
	ip="$(imds local-ipv4)"
	host="$(imds local-hostname)"
	openssl ecparam -name prime256v1 -genkey -noout -out "$tls/node.key"
	openssl req -new -key "$tls/node.key" -subj "/O=hookline/CN=$NODE" -out "$work/node.csr"
	# The names clients use: the endpoint (the load balancer's name, or this
	# node's address), this node's private name and address.
	local san="DNS:$host,IP:$ip"
	if [[ $ENDPOINT =~ ^[0-9.]+$ ]]; then
		[[ $ENDPOINT == "$ip" ]] || san+=",IP:$ENDPOINT"
	else
		san+=",DNS:$ENDPOINT"
	fi
	printf 'basicConstraints=CA:FALSE\nkeyUsage=critical,digitalSignature,keyEncipherment\nextendedKeyUsage=serverAuth,clientAuth\nsubjectAltName=%s\n' \
		"$san" >"$work/ext.cnf"
	openssl x509 -req -in "$work/node.csr" -CA "$tls/ca.crt" -CAkey "$work/ca.key" -CAcreateserial \
		-days 825 -sha256 -extfile "$work/ext.cnf" -out "$tls/node.crt"
	rm -rf "$work" # the CA key never stays on the node
	chown root:"$RABBITMQ_UID" "$tls"/*
	chmod 0440 "$tls"/*
}

write_config() {
	install -d -m 0755 "$CONF_DIR"
	# TLS only: no plaintext AMQP listener; management and Prometheus on TLS
	# (Prometheus admits monitoring users only: the collector).
	cat >"$CONF_DIR/rabbitmq.conf" <<CONF
listeners.tcp = none
listeners.ssl.default = 5671
ssl_options.cacertfile = $CONF_DIR/tls/ca.crt
ssl_options.certfile = $CONF_DIR/tls/node.crt
ssl_options.keyfile = $CONF_DIR/tls/node.key
ssl_options.verify = verify_none
ssl_options.versions.1 = tlsv1.3
ssl_options.versions.2 = tlsv1.2
management.ssl.port = 15671
management.ssl.cacertfile = $CONF_DIR/tls/ca.crt
management.ssl.certfile = $CONF_DIR/tls/node.crt
management.ssl.keyfile = $CONF_DIR/tls/node.key
prometheus.ssl.port = 15691
prometheus.authentication.enabled = true
prometheus.ssl.cacertfile = $CONF_DIR/tls/ca.crt
prometheus.ssl.certfile = $CONF_DIR/tls/node.crt
prometheus.ssl.keyfile = $CONF_DIR/tls/node.key
loopback_users.guest = true
default_queue_type = quorum
vm_memory_high_watermark.relative = 0.6
disk_free_limit.absolute = 2GB
log.console = true
log.console.level = info
CONF
	local plugins="rabbitmq_management,rabbitmq_prometheus" fqdn
	fqdn="$(imds local-hostname)"
	# The container's environment, which `docker exec` (the CLI tools) inherits.
	install -d -m 0755 /etc/hookline
	printf 'RABBITMQ_USE_LONGNAME=true\nRABBITMQ_NODENAME=rabbit@%s\n' "$fqdn" >/etc/hookline/rabbitmq.env
	if ((NODES > 1)); then
		cat >>"$CONF_DIR/rabbitmq.conf" <<CONF
cluster_formation.peer_discovery_backend = aws
cluster_formation.aws.region = ${REGION}
cluster_formation.aws.use_private_ip = false
cluster_formation.aws.instance_tags.hookline-broker-cluster = ${CLUSTER_TAG}
cluster_formation.target_cluster_size_hint = ${NODES}
cluster_partition_handling = pause_minority
CONF
		(
			umask 077
			secret_field "$COOKIE_SECRET_ARN" cookie >"$DATA_DIR/.erlang.cookie"
		)
		chown "$RABBITMQ_UID:$RABBITMQ_UID" "$DATA_DIR/.erlang.cookie"
		chmod 0400 "$DATA_DIR/.erlang.cookie"
		plugins+=",rabbitmq_peer_discovery_aws"
	fi
	echo "[${plugins}]." >"$CONF_DIR/enabled_plugins"
	chmod 0644 "$CONF_DIR/rabbitmq.conf" "$CONF_DIR/enabled_plugins"
}

# The broker runs as a systemd service around the pinned image; it requires
# the data volume's mount and refuses to start on an empty directory.
install_service() {
	cat >/etc/systemd/system/hookline-rabbitmq.service <<UNIT
[Unit]
Description=hookline RabbitMQ ($IMAGE)
Requires=docker.service
After=docker.service network-online.target
Wants=network-online.target
RequiresMountsFor=$DATA_DIR

[Service]
ExecStartPre=/usr/bin/mountpoint -q $DATA_DIR
ExecStartPre=-/usr/bin/docker rm -f rabbitmq
ExecStart=/usr/bin/docker run --rm --name rabbitmq --network host --ulimit nofile=65536:65536 \\
	--env-file /etc/hookline/rabbitmq.env \\
	-v $DATA_DIR:/var/lib/rabbitmq -v $CONF_DIR:/etc/rabbitmq:ro $IMAGE
ExecStop=/usr/bin/docker stop --time 120 rabbitmq
Restart=on-failure
RestartSec=10
TimeoutStartSec=300
TimeoutStopSec=150

[Install]
WantedBy=multi-user.target
UNIT
	# The CLI tools on the host run inside the container (same Erlang, same cookie).
	local tool
	for tool in rabbitmqctl rabbitmq-diagnostics rabbitmq-queues rabbitmq-plugins; do
		printf '#!/bin/bash\nexec /usr/bin/docker exec -i rabbitmq %s "$@"\n' "$tool" >"/usr/local/bin/$tool"
		chmod 0755 "/usr/local/bin/$tool"
	done
	systemctl daemon-reload
	systemctl enable hookline-rabbitmq.service
	systemctl restart hookline-rabbitmq.service
	for _ in $(seq 1 60); do
		rabbitmqctl await_startup --timeout 10 >/dev/null 2>&1 && return 0
		sleep 5
	done
	log "RabbitMQ did not start within 5 minutes"
	return 1
}

# check_versions refuses a node whose broker is not the pinned release.
check_versions() {
	local v
	v="$(rabbitmqctl version | tr -d '\r\n')"
	[[ $v == "$RABBITMQ_VERSION" ]] || {
		log "the image runs RabbitMQ $v, not the pinned $RABBITMQ_VERSION"
		return 1
	}
	ERLANG_VERSION="$(docker exec rabbitmq erl -noshell -eval '{ok, V} = file:read_file(filename:join([code:root_dir(), "releases", erlang:system_info(otp_release), "OTP_VERSION"])), io:put_chars(string:trim(V)), halt().')"
	[[ $ERLANG_VERSION == "$ERLANG_SERIES".* ]] || {
		log "the image runs Erlang $ERLANG_VERSION, not the $ERLANG_SERIES series the pin allows"
		return 1
	}
}

# configure runs the reconcile SSM document's script: users, vhost,
# definitions (the same step `make deploy` runs on running nodes).
configure() {
	aws ssm get-document --region "$REGION" --name "$CONFIGURE_DOCUMENT" --document-format JSON \
		--query Content --output text |
		python3 -c 'import json, sys; print("\n".join(json.load(sys.stdin)["mainSteps"][0]["inputs"]["runCommand"]))' >/run/hookline-broker-configure.sh
	bash /run/hookline-broker-configure.sh
}

# The ready check every minute: Ready=1 while the node runs and accepts
# connections, and the node's memory and disk use (EC2 reports neither).
install_health_timer() {
	cat >/usr/local/sbin/hookline-broker-health <<HEALTH
#!/bin/bash
ready=0
rabbitmq-diagnostics -q check_running >/dev/null 2>&1 && rabbitmq-diagnostics -q check_port_connectivity >/dev/null 2>&1 && ready=1
mem="\$(awk '/MemTotal/ {t=\$2} /MemAvailable/ {a=\$2} END {printf "%.1f", (t-a)*100/t}' /proc/meminfo)"
disk="\$(df --output=pcent $DATA_DIR | tail -n1 | tr -dc '0-9')"
dim='"Dimensions":[{"Name":"Node","Value":"$NODE"}]'
aws cloudwatch put-metric-data --region '$REGION' --namespace '$METRICS_NAMESPACE' --metric-data \
	"[{\"MetricName\":\"Ready\",\"Value\":\$ready,\$dim},{\"MetricName\":\"MemoryUsedPercent\",\"Value\":\$mem,\"Unit\":\"Percent\",\$dim},{\"MetricName\":\"DataDiskUsedPercent\",\"Value\":\$disk,\"Unit\":\"Percent\",\$dim}]"
HEALTH
	chmod 0755 /usr/local/sbin/hookline-broker-health
	cat >/etc/systemd/system/hookline-broker-health.service <<'UNIT'
[Unit]
Description=hookline broker health metrics
[Service]
Type=oneshot
ExecStart=/usr/local/sbin/hookline-broker-health
UNIT
	cat >/etc/systemd/system/hookline-broker-health.timer <<'UNIT'
[Unit]
Description=hookline broker health metrics every minute
[Timer]
OnBootSec=60
OnUnitActiveSec=60
[Install]
WantedBy=timers.target
UNIT
	systemctl daemon-reload
	systemctl enable --now hookline-broker-health.timer
}

main() {
	log "bootstrap start: node $NODE_INDEX of $NODES, RabbitMQ $RABBITMQ_VERSION ($IMAGE)"
	INSTANCE_ID="$(imds instance-id)"
	start_booting_metric
	step=mount
	mount_data_volume
	step=runtime
	install_runtime
	step=tls
	issue_certificate
	step=config
	write_config
	step=service
	install_service
	step=versions
	check_versions
	step=configure
	configure
	step=health
	install_health_timer
	step=ready
	touch /run/hookline-broker-ready
	record ready "RabbitMQ $RABBITMQ_VERSION on Erlang $ERLANG_VERSION"
}

main "$@"
