#!/usr/bin/env bash
# Benchmarks `envc package` against Ray 2.40's Python (`get_uri_for_directory` + `create_package`,
# whole process, from the oracle venv that `cargo test --test ray_oracle` creates under
# target/ray-oracle/venv). Bars (issue 4): >= 10x faster on 10,000 small files; no slower on a
# few large files; peak RSS <= 64 MiB packaging a 1 GiB tree.
#
# Usage: benches/package.sh            (needs hyperfine, /usr/bin/time, a release build)
set -euo pipefail
cd "$(dirname "$0")/.."
cargo build --release --quiet
ENVC="$PWD/target/release/envc"
PY="$PWD/target/ray-oracle/venv/bin/python"
[ -x "$PY" ] || { echo "no oracle venv: run 'cargo test --test ray_oracle' first" >&2; exit 2; }
WORK="$PWD/target/bench-package"
mkdir -p "$WORK"

# 10,000 small files in 100 directories; 4 files of 20 MiB (80 MiB: under the 100 MiB limit);
# 1 GiB as 16 files of 64 MiB (random bytes, so nothing is sparse).
if [ ! -e "$WORK/small/.done" ]; then
  rm -rf "$WORK/small"; mkdir -p "$WORK/small"
  for d in $(seq 0 99); do
    mkdir -p "$WORK/small/d$d"
    for f in $(seq 0 99); do printf 'print(%d, %d)\n' "$d" "$f" > "$WORK/small/d$d/f$f.py"; done
  done
  touch "$WORK/small/.done"
fi
if [ ! -e "$WORK/large/.done" ]; then
  rm -rf "$WORK/large"; mkdir -p "$WORK/large"
  for i in 1 2 3 4; do head -c $((20 << 20)) /dev/urandom > "$WORK/large/blob$i.bin"; done
  touch "$WORK/large/.done"
fi
if [ ! -e "$WORK/gib/.done" ]; then
  rm -rf "$WORK/gib"; mkdir -p "$WORK/gib"
  for i in $(seq 1 16); do head -c $((64 << 20)) /dev/urandom > "$WORK/gib/part$i.bin"; done
  touch "$WORK/gib/.done"
fi
# The .done stamps are excluded in both tools so both package the same tree.
RAY_SCRIPT="$WORK/ray-package.py"
cat > "$RAY_SCRIPT" <<'PY'
import sys
from pathlib import Path
from ray._private.runtime_env.packaging import create_package, get_uri_for_directory
d, out = sys.argv[1], Path(sys.argv[2])
out.unlink(missing_ok=True)
print(get_uri_for_directory(d, excludes=[".done"]))
create_package(d, out, excludes=[".done"])
PY

for tree in small large; do
  hyperfine --warmup 1 --runs 5 --export-json "$WORK/$tree.json" \
    -n envc "$ENVC package $WORK/$tree --exclude .done -o /tmp/envc-bench.zip" \
    -n ray "$PY $RAY_SCRIPT $WORK/$tree /tmp/ray-bench.zip"
  python3 - "$WORK/$tree.json" "$tree" <<'PY'
import json, sys
r = {x["command"]: x["mean"] for x in json.load(open(sys.argv[1]))["results"]}
print(f"{sys.argv[2]}: envc {r['envc']*1000:.1f} ms, ray {r['ray']*1000:.1f} ms, envc is {r['ray']/r['envc']:.1f}x faster")
PY
done
# 1 GiB exceeds the default 100 MiB limit: raise it for the RSS measurement.
/usr/bin/time -f "peak RSS packaging 1 GiB: %M KiB" \
  "$ENVC" package "$WORK/gib" --exclude .done --max-size 2GiB -o /tmp/envc-bench.zip > /dev/null
rm -f /tmp/envc-bench.zip /tmp/ray-bench.zip
