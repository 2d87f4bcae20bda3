#!/usr/bin/env bash
# Lints the GitHub Actions workflows with actionlint (pinned in go.mod as a
# Go tool, so every machine runs the same version), then proves the check
# has teeth: a deliberately broken workflow under scripts/testdata/actionlint
# must be rejected, with every rule listed in expected-rules.txt reported.
# shellcheck is made present first so actionlint also checks `run:` scripts
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
