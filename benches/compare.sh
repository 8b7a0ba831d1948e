#!/usr/bin/env bash
# Whole-process benchmarks of the release binary, with hyperfine (BENCHMARKS.md records a run):
#
#  1. `envc dockerfile fixtures/seed.yaml` against `repo2docker --no-build` on the equivalent
#     repository benches/repo2docker-seed/, both in ONE hyperfine run; bar: envc median <= 3 ms
#     and repo2docker / envc >= 100x.
#  2. `envc check` over 1,000 generated specs (benches/gen-specs.sh) in one process;
#     bar: median <= 100 ms.
#
# `repo2docker --no-build` ("dry run") only prints the Dockerfile it would build: it never
# creates a container-engine client, so no Docker daemon (or socket) is needed.
#
# Usage: benches/compare.sh [--strict]
#   --strict   exit 1 when a bar is missed (default: report PASS/FAIL, exit 0)
# Environment: RUNS (default 200), CHECK_RUNS (default 50), WARMUP (default 10),
#   RESULTS (default target/bench-results: hyperfine JSON and Markdown exports).
set -euo pipefail

strict=0
case "${1:-}" in
    --strict) strict=1 ;;
    "") ;;
    *) echo "usage: $0 [--strict]" >&2; exit 2 ;;
esac

root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
cd "$root"
runs=${RUNS:-200}
check_runs=${CHECK_RUNS:-50}
warmup=${WARMUP:-10}
results=${RESULTS:-$root/target/bench-results}

missing=0
if ! command -v hyperfine >/dev/null; then
    echo "error: hyperfine not found; install it with \`apt-get install -y hyperfine\` (Debian/Ubuntu)" >&2
    echo "       or \`cargo install hyperfine\`" >&2
    missing=1
fi
if ! command -v repo2docker >/dev/null; then
    echo "error: repo2docker not found; install it with \`pip install jupyter-repo2docker\`" >&2
    missing=1
fi
if ! command -v python3 >/dev/null; then
    echo "error: python3 not found (needed to read hyperfine's JSON)" >&2
    missing=1
fi
if [[ $missing -ne 0 ]]; then
    exit 1
fi

# A pyenv (or asdf) shim is a shell script that spends tens of milliseconds finding the real
# program; time the real console script so repo2docker is not charged for the shim.
r2d=$(command -v repo2docker)
if [[ $r2d == */shims/* ]] && command -v pyenv >/dev/null; then
    r2d=$(pyenv which repo2docker)
fi

echo "==> cargo build --release"
cargo build --release --quiet
envc=$root/target/release/envc

tmp=$(mktemp -d "${TMPDIR:-/tmp}/envc-bench.XXXXXX")
trap 'rm -rf "$tmp"' EXIT
mkdir -p "$results"

# Sanity: both commands must work (and produce a Dockerfile) before they are timed.
"$envc" dockerfile fixtures/seed.yaml 2>/dev/null | grep -q '^FROM anyscale/ray-ml' ||
    { echo "error: envc dockerfile fixtures/seed.yaml failed" >&2; exit 1; }
"$r2d" --no-build benches/repo2docker-seed 2>/dev/null | grep -q '^FROM ' ||
    { echo "error: $r2d --no-build benches/repo2docker-seed printed no Dockerfile" >&2; exit 1; }

echo "==> generating 1,000 specs in $tmp/specs"
benches/gen-specs.sh "$tmp/specs" 1000
specs=("$tmp"/specs/spec-*.yaml)
[[ ${#specs[@]} -eq 1000 ]] || { echo "error: expected 1000 specs, got ${#specs[@]}" >&2; exit 1; }
"$envc" check --quiet "${specs[@]}" ||
    { echo "error: the generated specs do not all pass \`envc check\`" >&2; exit 1; }

echo "==> hyperfine: envc dockerfile vs repo2docker --no-build (warmup $warmup, $runs runs each)"
# -N: run without an intermediate shell, so nothing but the program itself is timed.
hyperfine -N --warmup "$warmup" --runs "$runs" \
    --export-json "$results/dockerfile.json" --export-markdown "$results/dockerfile.md" \
    --command-name "envc dockerfile fixtures/seed.yaml" \
    "$envc dockerfile fixtures/seed.yaml" \
    --command-name "repo2docker --no-build benches/repo2docker-seed" \
    "$r2d --no-build benches/repo2docker-seed"

echo "==> hyperfine: envc check over 1,000 specs (warmup $warmup, $check_runs runs)"
hyperfine -N --warmup "$warmup" --runs "$check_runs" \
    --export-json "$results/check.json" --export-markdown "$results/check.md" \
    --command-name "envc check <1,000 specs>" \
    "$envc check ${specs[*]}"

python3 - "$results/dockerfile.json" "$results/check.json" "$strict" <<'EOF'
import json
import sys

dockerfile, check, strict = json.load(open(sys.argv[1])), json.load(open(sys.argv[2])), sys.argv[3] == "1"
ms = lambda s: s * 1000.0

def row(r):
    return (f"  {r['command']}\n"
            f"    median {ms(r['median']):8.2f} ms   mean {ms(r['mean']):8.2f} ms ± {ms(r['stddev']):.2f}"
            f"   min {ms(r['min']):8.2f}   max {ms(r['max']):8.2f}   ({len(r['times'])} runs)")

envc, r2d = dockerfile["results"]
chk = check["results"][0]
ratio = r2d["median"] / envc["median"]
bars = [
    ("envc dockerfile median <= 3 ms", ms(envc["median"]) <= 3.0, f"{ms(envc['median']):.2f} ms"),
    ("repo2docker / envc >= 100x", ratio >= 100.0, f"{ratio:.0f}x"),
    ("envc check, 1,000 specs, median <= 100 ms", ms(chk["median"]) <= 100.0, f"{ms(chk['median']):.2f} ms"),
]
print("\n==> summary")
print(row(envc)); print(row(r2d)); print(row(chk))
print(f"  ratio (median repo2docker / median envc): {ratio:.1f}x")
for name, ok, value in bars:
    print(f"  {'PASS' if ok else 'FAIL'}  {name}: {value}")
sys.exit(1 if strict and not all(ok for _, ok, _ in bars) else 0)
EOF
echo "(hyperfine exports in $results)"
