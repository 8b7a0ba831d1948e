#!/usr/bin/env bash
# The fuzz smoke run in .ci/run: builds every target, then runs each for SECONDS (default 10)
# from its committed seeds, in a throw-away corpus. Any crash, timeout, leak past the RSS limit
# or broken property fails the run, and libFuzzer's report (with the input) is printed.
set -euo pipefail
cd "$(dirname "$0")"
seconds=${1:-10}
export RUSTC_BOOTSTRAP=1 # only here: cargo fuzz needs -Z flags
cargo fuzz build --sanitizer none --debug-assertions
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
failed=()
for target in $(cargo fuzz list); do
  mkdir -p "$work/$target" "$work/artifacts/$target"
  # The HTTP target's server logs a line per request on stderr: closed (libFuzzer keeps its own).
  quiet=()
  [ "$target" = http ] && quiet=(-close_fd_mask=2)
  if cargo fuzz run --sanitizer none --debug-assertions "$target" "$work/$target" "seeds/$target" -- \
    -max_total_time="$seconds" -timeout=10 -rss_limit_mb=2048 \
    -artifact_prefix="$work/artifacts/$target/" "${quiet[@]}" >"$work/$target.log" 2>&1; then
    echo "fuzz $target: $(grep -o 'Done [0-9]* runs in [0-9]* second' "$work/$target.log" | tail -1)"
  else
    echo "fuzz $target: FAILED" >&2
    tail -60 "$work/$target.log" >&2
    failed+=("$target")
  fi
done
if [ "${#failed[@]}" -gt 0 ]; then
  echo "fuzz targets failed: ${failed[*]}" >&2
  exit 1
fi
