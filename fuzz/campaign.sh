#!/usr/bin/env bash
# The recorded campaign (fuzz/README.md): every target for its time, two at a time (this
# machine has two cores), each appending its line to fuzz/runs.tsv through run.sh.
#   fuzz/campaign.sh [SCALE]   (SCALE multiplies every time; default 1)
set -euo pipefail
cd "$(dirname "$0")"
scale=${1:-1}
RUSTC_BOOTSTRAP=1 cargo fuzz build --sanitizer none --debug-assertions
plan=(refs:120 pathspec:120 registry:120 oci_json:120 config:90 lockfile:90 apt:90
  runtime_env:120 spec:150 layer_scan:90 layer_roundtrip:90 archive:90 deb:90 wheel:90 http:90)
status=0
run_one() { ./run.sh "${1%%:*}" $(( ${1##*:} * scale )) || status=1; }
for ((i = 0; i < ${#plan[@]}; i += 2)); do
  run_one "${plan[i]}" &
  if (( i + 1 < ${#plan[@]} )); then run_one "${plan[i+1]}" & fi
  wait
done
tail -n "${#plan[@]}" runs.tsv | awk -F'\t' '{ total += $3 }
  END { printf "campaign: %d executions over the last %d runs\n", total, NR }'
exit "$status"
