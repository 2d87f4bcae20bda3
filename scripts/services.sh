#!/usr/bin/env bash
# Makes sure the local RabbitMQ, Redis and MariaDB are reachable on loopback.
# Uses running ones; starts a stopped one; installs a missing one. Where a
# Docker engine runs it uses compose.yaml (images pinned by digest, the
# broker the same image production runs); otherwise the Debian/Ubuntu
# packages, installed with apt-get (through sudo when not root) and started
# as daemons. The one script that owns this: `make services`, used by
# `make test` and `make local`.
#
#   scripts/services.sh           install what is missing, start, apply the broker definitions
#   scripts/services.sh install   only install what is missing (no start): a machine's set-up step
#
# HOOKLINE_NO_INSTALL=1 refuses to install and fails with the list instead.
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

# The packages each service comes from on Debian and Ubuntu, and the command
# whose absence means it is missing. curl applies the broker definitions;
# the mariadb client is what `make local` queries the demo row with.
PACKAGES=(
  "redis-server:redis-server"
  "mariadb-server:/usr/sbin/mariadbd"
  "mariadb-client:mariadb"
  "rabbitmq-server:rabbitmq-server"
  "curl:curl"
)
# Written when this script installed MariaDB itself: the mark that allows it
# to open root to loopback TCP without a password (below), which it never
# does to a MariaDB someone else installed.
MARIADB_MARK=/etc/mysql/mariadb.conf.d/99-hookline-local.cnf

missing_packages() {
  local entry
  for entry in "${PACKAGES[@]}"; do
    command -v "${entry#*:}" >/dev/null 2>&1 || printf '%s\n' "${entry%%:*}"
  done
}

as_root() {
  if ((EUID == 0)); then
    "$@"
  elif command -v sudo >/dev/null 2>&1; then
    sudo "$@"
  else
    log "installing needs root: run as root or install sudo (command: $*)"
    return 1
  fi
}

install_missing() {
  local pkgs
  mapfile -t pkgs < <(missing_packages)
  ((${#pkgs[@]} > 0)) || return 0
  if [[ ${HOOKLINE_NO_INSTALL:-0} == 1 ]]; then
    log "missing: ${pkgs[*]} (HOOKLINE_NO_INSTALL=1, so not installing them)"
    return 1
  fi
  if ! command -v apt-get >/dev/null 2>&1; then
    log "missing: ${pkgs[*]}; this machine has no apt-get and no Docker engine with compose.yaml:"
    log "install them with its package manager, or run a Docker engine, then run this again."
    return 1
  fi
  log "installing with apt-get: ${pkgs[*]}"
  as_root apt-get update -q >/dev/null
  as_root env DEBIAN_FRONTEND=noninteractive apt-get install -y -q --no-install-recommends "${pkgs[@]}" >/dev/null
  if [[ " ${pkgs[*]} " == *" mariadb-server "* ]]; then
    printf '# written by hookline scripts/services.sh, which installed this MariaDB\n[mariadbd]\nbind-address = 127.0.0.1\n' |
      as_root tee "$MARIADB_MARK" >/dev/null
  fi
  log "installed: ${pkgs[*]}"
}

# Debian's MariaDB lets root in through the unix socket only; the tests and
# `make local` connect as root over 127.0.0.1 without a password, as the CI
# machines' MariaDB allows. Done only for a MariaDB this script installed.
open_mariadb_root() {
  [[ -f $MARIADB_MARK ]] || return 0
  mariadb -uroot -h127.0.0.1 -e 'SELECT 1' >/dev/null 2>&1 && return 0
  log "letting root in from loopback without a password (a MariaDB this script installed)"
  as_root mariadb -uroot -e "ALTER USER root@localhost IDENTIFIED VIA unix_socket OR mysql_native_password USING PASSWORD('')"
}

# mariadbd needs its socket directory, which only its systemd unit or init
# script would otherwise create.
start_mariadbd() {
  [[ -x /usr/sbin/mariadbd ]] || return 1
  [[ -d /run/mysqld ]] || as_root install -d -o mysql -g mysql /run/mysqld
  # --user: Debian's configuration names no user, and mariadbd refuses root.
  as_root start-stop-daemon --start --oknodo --background --exec /usr/sbin/mariadbd -- --user=mysql
}

use_compose() { have_docker && [[ -f compose.yaml ]]; }

cd "$(dirname "$0")/.." || exit
if [[ ${1:-} == install ]]; then
  install_missing
  exit
fi
use_compose || install_missing

start() { # name port binary start-command...
  local name=$1 port=$2 binary=$3
  shift 3
  if up 127.0.0.1 "$port"; then
    return 0
  fi
  if use_compose; then
    log "starting $name with docker compose"
    docker compose up -d "$name"
  elif command -v "$binary" >/dev/null 2>&1; then
    log "$name is not reachable on 127.0.0.1:$port; starting it: $*"
    "$@" >/dev/null 2>&1 || true
  else
    log "$name is not reachable on 127.0.0.1:$port and neither Docker nor '$binary' is installed."
    log "install it or start it yourself, then run this again."
    return 1
  fi
  wait_up "$name" "$port" 90 || return 1
  log "$name is up on 127.0.0.1:$port"
}

fail=0
start redis-server 6379 redis-server redis-server --daemonize yes --bind 127.0.0.1 -::1 --port 6379 \
  --save "" --appendonly no --dir /var/lib/redis --logfile /var/log/redis/ci.log || fail=1
start mariadb 3306 /usr/sbin/mariadbd start_mariadbd || fail=1
start rabbitmq-server 5672 rabbitmq-server as_root rabbitmq-server -detached || fail=1
((fail == 0)) || { log "a required service is missing; see above"; exit 1; }
use_compose || open_mariadb_root || { log "root cannot reach the MariaDB this script installed"; exit 1; }

# Tests isolate themselves in their own vhost through the management API
# (15672), and the queue metrics collector reads the broker's numbers from the
# Prometheus endpoint (15692), as it does in production: make sure both
# plugins are enabled. Enabling a running plugin again is a no-op.
plugin() { # name port
  up 127.0.0.1 "$2" && return 0
  if command -v rabbitmq-plugins >/dev/null 2>&1; then
    log "enabling the RabbitMQ plugin $1"
    as_root rabbitmq-plugins enable "$1" >/dev/null
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
# applies them in AWS, with both local users per role (hookline-<role> with
# password local-<role>, hookline-<role>-b with local-<role>-b, for this
# machine only). Idempotent: applying again changes nothing.
apply_definitions() {
  local api=http://127.0.0.1:15672/api name tags
  local auth=(-u "${RABBITMQ_ADMIN:-guest:guest}") defs=build/brokerdefs
  mkdir -p build && go build -o "$defs" ./internal/topology/cmd/brokerdefs || return 1
  while read -r _ name tags; do
    [[ $tags == - ]] && tags=
    curl -fsS "${auth[@]}" -X PUT -H 'content-type: application/json' \
      -d "{\"password\":\"local-${name#hookline-}\",\"tags\":\"$tags\"}" "$api/users/$name" >/dev/null
  done < <("$defs" -users)
  "$defs" -vhost hookline |
    curl -fsS "${auth[@]}" -X POST -H 'content-type: application/json' --data-binary @- "$api/definitions" >/dev/null
}
if ! apply_definitions; then
  log "could not apply the broker definitions to vhost hookline (management API on 127.0.0.1:15672)"
  exit 1
fi
log "rabbitmq, redis and mariadb are reachable; broker definitions applied to vhost hookline"
