#!/usr/bin/env bash
# Registry benchmarks (issue 10 bars): envc's registry client against skopeo 1.9 over loopback,
# a plain-HTTP `docker-registry` (distribution 2.x, filesystem storage, no blob cache) started
# here, release build, hyperfine, both tools in the same run so each ratio comes from one run:
#   1. push and pull of a ~500 MiB image: a base OCI layout written here (python3, seeded,
#      deterministic tar + gzip -1) with 3 layers of 150 MiB of random bytes and 20 small
#      layers (0.2–4.8 MiB, random), plus the small layer of an env-only envc revision built
#      on it (`fixtures/oci/env-only.yaml`): 24 layers. Push:
#        envc push app:1 ADDR/bench/envc:1 --store STORE
#        skopeo copy --preserve-digests --dest-tls-verify=false oci:STORE:app:1 docker://ADDR/bench/sk:1
#      with the registry's whole storage (`docker/`: repositories and blobs, which the registry
#      shares across repositories by digest) deleted before every run, so every blob goes up.
#      Pull, each run into a fresh store / layout (deleted, then `sync`, before every run):
#        envc pull ADDR/bench/app:1 --store PULLED           (digests and every diff_id checked)
#        skopeo copy --src-tls-verify=false docker://ADDR/bench/app:1 oci:LAYOUT:1
#      Reported as mean ± σ, MiB/s of the image's bytes (manifest + config + compressed layers)
#      and the ratio envc/skopeo of throughputs (bar: envc no slower than skopeo);
#   2. a push where the registry already has every blob (and the manifest): the same two commands
#      to the repository that holds the image, hyperfine -N, >= 10 runs (bar: <= 0.5 s for a
#      20-layer image; this one has 24);
#   3. what dominates: `envc push`/`envc pull` with `--transfers 1` against the default 4, and
#      one `/usr/bin/time` run of each push and pull (user+sys CPU against wall time, peak
#      RSS).
#
# Prerequisites: docker-registry, skopeo, hyperfine, python3; about 3.5 GB free disk (base
# layout, store, registry storage, the two pulled copies).
#
# Usage: benches/registry.sh [WORKDIR]   (default target/bench-registry; rerunnable: the base
#        layout and store are kept, the registry storage and pulled copies are made fresh;
#        CLEAN=1 removes the whole WORKDIR at the end)
# Environment: RUNS (runs of part 1, default 5), NOOP_RUNS (part 2, default 20),
#   DIAG (part 3, default 1; 0 skips it), ENVC (a prebuilt envc; default: build it, nice).
set -euo pipefail
cd "$(dirname "$0")/.."
repo=$PWD
work=$(realpath -m "${1:-target/bench-registry}")
runs=${RUNS:-5}
noop_runs=${NOOP_RUNS:-20}
diag=${DIAG:-1}

for tool in docker-registry skopeo hyperfine python3; do
  command -v "$tool" >/dev/null || { echo "registry.sh: missing $tool (apt-get install docker-registry skopeo hyperfine python3)" >&2; exit 2; }
done
if [ -z "${ENVC:-}" ]; then
  nice cargo build --release --quiet
  ENVC="$repo/target/release/envc"
fi
envc=$(realpath "$ENVC")
mkdir -p "$work"
load() { echo "$1 $(cut -d' ' -f1-3 /proc/loadavg)" >> "$work/load.txt"; }
: > "$work/load.txt"

# ---------------------------------------------------------------------------------------------
echo "==> the image: base layout (3 x 150 MiB + 20 small gzip layers) and an env-only revision"
base="$work/base"
store="$work/store"
if [ ! -f "$base/.complete" ]; then
  rm -rf "$base"
  python3 - "$base" <<'PY'
import gzip, hashlib, io, json, os, random, sys, tarfile
out = sys.argv[1]
blobs = os.path.join(out, "blobs", "sha256")
os.makedirs(blobs)
rng = random.Random(20261201)
def put(data):
    d = hashlib.sha256(data).hexdigest()
    with open(os.path.join(blobs, d), "wb") as f:
        f.write(data)
    return "sha256:" + d
