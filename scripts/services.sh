#!/usr/bin/env bash
# Makes sure the local RabbitMQ, Redis and MariaDB are reachable on loopback.
# Uses running ones; starts a stopped one (docker compose where a Docker engine
# runs, else the Debian packages' daemons) and fails with a clear message when
# it cannot. The one script that owns this: `make services`, used by
# `make test` and `make local`.
set -euo pipefail

log() { printf 'services: %s\n' "$*" >&2; }

up() { # host port
  (exec 3<>"/dev/tcp/$1/$2") 2>/dev/null
}

wait_up() { # name port seconds
  local name=$1 port=$2 deadline=$((SECONDS + $3))
  until up 127.0.0.1 "$port"; do
    if ((SECONDS >= deadline)); then
      log "$name did not come up on 127.0.0.1:$port within $3s"
      return 1
    fi
    sleep 0.5
  done
}

have_docker() { command -v docker >/dev/null 2>&1 && docker info >/dev/null 2>&1; }

start() { # name port start-command...
  local name=$1 port=$2
  shift 2
  if up 127.0.0.1 "$port"; then
    return 0
  fi
  if have_docker && [[ -f compose.yaml ]]; then
    log "starting $name with docker compose"
    docker compose up -d "$name"
  elif command -v "$1" >/dev/null 2>&1; then
    log "$name is not reachable on 127.0.0.1:$port; starting it: $*"
    "$@" >/dev/null 2>&1 || true
  else
    log "$name is not reachable on 127.0.0.1:$port and neither Docker nor '$1' is installed."
    log "install it (Debian: apt-get install $name) or start it yourself, then run this again."
    return 1
  fi
  wait_up "$name" "$port" 90
  log "$name is up on 127.0.0.1:$port"
}

fail=0
start redis-server 6379 redis-server --daemonize yes --bind 127.0.0.1 -::1 --port 6379 \
  --save "" --appendonly no --dir /var/lib/redis --logfile /var/log/redis/ci.log || fail=1
start mariadb 3306 start-stop-daemon --start --oknodo --background --exec /usr/sbin/mariadbd || fail=1
start rabbitmq-server 5672 rabbitmq-server -detached || fail=1
((fail == 0)) || { log "a required service is missing; see above"; exit 1; }

# Tests isolate themselves in their own vhost through the management API
# (15672), and the queue metrics collector reads the broker's numbers from the
# Prometheus endpoint (15692), as it does in production: make sure both
# plugins are enabled. Enabling a running plugin again is a no-op.
plugin() { # name port
  up 127.0.0.1 "$2" && return 0
  if command -v rabbitmq-plugins >/dev/null 2>&1; then
    log "enabling the RabbitMQ plugin $1"
    rabbitmq-plugins enable "$1" >/dev/null
    wait_up "RabbitMQ $1" "$2" 60
  else
    log "RabbitMQ $1 (127.0.0.1:$2) is not reachable and rabbitmq-plugins is not installed"
    return 1
  fi
}
plugin rabbitmq_management 15672
plugin rabbitmq_prometheus 15692

# The broker's definitions (internal/topology: exchanges, queues, policies,
# grants) applied to the local vhost "hookline", as the node bootstrap
# applies them in AWS, with one local user per role (password local-<role>,
# for this machine only). Idempotent: applying again changes nothing.
apply_definitions() {
  local api=http://127.0.0.1:15672/api role name tags
  local auth=(-u "${RABBITMQ_ADMIN:-guest:guest}") defs=build/brokerdefs
  mkdir -p build && go build -o "$defs" ./internal/topology/cmd/brokerdefs || return 1
  while read -r role name tags; do
    [[ $tags == - ]] && tags=
    curl -fsS "${auth[@]}" -X PUT -H 'content-type: application/json' \
      -d "{\"password\":\"local-$role\",\"tags\":\"$tags\"}" "$api/users/$name" >/dev/null
  done < <("$defs" -users)
  "$defs" -vhost hookline |
    curl -fsS "${auth[@]}" -X POST -H 'content-type: application/json' --data-binary @- "$api/definitions" >/dev/null
}
cd "$(dirname "$0")/.."
if ! apply_definitions; then
  log "could not apply the broker definitions to vhost hookline (management API on 127.0.0.1:15672)"
  exit 1
fi
log "rabbitmq, redis and mariadb are reachable; broker definitions applied to vhost hookline"
