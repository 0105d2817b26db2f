"""What a response may say of the server's filesystem: no absolute path, in any answer or error.

On a shared host, whoever can call the server learns nothing from it about where its owner keeps
runs and checkpoints: a model's source is shown relative to the directory the server runs in (or by
its last component when it lies elsewhere), and any absolute path inside an error message (an
exception from a tokenizer or a file read) is cut to ``.../<last component>``.
"""

from __future__ import annotations

import re
from pathlib import Path

__all__ = ["public_source", "redact_paths"]

# ``/a/b...`` or ``~/a...`` not preceded by a name, a dot or a slash (so ``runs/rope`` and ``1/2``
# stay): two components at least, each without blanks, quotes or brackets.
_SEGMENT = r"[^\s/'\"`,;:()\[\]{}<>]+"
_ABSOLUTE = re.compile(rf"(?<![\w.~/-])~?(?:/{_SEGMENT}){{2,}}/?")


def redact_paths(text: str) -> str:
    """``text`` with every absolute path replaced by ``.../`` and its last component."""
    return _ABSOLUTE.sub(lambda m: ".../" + m.group(0).rstrip("/").rsplit("/", 1)[1], text)


def public_source(source: str, root: Path | None = None) -> str:
    """How responses name a model's ``source``: a hub id or label as given; a local path relative
    to ``root`` (default: the working directory) when inside it, else its last component."""
    path = Path(source).expanduser()
    if not path.is_absolute() and not path.exists():
        return source  # a hub id (owner/name) or a label, not a place on this machine
    resolved = path.resolve()
    try:
        return resolved.relative_to((root or Path.cwd()).resolve()).as_posix()
    except ValueError:
        return resolved.name
