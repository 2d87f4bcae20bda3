#!/usr/bin/env bash
# Lints the GitHub Actions workflows with actionlint (pinned in go.mod as a
# Go tool, so every machine runs the same version), then proves the check
# has teeth: a deliberately broken workflow under scripts/testdata/actionlint
# must be rejected, with every rule listed in expected-rules.txt reported.
# The shellcheck binary is made present first so actionlint also checks `run:` scripts
# the same way on every machine.
set -euo pipefail

root="$(cd "$(dirname "$0")/.." && pwd)"
cd "$root"
go="${GO:-go}"
bash scripts/ensure-shellcheck.sh

shopt -s nullglob
workflows=(.github/workflows/*.yml .github/workflows/*.yaml)
if ((${#workflows[@]} == 0)); then
	echo "actionlint: no workflows under .github/workflows" >&2
	exit 1
fi
"$go" tool actionlint -shellcheck "$(command -v shellcheck)" "${workflows[@]}"

# What actionlint does not check, the project's rules: every action pinned
# by a full commit SHA, and every workflow starting from no permissions, so
# each job names the least it needs.
policy() {
	local bad=0 f
	for f in "$@"; do
		if grep -nE '^\s*(-\s+)?uses:' "$f" | grep -vE 'uses:\s*(\./|docker://)' | grep -vE '@[0-9a-f]{40}(\s|$)' >&2; then
			echo "actionlint: $f: an action not pinned by a full commit SHA (above)" >&2
			bad=1
		fi
		if ! grep -qE '^permissions:\s*\{\}' "$f"; then
			echo "actionlint: $f: no top-level 'permissions: {}' (jobs must name the permissions they need)" >&2
			bad=1
		fi
	done
	return "$bad"
}
policy "${workflows[@]}"
if policy scripts/testdata/actionlint/broken.yml >/dev/null 2>&1; then
	echo "actionlint: the pinning/permissions check passed the broken workflow" >&2
	exit 1
fi

broken=scripts/testdata/actionlint/broken.yml
out="$("$go" tool actionlint -shellcheck "$(command -v shellcheck)" -no-color -oneline "$broken" 2>&1)" && {
	echo "actionlint: $broken passed, but it is broken on purpose: the check has no teeth" >&2
	exit 1
}
missing=0
while read -r rule; do
	[[ -z "$rule" ]] && continue
	if ! grep -qF "[$rule]" <<<"$out"; then
		echo "actionlint: $broken: expected a [$rule] error" >&2
		missing=1
	fi
done <scripts/testdata/actionlint/expected-rules.txt
if ((missing)); then
	echo "actionlint said:" >&2
	echo "$out" >&2
	exit 1
fi
echo "actionlint: ${#workflows[@]} workflows clean; the broken one is rejected ($(grep -c . <<<"$out") errors)"
