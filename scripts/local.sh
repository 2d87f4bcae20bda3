#!/usr/bin/env bash
# `make local`: the whole pipeline on this machine. Uses the loopback services
# that `make services` made sure of, migrates, runs receiver + processor, sends
# one signed demo webhook, shows the stored row, and keeps running until Ctrl-C
# (LOCAL_ONCE=1: stops once the row is shown, exit 0; scripts/fresh-machine.sh).
set -euo pipefail
cd "$(dirname "$0")/.."

DB=${LOCAL_DATABASE:-hookline}
RECEIVER_ADDR=${RECEIVER_ADDR:-127.0.0.1:8080}
PROCESSOR_ADDR=${PROCESSOR_ADDR:-127.0.0.1:9090}
# Each side as its own broker user with production's grants (make services
# creates them in vhost hookline).
RECEIVER_RABBITMQ_URL=${RECEIVER_RABBITMQ_URL:-amqp://hookline-receiver:local-receiver@127.0.0.1:5672/hookline}
PROCESSOR_RABBITMQ_URL=${PROCESSOR_RABBITMQ_URL:-amqp://hookline-processor:local-processor@127.0.0.1:5672/hookline}
export REDIS_URL=${REDIS_URL:-redis://127.0.0.1:6379/0}
export MYSQL_DSN=${MYSQL_DSN:-root@tcp(127.0.0.1:3306)/$DB?parseTime=true}
export WEBHOOK_SOURCES_FILE=${WEBHOOK_SOURCES_FILE:-examples/local-sources.yaml}

log() { printf '\n== %s\n' "$*"; }

mkdir -p build/local
log "building receiver and processor"
go build -o build/local/receiver ./lambda
go build -o build/local/processor ./processor

log "database $DB"
mariadb -uroot -h127.0.0.1 -e "CREATE DATABASE IF NOT EXISTS \`$DB\`"
build/local/processor migrate

pids=()
stopping=
cleanup() {
  [[ -z $stopping ]] || return 0
  stopping=1
  log "stopping"
  for p in "${pids[@]}"; do kill -TERM "$p" 2>/dev/null || true; done
  wait 2>/dev/null || true
}
# Ctrl-C is the normal way out: stop both services gracefully and exit 0.
trap 'cleanup; exit 0' INT TERM
trap cleanup EXIT

RABBITMQ_URL=$PROCESSOR_RABBITMQ_URL HTTP_ADDR=$PROCESSOR_ADDR build/local/processor run > >(sed 's/^/[processor] /') 2>&1 &
pids+=($!)
RABBITMQ_URL=$RECEIVER_RABBITMQ_URL LISTEN_ADDR=$RECEIVER_ADDR build/local/receiver > >(sed 's/^/[receiver]  /') 2>&1 &
pids+=($!)

wait_for() { # what url
  for _ in $(seq 1 100); do
    if curl -fsS -o /dev/null "$2" 2>/dev/null; then return 0; fi
    sleep 0.2
  done
  echo "$1 did not become ready at $2" >&2
  exit 1
}
wait_for processor "http://$PROCESSOR_ADDR/health/ready"
# The receiver answers 404 on / once it listens.
for _ in $(seq 1 100); do
  code=$(curl -s -o /dev/null -w '%{http_code}' "http://$RECEIVER_ADDR/" || true)
  [[ $code == 404 ]] && break
  sleep 0.2
done

log "sending a signed demo webhook"
id="msg_demo_$(date +%s)"
go run ./scripts/demo-webhook -url "http://$RECEIVER_ADDR/webhooks/demo" -sources "$WEBHOOK_SOURCES_FILE" -source demo -id "$id"
echo

log "stored row"
for _ in $(seq 1 50); do
  row=$(mariadb -uroot -h127.0.0.1 "$DB" -e "SELECT source, event_id, event_type, entity_key, received_at, processed_at, LEFT(payload, 80) AS payload FROM webhook_events WHERE event_id = '$id'\G" || true)
  if [[ -n $row ]]; then
    echo "$row"
    mariadb -uroot -h127.0.0.1 "$DB" -e "SELECT * FROM webhook_entities WHERE source = 'demo' AND entity_key = 'ord_1001'\G" || true
    break
  fi
  sleep 0.2
done
[[ -n ${row:-} ]] || { echo "the demo webhook was not stored within 10 s" >&2; exit 1; }

if [[ ${LOCAL_ONCE:-0} == 1 ]]; then
  log "demo row stored (LOCAL_ONCE=1): stopping"
  exit 0
fi
log "running: receiver http://$RECEIVER_ADDR/webhooks/<source>, processor http://$PROCESSOR_ADDR/health/ready and /metrics. Ctrl-C to stop."
wait
