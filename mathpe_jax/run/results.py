"""``WORKDIR/results.json``: sections merged from training and evaluation, with provenance.

Training writes ``train``, evaluation writes ``eval``; each write replaces only the sections it
brings, so re-evaluating a run keeps its training figures. The file is replaced atomically.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from mathpe_jax.run.layout import RESULTS, read_json_object, write_json_atomic
from mathpe_jax.run.provenance import provenance

# Bumped whenever a reader of results.json would have to change.
SCHEMA_VERSION = 2


def read_results(workdir: str | Path) -> dict[str, Any]:
    """The run's results.json, or {} when there is none yet."""
    return read_json_object(Path(workdir) / RESULTS) or {}


def write_results(workdir: str | Path, sections: Mapping[str, Any], out_dir: str | Path | None = None) -> dict[str, Any]:
    """Merges ``sections`` (top-level keys) into the run's results.json, stamps schema version and
    provenance, writes it atomically to ``out_dir`` (default: the run directory; an evaluation
    writes it to its staging directory) and returns what was written."""
    results = {**read_results(workdir), **json.loads(json.dumps(dict(sections)))}
    results["schema_version"] = SCHEMA_VERSION
    results["provenance"] = provenance(workdir)
    write_json_atomic(Path(out_dir or workdir) / RESULTS, results)
    return results
