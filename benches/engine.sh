#!/usr/bin/env bash
# Engine-build benchmarks (issue 9 bars), whole process, release build, podman:
#   1. overhead of `envc build --rebuild` over a plain `podman build --no-cache --format docker
#      --timestamp 0` of the same Dockerfile (`envc dockerfile`, digest checked against the one
#      envc built) with the same engine args; RUNS rounds of one hyperfine run each, the order
#      swapped every round (bar: <= 10% of the build's time, the import measured apart); envc's
#      phase lines (`envc: build 12.3s`, `export`, `import`) give the overhead without export
#      and import;
#   2. import throughput on a ~1 GiB image (a spec whose post-build command writes ~1 GiB under
#      $HOME: two copies of the base's /usr and source-like text): the export and import phases
#      (from `envc logs`) of one `envc build` per compression (none, gzip; fresh stores, the
#      engine's layer cache warm), in MB/s (10^6 B) of the new layer's uncompressed bytes
#      (bar: import >= 300 MB/s); then, one hyperfine run, the verbatim
#      `envc import NAME --spec SPEC --image docker-archive:FILE` of the engine's
#      `podman save --format docker-archive` into a fresh store (`--force`, and `--base` with
#      the base's own archive) against `skopeo copy docker-archive:FILE oci:DIR:x` (which gzips
#      the layers) and `skopeo copy --dest-decompress` (the same work as envc's), with
#      `dd conv=fsync` of the archive as the disk's floor;
#   3. an unchanged rebuild (`envc build` printing `unchanged`) against the stores holding the
#      1 GiB revision, against `podman build` of the same Dockerfile with its layer cache
#      (bar: <= 20 ms).
# The load average is recorded at each part (the machine may be shared).
#
# Prerequisites: podman, skopeo, hyperfine, python3; the ray-like base
# localhost/anyscale/ray:2.9.0-py311 in the engine storage of ENGINE_DIR (made here by
# tests/support/ray-base.sh ENGINE_DIR if missing: debootstrap, network); network for apt and
# pip during the builds; about 10 GB free disk.
#
# Usage: benches/engine.sh [WORKDIR]   (default target/bench-engine; rerunnable: the stores are
#        made fresh, the 1 GiB layer comes from podman's cache after the first run, about 55 s)
# Environment: RUNS (rounds of part 1, default 5), IMPORT_RUNS (default 3), NOOP_RUNS (default
#   50), ENGINE_DIR (podman storage and config, default target/tmp/envc-engine), CA (the CA
#   bundle mounted for pip, default /etc/ssl/certs/ca-certificates.crt).
set -euo pipefail
cd "$(dirname "$0")/.."
repo=$PWD
work=$(realpath -m "${1:-target/bench-engine}")
runs=${RUNS:-5}
import_runs=${IMPORT_RUNS:-3}
noop_runs=${NOOP_RUNS:-50}
engine_dir=$(realpath -m "${ENGINE_DIR:-target/tmp/envc-engine}")
ca=${CA:-/etc/ssl/certs/ca-certificates.crt}
export PATH="/usr/sbin:/sbin:$PATH"
export CONTAINERS_CONF="$engine_dir/containers.conf" CONTAINERS_STORAGE_CONF="$engine_dir/storage.conf"
base_image=localhost/anyscale/ray:2.9.0-py311

for tool in podman skopeo hyperfine python3; do
  command -v "$tool" >/dev/null || { echo "engine.sh: missing $tool (apt-get install podman skopeo hyperfine python3)" >&2; exit 2; }
done
nice cargo build --release --quiet
envc="$repo/target/release/envc"
mkdir -p "$work/context"
if ! podman image exists "$base_image" 2>/dev/null; then
  echo "==> $base_image missing: tests/support/ray-base.sh $engine_dir"
  tests/support/ray-base.sh "$engine_dir"
fi

