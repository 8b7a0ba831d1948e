#!/usr/bin/env bash
# Build a tiny busybox base image as an OCI image layout, with no envc involvement, for the
# store and real-tool tests (tests/store.rs, tests/oci_tools.rs).
#
# Usage: tests/support/busybox-base.sh [--big MB] OUTDIR
#
# Writes OUTDIR (an OCI image layout whose image is tagged `1`) and OUTDIR.tar (the same
# layout as an oci-archive). The image has one layer with Debian's static busybox at
# /bin/busybox plus applet symlinks (sh, env, printenv, ls, cat, echo, id, ...), and a config
# with Env PATH=/usr/bin:/bin and Cmd ["sh"]. With `--big MB` a second layer holds MB MiB of
# random bytes at /data/random.bin (to make imports and builds take measurable time).
#
# Needs `umoci` and `busybox-static` (Debian packages). Idempotent: when OUTDIR and OUTDIR.tar
# exist and were made by this version of the script with the same options, nothing is done.
# Concurrent callers for one OUTDIR are serialised with flock.
set -euo pipefail

usage() {
  echo "usage: $0 [--big MB] OUTDIR" >&2
  exit 2
}

BIG_MB=0
while [ "$#" -gt 0 ]; do
  case "$1" in
    --big)
      [ "$#" -ge 2 ] || usage
      BIG_MB=$2
      shift 2
      ;;
    -*) usage ;;
    *) break ;;
  esac
done
[ "$#" -eq 1 ] && [ -n "$1" ] || usage
case "$BIG_MB" in '' | *[!0-9]*) usage ;; esac

BUSYBOX=/bin/busybox
for tool in umoci tar; do
  command -v "$tool" >/dev/null 2>&1 || {
    echo "busybox-base: \`$tool\` not found (apt-get install umoci)" >&2
    exit 2
  }
done
[ -x "$BUSYBOX" ] || {
  echo "busybox-base: $BUSYBOX not found (apt-get install busybox-static)" >&2
  exit 2
}

OUT=${1%/}
mkdir -p "$(dirname "$OUT")"
OUT="$(cd "$(dirname "$OUT")" && pwd)/$(basename "$OUT")"

if command -v flock >/dev/null 2>&1; then
  exec 9>"$OUT.lock"
  flock 9
fi

# The stamp ties OUTDIR to this script's content and options.
STAMP_VALUE="$(sha256sum "${BASH_SOURCE[0]}" | cut -d' ' -f1) big=$BIG_MB"
if [ -f "$OUT/index.json" ] && [ -f "$OUT.tar" ] && [ "$(cat "$OUT.stamp" 2>/dev/null)" = "$STAMP_VALUE" ]; then
  exit 0
fi
rm -rf "$OUT" "$OUT.tar" "$OUT.stamp"

WORK=$(mktemp -d "$OUT.work.XXXXXX")
trap 'rm -rf "$WORK"' EXIT
LAYOUT="$WORK/layout"
BUNDLE="$WORK/bundle"

umoci init --layout "$LAYOUT"
umoci new --image "$LAYOUT:1"
umoci unpack --rootless --image "$LAYOUT:1" "$BUNDLE" >/dev/null

ROOTFS="$BUNDLE/rootfs"
mkdir -p "$ROOTFS/bin" "$ROOTFS/usr/bin" "$ROOTFS/tmp" "$ROOTFS/etc"
chmod 1777 "$ROOTFS/tmp"
cp "$BUSYBOX" "$ROOTFS/bin/busybox"
chmod 0755 "$ROOTFS/bin/busybox"
for applet in sh ash env printenv ls cat echo id true false test printf sleep mkdir rm cp mv \
  grep sed head tail wc sort uname pwd date; do
  ln -s busybox "$ROOTFS/bin/$applet"
done
printf 'root:x:0:0:root:/root:/bin/sh\n' >"$ROOTFS/etc/passwd"
printf 'root:x:0:\n' >"$ROOTFS/etc/group"
umoci repack --image "$LAYOUT:1" "$BUNDLE" >/dev/null

if [ "$BIG_MB" -gt 0 ]; then
  # A fresh bundle, so the second repack makes a second layer on top of the first.
  BUNDLE2="$WORK/bundle2"
  umoci unpack --rootless --image "$LAYOUT:1" "$BUNDLE2" >/dev/null
  mkdir -p "$BUNDLE2/rootfs/data"
  head -c "$((BIG_MB * 1024 * 1024))" /dev/urandom >"$BUNDLE2/rootfs/data/random.bin"
  umoci repack --image "$LAYOUT:1" "$BUNDLE2" >/dev/null
fi

umoci config --config.env PATH=/usr/bin:/bin --config.cmd sh --image "$LAYOUT:1"
umoci gc --layout "$LAYOUT"

tar -C "$LAYOUT" --sort=name -cf "$WORK/layout.tar" .
mv "$LAYOUT" "$OUT"
mv "$WORK/layout.tar" "$OUT.tar"
echo "$STAMP_VALUE" >"$OUT.stamp"
