#!/usr/bin/env bash
# The web UI's browser tests (tests/ui/test_ui.py): pytest + selenium driving a headless
# Chromium against a real `envc serve`. Uses target/debug/envc (or $ENVC), built with
# `cargo build` first when it is missing. Exits non-zero, saying why, when Chromium,
# chromedriver, selenium or pytest is missing: in CI nothing skips silently. Screenshots go
# to target/ui-screenshots/. Extra arguments go to pytest (`-k rollback`).
set -euo pipefail
cd "$(dirname "$0")/../.."

missing=()
[ -x "${CHROMIUM:-/usr/bin/chromium}" ] || missing+=("chromium (apt-get install chromium)")
[ -x "${CHROMEDRIVER:-/usr/bin/chromedriver}" ] || missing+=("chromedriver (apt-get install chromium-driver)")
python3 -c 'import selenium' 2>/dev/null || missing+=("selenium (python3 -m pip install selenium)")
python3 -c 'import pytest' 2>/dev/null || missing+=("pytest (python3 -m pip install pytest)")
if [ "${#missing[@]}" -gt 0 ]; then
  echo "tests/ui: cannot run the browser tests; missing:" >&2
  printf '  %s\n' "${missing[@]}" >&2
  exit 2
fi

export ENVC="${ENVC:-${CARGO_TARGET_DIR:-target}/debug/envc}"
if [ ! -x "$ENVC" ]; then
  echo "tests/ui: $ENVC is missing; running cargo build"
  cargo build --quiet
fi
ENVC="$(cd "$(dirname "$ENVC")" && pwd)/$(basename "$ENVC")"
export UI_SCREENSHOTS="${UI_SCREENSHOTS:-$PWD/target/ui-screenshots}"
exec python3 -m pytest -v -s -p no:cacheprovider tests/ui/test_ui.py "$@"
