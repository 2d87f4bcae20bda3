#!/usr/bin/env bash
# `make fresh-machine`: proves on this machine that `make local` sets up a
# Debian machine that has none of the services. A debootstrap Debian root
# (minbase, plus make and CA certificates: a machine that types `make` has
# make) gets the project's files and the Go toolchain, and then:
#   1. with the host's network: `scripts/services.sh install` (Debian's
#      packages, by name) and `go mod download`, the set-up a new machine
#      does once;
#   2. in its own network namespace (unshare -n: the host's services on
#      loopback cannot stand in for the ones it must start) and PID
#      namespace: `make local` with LOCAL_ONCE=1, which starts the services,
#      builds, migrates, sends the signed demo webhook and must print the
#      stored row. Nothing can be downloaded in this step (GOPROXY=off).
# Needs root (debootstrap, chroot, unshare) and takes minutes, so it is not
# part of `make test`. FRESH_ROOT (default build/fresh-machine/root) is
# rebuilt each run; FRESH_SUITE, FRESH_MIRROR choose the release and mirror.
set -euo pipefail
cd "$(dirname "$0")/.."

ROOT=${FRESH_ROOT:-build/fresh-machine/root}
SUITE=${FRESH_SUITE:-bookworm}
MIRROR=${FRESH_MIRROR:-http://deb.debian.org/debian}
LOG=${ROOT%/*}/make-local.log

log() { printf '\n== fresh-machine: %s\n' "$*" >&2; }
die() { log "$*"; exit 1; }

((EUID == 0)) || die "needs root (debootstrap, chroot and unshare)"
for cmd in debootstrap unshare chroot ip; do
  command -v "$cmd" >/dev/null || die "needs $cmd (Debian: apt-get install debootstrap util-linux iproute2)"
done
GOROOT_HOST=$(go env GOROOT)

# Whatever still runs inside the root when this script ends (daemons that
# left the PID namespace's tree, an interrupted run) is stopped.
stop_root_processes() {
  local root p
  root=$(readlink -f "$ROOT" 2>/dev/null) || return 0
  for p in /proc/[0-9]*; do
    [[ $(readlink "$p/root" 2>/dev/null) == "$root" ]] && kill -9 "${p#/proc/}" 2>/dev/null
  done
  return 0
}
trap stop_root_processes EXIT

start=$SECONDS
# The minbase root is built once and kept as a tarball next to FRESH_ROOT
# (FRESH_REFRESH=1 builds it again); every run starts from a copy of it.
CACHE=${ROOT%/*}/minbase-$SUITE.tar
if [[ ! -f $CACHE || ${FRESH_REFRESH:-0} == 1 ]]; then
  log "debootstrap --variant=minbase $SUITE"
  rm -rf "$ROOT"
  mkdir -p "$ROOT"
  debootstrap --variant=minbase --include=make,ca-certificates "$SUITE" "$ROOT" "$MIRROR" >"${ROOT%/*}/debootstrap.log" 2>&1 ||
    die "debootstrap failed; see ${ROOT%/*}/debootstrap.log"
  tar -C "$ROOT" -cf "$CACHE.tmp" . && mv "$CACHE.tmp" "$CACHE"
  log "debootstrap took $((SECONDS - start)) s"
fi
rm -rf "$ROOT"
mkdir -p "$ROOT"
tar -C "$ROOT" -xf "$CACHE"
# What a Debian installation has and a debootstrap root lacks: a hosts file
# that resolves the machine's own name (RabbitMQ's node name is
# rabbit@<hostname>), and no init system, so package scripts must not start
# daemons inside the root while it shares the host's network (they would
# bind the host's ports); scripts/services.sh starts them in step 2.
printf '127.0.0.1\tlocalhost\n127.0.1.1\t%s\n::1\tlocalhost ip6-localhost ip6-loopback\n' "$(hostname)" >"$ROOT/etc/hosts"
printf '#!/bin/sh\nexit 101\n' >"$ROOT/usr/sbin/policy-rc.d"
chmod +x "$ROOT/usr/sbin/policy-rc.d"
# The certificate authorities this machine's network needs (an egress proxy's
# CA, say) are trusted in the root as on any machine of this network.
if compgen -G '/usr/local/share/ca-certificates/*.crt' >/dev/null; then
  cp /usr/local/share/ca-certificates/*.crt "$ROOT/usr/local/share/ca-certificates/"
  chroot "$ROOT" update-ca-certificates >/dev/null 2>&1 || die "update-ca-certificates failed in the root"
fi

log "copying the project (tracked and untracked, not ignored) and Go from $GOROOT_HOST"
mkdir -p "$ROOT/hookline" "$ROOT/usr/local"
git ls-files -z --cached --others --exclude-standard |
  tar --null -T - --ignore-failed-read -cf - 2>/dev/null | tar -xf - -C "$ROOT/hookline"
cp -a "$GOROOT_HOST" "$ROOT/usr/local/go"

# inside ROOT, as a login would: a clean environment with Go on the PATH.
in_root() { # extra-env... -- command
  local envs=()
  while [[ $1 != -- ]]; do envs+=("$1"); shift; done
  shift
  chroot "$ROOT" /usr/bin/env -i HOME=/root TERM=dumb LANG=C.UTF-8 \
    PATH=/usr/local/go/bin:/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin \
    GOFLAGS=-buildvcs=false "${envs[@]}" /bin/bash -c "cd /hookline && $*"
}
export ROOT
export -f in_root

step=$SECONDS
log "step 1 (host network): scripts/services.sh install, go mod download"
# shellcheck disable=SC2016 # expanded by the inner bash, where ROOT and in_root are exported
unshare --mount --pid --kill-child --mount-proc="$ROOT/proc" bash -c '
  set -euo pipefail
  mount --rbind /dev "$ROOT/dev"
  in_root GOPROXY='"$(go env GOPROXY)"' -- "bash scripts/services.sh install && go mod download"
'
log "step 1 took $((SECONDS - step)) s"

step=$SECONDS
log "step 2 (own network namespace, no downloads): make local"
set +e
# shellcheck disable=SC2016 # as above
unshare --net --mount --pid --kill-child --mount-proc="$ROOT/proc" bash -c '
  set -euo pipefail
  ip link set lo up
  mount --rbind /dev "$ROOT/dev"
  # the proof that nothing of the host answers here
  for port in 5672 6379 3306; do
    if (exec 3<>"/dev/tcp/127.0.0.1/$port") 2>/dev/null; then echo "127.0.0.1:$port answers inside the namespace" >&2; exit 1; fi
  done
  echo "fresh-machine: 127.0.0.1:5672, :6379 and :3306 are closed in the namespace before make local" >&2
  in_root GOPROXY=off LOCAL_ONCE=1 -- "make local"
' 2>&1 | tee "$LOG"
rc=${PIPESTATUS[0]}
set -e
log "step 2 took $((SECONDS - step)) s; whole run $((SECONDS - start)) s"
((rc == 0)) || die "make local failed (exit $rc); see $LOG"
grep -q '^== demo row stored' "$LOG" || die "make local exited 0 but never showed the stored demo row; see $LOG"
grep -q 'event_id: msg_demo_' "$LOG" || die "no stored demo row in $LOG"
log "make local reached the stored demo row on a machine that had none of the services"
