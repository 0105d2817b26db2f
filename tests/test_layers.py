"""The package's import graph, read from the source with ``ast``: layers, cycles, a JAX-free grading.

Each module may import only from its own layer or the layers below it (``LAYERS``, the table of
``ARCHITECTURE.md``), and no two modules, nor two top-level units (subpackages or modules), may
import each other, directly or through others. Imports inside functions count: they run too,
only later. Imports under ``if TYPE_CHECKING:`` do not.

Set ``MATHPE_SOURCE_ROOT`` to another checkout to check its tree instead of this one.
"""

from __future__ import annotations

import ast
import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

PACKAGE = "mathpe_jax"
ROOT = Path(os.environ.get("MATHPE_SOURCE_ROOT", Path(__file__).resolve().parents[1]))

# Top-level unit of the package (the name after ``mathpe_jax.``) -> layer. A unit may import from
# its own layer and below. Units not yet written are named all the same, so a new one has its place.
LAYERS: dict[str, int] = {
    "hub": 0,
    "progress": 0,
    "errors": 0,
    "logs": 0,
    "cli": 0,
    "pe": 1,
    "parallel": 1,
    "grading": 1,
    "model": 2,
    "convert": 2,
    "data": 2,
    "build": 3,
    "config": 3,
    "run": 3,
    "train": 3,
    "decode": 3,
    "eval": 4,
    "solve": 4,
    "inference": 4,
    "serve": 5,
    "analysis": 5,
    "main": 6,
    "sweep": 6,
    "memory": 4,
}

# Beyond layers: what reads a run restores parameters through ``run/`` and never reaches into
# training (evaluation never needs an optimizer).
NEVER_IMPORTS: dict[str, set[str]] = {unit: {"train"} for unit in ("eval", "solve", "inference", "serve", "analysis")}

# Grading runs in a small helper process and next to anything: it must not pull in an array library.
GRADING_FORBIDDEN = ("jax", "jaxlib", "flax", "optax", "orbax", "torch")
# What reads run directories on a machine without an accelerator (a laptop, a login node) must not
# load JAX: the run-directory layout, the analysis of a sweep, and the sweep's state and monitor.
JAX_FREE_MODULES = ("run.layout", "analysis", "sweep.state", "sweep.monitor")
JAX = ("jax", "jaxlib", "flax", "optax", "orbax")

# The one module that names the files of a run and a sweep directory, and the names that are also
# other words of the code (a results.json key and a figure, command-line flags): those count only
# where they are joined to a path (``/``).
LAYOUT = Path(PACKAGE, "run", "layout.py")
ALSO_WORDS = {"attention", "adapter", "jobs", "logs"}
# A Hugging Face model directory has a config.json too: conversion names it as ``HF_CONFIG``.
HF_CONFIG_HOME = Path(PACKAGE, "convert")


def _module_name(path: Path) -> str:
    parts = path.relative_to(ROOT).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def _modules() -> dict[str, Path]:
    """Every module of the package, by dotted name (a package by its ``__init__``)."""
    return {_module_name(path): path for path in sorted((ROOT / PACKAGE).rglob("*.py"))}


def _runtime_nodes(tree: ast.AST) -> Iterator[ast.AST]:
    """All nodes of ``tree`` except the bodies of ``if TYPE_CHECKING:`` blocks."""
    for node in ast.iter_child_nodes(tree):
        if isinstance(node, ast.If) and "TYPE_CHECKING" in ast.unparse(node.test):
            yield from (n for child in node.orelse for n in [child, *_runtime_nodes(child)])
            continue
        yield node
        yield from _runtime_nodes(node)


def _imported_names(module: str, path: Path) -> set[str]:
    """Dotted names imported by ``module``; ``from a import b`` gives both ``a.b`` and ``a``."""
    is_package = path.name == "__init__.py"
    names: set[str] = set()
    for node in _runtime_nodes(ast.parse(path.read_text(encoding="utf-8"), filename=str(path))):
        if isinstance(node, ast.Import):
            names.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = module.split(".")[: len(module.split(".")) - node.level + is_package]
                prefix = ".".join([*base, *([node.module] if node.module else [])])
            else:
                prefix = node.module or ""
            names.add(prefix)
            names.update(f"{prefix}.{alias.name}" for alias in node.names)
    return names


