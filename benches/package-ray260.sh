#!/usr/bin/env bash
# `envc package` against Ray 2.60's own packaging (issue 11, item 6): the whole process of each,
# same run, hyperfine. Ray's side: `get_uri_for_directory` + `create_package` with the default
# excludes Ray 2.60 prepends for a working_dir, from the oracle venv that
# `cargo test --test ray_oracle` builds (target/ray-oracle-2.60/venv). Both must give the same
# URI (checked). Bar: envc >= 10x faster on 10,000 files of 10-2,000 bytes in 100 directories,
# (a) with no excludes, (b) with five exclude patterns and nested .gitignore files.
#
# Usage: benches/package-ray260.sh      (needs hyperfine and a release build; RUNS, default 10)
set -euo pipefail
cd "$(dirname "$0")/.."
RUNS=${RUNS:-10}
cargo build --release --quiet
ENVC="$PWD/target/release/envc"
PY="$PWD/target/ray-oracle-2.60/venv/bin/python"
[ -x "$PY" ] || { echo "no Ray 2.60 venv: run 'cargo test --test ray_oracle' first" >&2; exit 2; }
WORK="$PWD/target/bench-package-260"
mkdir -p "$WORK"
if [ ! -e "$WORK/.done" ]; then
  rm -rf "$WORK/plain" "$WORK/ignores"
  python3 - "$WORK/plain" <<'PY'
import os, random, sys
random.seed(7)
root = sys.argv[1]
for d in range(100):
    p = f"{root}/d{d // 10}/s{d}"
    os.makedirs(p, exist_ok=True)
    for f in range(100):
        n = random.randint(10, 2000)
        with open(f"{p}/f{f}.py", "wb") as out:
            out.write(bytes(random.getrandbits(8) for _ in range(n)))
PY
  cp -a "$WORK/plain" "$WORK/ignores"
  printf '*.log\nbuild/\n' > "$WORK/ignores/.gitignore"
  printf 'f1*.py\n!f11.py\n' > "$WORK/ignores/d3/s35/.gitignore"
  printf 'tmp*\n' > "$WORK/ignores/d5/.gitignore"
  touch "$WORK/.done"
fi
RAY_SCRIPT="$WORK/ray-package.py"
cat > "$RAY_SCRIPT" <<'PY'
import sys
from pathlib import Path
from ray._private.runtime_env.packaging import create_package, get_uri_for_directory
d, out = sys.argv[1], Path(sys.argv[2])
ex = [".git", ".venv", "venv", "__pycache__"] + sys.argv[3:]
out.unlink(missing_ok=True)
print(get_uri_for_directory(d, include_gitignore=True, excludes=ex))
create_package(d, out, include_gitignore=True, excludes=ex)
PY
PATTERNS=("d1/s1*" "*.pyc" "d2/**/f9*.py" "/d4" "**/f50.py")
EXCLUDES=()
for p in "${PATTERNS[@]}"; do EXCLUDES+=(--exclude "$p"); done

run() { # NAME TREE ENVC-ARGS... -- RAY-ARGS...
  local name=$1 tree=$2; shift 2
  local envc_args=() ray_args=()
  while [ "$1" != "--" ]; do envc_args+=("$1"); shift; done; shift
  ray_args=("$@")
  local ours theirs
  ours=$("$ENVC" package "$tree" "${envc_args[@]}" -o "$WORK/envc.zip" | head -1)
  theirs=$("$PY" "$RAY_SCRIPT" "$tree" "$WORK/ray.zip" "${ray_args[@]}" 2>/dev/null | head -1)
  [ "$ours" = "$theirs" ] || { echo "$name: URIs differ: envc $ours, Ray $theirs" >&2; exit 1; }
  hyperfine --warmup 2 --runs "$RUNS" --export-json "$WORK/$name.json" \
    -n envc "$ENVC package $tree ${envc_args[*]} -o $WORK/envc.zip" \
    -n ray "$PY $RAY_SCRIPT $tree $WORK/ray.zip ${ray_args[*]}"
  python3 - "$WORK/$name.json" "$name" "$ours" <<'PY'
import json, sys
r = {x["command"]: x for x in json.load(open(sys.argv[1]))["results"]}
e, y = r["envc"], r["ray"]
print(f"{sys.argv[2]}: envc {e['mean']*1000:.1f} ms ± {e['stddev']*1000:.1f}, "
      f"Ray 2.60 {y['mean']*1000:.1f} ms ± {y['stddev']*1000:.1f}: envc is "
      f"{y['mean']/e['mean']:.1f}x faster (same URI {sys.argv[3]})")
PY
}
run plain "$WORK/plain" --
run ignores "$WORK/ignores" "${EXCLUDES[@]}" -- "${PATTERNS[@]}"
