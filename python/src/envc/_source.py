"""How an SDK argument names a spec: a file, or spec text.

Decisions: a :class:`os.PathLike` is always a file (a missing one is reported as unreadable, never
read as text); a ``str`` is a file when it names an existing regular file and is otherwise spec
text. Multi-line strings and strings with NUL are never looked up on disk.
"""

from __future__ import annotations

import os
from typing import Optional, Tuple, Union

SpecInput = Union[str, "os.PathLike[str]"]


def resolve(spec: SpecInput, filename: Optional[str]) -> Tuple[Optional[str], Optional[str], str]:
    """``(path, text, filename)``: exactly one of ``path`` and ``text`` is set."""
    if isinstance(spec, os.PathLike):
        path = os.fspath(spec)
        return path, None, filename or path
    if not isinstance(spec, str):
        raise TypeError(
            f"a spec is a str (text or a file name) or a path, not {type(spec).__name__}"
        )
    if "\n" not in spec and "\0" not in spec and spec.strip():
        try:
            if os.path.isfile(spec):
                return spec, None, filename or spec
        except (OSError, ValueError):
            pass
    return None, spec, filename or "<string>"
