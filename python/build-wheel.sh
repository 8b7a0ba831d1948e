#!/usr/bin/env bash
# Builds the envc wheel: the `envc` CLI binary (cargo), copied into the wheel's data scripts
# (python/envc.data/scripts/envc, gitignored), then the extension module and the Python package
# (maturin). Dev profile by default (CI speed); `--release` for benchmarks and distribution.
# The wheel lands in target/wheels/ of this repository, whatever CARGO_TARGET_DIR is.
#
# Usage: python/build-wheel.sh [--release]
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
repo="$(dirname "$here")"

profile=dev
case "${1:-}" in
  "") ;;
  --release) profile=release ;;
  *) echo "usage: $0 [--release]" >&2; exit 2 ;;
esac

if ! command -v maturin >/dev/null 2>&1; then
  echo "build-wheel.sh: maturin is not installed (python3 -m pip install maturin); it builds the wheel" >&2
  exit 2
fi

cd "$repo"
target_dir="$(cargo metadata --format-version 1 --no-deps | python3 -c 'import json, sys; print(json.load(sys.stdin)["target_directory"])')"
if [ "$profile" = release ]; then
  cargo build --release --bin envc
  bin="$target_dir/release/envc"
else
  cargo build --bin envc
  bin="$target_dir/debug/envc"
fi
mkdir -p "$here/envc.data/scripts"
# Without debug info: a dev build's symbols are 90% of its size, and the wheel is zipped.
if command -v strip >/dev/null 2>&1; then
  strip --strip-debug -o "$here/envc.data/scripts/envc" "$bin"
else
  cp "$bin" "$here/envc.data/scripts/envc"
fi
chmod 755 "$here/envc.data/scripts/envc"

out="$repo/target/wheels"
mkdir -p "$out"
# Older wheels of this version would be picked up by `pip install target/wheels/envc-*.whl`.
rm -f "$out"/envc-*.whl
if [ "$profile" = release ]; then
  maturin build --release --strip --manifest-path "$here/Cargo.toml" --out "$out"
else
  maturin build --profile dev --strip --manifest-path "$here/Cargo.toml" --out "$out"
fi
ls "$out"/envc-*.whl
