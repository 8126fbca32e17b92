#!/usr/bin/env bash
# Runs every libFuzzer target for SECONDS each over its seed corpus (copied to
# a scratch dir, so the checked-in corpus is not rewritten). Fails on the
# first crash, leak, timeout or out-of-memory, and leaves the reproducer in
# $OUT (default: a temp dir) to be copied into tests/fuzz/regressions/<name>/.
#   smoke.sh BUILD_DIR SECONDS
set -uo pipefail
build=${1:?usage: smoke.sh BUILD_DIR SECONDS}
seconds=${2:-30}
here=$(cd "$(dirname "$0")" && pwd)
out=${OUT:-$(mktemp -d)}
status=0
targets=()
for bin in "$build"/tests/fuzz/*_fuzz; do [ -x "$bin" ] && targets+=("$(basename "$bin" _fuzz)"); done
[ ${#targets[@]} -gt 0 ] || { echo "no fuzz targets in $build/tests/fuzz"; exit 1; }
for target in "${targets[@]}"; do
  bin=$build/tests/fuzz/${target}_fuzz
  work=$out/$target
  mkdir -p "$work/corpus"
  cp -r "$here/corpus/$target/." "$work/corpus/"
  if "$bin" -max_total_time="$seconds" -rss_limit_mb=2048 -timeout=10 \
       -artifact_prefix="$work/" "$work/corpus" > "$work/log" 2>&1; then
    echo "fuzz $target: $(grep -E '^#[0-9]+.*DONE' "$work/log" | tail -1)"
  else
    echo "fuzz $target: FAILED, reproducer and log in $work"
    tail -30 "$work/log"
    status=1
  fi
done
exit $status
