#!/usr/bin/env python3
"""Ray 2.40 as an oracle for `envc package` (driven by tests/ray_oracle.rs).

Reads a JSON list of cases on stdin, each {"dir": PATH, "excludes": [PATTERN, ...]}, and prints
one JSON list of results on stdout, each {"uri": ..., "names": [zip entry names, sorted]} or
{"error": "..."}: Ray's `get_uri_for_directory` and the entries of the zip Ray's
`create_package` writes. One process for all cases: importing Ray takes seconds.
"""
import json
import logging
import os
import sys
import tempfile
import zipfile
from pathlib import Path

from ray._private.runtime_env.packaging import create_package, get_uri_for_directory


def main() -> None:
    cases = json.load(sys.stdin)
    quiet = logging.getLogger("ray-oracle")
    quiet.addHandler(logging.NullHandler())
    quiet.propagate = False
    results = []
    with tempfile.TemporaryDirectory() as tmp:
        for i, case in enumerate(cases):
            try:
                uri = get_uri_for_directory(case["dir"], excludes=case["excludes"])
                out = Path(tmp) / f"{i}.zip"
                create_package(case["dir"], out, excludes=case["excludes"], logger=quiet)
                with zipfile.ZipFile(out) as z:
                    names = sorted(z.namelist())
                results.append({"uri": uri, "names": names})
            except Exception as e:  # reported per case
                results.append({"error": f"{type(e).__name__}: {e}"})
    json.dump(results, sys.stdout)


if __name__ == "__main__":
    os.environ.setdefault("RAY_RUNTIME_ENV_IGNORE_GITIGNORE", "0")
    main()
