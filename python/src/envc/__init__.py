"""envc for Python: check and compile ML cluster-environment specs, read and build envc stores,
validate and merge Ray runtime environments, and talk to ``envc serve``.

The work is done by envc's Rust library (the native ``envc._envc``) in this process, with the
GIL released; the wheel also ships the ``envc`` CLI. Every call answers what the CLI answers:
the same diagnostics, plans, digests and ``--format json`` documents.

    >>> import envc
    >>> envc.check("base_image: anyscale/ray:2.9.0-py310\\n")
    []
"""

from __future__ import annotations

from . import _envc, remote, runtime_env
from ._errors import (
    BuildFailed,
    Diagnostic,
    EnvcError,
    RemoteError,
    RuntimeEnvError,
    SpecError,
    StoreError,
)
from ._spec import Compiled, check, check_files, compile, dockerfile
from .remote import Client, connect
from .runtime_env import Package, package
from .store import Store

__version__: str = _envc.version()

__all__ = [
    "BuildFailed",
    "Client",
    "Compiled",
    "Diagnostic",
    "EnvcError",
    "Package",
    "RemoteError",
    "RuntimeEnvError",
    "SpecError",
    "Store",
    "StoreError",
    "check",
    "check_files",
    "compile",
    "connect",
    "dockerfile",
    "package",
    "remote",
    "runtime_env",
]
