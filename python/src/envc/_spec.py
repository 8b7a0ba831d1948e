"""``check``, ``compile`` and ``dockerfile`` of a spec file or spec text.

Decisions: a file is read with its ``envc.toml`` found as ``envc check FILE`` finds it; text is
compiled with the default configuration and named ``filename`` (``<string>`` by default) in
diagnostics. :func:`check` never raises for an invalid or unreadable spec: the diagnostics are
the answer (an unreadable file is its ``E005``). :func:`compile` and :func:`dockerfile` raise
:class:`SpecError` for a refused spec and :class:`EnvcError` (``code="read"``) for a file that
cannot be read. The GIL is released while the native code works.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from typing import Any, Dict, Iterable, List, Optional

from . import _envc
from ._errors import Diagnostic, diagnostics, unwrap
from ._source import SpecInput, resolve


@dataclass(frozen=True)
class Compiled:
    """A compiled spec: its plan (the canonical JSON, as a dict) and the plan's digest."""

    plan: Dict[str, Any]
    digest: str
    warnings: List[Diagnostic] = field(default_factory=list)


def check(spec: SpecInput, *, filename: Optional[str] = None) -> List[Diagnostic]:
    """Every warning and error of the spec, as ``envc check --format json`` reports them."""
    path, text, name = resolve(spec, filename)
    if path is not None:
        doc = unwrap(_envc.check_path(path))
    else:
        doc = unwrap(_envc.check_text(name, text or ""))
    return diagnostics(doc["diagnostics"])


def check_files(paths: Iterable["os.PathLike[str] | str"]) -> List[Diagnostic]:
    """``envc check FILE...``: the diagnostics of many spec files, checked in one native call."""
    doc = unwrap(_envc.check_paths([os.fspath(p) for p in paths]))
    return diagnostics(doc["diagnostics"])


def compile(spec: SpecInput, *, filename: Optional[str] = None) -> Compiled:
    """The spec's plan and digest; :class:`SpecError` when it is invalid."""
    path, text, name = resolve(spec, filename)
    if path is not None:
        doc = unwrap(_envc.compile_path(path))
    else:
        doc = unwrap(_envc.compile_text(name, text or ""))
    return Compiled(plan=doc["plan"], digest=doc["digest"], warnings=diagnostics(doc["warnings"]))


def dockerfile(spec: SpecInput, *, filename: Optional[str] = None) -> str:
    """The spec's Dockerfile (``envc dockerfile``); :class:`SpecError` when it is invalid."""
    path, text, name = resolve(spec, filename)
    if path is not None:
        result: str = unwrap(_envc.dockerfile_path(path))
    else:
        result = unwrap(_envc.dockerfile_text(name, text or ""))
    return result
