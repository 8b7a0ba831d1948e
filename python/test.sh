#!/usr/bin/env bash
# The Python SDK's tests, as a user gets the SDK: builds the wheel (build-wheel.sh, dev
# profile), installs it into a fresh venv (target/py-venv), installs pytest there and runs
# python/tests. The tests call the `envc` CLI the wheel installed in that venv.
#
# Usage: python/test.sh [pytest args...]
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
repo="$(dirname "$here")"
cd "$repo"

if ! command -v maturin >/dev/null 2>&1; then
  echo "python/test.sh: maturin is not installed, so the wheel cannot be built; install it with \`python3 -m pip install maturin\` (scripts/test.sh does)" >&2
  exit 2
fi

"$here/build-wheel.sh"
venv="$repo/target/py-venv"
rm -rf "$venv"
python3 -m venv "$venv"
"$venv/bin/python" -m pip install --quiet --disable-pip-version-check "$repo"/target/wheels/envc-*.whl
if ! "$venv/bin/python" -m pip install --quiet --disable-pip-version-check pytest; then
  # Offline: the pytest the system interpreter has, made visible to the venv.
  site="$(python3 -c 'import pytest, os; print(os.path.dirname(os.path.dirname(pytest.__file__)))')"
  echo "$site" > "$("$venv/bin/python" -c 'import sysconfig; print(sysconfig.get_path("purelib"))')/system-pytest.pth"
fi
cd "$repo"
exec "$venv/bin/python" -m pytest -q python/tests "$@"
