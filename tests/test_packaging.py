"""The project installs as a package: no module edits the import path, and the config files and
the entry point work from any directory."""

from __future__ import annotations

import ast
import tomllib
from pathlib import Path

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
    files = [*(REPO_ROOT / "mathpe_jax").rglob("*.py"), *(REPO_ROOT / "tools").rglob("*.py")]
    assert files
    assert [str(f.relative_to(REPO_ROOT)) for f in files if _edits_sys_path(f)] == []


def test_pyproject_installs_the_package_and_the_configs():
    project = tomllib.loads((REPO_ROOT / "pyproject.toml").read_text())
    assert project["tool"]["setuptools"]["packages"]["find"]["include"] == ["mathpe_jax*", "configs*"]
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