def layer(files):
    raw = io.BytesIO()
    with tarfile.open(fileobj=raw, mode="w", format=tarfile.PAX_FORMAT) as t:
        dirs = sorted({os.path.dirname(p) for p, _ in files})
        for d in dirs:
            ti = tarfile.TarInfo(d); ti.type = tarfile.DIRTYPE; ti.mode = 0o755; ti.mtime = 0
            t.addfile(ti)
        for p, data in files:
            ti = tarfile.TarInfo(p); ti.size = len(data); ti.mode = 0o644; ti.mtime = 0
            t.addfile(ti, io.BytesIO(data))
    raw = raw.getvalue()
    gz = gzip.compress(raw, compresslevel=1, mtime=0)
    return {"mediaType": "application/vnd.oci.image.layer.v1.tar+gzip",
            "digest": put(gz), "size": len(gz)}, "sha256:" + hashlib.sha256(raw).hexdigest()
layers, diff_ids = [], []
for i in range(3):
    desc, diff = layer([(f"data/big{i}.bin", rng.randbytes(150 << 20))])
    layers.append(desc); diff_ids.append(diff)
for i in range(20):
    size = (i + 1) * 240 << 10
    desc, diff = layer([(f"opt/small{i:02d}/blob.bin", rng.randbytes(size)),
                        (f"opt/small{i:02d}/README", f"small layer {i}\n".encode())])
    layers.append(desc); diff_ids.append(diff)
config = json.dumps({"architecture": "amd64", "os": "linux",
                     "config": {"Env": ["PATH=/usr/bin:/bin"], "Cmd": ["sh"]},
                     "rootfs": {"type": "layers", "diff_ids": diff_ids}},
                    sort_keys=True, separators=(",", ":")).encode()
manifest = json.dumps({"schemaVersion": 2, "mediaType": "application/vnd.oci.image.manifest.v1+json",
                       "config": {"mediaType": "application/vnd.oci.image.config.v1+json",
                                  "digest": put(config), "size": len(config)},
                       "layers": layers}, separators=(",", ":")).encode()
index = {"schemaVersion": 2, "manifests": [{"mediaType": "application/vnd.oci.image.manifest.v1+json",
         "digest": put(manifest), "size": len(manifest), "annotations": {"org.opencontainers.image.ref.name": "1"}}]}
with open(os.path.join(out, "index.json"), "w") as f:
    json.dump(index, f)
with open(os.path.join(out, "oci-layout"), "w") as f:
    json.dump({"imageLayoutVersion": "1.0.0"}, f)
open(os.path.join(out, ".complete"), "w").close()
print(f"base: {len(layers)} layers, {sum(l['size'] for l in layers) / 2**20:.1f} MiB compressed")
PY
  rm -rf "$store"
fi
if [ ! -d "$store" ]; then
  "$envc" build fixtures/oci/env-only.yaml --name app --base "oci:$base:1" --store "$store" > /dev/null
fi
"$envc" show app:1 --store "$store" --format json > "$work/app.show.json"
# The image's bytes, from the store's own manifest (the one both tools push).
image_bytes=$(python3 - "$store" <<'PY'
import json, os, sys
s = sys.argv[1]
idx = json.load(open(os.path.join(s, "index.json")))
m = [d for d in idx["manifests"] if d.get("annotations", {}).get("org.opencontainers.image.ref.name") == "app:1"][0]
man = json.load(open(os.path.join(s, "blobs", *m["digest"].split(":"))))
print(m["size"] + man["config"]["size"] + sum(l["size"] for l in man["layers"]), len(man["layers"]), m["digest"])
PY
)
read -r image_bytes n_layers manifest_digest <<< "$image_bytes"
echo "    app:1 $manifest_digest: $n_layers layers, $image_bytes bytes ($((image_bytes >> 20)) MiB)"

