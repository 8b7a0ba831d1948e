"""Ray runtime environments as dicts: :func:`validate`, :func:`normalize`, :func:`merge`, and
:func:`package` of a working directory.

Decisions: a dict is sent as JSON text through the parser ``envc runtime-env check`` uses, under
the rules of ``ray`` (``"2.60"`` by default, ``"1"``, ``"2"`` or ``"2.40"``…``"2.60"``); relative
paths in it resolve against the current directory, as Ray's driver resolves them.
:func:`validate` answers with the diagnostics (an invalid env is an answer, not an error);
:func:`normalize` and :func:`merge` raise :class:`RuntimeEnvError` with the diagnostics where the
CLI would print them and exit 1, and with Ray's E-code when Ray refuses the merge. A Ray version
or level envc does not know raises :class:`RuntimeEnvError` (``code`` ``ray_version``/``level``).
"""

from __future__ import annotations

import json
import os
import shutil
import tempfile
from dataclasses import dataclass, field
from typing import Any, Dict, List, Mapping, Optional, Sequence

from . import _envc
from ._errors import Diagnostic, RuntimeEnvError, diagnostics, unwrap

DEFAULT_RAY = "2.60"
#: Anyscale's upload limit, envc's default ``--max-size`` (100 MiB).
DEFAULT_MAX_SIZE = 100 * 1024 * 1024


def _text(env: Mapping[str, Any], what: str) -> str:
    if not isinstance(env, Mapping):
        raise TypeError(f"the {what} runtime env is a dict, not {type(env).__name__}")
    return json.dumps(dict(env))


def _validated(env: Mapping[str, Any], ray: str, level: str) -> Dict[str, Any]:
    doc: Dict[str, Any] = unwrap(
        _envc.runtime_env_validate(_text(env, "given"), level, ray, "<runtime_env>")
    )
    return doc


def validate(
    env: Mapping[str, Any], ray: str = DEFAULT_RAY, *, level: str = "job"
) -> List[Diagnostic]:
    """The warnings and errors of ``env`` at ``level`` (``job`` or ``task``)."""
    return diagnostics(_validated(env, ray, level)["diagnostics"])


def normalize(
    env: Mapping[str, Any], ray: str = DEFAULT_RAY, *, level: str = "job"
) -> Dict[str, Any]:
    """``env`` normalised as Ray normalises it (``envc runtime-env normalize``)."""
    doc = _validated(env, ray, level)
    if not doc["valid"]:
        diags = diagnostics(doc["diagnostics"])
        first = next((d for d in diags if d.is_error), None)
        raise RuntimeEnvError(
            f"the runtime env is invalid: {first.message} ({first.code})"
            if first
            else "the runtime env is invalid",
            code=first.code if first else "invalid",
            exit_code=1,
            diagnostics=diags,
        )
    normalized: Dict[str, Any] = doc["normalized"]
    return normalized


def merge(
    parent: Mapping[str, Any],
    child: Mapping[str, Any],
    ray: str = DEFAULT_RAY,
    *,
    mode: str = "task",
) -> Dict[str, Any]:
    """``child`` merged over ``parent`` (``mode="task"``: a task's or actor's env over its
    job's) or with it (``mode="job"``: a submission's env against ``ray.init``'s), normalised."""
    doc = unwrap(_envc.runtime_env_merge(_text(parent, "parent"), _text(child, "child"), mode, ray))
    merged: Dict[str, Any] = doc["merged"]
    return merged


@dataclass(frozen=True)
class Package:
    """A packaged working directory: Ray's URI, the zip's sha256 and where the zip was written."""

    uri: str
    sha256: str
    path: str
    size: int
    file_count: int
    files: List[Dict[str, Any]] = field(default_factory=list)
    notes: List[str] = field(default_factory=list)


def package(
    dir: "str | os.PathLike[str]",
    excludes: Sequence[str] = (),
    ray: str = DEFAULT_RAY,
    *,
    output: "str | os.PathLike[str] | None" = None,
    max_size: int = DEFAULT_MAX_SIZE,
    follow_external_links: bool = False,
) -> Package:
    """``envc package DIR``: the zip Ray uploads for ``dir`` as a ``working_dir``, written to
    ``output`` (by default a new temporary directory, named as Ray names it)."""
    if isinstance(excludes, str):
        raise TypeError("excludes is a list of patterns, not one string")
    chosen: Optional[str] = os.fspath(output) if output is not None else None
    tmpdir = tempfile.mkdtemp(prefix="envc-package-") if chosen is None else None
    target = chosen or os.path.join(tmpdir or "", "package.zip")
    try:
        doc = unwrap(
            _envc.package(
                os.fspath(dir), target, list(excludes), ray, int(max_size), follow_external_links
            )
        )
    except BaseException:
        if tmpdir is not None:
            shutil.rmtree(tmpdir, ignore_errors=True)
        raise
    if chosen is None:
        named = os.path.join(os.path.dirname(target), doc["uri"].rsplit("/", 1)[-1])
        os.replace(target, named)
        target = named
    return Package(
        uri=doc["uri"],
        sha256=doc["sha256"],
        path=target,
        size=doc["size"],
        file_count=doc["file_count"],
        files=doc["files"],
        notes=doc["notes"],
    )
