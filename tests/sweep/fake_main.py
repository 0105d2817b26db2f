"""Stands in for ``mathpe_jax.main`` in sweep tests: writes a run directory the way main does,
in a moment, and honours SIGTERM as main does: it saves a checkpoint (``checkpoints/1``) and exits 143.

    fake_main.py --config=... --workdir=DIR --config.seed=K [--config.x=y ...]

``FAKE_MAIN_SLEEP`` seconds pass between config.json and results.json; ``FAKE_MAIN_FAIL`` set to
a seed makes that seed's run fail with one error line.
"""

import fcntl
import json
import os
import signal
import sys
import time
from pathlib import Path

args = dict(a[2:].split("=", 1) for a in sys.argv[1:])
workdir, seed = Path(args["workdir"]), int(args["config.seed"])


def stopped(*_):
    (workdir / "checkpoints" / "1").mkdir(parents=True, exist_ok=True)
    print("stopped by SIGTERM at step 1; rerun the same command to resume")
    sys.exit(143)


signal.signal(signal.SIGTERM, stopped)
workdir.mkdir(parents=True, exist_ok=True)
lock = os.open(workdir / ".lock", os.O_RDWR | os.O_CREAT)
fcntl.flock(lock, fcntl.LOCK_EX | fcntl.LOCK_NB)
config = {"name": workdir.parent.name, "seed": seed, "model": {"pe": {"name": workdir.parent.name}}, "task": {"name": "copy"},
          "train": {"steps": 10}}
(workdir / "config.json").write_text(json.dumps(config))
with (workdir / "attempts").open("a") as f:
    f.write("1\n")
if os.environ.get("FAKE_MAIN_FAIL") == str(seed):
    print("error: something a user can fix", file=sys.stderr)
    sys.exit(2)
time.sleep(float(os.environ.get("FAKE_MAIN_SLEEP", "0")))
(workdir / "results.json").write_text(json.dumps({"step": 10, "eval": {"exact_match": 0.5}}))
