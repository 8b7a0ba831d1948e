"""Times ``envc.check`` over 1,000 specs in one Python process, against ``envc check`` (the CLI,
one process over the same 1,000 files), best of 5 runs each, and prints milliseconds.

Decisions: the specs are the real corpus (/work/shared/corpus/real-specs, read in place, when
present) topped up to the count with benches/gen-specs.sh's deterministic variants, so both
sides read the same files from disk, each with its ``envc.toml`` discovery. The SDK is timed
per call (``envc.check(path)`` in a loop, the way a caller checks specs one by one) and as one
batch call (``envc.check_files``); the CLI is timed from spawn to exit. Each run's findings are
compared once (same diagnostics), so a fast wrong answer cannot pass. The bar is ≤ 100 ms for the
per-call loop with the release wheel installed (``python/build-wheel.sh --release``).

Usage: python3 benches/python_check.py [--count N] [--runs R] [--corpus DIR] [--envc PATH]
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import sysconfig
import tempfile
import time
from pathlib import Path
from typing import Callable, List

import envc

ROOT = Path(__file__).resolve().parents[1]


def spec_files(count: int, corpus: Path, work: Path) -> List[Path]:
    real = (
        sorted(p for p in corpus.glob("*") if p.suffix in (".yaml", ".yml"))
        if corpus.is_dir()
        else []
    )
    real = real[:count]
    generated = work / "generated"
    subprocess.run(
        ["bash", str(ROOT / "benches" / "gen-specs.sh"), str(generated), str(count - len(real))],
        check=True,
    )
    return real + sorted(generated.glob("spec-*.yaml"))


def best_of(runs: int, f: Callable[[], object]) -> float:
    best = float("inf")
    for _ in range(runs):
        t = time.perf_counter()
        f()
        best = min(best, time.perf_counter() - t)
    return best * 1000


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--count", type=int, default=1000)
    ap.add_argument("--runs", type=int, default=5)
    ap.add_argument("--corpus", type=Path, default=Path("/work/shared/corpus/real-specs"))
    scripts = os.path.join(sysconfig.get_path("scripts"), "envc")
    ap.add_argument("--envc", default=scripts if os.path.exists(scripts) else shutil.which("envc"))
    args = ap.parse_args()
    with tempfile.TemporaryDirectory(prefix="envc-pybench-") as tmp:
        files = spec_files(args.count, args.corpus, Path(tmp))
        names = [str(p) for p in files]
        cli = [args.envc, "check", "--format", "json", *names]

        per_call = [envc.check(p) for p in files]
        batch = envc.check_files(files)
        out = subprocess.run(cli, capture_output=True, text=True)
        cli_diags = json.loads(out.stdout)["diagnostics"]
        flat = [d for ds in per_call for d in ds]
        key = lambda d: (d.file, d.code, d.line, d.column)  # noqa: E731
        if [key(d) for d in flat] != [key(d) for d in batch] or [key(d) for d in batch] != [
            (e["file"], e["code"], e["line"], e["column"]) for e in cli_diags
        ]:
            print("the SDK and the CLI disagree about the findings", file=sys.stderr)
            return 1

        sdk_ms = best_of(args.runs, lambda: [envc.check(p) for p in files])
        batch_ms = best_of(args.runs, lambda: envc.check_files(files))
        cli_ms = best_of(args.runs, lambda: subprocess.run(cli, capture_output=True))
        real = sum(1 for p in files if "generated" not in str(p))
        made = len(files) - real
        print(f"specs: {len(files)} ({real} corpus, {made} generated); findings: {len(flat)}")
        print(f"envc.check per call : {sdk_ms:8.1f} ms  ({sdk_ms * 1000 / len(files):.1f} µs/spec)")
        print(f"envc.check_files    : {batch_ms:8.1f} ms")
        print(
            f"envc check (CLI)    : {cli_ms:8.1f} ms  (SDK per call / CLI = {sdk_ms / cli_ms:.2f})"
        )
        print(f"bar (<= 100 ms)     : {'met' if sdk_ms <= 100 else 'MISSED'}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
