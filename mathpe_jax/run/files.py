"""Whole-file writes that a reader (or a crash) never sees half done."""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any


def write_json_atomic(path: Path, obj: Any) -> None:
    """Writes ``obj`` as indented JSON to a temporary file beside ``path``, flushes it to disk, then
    renames it over ``path``: the file is the old one or the new one, never a mixture."""
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    try:
        with tmp.open("w") as f:
            f.write(json.dumps(obj, indent=2) + "\n")
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    finally:
        tmp.unlink(missing_ok=True)
