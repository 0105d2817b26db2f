"""launch/node.pbs, launch/node.slurm and enroot/ under stand-ins for pbsdsh, srun, scontrol and
enroot (tests/launch/standins.py): the command lines each node's task ends in, with and without a
container, the mounts, the environment that reaches the task, node deduplication, the coordinator."""

from __future__ import annotations

import os
import subprocess
import sys

import pytest

from tests.conftest import REPO_ROOT
from tests.launch.standins import Cluster

SCRIPTS = ["launch/node.pbs", "launch/node.slurm"]


@pytest.fixture
def cluster(tmp_path):
    return Cluster(tmp_path)


# Variables that look like secrets, in the spellings users give them: none may reach a command line.
SECRETS = {"HF_Token": "secret-1", "HF_API_KEY": "secret-2", "MATHPE_SERVE_TOKEN": "secret-3",
           "MATHPE_DB_PASSWORD": "secret-4", "NCCL_SECRET": "secret-5", "JAX_api_key": "secret-6",
           "WANDB_API_KEY": "secret-7"}


def job_env(cluster: Cluster, script: str, **values: str) -> dict[str, str]:
    """The environment of a two-node job of ``script`` (node names node1, node2), with a data
    directory, a Hugging Face cache and a token that must not travel."""
    tmp = cluster.root
    args_file = tmp / "run.args"
    args_file.write_text("--config.seed=3\n--config.task.train_lengths=(1,10)\n")
    env = cluster.env(
        CONFIG="configs/rope.py",
        WORKDIR=str(tmp / "runs" / "rope_s3"),
        ARGS_FILE=str(args_file),
        MATHPE_PORT="29555",
        MATHPE_DATA_DIR=str(tmp / "data"),
        HF_HOME=str(tmp / "hf"),
        HF_TOKEN="secret",
        **SECRETS,
        CONTAINER_NAME="not-ours",
        MATHPE_HEARTBEAT_TIMEOUT="30",
        **values,
    )
    if script.endswith(".pbs"):
        nodefile = tmp / "nodefile"
        nodefile.write_text("node1\nnode1\nnode2\nnode1\nnode2\n")  # one line per slot
        env.update(PBS_NODEFILE=str(nodefile), PBS_O_WORKDIR=str(REPO_ROOT), PBS_JOBID="42.server")
    else:
        env.update(SLURM_JOB_NODELIST="node1,node2", SLURM_SUBMIT_DIR=str(REPO_ROOT), SLURM_JOB_ID="42")
    return env


def main_args(cluster: Cluster) -> list[str]:
    return [
        "-m", "mathpe_jax.main", "--config=configs/rope.py", f"--workdir={cluster.root / 'runs' / 'rope_s3'}",
        "--config.seed=3", "--config.task.train_lengths=(1,10)",
    ]


@pytest.mark.parametrize("script", SCRIPTS)
def test_without_a_container_each_node_runs_mathpe_python(cluster, script):
    job = cluster.run(script, job_env(cluster, script, MATHPE_PYTHON=cluster.python))
    assert job.returncode == 0, job.stderr
    assert "2 node(s), coordinator node1:29555" in job.stdout
    tasks = cluster.calls("python")
    assert len(tasks) == 2
    assert sorted(t["env"]["MATHPE_PROCESS_ID"] for t in tasks) == ["0", "1"]
    for task in tasks:
        assert task["argv"] == main_args(cluster)
        assert task["cwd"] == str(REPO_ROOT)
        env = task["env"]
        assert env["MATHPE_COORDINATOR"] == "node1:29555" and env["MATHPE_NUM_PROCESSES"] == "2"
        # The job's settings arrive although the launcher passes no environment (pbsdsh) ...
        assert env["MATHPE_DATA_DIR"] == str(cluster.root / "data")
        assert env["HF_HOME"] == str(cluster.root / "hf")
        assert env["MATHPE_HEARTBEAT_TIMEOUT"] == "30"
        assert "CONTAINER_NAME" not in env or script.endswith(".slurm")  # srun hands everything over
        # ... offline by default.
        assert env["HF_HUB_OFFLINE"] == env["TRANSFORMERS_OFFLINE"] == env["HF_DATASETS_OFFLINE"] == "1"
    # A token is never written on a command line (srun hands the whole environment over anyway).
    assert "secret" not in str([c["argv"] for c in cluster.calls()])
    assert not cluster.calls("enroot")


