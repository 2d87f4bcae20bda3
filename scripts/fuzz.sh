#!/usr/bin/env bash
# Run every Go fuzz target in the application packages (never infra/), one
# at a time, each for FUZZTIME.
#
#   bash scripts/fuzz.sh [FUZZTIME]     # make fuzz FUZZTIME=1m
#
# FUZZTIME is a Go duration (20s, 2m) or an iteration count (5000x); a bare
# number means seconds. Default 20s. FUZZ_PARALLEL sets the number of fuzzing
# workers (go test -parallel; default GOMAXPROCS) for shared machines.
#
# Exit status is non-zero if a package fails to build or any target finds a
# failure; the others still run. A run that ends with only Go's
# fuzztime-boundary "context deadline exceeded" (golang/go#75804, no
# reproducer written) is reported as a flake, not a failure. A failing input is written by go test to
# <package>/testdata/fuzz/<FuzzName>/ and becomes a regression seed once
# committed.
set -euo pipefail

cd "$(dirname "$0")/.."

fuzztime="${1:-20s}"
[[ "$fuzztime" =~ ^[0-9]+$ ]] && fuzztime="${fuzztime}s"

parallel=()
[[ -n "${FUZZ_PARALLEL:-}" ]] && parallel=(-parallel "$FUZZ_PARALLEL")

# Application package trees that exist right now.
patterns=()
for d in internal lambda logship processor; do
	[[ -d "$d" ]] && patterns+=("./$d/...")
done
if ((${#patterns[@]} == 0)); then
	echo "fuzz: no application packages found" >&2
	exit 1
fi

# `go test -list` prints a package's matching names, then its "ok <pkg>" line.
status=0
list_out="$(go test -list '^Fuzz' "${patterns[@]}" 2>&1)" || {
	status=1
	echo "fuzz: some packages failed to build or list; fuzzing the rest" >&2
	grep -E '^(FAIL|#|[^ ]+\.go:)' <<<"$list_out" >&2 || true
}

targets=() # "pkg name"
names=()
while IFS= read -r line; do
	case "$line" in
	Fuzz*) names+=("$line") ;;
	ok\ *)
		pkg="$(awk '{print $2}' <<<"$line")"
		for n in "${names[@]}"; do targets+=("$pkg $n"); done
		names=()
		;;
	*) names=() ;;
	esac
done <<<"$list_out"

if ((${#targets[@]} == 0)); then
	echo "fuzz: no Fuzz targets in ${patterns[*]}"
	exit "$status"
fi

log="$(mktemp)"
trap 'rm -f "$log"' EXIT

echo "fuzz: ${#targets[@]} targets, $fuzztime each"
failed=()
flaked=()
for t in "${targets[@]}"; do
	pkg="${t% *}"
	name="${t#* }"
	echo "=== $pkg $name"
	if go test -run '^$' -fuzz "^${name}\$" -fuzztime "$fuzztime" "${parallel[@]}" "$pkg" 2>&1 | tee "$log"; then
		continue
	fi
	# Go <= 1.26 can end a duration-bounded run with a bare "context deadline
	# exceeded" when fuzztime expires mid-exec (golang/go#75804, fixed in
	# Go 1.27). A real finding always writes a reproducer, so only that
	# exact shape is a flake; anything else fails.
	# The failure's message lines are the 4-space-indented ones under --- FAIL.
	if [[ "$(grep -E '^    [^ ]' "$log")" == "    context deadline exceeded" ]] &&
		! grep -qE 'Failing input written|^panic:' "$log"; then
		echo "fuzz: $name: fuzztime-boundary flake (golang/go#75804), no failing input; not counted" >&2
		flaked+=("$pkg $name")
		continue
	fi
	failed+=("$pkg $name")
	status=1
done

if ((${#flaked[@]} > 0)); then
	echo "fuzz: ${#flaked[@]} target(s) hit the fuzztime-boundary flake:" >&2
	printf '  %s\n' "${flaked[@]}" >&2
fi

if ((${#failed[@]} > 0)); then
	echo "fuzz: FAILED:" >&2
	printf '  %s\n' "${failed[@]}" >&2
	echo "fuzz: failing inputs are under <package>/testdata/fuzz/<FuzzName>/" >&2
else
	echo "fuzz: all ${#targets[@]} targets passed"
fi
exit "$status"
