#!/usr/bin/env bash
# `envc serve` latency (issue 13 bar), release build, over loopback:
#   a store with one environment of REVISIONS revisions (default 1,000; env-only specs on the
#   busybox base, so no engine is needed), served by `envc serve`; wrk (Debian) with 50
#   connections on 2 threads for DURATION seconds per route, `--latency` for the percentiles:
#     1. GET /v1/environments/bench/revisions      (the list of all revisions, 500 KB of JSON)
#     2. the same with `Accept-Encoding: gzip`, as browsers, curl --compressed and Python's
#        clients send it (the cached document compressed once, 30 KB on the wire)
#     3. GET /v1/environments/bench/revisions/500  (one revision: plan, layers, provenance)
#   Bar: p99 <= 10 ms for each. Against what a user would otherwise run for the same answer,
#   the CLI (`envc list bench --format json`, `envc show bench:500 --format json`), timed by
#   hyperfine in the same run; the ratio is the CLI's mean over the server's mean latency.
#   Before each wrk run the JSON body is compared with the CLI's, so the numbers are for the
#   same documents. The load average is printed (the machine may be shared).
#
# Usage: benches/serve.sh [WORKDIR]   (default target/bench-serve)
# Environment: REVISIONS (default 1000), DURATION (default 10), CONNECTIONS (default 50).
set -euo pipefail
cd "$(dirname "$0")/.."
repo=$PWD
work=$(realpath -m "${1:-target/bench-serve}")
revisions=${REVISIONS:-1000}
duration=${DURATION:-10}
connections=${CONNECTIONS:-50}
for tool in wrk hyperfine curl umoci; do
  command -v "$tool" >/dev/null || { echo "serve.sh: missing $tool (apt-get install $tool)" >&2; exit 2; }
done
nice cargo build --release --quiet --bin envc
envc="$repo/target/release/envc"
mkdir -p "$work"
store="$work/store-$revisions"
if [ ! -f "$store/.complete" ]; then
  rm -rf "$store"
  tests/support/busybox-base.sh "$work/base" >/dev/null
  printf 'base_image: anyscale/ray:2.9.0-py310\nenv_vars:\n  N: "0"\n' > "$work/spec.yaml"
  "$envc" build "$work/spec.yaml" --name bench --store "$store" --base "$work/base:1" >/dev/null
  for i in $(seq 2 "$revisions"); do
    printf 'base_image: anyscale/ray:2.9.0-py310\nenv_vars:\n  N: "%d"\n' "$i" > "$work/spec.yaml"
    "$envc" build "$work/spec.yaml" --name bench --store "$store" >/dev/null
  done
  touch "$store/.complete"
fi
echo "store: $("$envc" list --environments --store "$store" | tail -1)"

"$envc" serve --store "$store" --listen 127.0.0.1:0 2> "$work/serve.log" &
server=$!
trap 'kill $server 2>/dev/null; wait $server 2>/dev/null || true' EXIT
for _ in $(seq 100); do
  grep -q 'http://' "$work/serve.log" && break
  sleep 0.1
done
addr=$(grep -o 'http://[0-9.:]*' "$work/serve.log" | head -1)
echo "server: $addr   load: $(cut -d' ' -f1-3 /proc/loadavg)"

bench_route() {
  local label=$1 path=$2 encoding=$3
  shift 3
  local header=()
  [ -n "$encoding" ] && header=(-H "Accept-Encoding: $encoding")
  curl -sf "$addr$path" > "$work/server.json"
  "$envc" "$@" --store "$store" > "$work/cli.json"
  cmp -s "$work/server.json" "$work/cli.json" || { echo "serve.sh: $path differs from envc $*" >&2; exit 1; }
  local wire
  wire=$(curl -s "${header[@]}" "$addr$path" | wc -c)
  echo "== $label: GET $path (${encoding:-identity}: $wire bytes on the wire, $(wc -c < "$work/server.json") of JSON), $connections connections, ${duration}s"
  wrk -t2 -c"$connections" -d"${duration}s" --latency "${header[@]}" "$addr$path" | tee "$work/wrk-$label.txt" \
    | grep -E 'Latency|50%|90%|99%|Requests/sec|Non-2xx|Socket errors'
  hyperfine --warmup 3 --runs 30 -N --export-json "$work/cli-$label.json" \
    "$envc $* --store $store" 2>/dev/null | grep -E 'Time|Range'
  python3 - "$work/wrk-$label.txt" "$work/cli-$label.json" <<'EOF'
import json, re, sys
text = open(sys.argv[1]).read()
def ms(v, unit):
    return float(v) * {"us": 0.001, "ms": 1.0, "s": 1000.0}[unit]
mean = ms(*re.search(r"Latency\s+([\d.]+)(us|ms|s)", text).groups())
p99 = ms(*re.search(r"99%\s+([\d.]+)(us|ms|s)", text).groups())
cli = json.load(open(sys.argv[2]))["results"][0]["mean"] * 1000
verdict = "met" if p99 <= 10 else "NOT met"
print(f"   server mean {mean:.2f} ms, p99 {p99:.2f} ms (bar p99 <= 10 ms: {verdict}); "
      f"CLI {cli:.2f} ms per answer: the server is {cli / mean:.1f}x faster")
EOF
}
bench_route list /v1/environments/bench/revisions "" list bench --format json
bench_route list-gzip /v1/environments/bench/revisions gzip list bench --format json
bench_route show /v1/environments/bench/revisions/$((revisions / 2)) "" show "bench:$((revisions / 2))" --format json
echo "load after: $(cut -d' ' -f1-3 /proc/loadavg)"