# ---------------------------------------------------------------------------------------------
echo "==> docker-registry on loopback (plain HTTP, storage $work/registry)"
reg="$work/registry"
rm -rf "$reg"
mkdir -p "$reg/data"
port=$(python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
addr="127.0.0.1:$port"
cat > "$reg/config.yml" <<YAML
version: 0.1
log:
  level: warn
  formatter: text
storage:
  filesystem:
    rootdirectory: $reg/data
  delete:
    enabled: true
  maintenance:
    uploadpurging:
      enabled: false
http:
  addr: $addr
  secret: envc-bench-secret
YAML
for v in $(env | grep -o '^REGISTRY_[^=]*' || true); do unset "$v"; done
docker-registry serve "$reg/config.yml" > "$reg/registry.log" 2>&1 &
reg_pid=$!
cleanup() {
  kill "$reg_pid" 2>/dev/null || true
  wait "$reg_pid" 2>/dev/null || true
  rm -rf "$reg" "$work/pull-envc" "$work/pull-sk"
  if [ "${CLEAN:-0}" = 1 ]; then rm -rf "$work"; fi
}
trap cleanup EXIT
for _ in $(seq 100); do
  curl -sf -o /dev/null "http://$addr/v2/" && break
  kill -0 "$reg_pid" 2>/dev/null || { cat "$reg/registry.log" >&2; exit 1; }
  sleep 0.1
done
curl -sf -o /dev/null "http://$addr/v2/" || { echo "registry.sh: docker-registry never answered" >&2; exit 1; }

envc_push="$envc push app:1 $addr/bench/envc:1 --store $store"
sk_push="skopeo copy --quiet --preserve-digests --dest-tls-verify=false oci:$store:app:1 docker://$addr/bench/sk:1"

# ---------------------------------------------------------------------------------------------
echo "==> 1a. push of the whole image (registry storage deleted before every run)"
load "1a start"
hyperfine --runs "$runs" --export-json "$work/push.json" \
  --prepare "rm -rf $reg/data/docker" \
  --command-name "envc push" "$envc_push > /dev/null" \
  --command-name "skopeo copy (push)" "$sk_push"
load "1a end"
# Each push really uploads the image: its manifest is in the registry under its digest.
rm -rf "$reg/data/docker"
$envc push app:1 "$addr/bench/app:1" --store "$store" > /dev/null
$sk_push
for r in bench/app bench/sk; do
  got=$(skopeo inspect --raw --tls-verify=false "docker://$addr/$r:1" | sha256sum | cut -d' ' -f1)
  [ "sha256:$got" = "$manifest_digest" ] || { echo "registry.sh: $r:1 has manifest sha256:$got, not $manifest_digest" >&2; exit 1; }
done

# ---------------------------------------------------------------------------------------------
echo "==> 1b. pull of the whole image into a fresh store / layout"
load "1b start"
hyperfine --runs "$runs" --export-json "$work/pull.json" \
  --prepare "rm -rf $work/pull-envc; sync" \
  --prepare "rm -rf $work/pull-sk; sync" \
  --command-name "envc pull" "$envc pull $addr/bench/app:1 --store $work/pull-envc > /dev/null" \
  --command-name "skopeo copy (pull)" "skopeo copy --quiet --src-tls-verify=false docker://$addr/bench/app:1 oci:$work/pull-sk:1"
load "1b end"
"$envc" verify --store "$work/pull-envc" > /dev/null
rm -rf "$work/pull-envc" "$work/pull-sk"

# ---------------------------------------------------------------------------------------------
echo "==> 2. push when the registry has every blob ($n_layers layers)"
load "2 start"
hyperfine -N --warmup 2 --runs "$noop_runs" --export-json "$work/noop.json" \
  --command-name "envc push (all present)" "$envc push app:1 $addr/bench/app:1 --store $store" \
  --command-name "skopeo copy (all present)" "skopeo copy --quiet --preserve-digests --dest-tls-verify=false oci:$store:app:1 docker://$addr/bench/app:1"
load "2 end"

# ---------------------------------------------------------------------------------------------
if [ "$diag" != 0 ]; then
  echo "==> 3. what dominates: --transfers 1 vs 4, CPU time"
  load "3 start"
  hyperfine --runs "$runs" --export-json "$work/transfers.json" \
    --prepare "rm -rf $reg/data/docker/registry/v2/repositories/bench/envc $reg/data/docker/registry/v2/blobs" \
    --command-name "envc push --transfers 1" "$envc_push --transfers 1 > /dev/null" \
    --command-name "envc push --transfers 4" "$envc_push --transfers 4 > /dev/null"
  # The pull repository must hold the image again after the blob deletions above.
  $envc push app:1 "$addr/bench/app:1" --store "$store" > /dev/null
  hyperfine --runs "$runs" --export-json "$work/transfers-pull.json" \
    --prepare "rm -rf $work/pull-envc; sync" \
    --command-name "envc pull --transfers 1" "$envc pull $addr/bench/app:1 --store $work/pull-envc --transfers 1 > /dev/null" \
    --command-name "envc pull --transfers 4" "$envc pull $addr/bench/app:1 --store $work/pull-envc --transfers 4 > /dev/null"
  : > "$work/time.txt"
  # The registry's own CPU time over each run too (utime + stime of its process, in ticks).
  reg_cpu() { awk -v t="$(getconf CLK_TCK)" '{ printf "%.2f", ($14 + $15) / t }' "/proc/$reg_pid/stat"; }
  timed() {
    local name=$1; shift
    local before; before=$(reg_cpu)
    /usr/bin/time -f "$name wall %e s user %U s sys %S s maxrss %M KiB" -a -o "$work/time.txt" "$@" > /dev/null
    echo "$name registry-cpu $(python3 -c "print(f'{$(reg_cpu) - $before:.2f}')") s" >> "$work/time.txt"
  }
  rm -rf "$reg/data/docker/registry/v2/repositories/bench/envc" "$reg/data/docker/registry/v2/repositories/bench/sk" "$reg/data/docker/registry/v2/blobs"
  timed "envc-push" $envc_push
  rm -rf "$reg/data/docker/registry/v2/repositories/bench/envc" "$reg/data/docker/registry/v2/repositories/bench/sk" "$reg/data/docker/registry/v2/blobs"
  timed "skopeo-push" $sk_push
  rm -rf "$work/pull-envc" "$work/pull-sk"; sync
  timed "envc-pull" "$envc" pull "$addr/bench/sk:1" --store "$work/pull-envc"
  timed "skopeo-pull" skopeo copy --quiet --src-tls-verify=false "docker://$addr/bench/sk:1" "oci:$work/pull-sk:1"
  load "3 end"
fi

# ---------------------------------------------------------------------------------------------
echo "==> summary"
python3 - "$work" "$image_bytes" "$n_layers" "$diag" <<'PY'
import json, os, sys
work, image_bytes, n_layers, diag = sys.argv[1], int(sys.argv[2]), int(sys.argv[3]), sys.argv[4]
MiB = image_bytes / 2**20
def results(name):
    return {r["command"]: r for r in json.load(open(f"{work}/{name}.json"))["results"]}
def line(r, unit=1.0, u="s"):
    return (f"mean {r['mean'] * unit:8.3f} {u} ± {r['stddev'] * unit:.3f}   median {r['median'] * unit:8.3f}"
            f"   min {r['min'] * unit:.3f}   max {r['max'] * unit:.3f}   ({len(r['times'])} runs)")
verdicts = []
print(f"  image: {n_layers} layers, {image_bytes} bytes = {MiB:.1f} MiB")
for part, name, e, s in (("1a. push", "push", "envc push", "skopeo copy (push)"),
                         ("1b. pull", "pull", "envc pull", "skopeo copy (pull)")):
    r = results(name)
    print(f"  {part}")
    for k, v in r.items():
        print(f"    {k:20} {line(v)}   {MiB / v['mean']:6.1f} MiB/s")
    ratio = r[s]["mean"] / r[e]["mean"]
    print(f"    envc/skopeo throughput (= skopeo time / envc time, means): {ratio:.2f}x")
    verdicts.append((ratio >= 1.0, f"{name}: envc no slower than skopeo: {ratio:.2f}x"))
r = results("noop")
print(f"  2. push, every blob present ({n_layers} layers)")
for k, v in r.items():
    print(f"    {k:28} {line(v, 1000, 'ms')}")
e, s = r["envc push (all present)"], r["skopeo copy (all present)"]
print(f"    skopeo / envc (means): {s['mean'] / e['mean']:.2f}x")
verdicts.append((e["mean"] <= 0.5 and e["max"] <= 0.5, f"envc push, all present, <= 0.5 s: mean {e['mean'] * 1000:.0f} ms, max {e['max'] * 1000:.0f} ms"))
verdicts.append((s["mean"] <= 0.5, f"(skopeo, all present, <= 0.5 s: mean {s['mean'] * 1000:.0f} ms)"))
if diag != "0":
    print("  3. envc --transfers")
    for name in ("transfers", "transfers-pull"):
        for k, v in results(name).items():
            print(f"    {k:26} {line(v)}   {MiB / v['mean']:6.1f} MiB/s")
    print("  /usr/bin/time, one run each:")
    for l in open(f"{work}/time.txt"):
        w = l.split()
        if len(w) > 2 and w[1] == "wall":
            wall, user, sys_ = float(w[2]), float(w[5]), float(w[8])
            print(f"    {l.strip()}   CPU {user + sys_:.2f} s = {100 * (user + sys_) / wall:.0f}% of one core")
        elif len(w) > 2 and w[1] == "registry-cpu":
            print(f"      docker-registry's CPU over that run: {w[2]} s")
print("  load average (1, 5, 15 min): " + "; ".join(
    " ".join(l.split()[:2]) + ": " + " ".join(l.split()[2:]) for l in open(f"{work}/load.txt")))
for ok, text in verdicts:
    print(f"  {'PASS' if ok else 'FAIL'}  {text}")
PY
