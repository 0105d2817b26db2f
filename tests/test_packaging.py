"""The project installs as a package: no module edits the import path, and the config files, the
benchmarks and the entry point work from any directory."""

from __future__ import annotations

import ast
import tomllib
from pathlib import Path

import pytest

from tests.conftest import REPO_ROOT


def _edits_sys_path(path: Path) -> bool:
    """Whether ``path`` calls ``sys.path.insert/append/extend``."""
    return any(
        isinstance(node, ast.Call)
        and isinstance(node.func, ast.Attribute)
        and node.func.attr in ("insert", "append", "extend")
        and ast.unparse(node.func.value) == "sys.path"
        for node in ast.walk(ast.parse(path.read_text(), str(path)))
    )


def test_no_module_edits_sys_path():
    files = [f for d in ("mathpe_jax", "benchmarks", "tools") for f in (REPO_ROOT / d).rglob("*.py")]
    assert files
    assert [str(f.relative_to(REPO_ROOT)) for f in files if _edits_sys_path(f)] == []


def test_pyproject_installs_the_package_and_the_configs():
    project = tomllib.loads((REPO_ROOT / "pyproject.toml").read_text())
    assert project["tool"]["setuptools"]["packages"]["find"]["include"] == ["mathpe_jax*", "configs*", "benchmarks*"]
    assert project["project"]["scripts"]["mathpe-train"] == "mathpe_jax.main:console"
    for extra in ("test", "bench"):
        pins = (REPO_ROOT / project["tool"]["setuptools"]["dynamic"]["optional-dependencies"][extra]["file"][0]).read_text()
        assert "torch" in pins and "peft" in pins


def test_torch_and_peft_stay_out_of_the_package():
    for path in (REPO_ROOT / "mathpe_jax").rglob("*.py"):
        for node in ast.walk(ast.parse(path.read_text())):
            names = [a.name for a in node.names] if isinstance(node, ast.Import) else []
            if isinstance(node, ast.ImportFrom) and node.module:
                names = [node.module]
            assert not any(n.split(".")[0] in ("torch", "peft") for n in names), path


@pytest.mark.slow
@pytest.mark.subprocess
def test_editable_install_runs_from_another_directory(tmp_path):
    """``pip install -e .`` in a fresh virtual environment: the console script finds the package and
    a config file's ``from configs import base`` from any working directory."""
    import shutil
    import subprocess
    import venv

    checkout = tmp_path / "checkout"  # a copy, so the install's build files stay out of the repository
    shutil.copytree(REPO_ROOT, checkout, ignore=shutil.ignore_patterns(".git", "__pycache__", "*.egg-info", "runs"))
    env_dir = tmp_path / "venv"
    venv.create(env_dir, system_site_packages=True)  # pip and setuptools: the system's
    python = env_dir / "bin" / "python"
    install = subprocess.run(
        [python, "-m", "pip", "install", "-q", "--no-deps", "--no-build-isolation", "-e", str(checkout)],
        capture_output=True, text=True, timeout=600,
    )
    assert install.returncode == 0, install.stderr[-3000:]
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    done = subprocess.run(
        [env_dir / "bin" / "mathpe-train", f"--config={checkout / 'configs' / 't5.py'}", "--config.train.stepz=1"],
        cwd=elsewhere, capture_output=True, text=True, timeout=300, env={"PATH": "/usr/bin:/bin", "JAX_PLATFORMS": "cpu"},
    )
    assert done.returncode == 2 and done.stderr.strip() == (
        "error: unknown config key --config.train.stepz; did you mean --config.train.steps?"
    ), done.stderr[-3000:]
    units = ("mathpe_jax", "configs", "benchmarks")
    imported = subprocess.run(
        [python, "-c", f"import {', '.join(units)}; print({', '.join(f'{u}.__file__' for u in units)})"],
        cwd=elsewhere, capture_output=True, text=True, timeout=300, check=True,
    )
    assert imported.stdout.split() == [str(checkout / unit / "__init__.py") for unit in units]
