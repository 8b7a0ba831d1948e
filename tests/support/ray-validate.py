#!/usr/bin/env python3
"""A Ray release's verdict on job-level runtime envs (driven by tests/ray_oracle.rs).

Reads a JSON list of runtime envs (each a JSON text) on stdin and prints a JSON list, one entry
per env: null when Ray accepts it, else the first line of Ray's message. Each env goes the way
`ray.init` and job submission take it: the local `py_modules` and `working_dir` are "uploaded"
first (Ray's own `upload_*_if_needed`, with an upload function that stores nothing), then
`RuntimeEnv(**env)` validates. Relative paths resolve against the directory given as the first
argument (else the current directory).
"""
import inspect
import json
import logging
import os
import sys

logging.disable(logging.CRITICAL)

from ray._private.runtime_env.py_modules import upload_py_modules_if_needed  # noqa: E402
from ray._private.runtime_env.working_dir import upload_working_dir_if_needed  # noqa: E402
from ray.runtime_env import RuntimeEnv  # noqa: E402


def upload(fn, env):
    kwargs = {"upload_fn": lambda *a, **k: None}
    if "include_gitignore" in inspect.signature(fn).parameters:
        kwargs["include_gitignore"] = True
    return fn(env, **kwargs)


def main() -> None:
    if len(sys.argv) > 1:
        os.chdir(sys.argv[1])
    out = []
    for text in json.load(sys.stdin):
        env = json.loads(text)
        try:
            env = upload(upload_py_modules_if_needed, env)
            env = upload(upload_working_dir_if_needed, env)
            RuntimeEnv(**env)
            out.append(None)
        except Exception as e:  # reported per case
            out.append(str(e).split("\n")[0])
    json.dump(out, sys.stdout)


if __name__ == "__main__":
    main()
