#!/usr/bin/env bash
# Hermetic-build benchmarks (issue 12 bars), whole process, release build:
#   1. `envc build --lock --offline` from a warm cache (fixtures/e2e/hermetic.yaml: jq, curl, a
#      native wheel and a pure one) into a store that holds only the base, against
#      `podman build --no-cache` of the same spec's Dockerfile (`envc dockerfile`), which
#      downloads and runs apt and pip (the store copy is hyperfine's --prepare, untimed); RUNS rounds of one hyperfine run each, the order swapped
#      every round (bar: envc >= 10x faster);
#   2. one pip package changed (six → six==1.16.0 pinned to another version): which layers of
#      the new revision differ from the first's (bar: only the layer that holds it);
#   3. `envc lock --check` on an unchanged lock (bar: <= 20 ms).
# The load average is recorded at each part (the machine may be shared).
#
# Prerequisites: podman, hyperfine, uv, python3; the ray-like base
# localhost/anyscale/ray:2.9.0-py311 in the engine storage of ENGINE_DIR (made here by
# tests/support/ray-base.sh if missing); network for `envc lock` and the podman builds.
#
# Usage: benches/hermetic.sh [WORKDIR]   (default target/bench-hermetic)
# Environment: RUNS (default 5), CHECK_RUNS (default 50), ENGINE_DIR (default
#   target/tmp/envc-engine), CA (default /etc/ssl/certs/ca-certificates.crt).
set -euo pipefail
cd "$(dirname "$0")/.."
repo=$PWD
work=$(realpath -m "${1:-target/bench-hermetic}")
runs=${RUNS:-5}
check_runs=${CHECK_RUNS:-50}
engine_dir=$(realpath -m "${ENGINE_DIR:-target/tmp/envc-engine}")
ca=${CA:-/etc/ssl/certs/ca-certificates.crt}
export PATH="/usr/sbin:/sbin:$PATH"
export CONTAINERS_CONF="$engine_dir/containers.conf" CONTAINERS_STORAGE_CONF="$engine_dir/storage.conf"
base_image=localhost/anyscale/ray:2.9.0-py311

for tool in podman hyperfine uv python3; do
  command -v "$tool" >/dev/null || { echo "hermetic.sh: missing $tool" >&2; exit 2; }
done
nice cargo build --release --quiet
envc="$repo/target/release/envc"
mkdir -p "$work/context"
if ! podman image exists "$base_image" 2>/dev/null; then
  tests/support/ray-base.sh "$engine_dir"
fi
load() { echo "$1 $(cut -d' ' -f1-3 /proc/loadavg)" >> "$work/load.txt"; }
: > "$work/load.txt"
printf '[global]\ncert = /etc/pip-host-ca.crt\n' > "$work/pip.conf"
engine_args=(--network=host -v "$ca:/etc/pip-host-ca.crt:ro" -v "$work/pip.conf:/etc/pip.conf:ro")

spec="$repo/fixtures/e2e/hermetic.yaml"
base_tar="$work/base.oci.tar"
[ -f "$base_tar" ] || podman save --quiet --format oci-archive -o "$base_tar" "$base_image"
cache="$work/cache"
lock="$work/envc.lock"
echo "==> envc lock (network; warms the cache)"
rm -rf "$work/store-base"
/usr/bin/time -f "    envc lock: %e s, %M KiB max RSS" \
  "$envc" lock "$spec" --base "oci-archive:$base_tar" -o "$lock" --cache "$cache" --store "$work/store-base" --quiet
echo "    $(grep -c '^\[\[deb\]\]' "$lock") debs, $(grep -c '^\[\[wheel\]\]' "$lock") wheels locked"

echo "==> 1. envc build --lock --offline (warm cache) vs podman build --no-cache, $runs rounds"
load "1 start"
df="$work/hermetic.Dockerfile"
"$envc" dockerfile "$spec" -o "$df"
envc_cmd="$envc build $spec --name bench --lock $lock --cache $cache --offline --store $work/store --quiet"
podman_cmd="podman build --timestamp 0 --format docker --no-cache -t localhost/envc-bench/hermetic:latest -f $df ${engine_args[*]} $work/context"
rm -f "$work"/build-*.json
for ((i = 1; i <= runs; i++)); do
  p=(--prepare "true" --command-name "podman build --no-cache (apt + pip from the network)" "$podman_cmd >> $work/podman-build.log 2>&1")
  e=(--prepare "rm -rf $work/store && cp -a $work/store-base $work/store"
     --command-name "envc build --lock --offline (warm cache)" "$envc_cmd")
  if ((i % 2)); then order=("${p[@]}" "${e[@]}"); else order=("${e[@]}" "${p[@]}"); fi
  hyperfine --runs 1 --style basic --export-json "$work/build-$i.json" "${order[@]}" | grep -E '^(Benchmark|  Time)'
done
load "1 end"
python3 - "$work" "$runs" <<'PY'
import json, statistics, sys
work, runs = sys.argv[1], int(sys.argv[2])
times = {}
for i in range(1, runs + 1):
    for r in json.load(open(f"{work}/build-{i}.json"))["results"]:
        times.setdefault(r["command"], []).append(r["mean"])
med = {k: statistics.median(v) for k, v in times.items()}
for k, v in med.items():
    print(f"    median {k}: {v:.3f} s (runs {', '.join(f'{t:.2f}' for t in times[k])})")
e = [v for k, v in med.items() if k.startswith("envc")][0]
p = [v for k, v in med.items() if k.startswith("podman")][0]
print(f"    ratio podman / envc: {p / e:.1f}x")
PY

echo "==> 2. one pip package changed: which layers differ"
first=$("$envc" show bench:1 --store "$work/store" --format json)
spec2="$work/hermetic-six.yaml"
sed 's/^    - six$/    - six==1.15.0/' "$spec" > "$spec2"
lock2="$work/envc-six.lock"
"$envc" lock "$spec2" -o "$lock2" --cache "$cache" --store "$work/store" --quiet
"$envc" build "$spec2" --name bench --lock "$lock2" --cache "$cache" --offline --store "$work/store" --quiet > /dev/null
second=$("$envc" show bench:2 --store "$work/store" --format json)
python3 - "$first" "$second" <<'PY'
import json, sys
a, b = json.loads(sys.argv[1]), json.loads(sys.argv[2])
hermetic = set(a["hermetic_layers"]) | set(b["hermetic_layers"])
la = [l for l in a["layers"]]
lb = [l for l in b["layers"]]
same = [l["digest"] for l in lb if l["digest"] in {x["digest"] for x in la}]
new = [l for l in lb if l["digest"] not in {x["digest"] for x in la}]
print(f"    bench:2 has {len(lb)} layers: {len(same)} shared with bench:1, {len(new)} new")
for l in new:
    kind = "hermetic" if l["digest"] in hermetic else "metadata/base"
    print(f"      new {kind} layer {l['digest'][:19]} {l['size']} bytes")
PY
{ "$envc" diff bench:1 bench:2 --store "$work/store" || true; } | sed -n '/locked versions/,/layers:/p' | sed 's/^/    /'

echo "==> 3. envc lock --check on an unchanged lock"
load "3 start"
hyperfine --warmup 3 --runs "$check_runs" --style basic --export-json "$work/check.json" \
  --command-name "envc lock --check" "$envc lock $spec --check -o $lock --store $work/store-base" \
  | grep -E '^(Benchmark|  Time|  Range)'
load "3 end"
cat "$work/load.txt"
