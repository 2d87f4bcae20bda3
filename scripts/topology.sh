#!/usr/bin/env bash
# `make topology`: the offline plan of prod, drawn as docs/topology.dot
# (infra/plan/topology) and rendered to docs/topology.svg with Graphviz.
# The DOT is what the tests compare; the SVG is regenerated from it here
# (its layout differs between Graphviz versions), so commit both.
set -euo pipefail
cd "$(dirname "$0")/.."
GO="${GO:-go}"
stack="${1:-prod}"

if ! command -v dot >/dev/null; then
	if [[ $(id -u) == 0 ]] && command -v apt-get >/dev/null; then
		echo "topology: installing Graphviz (Debian package graphviz)" >&2
		apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq graphviz >/dev/null
	else
		echo "topology: needs Graphviz's dot: install the graphviz package (apt-get install graphviz, brew install graphviz)" >&2
		exit 1
	fi
fi

"$GO" run ./infra/plan/cmd/plan -stack "$stack" >/dev/null
"$GO" run ./infra/plan/cmd/topology -plan "build/plan/$stack.json" -out docs/topology.dot
dot -Tsvg docs/topology.dot -o docs/topology.svg
echo "wrote docs/topology.svg ($(dot -V 2>&1))"