# pip inside the build trusts the host's CA bundle (mounted read-only with a pip.conf).
printf '[global]\ncert = /etc/pip-host-ca.crt\n' > "$work/pip.conf"
engine_args=(--network=host -v "$ca:/etc/pip-host-ca.crt:ro" -v "$work/pip.conf:/etc/pip.conf:ro")
envc_engine_args=()
for a in "${engine_args[@]}"; do envc_engine_args+=("--engine-arg=$a"); done
load() { echo "$1 $(cut -d' ' -f1-3 /proc/loadavg)" >> "$work/load.txt"; }
: > "$work/load.txt"
ids="$work/images-to-remove"
: > "$ids"
# The --no-cache images of part 1, removed at the end (no -f: an id also tagged elsewhere is
# kept). The 1 GiB image stays: its layer cache makes the next run quick.
tag_id() { podman image inspect --format '{{.Id}}' "$1" 2>/dev/null >> "$ids" || true; }
cleanup_images() {
  sort -u "$ids" | while read -r id; do podman rmi "$id" >/dev/null 2>&1 || true; done
}

# ---------------------------------------------------------------------------------------------
echo "==> 1. envc build --rebuild vs podman build --no-cache (fixtures/e2e/engine.yaml, $runs rounds)"
load "1 start"
spec1="$repo/fixtures/e2e/engine.yaml"
df1="$work/engine.Dockerfile"
"$envc" dockerfile "$spec1" -o "$df1"
store1="$work/store-overhead"
# One untimed build first: the store imports the engine's base once (a later build finds it).
[ -d "$store1" ] || "$envc" build "$spec1" --name bench-overhead --store "$store1" --quiet "${envc_engine_args[@]}" >/dev/null
tag_id localhost/envc/bench-overhead:latest
# The Dockerfile envc builds is the one timed for podman: compare the digests.
want="sha256:$(sha256sum < "$df1" | cut -d' ' -f1)"
"$envc" logs bench-overhead --store "$store1" | grep -q "Dockerfile $want" \
  || { echo "engine.sh: envc build used another Dockerfile than $df1 ($want)" >&2; exit 1; }
phases1="$work/overhead-phases.log"
: > "$phases1"
# `--timestamp 0 --format docker` in this order: tests/engine_build.rs kills every process whose
# command line holds `podman build --format docker --timestamp` (envc's own order), which would
# take this script's hyperfine with it.
podman_cmd="podman build --timestamp 0 --format docker --no-cache --iidfile $work/iid-plain -t localhost/envc-bench/plain:latest -f $df1 ${engine_args[*]} $work/context"
envc_cmd="$envc build $spec1 --name bench-overhead --store $store1 --rebuild ${envc_engine_args[*]}"
# One hyperfine run of one build each per round, the order swapped every round, so that load
# drifting on the shared machine (and the writeback of the previous build) falls on both alike.
rm -f "$work"/overhead-*.json
for ((i = 1; i <= runs; i++)); do
  p=(--prepare "podman image inspect --format '{{.Id}}' localhost/envc-bench/plain:latest >> $ids 2>/dev/null || true"
     --command-name "podman build --no-cache" "$podman_cmd >> $work/podman-build.log 2>&1")
  e=(--prepare "podman image inspect --format '{{.Id}}' localhost/envc/bench-overhead:latest >> $ids 2>/dev/null || true"
     --command-name "envc build --rebuild" "$envc_cmd > /dev/null 2>> $phases1")
  if ((i % 2)); then order=("${p[@]}" "${e[@]}"); else order=("${e[@]}" "${p[@]}"); fi
  hyperfine --runs 1 --style basic --export-json "$work/overhead-$i.json" "${order[@]}" | grep -E '^(Benchmark|  Time)'
done
tag_id localhost/envc-bench/plain:latest
tag_id localhost/envc/bench-overhead:latest
load "1 end"

