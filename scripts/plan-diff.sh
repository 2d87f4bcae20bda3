#!/usr/bin/env bash
# Offline plan diff: resources added, removed, replaced (with the inputs
# that force it, infra/plan/replace.go) and changed (inputs old -> new,
# secrets masked), a WARNING line per stateful resource replaced or removed,
# between the
# program at a git ref and the working tree, for one stack. The ref's plan is
# built in a temporary git worktree (same Go build cache, so it is quick
# when warm). Usage: scripts/plan-diff.sh STACK [REF]   (REF defaults to HEAD)
set -euo pipefail

stack="${1:?usage: plan-diff.sh STACK [REF]}"
ref="${2:-HEAD}"
go="${GO:-go}"
root="$(git rev-parse --show-toplevel)"
work="$(mktemp -d)"
cleanup() {
	git -C "$root" worktree remove --force "$work/tree" >/dev/null 2>&1 || true
	rm -rf "$work"
}
trap cleanup EXIT

git -C "$root" rev-parse --verify --quiet "$ref^{commit}" >/dev/null || {
	echo "plan-diff: $ref is not a commit" >&2
	exit 1
}
git -C "$root" worktree add --detach --quiet "$work/tree" "$ref"

before="$work/before.json"
if [[ -f "$work/tree/infra/plan/cmd/plan/main.go" && -f "$work/tree/Pulumi.$stack.yaml" ]]; then
	(cd "$work/tree" && "$go" run ./infra/plan/cmd/plan -stack "$stack" -out "$before" >/dev/null)
else
	# The ref predates the program or the stack: everything is new.
	printf '{"project":"hookline","stack":"%s","resources":[]}\n' "$stack" >"$before"
fi

after="$root/build/plan/$stack.json"
(cd "$root" && "$go" run ./infra/plan/cmd/plan -stack "$stack" -out "$after" >/dev/null)

echo "plan-diff $stack: $ref -> working tree"
cd "$root" && "$go" run ./infra/plan/cmd/plan -diff "$before" "$after"
