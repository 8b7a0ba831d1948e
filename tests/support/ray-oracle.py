#!/usr/bin/env python3
"""A Ray release as an oracle for `envc package` (driven by tests/ray_oracle.rs; the venv
chooses the release: 2.40 or 2.60).

Reads a JSON list of cases on stdin, each {"dir": PATH, "excludes": [PATTERN, ...]}, and prints
one JSON list of results on stdout, each {"uri": ..., "names": [zip entry names, sorted]} or
{"error": "..."}: Ray's `get_uri_for_directory` and the entries of the zip Ray's
`create_package` writes. From Ray 2.60 the excludes are what `upload_working_dir_if_needed`
passes them: `get_runtime_env_default_excludes()` (which reads
`RAY_OVERRIDE_RUNTIME_ENV_DEFAULT_EXCLUDES`) before the user's, and `include_gitignore` is
`RAY_RUNTIME_ENV_IGNORE_GITIGNORE != "1"`, as `ray.init` computes it. One process for all
cases: importing Ray takes seconds.
"""
import inspect
import json
import logging
import os
import sys
import tempfile
import zipfile
from pathlib import Path

import ray._private.ray_constants as ray_constants
from ray._private.runtime_env.packaging import create_package, get_uri_for_directory

NEW = "include_gitignore" in inspect.signature(get_uri_for_directory).parameters


def main() -> None:
    cases = json.load(sys.stdin)
    quiet = logging.getLogger("ray-oracle")
    quiet.addHandler(logging.NullHandler())
    quiet.propagate = False
    results = []
    include_gitignore = os.environ.get("RAY_RUNTIME_ENV_IGNORE_GITIGNORE", "0") != "1"
    with tempfile.TemporaryDirectory() as tmp:
        for i, case in enumerate(cases):
            try:
                out = Path(tmp) / f"{i}.zip"
                if NEW:
                    excludes = ray_constants.get_runtime_env_default_excludes() + list(
                        case["excludes"]
                    )
                    uri = get_uri_for_directory(
                        case["dir"], include_gitignore=include_gitignore, excludes=excludes
                    )
                    create_package(
                        case["dir"],
                        out,
                        include_gitignore=include_gitignore,
                        excludes=excludes,
                        logger=quiet,
                    )
                else:
                    uri = get_uri_for_directory(case["dir"], excludes=case["excludes"])
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
