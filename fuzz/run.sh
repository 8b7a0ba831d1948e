#!/usr/bin/env bash
# Runs one fuzz target for SECONDS and appends what libFuzzer reported to fuzz/runs.tsv:
#   fuzz/run.sh TARGET SECONDS [extra libFuzzer flags]
# The corpus grows in fuzz/corpus/TARGET (not committed), seeded from fuzz/seeds/TARGET;
# a crash is saved under fuzz/artifacts/TARGET/ and the script exits non-zero.
# RUSTC_BOOTSTRAP=1 is set here only: cargo fuzz needs -Z flags, the main build never sees them.
set -euo pipefail
cd "$(dirname "$0")"
target=$1 seconds=$2
shift 2
mkdir -p "corpus/$target" "seeds/$target" "artifacts/$target"
# The HTTP target's server logs a line per request on stderr: closed (libFuzzer keeps its own).
quiet=()
[ "$target" = http ] && quiet=(-close_fd_mask=2)
log=$(mktemp)
trap 'rm -f "$log"' EXIT
status=0
RUSTC_BOOTSTRAP=1 cargo fuzz run --sanitizer none --debug-assertions "$target" \
  "corpus/$target" "seeds/$target" -- \
  -max_total_time="$seconds" -timeout=10 -rss_limit_mb=2048 -print_final_stats=1 \
  -artifact_prefix="artifacts/$target/" "${quiet[@]}" "$@" >"$log" 2>&1 || status=$?
runs=$(sed -n 's/^stat::number_of_executed_units: *//p' "$log" | tail -1)
secs=$(sed -n 's/^Done [0-9]* runs in \([0-9]*\) second.*/\1/p' "$log" | tail -1)
result=ok
if [ "$status" -ne 0 ]; then
  result="crash($(grep -o 'artifacts/[^ ]*' "$log" | tail -1))"
  tail -40 "$log" >&2
fi
printf '%s\t%s\t%s\t%s\t%s\n' "$(date -u +%FT%TZ)" "$target" "${runs:-0}" "${secs:-$seconds}" "$result" >>runs.tsv
printf '%s: %s runs in %s s, %s\n' "$target" "${runs:-0}" "${secs:-$seconds}" "$result"
exit "$status"
