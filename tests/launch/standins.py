"""Stand-ins for the cluster commands (pbsdsh, srun, scontrol, enroot) and for the node's python.

Each is a small Python script that appends what it was called with (arguments, working directory,
the environment variables the launch scripts handle) as one JSON line to a log, then does the
least its real counterpart does that the scripts rely on: pbsdsh runs the task with an empty
environment, srun runs it once per task with SLURM_PROCID set, scontrol prints the node names of
a comma-separated list, enroot remembers the containers it created.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

from tests.conftest import REPO_ROOT

RECORDED_PREFIXES = ("MATHPE_", "HF_", "TRANSFORMERS_", "CONTAINER", "PYTHONPATH", "TMPDIR", "SLURM_PROCID", "XLA_")

PRELUDE = f"""#!{sys.executable}
import json, os, subprocess, sys
LOG = {{log!r}}
STATE = {{state!r}}
def record(name):
    env = {{{{k: v for k, v in os.environ.items() if k.startswith({RECORDED_PREFIXES!r})}}}}
    with open(LOG, "a") as f:
        f.write(json.dumps({{{{"cmd": name, "argv": sys.argv[1:], "cwd": os.getcwd(), "env": env}}}}) + "\\n")
"""

BODIES = {
    "pbsdsh": """
record("pbsdsh")
args = sys.argv[1:]
if args[:1] == ["-n"]:
    args = args[2:]
if args[:1] == ["--"]:
    args = args[1:]
# pbsdsh starts the task with the MOM's environment, not the job's.
os.execve(args[0], args, {"PATH": os.environ["PATH"], "HOME": os.environ["HOME"]})
""",
    "srun": """
record("srun")
args = sys.argv[1:]
ntasks = next(int(a.split("=", 1)[1]) for a in args if a.startswith("--ntasks="))
while args[0].startswith("-"):
    args = args[1:]
codes = [subprocess.run(args, env={**os.environ, "SLURM_PROCID": str(i)}).returncode for i in range(ntasks)]
sys.exit(max(codes))
""",
    "scontrol": """
record("scontrol")
assert sys.argv[1:3] == ["show", "hostnames"], sys.argv
print("\\n".join(sys.argv[3].split(",")))
""",
    "enroot": """
record("enroot")
created = open(STATE).read().split() if os.path.exists(STATE) else []
if sys.argv[1] == "list":
    print("\\n".join(created))
elif sys.argv[1] == "create":
    with open(STATE, "a") as f:
        f.write(sys.argv[sys.argv.index("--name") + 1] + "\\n")
elif sys.argv[1] == "import":
    open(sys.argv[sys.argv.index("--output") + 1], "w").close()
elif sys.argv[1] == "export":
    open(sys.argv[sys.argv.index("--output") + 1], "w").write("image")
""",
    "fakepy": """
record("python")
""",
}


class Cluster:
    """A directory of stand-ins (``bin``) and the log of their calls."""

    def __init__(self, tmp_path: Path, commands=("pbsdsh", "srun", "scontrol", "enroot", "fakepy")) -> None:
        self.root = tmp_path
        self.bin = tmp_path / "bin"
        self.bin.mkdir()
        self.log = tmp_path / "calls.jsonl"
        prelude = PRELUDE.format(log=str(self.log), state=str(tmp_path / "enroot_state"))
        for name in commands:
            path = self.bin / name
            path.write_text(prelude + BODIES[name])
            path.chmod(0o755)
        self.python = str(self.bin / "fakepy")

    def env(self, **values: str) -> dict[str, str]:
        """A job's environment: PATH with the stand-ins first and only system directories after,
        nothing of this session's MATHPE_/HF_ variables, plus ``values``."""
        keep = {k: v for k, v in os.environ.items() if not k.startswith(RECORDED_PREFIXES)}
        return {**keep, "PATH": f"{self.bin}:/usr/bin:/bin", "HOME": str(self.root / "home"), **values}

    def run(self, script: str, env: dict[str, str]) -> subprocess.CompletedProcess[str]:
        return subprocess.run(["bash", script], cwd=REPO_ROOT, env=env, capture_output=True, text=True, timeout=120)

    def calls(self, cmd: str | None = None) -> list[dict]:
        if not self.log.exists():
            return []
        lines = [json.loads(line) for line in self.log.read_text().splitlines()]
        return [c for c in lines if cmd is None or c["cmd"] == cmd]
