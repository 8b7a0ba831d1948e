#!/usr/bin/env bash
# Build a small ray-like base image for the engine end-to-end test (tests/engine.rs).
#
# Usage: tests/support/ray-base.sh CACHE_DIR
#
# Idempotent. Writes CACHE_DIR/containers.conf and CACHE_DIR/storage.conf (podman storage
# lives under CACHE_DIR), debootstraps Debian bookworm (minbase), imports it as
# localhost/debian-base:bookworm and builds localhost/anyscale/ray:2.9.0-py311 on top: user
# `ray` (uid 1000, gid 100) with passwordless sudo and a Python venv at /home/ray/anaconda3.
# If that image already exists in the storage, nothing is rebuilt, so the base is built
# once per CI run.
#
# The caller points podman at the config with
#   CONTAINERS_CONF=CACHE_DIR/containers.conf CONTAINERS_STORAGE_CONF=CACHE_DIR/storage.conf
# This script exports those itself only for its own podman calls.
#
# The Debian mirror is read at run time from this machine's apt sources
# (/etc/apt/sources.list, /etc/apt/sources.list.d/*.list and *.sources); no host name is
# written in the repository.
set -euo pipefail

if [ "$#" -ne 1 ] || [ -z "$1" ]; then
  echo "usage: $0 CACHE_DIR" >&2
  exit 2
fi

RAY_IMAGE=localhost/anyscale/ray:2.9.0-py311
DEBIAN_IMAGE=localhost/debian-base:bookworm
SUITE=bookworm

mkdir -p "$1"
CACHE_DIR=$(cd "$1" && pwd)

cat >"$CACHE_DIR/containers.conf" <<CONF
[containers]
default_ulimits = ["nofile=1024:1024", "nproc=4096:4096"]

[engine]
runtime = "runc"
cgroup_manager = "cgroupfs"
events_logger = "file"
CONF

cat >"$CACHE_DIR/storage.conf" <<CONF
[storage]
driver = "overlay"
graphroot = "$CACHE_DIR/root"
runroot = "$CACHE_DIR/run"
CONF

# Local to this script's process tree; the caller sets its own.
CONTAINERS_CONF="$CACHE_DIR/containers.conf"
CONTAINERS_STORAGE_CONF="$CACHE_DIR/storage.conf"
export CONTAINERS_CONF CONTAINERS_STORAGE_CONF

log() { echo "ray-base: $*" >&2; }
now() { date +%s; }

# Serialize concurrent callers (test binaries run in parallel under some runners).
if command -v flock >/dev/null 2>&1; then
  exec 9>"$CACHE_DIR/lock"
  flock 9
fi

# The stamp ties the cached image to this script's content: an edited script rebuilds.
STAMP="$CACHE_DIR/ray-base.stamp"
SCRIPT_SUM=$(sha256sum "${BASH_SOURCE[0]}" | cut -d' ' -f1)
if podman image exists "$RAY_IMAGE" && [ "$(cat "$STAMP" 2>/dev/null)" = "$SCRIPT_SUM" ]; then
  log "$RAY_IMAGE already present in $CACHE_DIR; nothing to do"
  exit 0
fi
rm -f "$STAMP"

# Print the first Debian mirror URI that serves $SUITE, from the machine's apt sources.
debian_mirror() {
  local f
  # One-line form: deb [options] URI SUITE COMPONENT...
  for f in /etc/apt/sources.list /etc/apt/sources.list.d/*.list; do
    [ -f "$f" ] || continue
    awk -v suite="$SUITE" '
      $1 == "deb" {
        i = 2
        if ($i ~ /^\[/) { while (i <= NF && $i !~ /\]$/) i++; i++ }
        if ($(i + 1) == suite) { print $i; exit }
      }' "$f"
  done
  # deb822 form: stanzas separated by blank lines with URIs: and Suites: fields.
  for f in /etc/apt/sources.list.d/*.sources; do
    [ -f "$f" ] || continue
    awk -v suite="$SUITE" '
      function flush() {
        if (types ~ /(^| )deb( |$)/ && enabled !~ /^[Nn]o/) {
          n = split(suites, s, " ")
          for (j = 1; j <= n; j++) if (s[j] == suite) { split(uris, u, " "); print u[1]; exit }
        }
        types = ""; uris = ""; suites = ""; enabled = ""
      }
      /^[ \t]*#/ { next }
      /^[ \t]*$/ { flush(); next }
      tolower($1) == "types:"   { $1 = ""; types = $0 }
      tolower($1) == "uris:"    { $1 = ""; uris = $0 }
      tolower($1) == "suites:"  { $1 = ""; suites = $0 }
      tolower($1) == "enabled:" { $1 = ""; sub(/^ +/, ""); enabled = $0 }
      END { flush() }' "$f"
  done
}

if ! podman image exists "$DEBIAN_IMAGE"; then
  MIRROR=$(debian_mirror | head -n 1)
  if [ -z "$MIRROR" ]; then
    log "no Debian mirror for $SUITE found in /etc/apt/sources.list*"
    exit 1
  fi
  ROOTFS="$CACHE_DIR/rootfs"
  rm -rf "$ROOTFS"
  t0=$(now)
  log "debootstrap --variant=minbase $SUITE (mirror from the machine's apt sources)"
  debootstrap --variant=minbase "$SUITE" "$ROOTFS" "$MIRROR" >"$CACHE_DIR/debootstrap.log" 2>&1 || {
    tail -n 50 "$CACHE_DIR/debootstrap.log" >&2
    exit 1
  }
  # The image should not carry this machine's apt state or mirror choice beyond sources.list.
  rm -rf "$ROOTFS/var/lib/apt/lists/"* "$ROOTFS/var/cache/apt/archives/"*.deb
  tar -C "$ROOTFS" -c . | podman import - "$DEBIAN_IMAGE" >"$CACHE_DIR/import.log" 2>&1 || {
    cat "$CACHE_DIR/import.log" >&2
    exit 1
  }
  rm -rf "$ROOTFS"
  log "debootstrap + import took $(($(now) - t0)) s"
fi

CONTEXT="$CACHE_DIR/ray-base-context"
mkdir -p "$CONTEXT"
cat >"$CONTEXT/Dockerfile" <<'DOCKERFILE'
FROM localhost/debian-base:bookworm
ARG DEBIAN_FRONTEND=noninteractive
RUN apt-get update \
 && apt-get install -y --no-install-recommends python3 python3-venv ca-certificates sudo \
 && rm -rf /var/lib/apt/lists/*
RUN useradd -m -u 1000 -g 100 -s /bin/bash ray \
 && python3 -m venv /home/ray/anaconda3 \
 && chown -R 1000:100 /home/ray \
 && echo 'ray ALL=(ALL) NOPASSWD:ALL' >/etc/sudoers.d/ray \
 && chmod 0440 /etc/sudoers.d/ray
ENV HOME=/home/ray
ENV PATH=/home/ray/anaconda3/bin:/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin
WORKDIR /home/ray
USER 1000
DOCKERFILE

t0=$(now)
log "building $RAY_IMAGE"
podman build --network host --format docker -t "$RAY_IMAGE" -f "$CONTEXT/Dockerfile" "$CONTEXT" \
  >"$CACHE_DIR/ray-base-build.log" 2>&1 || {
  tail -n 50 "$CACHE_DIR/ray-base-build.log" >&2
  exit 1
}
log "base build took $(($(now) - t0)) s"
echo "$SCRIPT_SUM" >"$STAMP"