def _resolve(name: str, modules: dict[str, Path]) -> str | None:
    """The package module ``name`` refers to (longest existing prefix), or None if not ours."""
    parts = name.split(".")
    if parts[0] != PACKAGE:
        return None
    for end in range(len(parts), 0, -1):
        if ".".join(parts[:end]) in modules:
            return ".".join(parts[:end])
    return None


def _graph() -> tuple[dict[str, set[str]], dict[str, set[str]]]:
    """Module -> package modules it imports, and module -> every dotted name it imports."""
    modules = _modules()
    edges: dict[str, set[str]] = {}
    imported: dict[str, set[str]] = {}
    for module, path in modules.items():
        imported[module] = _imported_names(module, path)
        targets = {_resolve(name, modules) for name in imported[module]}
        edges[module] = {t for t in targets if t is not None and t != module}
    return edges, imported


def _unit(module: str) -> str:
    """``mathpe_jax.eval.suite`` -> ``eval``; the root package itself is ``""``."""
    parts = module.split(".")
    return parts[1] if len(parts) > 1 else ""


def _cycles(edges: dict[str, set[str]]) -> list[list[str]]:
    """Strongly connected components with more than one member (Tarjan), each sorted."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    found: list[list[str]] = []

    def visit(node: str) -> None:
        index[node] = low[node] = len(index)
        stack.append(node)
        on_stack.add(node)
        for nxt in sorted(edges.get(node, ())):
            if nxt not in index:
                visit(nxt)
                low[node] = min(low[node], low[nxt])
            elif nxt in on_stack:
                low[node] = min(low[node], index[nxt])
        if low[node] == index[node]:
            component = []
            while True:
                member = stack.pop()
                on_stack.discard(member)
                component.append(member)
                if member == node:
                    break
            if len(component) > 1:
                found.append(sorted(component))

    for node in sorted(edges):
        if node not in index:
            visit(node)
    return sorted(found)


@pytest.fixture(scope="module")
def graph() -> tuple[dict[str, set[str]], dict[str, set[str]]]:
    if not (ROOT / PACKAGE / "__init__.py").is_file():
        pytest.fail(f"MATHPE_SOURCE_ROOT={ROOT}: no {PACKAGE}/__init__.py there")
    return _graph()


def test_the_walk_sees_imports_inside_functions_and_relative_imports(tmp_path) -> None:
    source = tmp_path / "m.py"
    source.write_text(
        "from typing import TYPE_CHECKING\n"
        "from . import sibling\n"
        "if TYPE_CHECKING:\n    import mathpe_jax.typing_only\n"
        "def f():\n    from mathpe_jax.late import thing\n"
    )
    names = _imported_names("mathpe_jax.eval.m", source)
    assert {"mathpe_jax.eval.sibling", "mathpe_jax.late.thing"} <= names
    assert "mathpe_jax.typing_only" not in names


def test_every_unit_has_a_layer(graph) -> None:
    edges, _ = graph
    unplaced = sorted({_unit(m) for m in edges} - set(LAYERS) - {""})
    assert not unplaced, f"units missing from LAYERS (give each a layer): {unplaced}"


def test_no_upward_imports(graph) -> None:
    """A placed unit imports only placed units at or below its layer (an unplaced unit has no
    layer to be below, so importing it is reported too)."""
    edges, _ = graph

    def layer(module: str) -> str:
        return str(LAYERS[_unit(module)]) if _unit(module) in LAYERS else "none"

    upward = [
        f"{src} (layer {layer(src)}) imports {dst} (layer {layer(dst)})"
        for src, targets in sorted(edges.items())
        for dst in sorted(targets)
        if _unit(src) in LAYERS
        and _unit(dst) != ""
        and (_unit(dst) not in LAYERS or LAYERS[_unit(dst)] > LAYERS[_unit(src)])
    ]
    assert not upward, "upward imports:\n" + "\n".join(upward)


def test_run_readers_never_import_training(graph) -> None:
    edges, _ = graph
    bad = [
        f"{src} imports {dst}"
        for src, targets in sorted(edges.items())
        for dst in sorted(targets)
        if _unit(dst) in NEVER_IMPORTS.get(_unit(src), ())
    ]
    assert not bad, "evaluation and inference reach into training:\n" + "\n".join(bad)


def test_no_import_cycles_between_modules(graph) -> None:
    edges, _ = graph
    cycles = _cycles(edges)
    assert not cycles, "modules that import each other:\n" + "\n".join(" <-> ".join(c) for c in cycles)


def test_no_import_cycles_between_units(graph) -> None:
    edges, _ = graph
    units: dict[str, set[str]] = {}
    for src, targets in edges.items():
        units.setdefault(_unit(src), set()).update(_unit(t) for t in targets if _unit(t) != _unit(src))
    cycles = _cycles(units)
    assert not cycles, "units that import each other:\n" + "\n".join(" <-> ".join(c) for c in cycles)


def test_grading_imports_no_array_library(graph) -> None:
    """Checked over everything grading reaches inside the package, not only its own files."""
    edges, imported = graph
    reached, todo = set(), [m for m in edges if _unit(m) == "grading"]
    while todo:
        module = todo.pop()
        if module not in reached:
            reached.add(module)
            todo.extend(edges[module])
    bad = [
        f"{module} imports {name}"
        for module in sorted(reached)
        for name in sorted(imported[module])
        if name.split(".")[0] in GRADING_FORBIDDEN
    ]
    assert not bad, "grading reaches an array library:\n" + "\n".join(bad)


def _loaded(modules: list[str], libraries: tuple[str, ...]) -> str:
    """Which of ``libraries`` importing ``modules`` loads, package ``__init__`` files included, as
    a fresh interpreter prints it (``[]`` when none)."""
    code = (
        f"import sys; import {', '.join(modules)}; "
        f"print(sorted({{m.split('.')[0] for m in sys.modules}} & set({libraries!r})))"
    )
    out = subprocess.run(
        [sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, check=True, timeout=120
    )
    return out.stdout.strip()


def test_importing_grading_loads_no_array_library() -> None:
    """The same at run time, in a fresh interpreter."""
    modules = sorted(m for m in _modules() if _unit(m) == "grading")
    assert modules, f"no {PACKAGE}.grading package under {ROOT}"
    loaded = _loaded(modules, GRADING_FORBIDDEN)
    assert loaded == "[]", f"importing grading loaded {loaded}"


def test_reading_run_directories_loads_no_jax() -> None:
    loaded = _loaded([f"{PACKAGE}.{module}" for module in JAX_FREE_MODULES], JAX)
    assert loaded == "[]", f"importing {', '.join(JAX_FREE_MODULES)} loaded {loaded}"


def _layout_names() -> set[str]:
    """The string constants ``run/layout.py`` assigns at module level: every file and directory
    name of a run and of a sweep directory."""
    tree = ast.parse((ROOT / LAYOUT).read_text(encoding="utf-8"))
    return {
        node.value.value
        for node in tree.body
        if isinstance(node, (ast.Assign, ast.AnnAssign))
        and isinstance(node.value, ast.Constant)
        and isinstance(node.value.value, str)
    }


def _named_literals(path: Path, names: set[str]) -> Iterator[tuple[int, str]]:
    """``(line, name)`` of each string literal of ``path`` that is one of ``names``, except the
    value of conversion's ``HF_CONFIG`` and, for the names in ``ALSO_WORDS``, literals that are
    not joined to a path."""
    tree = ast.parse(path.read_text(encoding="utf-8"), filename=str(path))
    in_conversion = path.relative_to(ROOT).parts[:2] == HF_CONFIG_HOME.parts
    exempt: set[int] = set()
    joined: set[int] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.BinOp) and isinstance(node.op, ast.Div):
            joined.update(id(side) for side in (node.left, node.right))
        if in_conversion and isinstance(node, ast.Assign) and [ast.unparse(t) for t in node.targets] == ["HF_CONFIG"]:
            exempt.add(id(node.value))
    for node in ast.walk(tree):
        if not (isinstance(node, ast.Constant) and node.value in names) or id(node) in exempt:
            continue
        if node.value not in ALSO_WORDS or id(node) in joined:
            yield node.lineno, node.value


def test_run_directory_names_are_written_only_in_the_layout() -> None:
    """Every other module reaches a run's files through ``run.layout``'s constants, so a renamed
    file is renamed everywhere and a reader cannot look for a name that nothing writes."""
    names = _layout_names()
    assert {"config.json", "results.json", "checkpoints", "sweep.json"} <= names, f"{LAYOUT} names {sorted(names)}"
    sources = [p for p in sorted((ROOT / PACKAGE).rglob("*.py")) if p != ROOT / LAYOUT] + sorted((ROOT / "tools").glob("*.py"))
    found = [
        f"{path.relative_to(ROOT)}:{line}: {name!r}"
        for path in sources
        for line, name in _named_literals(path, names)
    ]
    assert not found, f"run-directory names outside {LAYOUT} (use its constants):\n" + "\n".join(found)
