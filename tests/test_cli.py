"""The command line ends every mistake in a config file or key in one line, before anything runs."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest
from ml_collections import ConfigDict

from mathpe_jax import cli
from mathpe_jax.errors import ConfigError
from tests.conftest import REPO_ROOT


def run_main(*args: str, cwd: Path = REPO_ROOT) -> subprocess.CompletedProcess:
    env = {**os.environ, "JAX_PLATFORMS": "cpu", "PYTHONPATH": str(REPO_ROOT)}
    return subprocess.run(
        [sys.executable, "-m", "mathpe_jax.main", *args], cwd=cwd, env=env, capture_output=True, text=True, timeout=120
    )


def assert_one_line_error(done: subprocess.CompletedProcess, *needles: str) -> None:
    lines = done.stderr.strip().splitlines()
    assert done.returncode == cli.EXIT_USER_ERROR, done.stderr[-2000:]
    assert len(lines) == 1 and lines[0].startswith("error: "), done.stderr[-2000:]
    for needle in needles:
        assert needle in lines[0]


@pytest.mark.subprocess
def test_unknown_key_names_it_and_suggests_the_closest():
    done = run_main("--config=configs/rope.py", "--config.train.stepz=3")
    assert_one_line_error(done, "--config.train.stepz", "did you mean --config.train.steps?")


@pytest.mark.subprocess
def test_missing_config_file(tmp_path):
    assert_one_line_error(run_main("--config=configs/nope.pyx"), "config file not found: configs/nope.pyx")


@pytest.mark.subprocess
@pytest.mark.parametrize(
    "source, needle",
    [
        ("def get_config(:\n", "syntax error at line 1"),
        ("X = 1\n", "defines no get_config()"),
        ("import no_such_module\n", "ModuleNotFoundError"),
        ("def get_config():\n    return 3\n", "not a ConfigDict"),
    ],
)
def test_broken_config_file(tmp_path, source, needle):
    path = tmp_path / "broken.py"
    path.write_text(source)
    assert_one_line_error(run_main(f"--config={path}"), str(path), needle)


@pytest.mark.subprocess
def test_bad_override_value_is_one_line():
    assert_one_line_error(run_main("--config=configs/rope.py", "--config.train.steps=abc"), "--config.train.steps=abc")


@pytest.mark.subprocess
def test_invalid_config_value_is_one_line():
    done = run_main("--config=configs/rope.py", "--config.train.steps=10", "--config.train.warmup_steps=20")
    assert_one_line_error(done, "config.train.warmup_steps=20", "train.steps=10")


@pytest.mark.subprocess
def test_configs_load_from_another_directory(tmp_path):
    """A config file's ``from configs import base`` needs the project importable, not the working directory."""
    done = run_main(f"--config={REPO_ROOT / 'configs' / 'rope.py'}", "--config.train.stepz=1", cwd=tmp_path)
    assert_one_line_error(done, "did you mean --config.train.steps?")


def test_check_override_walks_nested_keys():
    config = ConfigDict({"train": {"steps": 1}, "model": {"pe": {"name": "rope"}}})
    cli.check_override("config", "model.pe.name", config)
    with pytest.raises(ConfigError, match=r"--config\.model\.pe\.nme; did you mean --config\.model\.pe\.name\?"):
        cli.check_override("config", "model.pe.nme", config)
    with pytest.raises(ConfigError, match=r"unknown config key --config\.zzz$"):
        cli.check_override("config", "zzz", config)
