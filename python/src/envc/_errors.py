"""Diagnostics and exceptions of the envc SDK, and the unwrapping of the native module's answers.

Decisions: every native call answers one JSON envelope, ``{"ok": value}`` or ``{"error": doc}``
(``python/rust/lib.rs``); :func:`unwrap` returns the value or raises the exception ``doc["class"]``
names. A :class:`Diagnostic` carries the fields ``envc check --format json`` emits, positions
1-based, ``None`` for findings about a whole file. Every exception derives from
:class:`EnvcError`, whose ``code`` is a stable name (an error kind such as ``revision_not_found``,
or the first error's diagnostic code such as ``E010``) and whose ``exit_code`` is the one the CLI
ends with for the same failure.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any, Dict, List, Mapping, Optional, Sequence


@dataclass(frozen=True)
class Diagnostic:
    """One finding about one place in one file (``envc check --format json``'s fields)."""

    code: str
    severity: str
    message: str
    file: str
    line: Optional[int] = None
    column: Optional[int] = None
    help: Optional[str] = None
    end_line: Optional[int] = None
    end_column: Optional[int] = None
    label: Optional[str] = None

    @property
    def is_error(self) -> bool:
        return self.severity == "error"

    @classmethod
    def from_json(cls, d: Mapping[str, Any]) -> "Diagnostic":
        return cls(
            code=str(d["code"]),
            severity=str(d["severity"]),
            message=str(d["message"]),
            file=str(d.get("file", "")),
            line=d.get("line"),
            column=d.get("column"),
            help=d.get("help"),
            end_line=d.get("end_line"),
            end_column=d.get("end_column"),
            label=d.get("label"),
        )

    def __str__(self) -> str:
        where = self.file
        if self.line is not None:
            where += f":{self.line}:{self.column}"
        text = f"{where}: {self.severity}[{self.code}]: {self.message}"
        if self.help:
            text += f" (help: {self.help})"
        return text


def diagnostics(items: Sequence[Mapping[str, Any]]) -> List[Diagnostic]:
    return [Diagnostic.from_json(d) for d in items]


class EnvcError(Exception):
    """An envc call failed. ``code`` names the kind of failure, ``exit_code`` is the CLI's."""

    def __init__(
        self,
        message: str,
        *,
        code: str = "error",
        exit_code: int = 2,
        help: Optional[str] = None,
    ) -> None:
        super().__init__(message)
        self.message = message
        self.code = code
        self.exit_code = exit_code
        self.help = help

    def __str__(self) -> str:
        return self.message if not self.help else f"{self.message}\n  help: {self.help}"


class SpecError(EnvcError):
    """A spec was refused; ``diagnostics`` holds every finding (errors and warnings)."""

    def __init__(self, message: str, *, diagnostics: Sequence[Diagnostic], **kw: Any) -> None:
        super().__init__(message, **kw)
        self.diagnostics: List[Diagnostic] = list(diagnostics)

    @property
    def errors(self) -> List[Diagnostic]:
        return [d for d in self.diagnostics if d.is_error]


class StoreError(EnvcError):
    """The store refused: an unknown name or revision, a bad ``NAME:REV``, no store there."""


class RuntimeEnvError(EnvcError):
    """Ray's rules refused a runtime env (its ``diagnostics``, when it is invalid) or a package."""

    def __init__(self, message: str, *, diagnostics: Sequence[Diagnostic] = (), **kw: Any) -> None:
        super().__init__(message, **kw)
        self.diagnostics: List[Diagnostic] = list(diagnostics)


class RemoteError(EnvcError):
    """An ``envc serve`` answered with an error status (``status``; ``body``: its document)."""

    def __init__(self, message: str, *, status: Optional[int], body: Any, **kw: Any) -> None:
        super().__init__(message, **kw)
        self.status = status
        self.body = body


class BuildFailed(EnvcError):
    """A remote build ended ``failed``; ``build`` is the server's Build document."""

    def __init__(self, message: str, *, build: Dict[str, Any], **kw: Any) -> None:
        super().__init__(message, **kw)
        self.build = build


def error_from_doc(doc: Mapping[str, Any]) -> EnvcError:
    """The exception a native error document describes."""
    cls = doc.get("class", "envc")
    kw: Dict[str, Any] = {
        "code": str(doc.get("kind", "error")),
        "exit_code": int(doc.get("exit_code", 2)),
        "help": doc.get("help"),
    }
    message = str(doc.get("message", "envc failed"))
    if cls == "spec":
        return SpecError(message, diagnostics=diagnostics(doc.get("diagnostics", [])), **kw)
    if cls == "runtime_env":
        return RuntimeEnvError(message, diagnostics=diagnostics(doc.get("diagnostics", [])), **kw)
    if cls == "store":
        return StoreError(message, **kw)
    return EnvcError(message, **kw)


def unwrap(answer: str) -> Any:
    """The value of a native call's envelope, or its error raised."""
    doc = json.loads(answer)
    if "error" in doc:
        raise error_from_doc(doc["error"])
    return doc["ok"]
