#!/usr/bin/env bash
# Writes COUNT (default 1000) varied, valid cluster-environment specs into OUTDIR as
# spec-0000.yaml, spec-0001.yaml, ...  Deterministic: the same COUNT gives the same files.
#
# Spec i takes base image (13 * i) mod N from data/anyscale-supported-base-images.txt (N = 2142,
# so 1,000 specs use 1,000 different tags), 0-4 env vars (plain values, `$NAME`/`${NAME}`
# references and `$$` literals), and 0-3 Debian, 0-3 pip, 0-2 conda packages and 0-2
# post-build commands from fixed pools.
# benches/compile.rs builds the same set in memory (keep the two in step).
#
# Usage: benches/gen-specs.sh OUTDIR [COUNT]
set -euo pipefail

if [[ $# -lt 1 || $# -gt 2 ]]; then
    echo "usage: $0 OUTDIR [COUNT]" >&2
    exit 2
fi
out=$1
count=${2:-1000}
root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
images="$root/data/anyscale-supported-base-images.txt"

mkdir -p "$out"
awk -v out="$out" -v count="$count" '
BEGIN {
    nd = split("vim curl git htop jq tmux wget zip unzip build-essential libssl-dev ffmpeg", deb, " ")
    np = split("pkutils|numpy>=1.24|pandas==2.1.4|requests[socks]>=2.31,<3|scikit-learn~=1.3.0|torch; python_version >= \"3.8\"|boto3|pyarrow>=14|transformers==4.36.2|datasets", pip, "|")
    nc = split("pkutils|numpy=1.26|conda-forge::jq|scipy>=1.10|libgcc-ng|cudatoolkit=11.8", conda, "|")
    nb = split("ls@echo \"built spec IDX\"@pip list@python -c \"import sys; print(sys.version)\"@mkdir -p /tmp/cache-IDX && touch /tmp/cache-IDX/ok@conda list | head -n 5", post, "@")
    nv = split("plain|path|ref|literal", kinds, "|")
}
{ img[n++] = $0 }
END {
    for (i = 0; i < count; i++) {
        f = sprintf("%s/spec-%04d.yaml", out, i)
        printf "base_image: %s\n", img[(i * 13) % n] > f
        ne = i % 5
        if (ne > 0) {
            print "env_vars:" > f
            for (k = 0; k < ne; k++) {
                kind = kinds[(i + k) % nv + 1]
                if (kind == "plain")        v = sprintf("value-%d-%d", i, k)
                else if (kind == "path")    v = sprintf("/opt/app-%d/bin:${PATH}", i)
                else if (kind == "ref")     v = sprintf("$HOME/work/%d", k)
                else                        v = sprintf("cost-$$%d", i)
                printf "  VAR_%d_%d: \"%s\"\n", i, k, v > f
            }
        }
        m = i % 4
        if (m > 0) {
            print "debian_packages:" > f
            for (k = 0; k < m; k++) printf "  - %s\n", deb[(i + 3 * k) % nd + 1] > f
        }
        p = (i / 4) % 4; p = int(p)
        c = i % 3
        if (p > 0 || c > 0) {
            print "python:" > f
            if (p > 0) {
                print "  pip_packages:" > f
                for (k = 0; k < p; k++) { s = pip[(i + 3 * k) % np + 1]; gsub(/\x27/, "\x27\x27", s); printf "    - \x27%s\x27\n", s > f }
            }
            if (c > 0) {
                print "  conda_packages:" > f
                for (k = 0; k < c; k++) printf "    - \x27%s\x27\n", conda[(i + 2 * k) % nc + 1] > f
            }
        }
        b = i % 3
        if (b > 0) {
            print "post_build_cmds:" > f
            for (k = 0; k < b; k++) { s = post[(i + k) % nb + 1]; gsub(/IDX/, i, s); gsub(/\x27/, "\x27\x27", s); printf "  - \x27%s\x27\n", s > f }
        }
        close(f)
    }
}' "$images"