def test_pbs_starts_one_task_per_distinct_node_at_its_first_slot(cluster):
    job = cluster.run("launch/node.pbs", job_env(cluster, "launch/node.pbs", MATHPE_PYTHON=cluster.python))
    assert job.returncode == 0, job.stderr
    starts = sorted(c["argv"][:2] for c in cluster.calls("pbsdsh"))
    assert starts == [["-n", "0"], ["-n", "2"]]
    for call in cluster.calls("pbsdsh"):  # the job's environment does not reach pbsdsh's task
        assert call["argv"][2:4] == ["--", str(REPO_ROOT / "launch" / "node_task.sh")]
    assert all("HF_TOKEN" not in task["env"] for task in cluster.calls("python"))


def test_slurm_runs_one_task_per_node_on_the_first_host_as_coordinator(cluster):
    job = cluster.run("launch/node.slurm", job_env(cluster, "launch/node.slurm", MATHPE_PYTHON=cluster.python))
    assert job.returncode == 0, job.stderr
    [scontrol] = cluster.calls("scontrol")
    assert scontrol["argv"] == ["show", "hostnames", "node1,node2"]
    [srun] = cluster.calls("srun")
    assert srun["argv"][:4] == ["--nodes=2", "--ntasks=2", "--ntasks-per-node=1", "--kill-on-bad-exit=1"]
    ids = sorted((t["env"]["SLURM_PROCID"], t["env"]["MATHPE_PROCESS_ID"]) for t in cluster.calls("python"))
    assert ids == [("0", "0"), ("1", "1")]


@pytest.mark.parametrize("script", SCRIPTS)
def test_offline_mode_can_be_turned_off(cluster, script):
    env = job_env(cluster, script, MATHPE_PYTHON=cluster.python, HF_HUB_OFFLINE="0", TRANSFORMERS_OFFLINE="0")
    job = cluster.run(script, env)
    assert job.returncode == 0, job.stderr
    for task in cluster.calls("python"):
        assert task["env"]["HF_HUB_OFFLINE"] == task["env"]["TRANSFORMERS_OFFLINE"] == "0"


@pytest.mark.parametrize("script", SCRIPTS)
def test_an_image_runs_in_enroot_with_the_directories_mounted(cluster, script):
    image = cluster.root / "img" / "mathpe_jax.sqsh"
    image.parent.mkdir()
    image.write_text("squashfs")
    scratch = cluster.root / "scratch"
    env = job_env(cluster, script, CONTAINER=str(image), MATHPE_SCRATCH=str(scratch), MATHPE_PYTHON="/host/venv/python")
    job = cluster.run(script, env)
    assert job.returncode == 0, job.stderr
    assert not cluster.calls("python")  # the host's interpreter is not used
    creates = [c["argv"] for c in cluster.calls("enroot") if c["argv"][0] == "create"]
    name = f"mathpe_mathpe_jax_{int(os.stat(image).st_mtime)}"
    assert creates and all(c == ["create", "--name", name, str(image)] for c in creates)
    starts = [c for c in cluster.calls("enroot") if c["argv"][0] == "start"]
    assert len(starts) == 2
    for start in starts:
        argv = start["argv"]
        mounts = {argv[i + 1] for i, a in enumerate(argv) if a == "--mount"}
        tmp = cluster.root
        expected = {REPO_ROOT, tmp / "data", tmp / "hf", scratch, tmp / "runs"}
        assert mounts == {f"{p}:{p}" for p in map(str, expected)}
        envs = {argv[i + 1] for i, a in enumerate(argv) if a == "--env"}
        assert {"MATHPE_COORDINATOR", "MATHPE_NUM_PROCESSES", "MATHPE_PROCESS_ID", "MATHPE_DATA_DIR", "HF_HOME",
                "HF_HUB_OFFLINE", "TRANSFORMERS_OFFLINE", "PYTHONPATH", "TMPDIR"} <= envs
        assert "HF_TOKEN" not in envs and not envs & set(SECRETS)
        assert not any("=" in e for e in envs)  # values come from the environment, not the command line
        command = argv[argv.index(name) + 1:]
        assert command[:5] == ["/bin/sh", "-c", 'cd "$1" && shift && exec "$@"', "sh", str(REPO_ROOT)]
        assert command[5:] == ["python", *main_args(cluster)]
        env = start["env"]  # what enroot hands over under those names
        assert env["PYTHONPATH"].split(":")[0] == str(REPO_ROOT)
        assert env["TMPDIR"] == str(scratch) and env["MATHPE_COORDINATOR"] == "node1:29555"
    assert sorted(s["env"]["MATHPE_PROCESS_ID"] for s in starts) == ["0", "1"]


