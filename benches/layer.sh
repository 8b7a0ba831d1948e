#!/usr/bin/env bash
# The layer-writer benchmark (issue 3 bars): envc's layer writer against GNU tar pipelines on
# a 1 GiB tree of mixed files, warm page cache, measured in the same run with hyperfine.
#   (a) gzip level 6:  tar --sort=name … -cf - DIR | gzip -6 -n | sha256sum
#                 vs  examples/layer DIR --compression gzip --level 6        (bar: ≥ 3× faster)
#   (b) uncompressed:  tar --sort=name … -cf - DIR | sha256sum
#                 vs  examples/layer DIR --compression none --out FILE (fsync) (bar: ≥ 3× faster)
#
# Usage: benches/layer.sh [TREE_DIR]   (default target/bench-tree; generated if absent)
# Environment: RUNS (hyperfine runs, default 3; the gzip pipeline takes about a minute a run),
# LAYER_BIN (a prebuilt `layer` example; default: build it with cargo --release), TREE_ONLY
# (set: generate the tree and stop; benches/zstd.sh uses it).
set -euo pipefail

cd "$(dirname "$0")/.."
TREE=${1:-target/bench-tree}
RUNS=${RUNS:-3}
OUT=${OUT:-target/bench-layer.tar}
RESULTS=${RESULTS:-target/bench-layer}
mkdir -p "$RESULTS"

for tool in hyperfine tar gzip sha256sum python3; do
    command -v "$tool" >/dev/null || { echo "layer.sh: $tool is required" >&2; exit 2; }
done

# 1. The tree: ~1 GiB, deterministic (seeded), written once.
if [ ! -f "$TREE/.complete" ]; then
    echo "generating $TREE (about 1 GiB)…" >&2
    rm -rf "$TREE"
    python3 - "$TREE" <<'PY'
import os, random, sys
root = sys.argv[1]
rng = random.Random(20240601)
words = [''.join(rng.choice('abcdefghijklmnopqrstuvwxyz') for _ in range(rng.randint(2, 10)))
         for _ in range(3000)]
def ident():
    return rng.choice(['', '_', 'self.']) + '_'.join(rng.choice(words) for _ in range(rng.randint(1, 3)))
templates = [
    'def {a}({b}, {c}):', 'return {a}({b}) + {n}', '{a} = {b}.{c}({n})', 'if {a} is None:',
    'for {a} in range({n}):', '# {a} {b} {c} {a}', 'raise ValueError("{a}: {b}")',
    'import {a}', 'from {a} import {b}, {c}', '{a}[{n}] = {b}', 'class {A}({B}):',
    'while {a} < {n}:', '"""{a} {b} the {c}."""', 'log.info("%s %d", {a}, {n})',
]
def line():
    t = rng.choice(templates)
    return '    ' * rng.randint(0, 3) + t.format(a=ident(), b=ident(), c=ident(),
        A=rng.choice(words).title(), B=rng.choice(words).title(), n=rng.randint(0, 4096)) + '\n'
# A 32 MiB pool of source-like text; files take slices of it (gzip -6 ratio about 4:1).
pool = ''.join(line() for _ in range(900_000)).encode()
def text(size):
    start = rng.randrange(0, len(pool) - size)
    return pool[start:start + size]
def put(path, data):
    os.makedirs(os.path.dirname(path), exist_ok=True)
    with open(path, 'wb') as f:
        f.write(data)
MiB = 1 << 20
# Large files: incompressible (model weights, wheels) and text (a big log / dataset).
put(f'{root}/models/weights-a.bin', os.urandom(160 * MiB))
put(f'{root}/models/weights-b.bin', os.urandom(100 * MiB))
big = bytearray()
while len(big) < 120 * MiB:
    big += text(8 * MiB)
put(f'{root}/data/corpus.txt', bytes(big[:120 * MiB]))
# Many small files: source trees (text) and compiled artefacts (random).
total = 0
i = 0
while total < 470 * MiB:
    size = min(int(rng.lognormvariate(9.3, 1.2)), 2 * MiB)
    put(f'{root}/site-packages/pkg{i % 97:02d}/mod{i // 97 % 40}/f{i}.py', text(size))
    total += size
    i += 1
j = 0
while total < 470 * MiB + 174 * MiB:
    size = min(int(rng.lognormvariate(10.5, 1.0)), 8 * MiB)
    put(f'{root}/site-packages/pkg{j % 97:02d}/_lib{j}.so', os.urandom(size))
    total += size
    j += 1
os.makedirs(f'{root}/bin', exist_ok=True)
os.symlink('../site-packages/pkg00', f'{root}/bin/pkg')
print(f'{i} text files, {j} binary files', file=sys.stderr)
PY
    touch "$TREE/.complete"
fi
[ -n "${TREE_ONLY:-}" ] && exit 0   # benches/zstd.sh: only the tree
du -sh --apparent-size "$TREE" >&2
echo "files: $(find "$TREE" -type f | wc -l)" >&2

# 2. The layer writer (release build).
if [ -z "${LAYER_BIN:-}" ]; then
    cargo build --release --example layer >&2
    LAYER_BIN=target/release/examples/layer
fi

echo "load average before: $(cut -d' ' -f1-3 /proc/loadavg)" >&2

# 3. Warm the page cache.
tar -cf - "$TREE" >/dev/null

TAR="tar --sort=name --mtime=@0 --owner=0 --group=0 --numeric-owner -cf - $TREE"
hyperfine --runs "$RUNS" --export-json "$RESULTS/gzip.json" \
    -n 'tar | gzip -6 -n | sha256sum' "$TAR | gzip -6 -n | sha256sum" \
    -n 'envc layer gzip -6' "$LAYER_BIN $TREE --compression gzip --level 6"
hyperfine --runs "$RUNS" --warmup 1 --export-json "$RESULTS/none.json" \
    --prepare "rm -rf $OUT $OUT.store" \
    -n 'tar | sha256sum' "$TAR | sha256sum" \
    -n 'envc layer none --out (fsync)' "$LAYER_BIN $TREE --compression none --out $OUT" \
    -n 'envc layer none --store (blob: fsync + rename)' \
    "$LAYER_BIN $TREE --compression none --store $OUT.store"
rm -rf "$OUT" "$OUT.store"
echo "load average after: $(cut -d' ' -f1-3 /proc/loadavg)" >&2

python3 - "$RESULTS" <<'PY'
import json, sys
for name, bar in (('gzip', 3.0), ('none', 3.0)):
    r = json.load(open(f'{sys.argv[1]}/{name}.json'))['results']
    base = r[0]['mean']
    for ours in r[1:]:
        ratio = base / ours['mean']
        verdict = 'meets' if ratio >= bar else 'MISSES'
        print(f'{name}: {r[0]["command"]} {base:.2f} s, {ours["command"]} {ours["mean"]:.2f} s: '
              f'{ratio:.2f}x ({verdict} the {bar:.0f}x bar)')
PY
