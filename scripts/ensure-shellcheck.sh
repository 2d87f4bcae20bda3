#!/usr/bin/env bash
# Makes sure shellcheck is on PATH: the infra tests lint the broker's user
# data with it, and CI runs on a fresh machine. Installs the Debian package
# when missing; fails loudly (never skips) when it cannot.
set -euo pipefail

if command -v shellcheck >/dev/null 2>&1; then
	exit 0
fi
if ! command -v apt-get >/dev/null 2>&1; then
	echo "ensure-shellcheck: shellcheck is missing and apt-get is not available; install shellcheck by hand" >&2
	exit 1
fi
sudo=""
if [[ $(id -u) -ne 0 ]]; then
	sudo="sudo"
fi
echo "ensure-shellcheck: installing shellcheck (Debian package)" >&2
if ! $sudo apt-get install -y -q shellcheck >/dev/null 2>&1; then
	$sudo apt-get update -q >/dev/null
	$sudo apt-get install -y -q shellcheck >/dev/null
fi
command -v shellcheck >/dev/null 2>&1 || {
	echo "ensure-shellcheck: shellcheck still missing after apt-get install" >&2
	exit 1
}
