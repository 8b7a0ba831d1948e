"""A local envc store: its environments and revisions, builds of specs into it, rollbacks.

Decisions: each method returns exactly the document ``envc ... --format json`` prints for the
same store (``json.loads`` of the CLI's output): ``list`` is ``envc list [NAME] [--all]``,
``environments`` is ``envc list --environments``, ``show`` ``envc show NAME:REV``, ``diff``
``envc diff A B``. ``build`` and ``rollback`` answer ``{"name", "revision", "manifest",
"unchanged"}``. Reads need an existing store (:class:`StoreError` otherwise); ``build`` creates
it. A build runs in this process with the GIL released; specs that run steps need a container
engine (podman, buildah or docker) on ``PATH``, specs with only a base and env vars do not.
"""

from __future__ import annotations

import os
from typing import Any, Dict, List, Optional, Union

from . import _envc
from ._errors import unwrap
from ._source import SpecInput, resolve


class Store:
    """The store at ``path`` (the CLI's ``--store``; ``.envc/store`` is its default)."""

    def __init__(self, path: "Union[str, os.PathLike[str]]" = ".envc/store") -> None:
        self.path = os.fspath(path)

    def __repr__(self) -> str:
        return f"Store({self.path!r})"

    def environments(self) -> List[Dict[str, Any]]:
        """``envc list --environments --format json``."""
        result: List[Dict[str, Any]] = unwrap(_envc.store_environments(self.path))
        return result

    def list(self, name: Optional[str] = None, all: bool = False) -> Any:
        """``envc list [NAME] --format json`` (a list of revisions), or with ``all=True``
        ``envc list [NAME] --all --format json`` (``{"builds": [...], "revisions": [...]}``)."""
        return unwrap(_envc.store_list(self.path, name, all))

    def show(self, reference: str) -> Dict[str, Any]:
        """``envc show NAME[:REV] --format json``."""
        result: Dict[str, Any] = unwrap(_envc.store_show(self.path, reference))
        return result

    def diff(self, a: str, b: str) -> Dict[str, Any]:
        """``envc diff A B --format json``: each side ``NAME[:REV]`` or a spec file's path."""
        result: Dict[str, Any] = unwrap(_envc.store_diff(self.path, a, b))
        return result

    def build(
        self,
        spec: SpecInput,
        name: str,
        *,
        rebuild: bool = False,
        compression: str = "gzip",
        filename: Optional[str] = None,
    ) -> Dict[str, Any]:
        """``envc build SPEC --name NAME``: a spec file or spec text built into this store."""
        path, text, shown = resolve(spec, filename)
        result: Dict[str, Any] = unwrap(
            _envc.store_build(self.path, name, path, text, shown, rebuild, compression)
        )
        return result

    def rollback(self, name: str, to: int) -> Dict[str, Any]:
        """``envc rollback NAME --to N``: a new revision equal to revision ``to``."""
        result: Dict[str, Any] = unwrap(_envc.store_rollback(self.path, name, int(to)))
        return result
