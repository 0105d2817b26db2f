"""Shared test set-up: the repository root on sys.path, the shared data directory, and the tiny
artefacts every area of the suite reuses instead of building its own: one finished tiny training
run (``trained_run``, read-only; ``run_copy`` for a test that changes it) and one tiny Hugging Face
checkpoint (``tiny_hf_checkpoint``). Each is built once per session: under pytest-xdist the first
worker to ask builds it in the session's shared temporary directory and the others wait for it."""

from __future__ import annotations

import atexit
import os
import shutil
import subprocess
import sys
import tempfile
from collections.abc import Callable
from pathlib import Path

import pytest

REPO_ROOT = Path(__file__).resolve().parents[1]
FAST_COMPILE_FLAGS = "--xla_backend_optimization_level=0 --xla_llvm_disable_expensive_passes=true"
sys.path.insert(0, str(REPO_ROOT))

# Compilation is most of the suite's time: many tests, workers and the interpreters they start compile
# the same tiny programs. One persistent compilation cache for the whole session (the controller
# makes it; xdist workers and subprocesses inherit the variables) compiles each program once, and
# XLA's backend optimization is off: LLVM's passes are most of a small program's compile time, and
# the tests check what a program computes, not how fast (the benchmarks are measured at the default
# level, with ``tools/bench.py``). Both are overridden by setting the variables beforehand.
if "JAX_COMPILATION_CACHE_DIR" not in os.environ:
    os.environ["JAX_COMPILATION_CACHE_DIR"] = tempfile.mkdtemp(prefix="mathpe-test-jax-cache-")
    os.environ["JAX_PERSISTENT_CACHE_MIN_COMPILE_TIME_SECS"] = "0"
    os.environ["JAX_PERSISTENT_CACHE_MIN_ENTRY_SIZE_BYTES"] = "0"
    atexit.register(shutil.rmtree, os.environ["JAX_COMPILATION_CACHE_DIR"], True)
if "xla_backend_optimization_level" not in os.environ.get("XLA_FLAGS", ""):
    os.environ["XLA_FLAGS"] = f"{os.environ.get('XLA_FLAGS', '')} {FAST_COMPILE_FLAGS}".strip()


def simulated_devices(count: int) -> dict[str, str]:
    """The environment for a new interpreter that sees ``count`` CPU devices, keeping the suite's flags."""
    return {"XLA_FLAGS": f"{os.environ['XLA_FLAGS']} --xla_force_host_platform_device_count={count}"}


from tests.data.conftest import tiny_hf_tokenizer_dir  # noqa: E402, F401 - fixture, for every directory
os.environ.setdefault("HF_HUB_OFFLINE", "1")


@pytest.fixture(scope="session")
def data_dir() -> Path:
    """``../shared/data`` beside the checkout (override with MATHPE_DATA_DIR)."""
    path = Path(os.environ.get("MATHPE_DATA_DIR", REPO_ROOT.parent / "shared" / "data"))
    if not path.is_dir():
        raise FileNotFoundError(f"shared data directory not found: {path}")
    return path


def run_tool(script: str, *args: str, cwd: Path = REPO_ROOT, timeout: float = 300) -> subprocess.CompletedProcess[str]:
    """``python tools/<script> ARGS`` as a user runs it after ``pip install -e .``: the package is found
    through the import path (here PYTHONPATH, there the installed project), never a ``sys.path`` edit."""
    env = {**os.environ, "JAX_PLATFORMS": "cpu", "PYTHONPATH": str(REPO_ROOT)}
    return subprocess.run(
        [sys.executable, str(REPO_ROOT / "tools" / script), *args],
        cwd=cwd,
        env=env,
        capture_output=True,
        text=True,
        timeout=timeout,
        check=False,
    )


def built_once(tmp_path_factory: pytest.TempPathFactory, name: str, build: Callable[[Path], None]) -> Path:
    """``build(directory)`` once per test session, across pytest-xdist workers; returns the directory.

    The workers of one session share the parent of their temporary directories, so the first one
    builds there under a file lock and the others find it finished. Without xdist the parent holds
    other sessions' directories too, hence a directory of this session's own.
    """
    from filelock import FileLock

    if os.environ.get("PYTEST_XDIST_WORKER") is None:
        directory = tmp_path_factory.mktemp(name) / name
        build(directory)
        return directory
    root = tmp_path_factory.getbasetemp().parent
    directory, done = root / name, root / f"{name}.done"
    with FileLock(root / f"{name}.lock"):
        if not done.exists():
            shutil.rmtree(directory, ignore_errors=True)  # what a worker that failed half-way left
            build(directory)
            done.touch()
    return directory


@pytest.fixture(scope="session")
def trained_run(tmp_path_factory) -> Path:
    """A finished tiny RoPE run on addition (``tests.helpers_run.TINY_OVERRIDES``: 20 steps,
    checkpoints at 10 and 20, evaluated), trained in-process once per session. Read-only: the
    tests of every area share it; a test that evaluates, resumes or damages a run takes ``run_copy``."""
    from mathpe_jax.main import run
    from tests.helpers_run import tiny_config

    return built_once(tmp_path_factory, "trained_run", lambda workdir: run(tiny_config("rope"), workdir, "train"))


@pytest.fixture
def run_copy(trained_run: Path, tmp_path: Path) -> Path:
    """A private copy of ``trained_run`` (``tmp_path/run``) for a test that writes into it."""
    return Path(shutil.copytree(trained_run, tmp_path / "run"))


@pytest.fixture(scope="session")
def tiny_hf_checkpoint(tmp_path_factory, request) -> Path:
    """A tiny random Llama with the tiny BPE tokenizer (``tests.helpers_hf.tiny_checkpoint``), saved
    once per session. Read-only: copy it before changing it."""
    from tests.helpers_hf import tiny_checkpoint

    def build(directory: Path) -> None:
        directory.mkdir(parents=True)
        tiny_checkpoint(directory, request.getfixturevalue("tiny_hf_tokenizer_dir"))  # only where it is built

    return built_once(tmp_path_factory, "tiny_hf_checkpoint", build)


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """The files with the most slow tests (and then subprocess tests) first, each file's tests in their own order.

    Under ``--dist loadfile`` a worker takes the next whole file when it is free; the longest files
    started last would leave one worker running them alone at the end of the session.
    """
    weight: dict[Path, tuple[int, int]] = {}
    for item in items:
        cost = 3 if item.get_closest_marker("slow") else 1 if item.get_closest_marker("subprocess") else 0
        heavy, count = weight.get(item.path, (0, 0))
        weight[item.path] = (heavy - cost, count - 1)  # then by the number of tests, as xdist would
    items.sort(key=lambda item: weight[item.path])