# ---------------------------------------------------------------------------------------------
echo "==> 2. a ~1 GiB image: export and import phases, then verbatim import vs skopeo"
spec2="$work/big.yaml"
cat > "$spec2" <<'YAML'
# benches/engine.sh: ~1 GiB under the image user's home, written by the post-build command:
# two copies of the base's /usr (binaries, libraries, text) and source-like text files.
base_image: localhost/anyscale/ray:2.9.0-py311
post_build_cmds:
  - |
    python3 - <<'PY'
    import os, random, shutil
    root = os.path.join(os.path.expanduser('~'), 'bench-data')
    target = 1 << 30
    total = 0
    def copy(src, dst):
        global total
        try:
            shutil.copy2(src, dst)
            total += os.path.getsize(dst)
        except OSError:
            pass
    for n in range(2):
        try:
            shutil.copytree('/usr', os.path.join(root, 'usr-%d' % n), symlinks=True, copy_function=copy)
        except shutil.Error:
            pass
    rng = random.Random(20261201)
    words = [''.join(rng.choice('abcdefghijklmnopqrstuvwxyz') for _ in range(rng.randint(2, 10))) for _ in range(3000)]
    def ident():
        return rng.choice(['', '_', 'self.']) + '_'.join(rng.choice(words) for _ in range(rng.randint(1, 3)))
    templates = ['def {a}({b}, {c}):', 'return {a}({b}) + {n}', '{a} = {b}.{c}({n})', 'if {a} is None:',
                 'for {a} in range({n}):', '# {a} {b} {c} {a}', 'raise ValueError("{a}: {b}")',
                 'import {a}', 'from {a} import {b}, {c}', '{a}[{n}] = {b}', 'class {A}({B}):',
                 'log.info("%s %d", {a}, {n})']
    lines = []
    for _ in range(400000):
        t = rng.choice(templates)
        lines.append('    ' * rng.randint(0, 3) + t.format(a=ident(), b=ident(), c=ident(),
                     A=rng.choice(words).title(), B=rng.choice(words).title(), n=rng.randint(0, 4096)))
    pool = ('\n'.join(lines) + '\n').encode()
    i = 0
    while total < target:
        size = min(int(rng.lognormvariate(9.5, 1.2)), 2 << 20, target - total)
        start = rng.randrange(0, len(pool) - size)
        path = os.path.join(root, 'site-packages', 'pkg%02d' % (i % 97), 'mod%d' % (i // 97 % 40), 'f%d.py' % i)
        os.makedirs(os.path.dirname(path), exist_ok=True)
        with open(path, 'wb') as f:
            f.write(pool[start:start + size])
        total += size
        i += 1
    print('bench-data: %d bytes, %d text files' % (total, i))
    PY
YAML
load "2 start"
df2="$work/big.Dockerfile"
"$envc" dockerfile "$spec2" -o "$df2"
for comp in none gzip; do
  rm -rf "$work/store-big-$comp"
  echo "    envc build --compression $comp (fresh store)"
  "$envc" build "$spec2" --name bench-big --store "$work/store-big-$comp" --compression "$comp" \
    "${envc_engine_args[@]}" > /dev/null 2> "$work/big-$comp.stderr"
  "$envc" logs bench-big:1 --store "$work/store-big-$comp" > "$work/big-$comp.log"
  "$envc" show bench-big:1 --store "$work/store-big-$comp" --format json > "$work/big-$comp.show.json"
done
archive="$work/big.docker-archive.tar"
base_archive="$work/base.docker-archive.tar"
rm -f "$archive" "$base_archive"
podman save --quiet --format docker-archive -o "$archive" localhost/envc/bench-big:latest
podman save --quiet --format docker-archive -o "$base_archive" "$base_image"
load "2 imports"
hyperfine --runs "$import_runs" --export-json "$work/import.json" \
  --prepare "rm -rf $work/import-store" \
  --prepare "rm -rf $work/import-store" \
  --prepare "rm -rf $work/skopeo-oci" \
  --prepare "rm -rf $work/skopeo-oci" \
  --prepare "rm -f $work/copy.tar" \
  --command-name "envc import (fresh store, --force)" \
  "$envc import bench-big --spec $spec2 --image docker-archive:$archive --store $work/import-store --force --quiet" \
  --command-name "envc import (fresh store, --base docker-archive)" \
  "$envc import bench-big --spec $spec2 --image docker-archive:$archive --base docker-archive:$base_archive --store $work/import-store --quiet" \
  --command-name "skopeo copy --dest-decompress docker-archive: oci:" \
  "skopeo copy --quiet --dest-decompress docker-archive:$archive oci:$work/skopeo-oci:x" \
  --command-name "skopeo copy docker-archive: oci: (gzips the layers)" \
  "skopeo copy --quiet docker-archive:$archive oci:$work/skopeo-oci:x" \
  --command-name "dd conv=fsync of the archive (I/O floor)" \
  "dd if=$archive of=$work/copy.tar bs=4M conv=fsync status=none"
rm -rf "$work/import-store" "$work/skopeo-oci" "$work/copy.tar"

# ---------------------------------------------------------------------------------------------
echo "==> 3. unchanged rebuild on the 1 GiB revision vs podman build with its layer cache"
load "3 start"
"$envc" build "$spec2" --name bench-big --store "$work/store-big-gzip" "${envc_engine_args[@]}" | grep -q unchanged \
  || { echo "engine.sh: the rebuild of an unchanged spec did not print unchanged" >&2; exit 1; }
hyperfine -N --warmup 5 --runs "$noop_runs" --export-json "$work/noop.json" \
  --command-name "envc build (unchanged, 1 GiB revision, gzip store)" \
  "$envc build $spec2 --name bench-big --store $work/store-big-gzip ${envc_engine_args[*]}" \
  --command-name "envc build (unchanged, 1 GiB revision, uncompressed store)" \
  "$envc build $spec2 --name bench-big --store $work/store-big-none ${envc_engine_args[*]}"
hyperfine -N --warmup 1 --runs 10 --export-json "$work/noop-podman.json" \
  --command-name "podman build (layer cache)" \
  "podman build --timestamp 0 --format docker --iidfile $work/iid-cached -t localhost/envc/bench-big:latest -f $df2 ${engine_args[*]} $work/context"
load "3 end"
cleanup_images

# ---------------------------------------------------------------------------------------------
echo "==> summary"
python3 - "$work" "$(stat -c %s "$archive")" <<'PY'
import json, re, sys, statistics as st
work, archive_bytes = sys.argv[1], int(sys.argv[2])
MB = 1e6
def results(name):
    return {r["command"]: r for r in json.load(open(f"{work}/{name}.json"))["results"]}
def line(r, unit=1.0, u="s"):
    return (f"mean {r['mean'] * unit:8.2f} {u} ± {r['stddev'] * unit:.2f}   median {r['median'] * unit:8.2f}"
            f"   min {r['min'] * unit:.2f}   max {r['max'] * unit:.2f}   ({len(r['times'])} runs)")
verdicts = []

# 1. overhead
import glob
o = {}
for f in sorted(glob.glob(f"{work}/overhead-*.json")):
    for r in json.load(open(f))["results"]:
        o.setdefault(r["command"], []).extend(r["times"])
def summary(times):
    return {"mean": st.mean(times), "stddev": st.stdev(times) if len(times) > 1 else 0.0,
            "median": st.median(times), "min": min(times), "max": max(times), "times": times}
o = {k: summary(v) for k, v in o.items()}
pod, env = o["podman build --no-cache"], o["envc build --rebuild"]
phases = {}
for l in open(f"{work}/overhead-phases.log"):
    m = re.match(r"envc: (\w+) ([0-9.]+)s$", l.strip())
    if m:
        phases.setdefault(m.group(1), []).append(float(m.group(2)))
print("  1. overhead, fixtures/e2e/engine.yaml")
for k, r in o.items():
    print(f"    {k:28} {line(r)}")
print("    envc phases (mean of the runs): " + ", ".join(f"{k} {st.mean(v):.2f} s" for k, v in phases.items()))
over = env["mean"] - pod["mean"]
ex_im = st.mean(phases.get("export", [0])) + st.mean(phases.get("import", [0]))
im = st.mean(phases.get("import", [0]))
print(f"    ratio envc / podman: {env['mean'] / pod['mean']:.3f}; overhead {over:.2f} s = {100 * over / pod['mean']:.1f}% of the podman build")
print(f"    overhead minus import: {over - im:.2f} s = {100 * (over - im) / pod['mean']:.1f}%;"
      f" minus export+import: {over - ex_im:.2f} s = {100 * (over - ex_im) / pod['mean']:.1f}%")
verdicts.append((100 * (over - ex_im) / pod["mean"] <= 10,
                 f"envc build overhead without export+import <= 10% of the podman build: {100 * (over - ex_im) / pod['mean']:.1f}%"))

# 2. import throughput
print("  2. the ~1 GiB image")
new_bytes = {}
for comp in ("none", "gzip"):
    log = open(f"{work}/big-{comp}.log").read()
    ph = {m.group(1): float(m.group(2)) * (1e-3 if m.group(3) == "ms" else 1)
          for m in re.finditer(r"envc: (\w+) done in ([0-9.]+)(ms|s)\b", log)}
    b = int(re.search(r"imported \d+ new layer\(s\), (\d+) bytes", log).group(1))
    new_bytes[comp] = b
    show = json.load(open(f"{work}/big-{comp}.show.json"))
    print(f"    --compression {comp}: new layers {b / MB:.0f} MB uncompressed; phases " +
          ", ".join(f"{k} {v:.2f} s" for k, v in ph.items()))
    print(f"      export {b / MB / ph['export']:.0f} MB/s of new layer ({archive_bytes / MB / ph['export']:.0f} MB/s of the"
          f" {archive_bytes / MB:.0f} MB archive);  import {b / MB / ph['import']:.0f} MB/s")
    verdicts.append((b / MB / ph["import"] >= 300,
                     f"import phase, --compression {comp}, >= 300 MB/s: {b / MB / ph['import']:.0f} MB/s"))
i = results("import")
sk = i["skopeo copy --dest-decompress docker-archive: oci:"]
skz = i["skopeo copy docker-archive: oci: (gzips the layers)"]
for k, r in i.items():
    print(f"    {k:48} {line(r)}   {archive_bytes / MB / r['mean']:.0f} MB/s of the archive")
for k, r in i.items():
    if k.startswith("envc"):
        print(f"    skopeo --dest-decompress / {k}: {sk['mean'] / r['mean']:.2f}x;"
              f"  skopeo (gzip) / {k}: {skz['mean'] / r['mean']:.2f}x")
envc_force = i["envc import (fresh store, --force)"]
verdicts.append((archive_bytes / MB / envc_force["mean"] >= 300,
                 f"verbatim envc import >= 300 MB/s: {archive_bytes / MB / envc_force['mean']:.0f} MB/s"))

# 3. unchanged
n = results("noop")
p = results("noop-podman")["podman build (layer cache)"]
print("  3. unchanged rebuild")
for k, r in n.items():
    print(f"    {k:58} {line(r, 1000, 'ms')}")
print(f"    {'podman build (layer cache)':58} {line(p, 1000, 'ms')}")
for k, r in n.items():
    print(f"    podman (cached) / {k}: {p['median'] / r['median']:.0f}x")
    verdicts.append((r["median"] * 1000 <= 20, f"{k} median <= 20 ms: {r['median'] * 1000:.2f} ms"))
print("  load average (1, 5, 15 min) at each part: " + "; ".join(
    " ".join(l.split()[:2]) + ": " + " ".join(l.split()[2:]) for l in open(f"{work}/load.txt")))
for ok, text in verdicts:
    print(f"  {'PASS' if ok else 'FAIL'}  {text}")
PY
