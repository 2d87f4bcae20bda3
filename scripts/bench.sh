#!/usr/bin/env bash
# `make bench`: every benchmark, each figure printed next to the baseline it
# is judged against, all measured in this one run on this machine.
set -euo pipefail
cd "$(dirname "$0")/.."
mkdir -p build
out=build/bench.txt
{
  echo "# hookline benchmarks, $(date -u +%FT%TZ), $(nproc) cores"
  echo
  echo "## signature verifiers"
  go test -run '^$' -bench . -benchmem ./internal/webhooksig/
  echo
  echo "## receiver"
  go test -run '^$' -bench . -benchtime 1x -timeout 20m ./lambda/...
  if ls processor/*.go >/dev/null 2>&1; then
    echo
    echo "## processor"
    go test -run '^$' -bench . -benchtime 1x -timeout 30m ./processor/...
  fi
} 2>&1 | tee "$out"
echo "(saved to $out)"
