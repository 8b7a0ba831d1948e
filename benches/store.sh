#!/usr/bin/env bash
# Store benchmarks (issue 3 bars), whole process, release build:
#   (c) a no-op rebuild of an unchanged spec on a 1 GiB base: median <= 20 ms
#       (`envc build` with `--base DIR` pointing at the already-imported layout, and without
#       `--base`, the store finding the base by name);
#   peak memory of a build independent of layer size: max RSS of the first build (the import
#       verifies and copies every byte of a 1 GiB layer) against the same on a 64 MiB base.
# Usage: benches/store.sh [WORKDIR]   (default target/bench-store; the bases are made once)
# Environment: RUNS (default 50).
set -euo pipefail
cd "$(dirname "$0")/.."
work=$(realpath -m "${1:-target/bench-store}")
runs=${RUNS:-50}
for tool in hyperfine python3 /usr/bin/time; do
  command -v "$tool" >/dev/null || { echo "missing $tool (apt-get install hyperfine time)" >&2; exit 2; }
done
cargo build --release --quiet
envc="$PWD/target/release/envc"
mkdir -p "$work"

# A base OCI layout with one uncompressed layer holding one file of SIZE MiB of random bytes.
make_base() { # DIR SIZE_MIB
  local dir=$1 mib=$2
  [ -f "$dir/index.json" ] && return 0
  python3 - "$dir" "$mib" <<'PY'
import hashlib, io, json, os, sys, tarfile
out, mib = sys.argv[1], int(sys.argv[2])
os.makedirs(f"{out}/blobs/sha256", exist_ok=True)
tmp = f"{out}/layer.tar"
with open(f"{out}/payload", "wb") as f:
    for _ in range(mib):
        f.write(os.urandom(1 << 20))
with tarfile.open(tmp, "w", format=tarfile.GNU_FORMAT) as t:
    info = t.gettarinfo(f"{out}/payload", arcname="data/payload")
    info.mtime = 0; info.uid = info.gid = 0; info.uname = info.gname = ""
    with open(f"{out}/payload", "rb") as f:
        t.addfile(info, f)
os.remove(f"{out}/payload")
h = hashlib.sha256()
with open(tmp, "rb") as f:
    for chunk in iter(lambda: f.read(1 << 20), b""):
        h.update(chunk)
layer = h.hexdigest(); size = os.path.getsize(tmp)
os.rename(tmp, f"{out}/blobs/sha256/{layer}")
def put(obj):
    b = json.dumps(obj, sort_keys=True, separators=(",", ":")).encode()
    d = hashlib.sha256(b).hexdigest()
    open(f"{out}/blobs/sha256/{d}", "wb").write(b)
    return d, len(b)
cfg = put({"architecture": "amd64", "os": "linux", "config": {"Env": ["PATH=/usr/bin:/bin"]},
           "rootfs": {"type": "layers", "diff_ids": [f"sha256:{layer}"]},
           "history": [{"created": "1970-01-01T00:00:00Z", "created_by": "bench"}]})
man = put({"schemaVersion": 2, "mediaType": "application/vnd.oci.image.manifest.v1+json",
           "config": {"mediaType": "application/vnd.oci.image.config.v1+json", "digest": f"sha256:{cfg[0]}", "size": cfg[1]},
           "layers": [{"mediaType": "application/vnd.oci.image.layer.v1.tar", "digest": f"sha256:{layer}", "size": size}]})
json.dump({"imageLayoutVersion": "1.0.0"}, open(f"{out}/oci-layout", "w"))
json.dump({"schemaVersion": 2, "manifests": [{"mediaType": "application/vnd.oci.image.manifest.v1+json",
           "digest": f"sha256:{man[0]}", "size": man[1], "annotations": {"org.opencontainers.image.ref.name": "1"}}]},
          open(f"{out}/index.json", "w"))
PY
}

echo "==> bases (made once): 1 GiB and 64 MiB"
make_base "$work/base-1g" 1024
make_base "$work/base-64m" 64
spec="$work/byod.yaml"
printf 'docker_image: localhost/bench-base:1\nray_version: "2.9.0"\nenv_vars:\n  PATH: /opt/x/bin:$PATH\n  MODE: bench\n' > "$spec"

peak() { # STORE BASE -> max RSS in KiB of the first (importing) build
  rm -rf "$1"
  /usr/bin/time -f '%M' "$envc" build "$spec" --name bench --store "$1" --base "$2" 2>&1 >/dev/null | tail -1
}
echo "==> first build (imports and verifies the base): peak RSS"
rss_small=$(peak "$work/store-64m" "$work/base-64m")
rss_large=$(peak "$work/store-1g" "$work/base-1g")
echo "    64 MiB base: ${rss_small} KiB    1 GiB base: ${rss_large} KiB"

echo "==> no-op rebuilds on the 1 GiB base"
hyperfine -N --warmup 5 --runs "$runs" --export-json "$work/noop.json" \
  --command-name "envc build (no-op, --base DIR)" \
  "$envc build $spec --name bench --store $work/store-1g --base $work/base-1g" \
  --command-name "envc build (no-op, base from the store)" \
  "$envc build $spec --name bench --store $work/store-1g"
python3 - "$work/noop.json" "$rss_small" "$rss_large" <<'PY'
import json, sys
res = json.load(open(sys.argv[1]))["results"]
for r in res:
    med = r["median"] * 1000
    print(f"  {'PASS' if med <= 20 else 'FAIL'}  {r['command']}: median {med:.2f} ms (bar <= 20 ms)")
small, large = int(sys.argv[2]), int(sys.argv[3])
print(f"  {'PASS' if large < small * 1.5 + 8192 else 'FAIL'}  peak RSS independent of layer size: "
      f"{small} KiB (64 MiB base) vs {large} KiB (1 GiB base)")
PY