def test_a_container_name_is_started_without_creating(cluster):
    env = job_env(cluster, "launch/node.pbs", CONTAINER="mathpe")
    job = cluster.run("launch/node.pbs", env)
    assert job.returncode == 0, job.stderr
    calls = [c["argv"] for c in cluster.calls("enroot")]
    assert [c[0] for c in calls] == ["start", "start"]
    assert all("mathpe" in c and c[c.index("mathpe") + 1] == "/bin/sh" for c in calls)


@pytest.mark.parametrize("script", SCRIPTS)
def test_a_container_without_enroot_fails_on_every_node_in_one_line(tmp_path, script):
    cluster = Cluster(tmp_path, commands=("pbsdsh", "srun", "scontrol"))
    job = cluster.run(script, job_env(cluster, script, CONTAINER="mathpe"))
    assert job.returncode != 0
    errors = [line for line in job.stderr.splitlines() if line.startswith("error:")]
    assert len(errors) == 2 and all("enroot is not on PATH" in e for e in errors), job.stderr


def test_a_missing_image_file_is_named(cluster):
    job = cluster.run("launch/node.pbs", job_env(cluster, "launch/node.pbs", CONTAINER="/nowhere/mathpe.sqsh"))
    assert job.returncode != 0 and "CONTAINER=/nowhere/mathpe.sqsh: no such image file" in job.stderr
    assert not [c for c in cluster.calls("enroot") if c["argv"][0] == "start"]


def test_without_a_node_list_slurm_says_to_submit_with_sbatch(cluster):
    env = cluster.env(SLURM_SUBMIT_DIR=str(REPO_ROOT))
    job = cluster.run("launch/node.slurm", env)
    assert job.returncode != 0 and "SLURM_JOB_NODELIST is not set: submit with sbatch" in job.stderr


def test_the_old_task_interface_still_works(cluster):
    """node_task.sh REPO PROCESS_ID NUM_PROCESSES COORDINATOR CONFIG WORKDIR ARGS..., as before."""
    env = cluster.env(MATHPE_PYTHON=cluster.python)
    done = subprocess.run(["launch/node_task.sh", str(REPO_ROOT), "1", "2", "n:1", "configs/rope.py", "runs/x", "--a=b"],
                          cwd=REPO_ROOT, env=env, capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stderr
    [task] = cluster.calls("python")
    assert task["argv"] == ["-m", "mathpe_jax.main", "--config=configs/rope.py", "--workdir=runs/x", "--a=b"]
    assert task["env"]["MATHPE_PROCESS_ID"] == "1" and task["env"]["MATHPE_COORDINATOR"] == "n:1"


# enroot/build.sh and install.sh


def test_build_imports_creates_installs_and_exports(cluster):
    out = cluster.root / "out" / "img.sqsh"
    env = cluster.env(MATHPE_BASE_IMAGE="nvcr.io#nvidia/jax:99.01-py3")
    done = subprocess.run(["enroot/build.sh", str(out)], cwd=REPO_ROOT, env=env, capture_output=True, text=True,
                          timeout=60)
    assert done.returncode == 0, done.stderr
    calls = [c["argv"] for c in cluster.calls("enroot")]
    assert [c[0] for c in calls] == ["import", "create", "start", "export", "remove"]
    assert calls[0][-1] == "docker://nvcr.io#nvidia/jax:99.01-py3"
    name = calls[1][calls[1].index("--name") + 1]
    assert calls[2][:5] == ["start", "--rw", "--root", "--mount", f"{REPO_ROOT}:/workspace"]
    assert calls[2][-3:] == [name, "bash", "/workspace/enroot/install.sh"]
    assert calls[3] == ["export", "--output", str(out), name]
    assert out.read_text() == "image"
    again = subprocess.run(["enroot/build.sh", str(out)], cwd=REPO_ROOT, env=env, capture_output=True, text=True,
                           timeout=60)
    assert again.returncode == 2 and "exists: remove it or pass --force" in again.stderr


def test_build_without_enroot_says_so(tmp_path):
    cluster = Cluster(tmp_path, commands=())
    done = subprocess.run(["enroot/build.sh", str(tmp_path / "x.sqsh")], cwd=REPO_ROOT, env=cluster.env(),
                          capture_output=True, text=True, timeout=60)
    assert done.returncode == 127
    assert done.stderr.startswith("error: enroot is not on PATH")


FAKE_IMAGE_PYTHON = """#!/bin/bash
# The image's python for install.sh: JAX {version} installed; pip records what it is asked.
if [ "$1" = - ]; then shift; exec {python} - "$@"; fi
if [ "$1 $2 $3" = "-m pip list" ]; then printf 'flax==0.1\\njax==0.10.2\\njaxlib==0.10.2\\njax-cuda12-plugin==0.10.2\\n'; exit; fi
if [ "$1 $2 $3" = "-m pip install" ]; then
  while [ $# -gt 0 ]; do
    case $1 in -r) cp "$2" {out}/requirements.txt ;; -c) cp "$2" {out}/constraints.txt ;; esac
    shift
  done
  exit
fi
exit 0
"""


@pytest.mark.parametrize("version, ok", [("0.10.2", True), ("0.9.0", False)])
def test_install_keeps_the_images_jax(tmp_path, version, ok):
    """requirements.txt goes in without its jax line, with the image's jax pinned; a JAX that
    requirements.txt does not accept stops the build."""
    fake = tmp_path / "python"
    fake.write_text(FAKE_IMAGE_PYTHON.format(version=version, python=sys.executable, out=tmp_path))
    fake.chmod(0o755)
    stub = tmp_path / "stub"
    (stub / "jax").mkdir(parents=True)
    (stub / "jax" / "__init__.py").write_text(f"__version__ = {version!r}\n")
    env = {**os.environ, "MATHPE_IMAGE_PYTHON": str(fake), "PYTHONPATH": str(stub)}
    done = subprocess.run(["enroot/install.sh"], cwd=REPO_ROOT, env=env, capture_output=True, text=True, timeout=60)
    if not ok:
        assert done.returncode != 0 and "the base image has JAX 0.9.0, requirements.txt wants" in done.stderr
        return
    assert done.returncode == 0, done.stderr
    requirements = (tmp_path / "requirements.txt").read_text()
    assert "flax" in requirements and not any(line.startswith("jax") for line in requirements.splitlines())
    assert (tmp_path / "constraints.txt").read_text().split() == ["jax==0.10.2", "jaxlib==0.10.2",
                                                                  "jax-cuda12-plugin==0.10.2"]
