"""The commands and links of README.md and docs/**/*.md, checked without running anything.

Every ```bash block is read as a shell user would type it (comments dropped, continuation lines
joined, ``&&``, ``;`` and ``|`` splitting commands) and checked for what goes stale when code moves:

* every path under a top-level directory of the repository (``configs/...``, ``tools/...``,
  ``launch/...``, ``docs/...``) exists;
* every ``--config.KEY`` exists in the config file the command names (``--config=``, each of
  ``tools/compare.py --configs``, a cluster job's ``CONFIG=``), read by ``mathpe_jax.cli``;
* every flag of ``python tools/X.py``, ``python -m mathpe_jax.main`` (``mathpe-train``) and ``python -m
  mathpe_jax.serve`` is one the program defines: flag names are read from the sources with a regular
  expression (absl's ``DEFINE_*("name"`` and argparse's ``add_argument("--name"``), following the
  program's imports of ``tools/`` and ``benchmarks/`` modules, so nothing heavy is imported.

A how-to may create files: a non-bash code block whose first line is ``# PATH`` is a file the page
creates (its commands may then name it, and PATH must not exist in the repository), and ``# in PATH``
an edit of an existing file (PATH must exist). Every relative markdown link of these pages must
resolve, its ``#anchor`` included.
"""

from __future__ import annotations

import functools
import re
import shlex
from pathlib import Path

import pytest

from mathpe_jax.cli import check_override, load_config_file
from mathpe_jax.errors import ConfigError
from tests.conftest import REPO_ROOT

PAGES = sorted([REPO_ROOT / "README.md", *(REPO_ROOT / "docs").rglob("*.md")])
# Top-level directories whose paths a command must name correctly.
CHECKED_ROOTS = ("benchmarks", "configs", "docs", "enroot", "launch", "mathpe_jax", "tests", "tools")
# Files that documented commands produce (build outputs), not part of a checkout.
PRODUCED = {"enroot/mathpe_jax.sqsh"}
FENCE = re.compile(r"^(?P<indent>[ ]*)```(?P<lang>[\w-]*)[^\n]*\n(?P<body>.*?)^(?P=indent)```[ ]*$", re.S | re.M)
PATH_IN_TEXT = re.compile(r"(?<![\w$/.~-])((?:%s)/[\w./-]*)" % "|".join(CHECKED_ROOTS))
ABSL_FLAG = re.compile(r"DEFINE_\w+\(\s*[\"'](\w+)[\"']")
ARGPARSE_CALL = re.compile(r"add_argument\(([^)]*)\)", re.S)
LONG_OPTION = re.compile(r"[\"']--([\w-]+)[\"']")
LOCAL_IMPORT = re.compile(r"^\s*(?:from\s+([\w.]+)\s+import\s+([\w, ()]+)|import\s+([\w., ]+))", re.M)
LINK = re.compile(r"(?<!!)\[[^\]]*\]\(([^)\s]+)(?:\s+\"[^\"]*\")?\)")
OPERATORS = {"&&", "||", ";", "|", "(", ")", "&"}
# Flags absl defines for every program.
ABSL_BUILTIN = {"help", "helpshort", "helpfull", "helpxml", "flagfile", "undefok"}


def rel(path: Path) -> str:
    return path.relative_to(REPO_ROOT).as_posix()


# -- reading the pages -----------------------------------------------------------------------------
def code_blocks(page: Path) -> list[tuple[str, str]]:
    """``(language, body)`` of every fenced block of ``page``, indented blocks dedented."""
    blocks = []
    for match in FENCE.finditer(page.read_text(encoding="utf-8")):
        indent = len(match["indent"])
        body = "\n".join(line[indent:] for line in match["body"].splitlines())
        blocks.append((match["lang"], body))
    return blocks


def created_and_edited(page: Path) -> tuple[set[str], set[str]]:
    """Paths the page's non-bash blocks create (``# PATH``) and edit (``# in PATH``)."""
    created, edited = set(), set()
    for lang, body in code_blocks(page):
        first = body.lstrip("\n").split("\n", 1)[0].strip()
        if lang == "bash" or not first.startswith("#"):
            continue
        words = first[1:].split()
        if len(words) == 1 and PATH_IN_TEXT.fullmatch(words[0]):
            created.add(words[0])
        elif len(words) == 2 and words[0] == "in" and PATH_IN_TEXT.fullmatch(words[1]):
            edited.add(words[1])
    return created, edited


def shell_lines(body: str) -> list[str]:
    """The block's logical lines: continuations joined, blank lines dropped."""
    return [line for line in body.replace("\\\n", " ").splitlines() if line.strip()]


def commands(line: str) -> list[list[str]]:
    """The simple commands of one shell line, as words, comments dropped."""
    lexer = shlex.shlex(line, posix=True, punctuation_chars=True)
    lexer.whitespace_split = True
    lexer.commenters = ""
    out: list[list[str]] = [[]]
    for word in lexer:
        if word.startswith("#"):
            break
        if word in OPERATORS or set(word) <= set("();|&<>"):
            out.append([])
        else:
            out[-1].append(word)
    return [words for words in out if words]


def bash_commands(page: Path) -> list[tuple[str, list[str]]]:
    """``(line, words)`` of every simple command in the page's bash blocks."""
    return [(line, words) for lang, body in code_blocks(page) if lang == "bash"
            for line in shell_lines(body) for words in commands(line)]


# -- what the programs define ------------------------------------------------------------------------
def module_file(name: str) -> Path | None:
    """The repository file of module ``name`` (``benchmarks.gpu``, ``bench_lib`` beside a tool)."""
    parts = name.split(".")
    for base in (REPO_ROOT, REPO_ROOT / "tools"):
        for candidate in (base.joinpath(*parts).with_suffix(".py"), base.joinpath(*parts, "__init__.py")):
            if candidate.is_file():
                return candidate
    return None


@functools.cache
def defined_flags(path: Path) -> frozenset[str]:
    """Flag names defined in ``path`` and in the ``tools/`` and ``benchmarks/`` modules it imports,
    plus ``--verbose`` of ``mathpe_jax.cli`` and absl's own flags."""
    names = set(ABSL_BUILTIN) | set(ABSL_FLAG.findall((REPO_ROOT / "mathpe_jax" / "cli.py").read_text()))
    seen: set[Path] = set()
    todo = [path]
    while todo:
        source_path = todo.pop()
        if source_path in seen:
            continue
        seen.add(source_path)
        source = source_path.read_text(encoding="utf-8")
        names |= set(ABSL_FLAG.findall(source))
        for call in ARGPARSE_CALL.findall(source):
            names |= set(LONG_OPTION.findall(call))
        for package, members, plain in LOCAL_IMPORT.findall(source):
            modules = [m.strip() for m in plain.split(",")] if plain else [package] + [
                f"{package}.{m.strip()}" for m in members.strip("()").split(",") if m.strip()]
            for module in modules:
                target = module_file(module)
                if target is not None and rel(target).split("/")[0] in ("tools", "benchmarks"):
                    todo.append(target)
    return frozenset(names)


def takes_config_overrides(path: Path) -> bool:
    """``--config.KEY=VALUE`` is the program's own config flag, or passed on to every run (compare.py)."""
    return "config" in defined_flags(path) or "--config." in path.read_text(encoding="utf-8")


def program(words: list[str]) -> tuple[Path | None, list[str]]:
    """The repository file a command runs and its arguments (None: not a program of this repository)."""
    while words and re.fullmatch(r"[A-Za-z_]\w*=.*", words[0]):  # VAR=value before the command
        words = words[1:]
    if not words:
        return None, []
    if words[0] == "mathpe-train":
        return REPO_ROOT / "mathpe_jax" / "main.py", words[1:]
    if not re.fullmatch(r"python3?(\.\d+)?", words[0]) or len(words) < 2:
        return None, words[1:]
    if words[1] == "-m" and len(words) > 2:
        name = words[2]
        if name.split(".")[0] != "mathpe_jax":
            return None, words[3:]
        file = module_file(name)
        package_main = REPO_ROOT.joinpath(*name.split("."), "__main__.py")
        return (package_main if package_main.is_file() else file), words[3:]
    if words[1].startswith("tools/"):
        return REPO_ROOT / words[1], words[2:]
    return None, words[2:]


def flag_names(args: list[str]) -> list[str]:
    return [arg[2:].split("=", 1)[0] for arg in args if arg.startswith("--") and len(arg) > 2]


# -- config files and their overrides --------------------------------------------------------------
@functools.cache
def config(spec: str):
    return load_config_file(spec)


def assignments(words: list[str]) -> dict[str, str]:
    """``VAR=value`` words of a command (leading ones, and those inside ``qsub -v A=1,B=2``)."""
    found = {}
    for word in words:
        for part in re.split(r",(?=[A-Z_]+=)", word):
            match = re.fullmatch(r"([A-Z_][A-Z0-9_]*)=(.*)", part)
            if match:
                found[match[1]] = match[2]
    return found


def config_specs(path: Path | None, args: list[str], words: list[str]) -> list[str]:
    """The config files the command's ``--config.KEY`` overrides apply to."""
    if path is not None and path.name == "compare.py":
        specs, taking = [], False
        for arg in args:
            if arg == "--configs":
                taking = True
            elif arg.startswith("--"):
                taking = False
                if arg.startswith("--configs="):
                    specs.append(arg.split("=", 1)[1])
            elif taking:
                specs.append(arg)
        return specs
    given = [arg.split("=", 1)[1] for arg in args if arg.startswith("--config=")]
    given += [args[i + 1] for i, arg in enumerate(args[:-1]) if arg == "--config"]
    if given:
        return given[-1:]
    env = assignments(words)
    if "CONFIG" in env:
        return [env["CONFIG"]]
    return ["configs/rope.py"]  # main's and plan_memory's default, and the cluster scripts'


def overrides(line_words: list[str]) -> list[str]:
    """Every ``--config.KEY`` of a command, wherever it sits (``ARGS="--config.seed=1"`` too)."""
    keys = []
    for word in line_words:
        keys += re.findall(r"--config\.([\w.\[\]]+)", word)
    return keys


# -- the checks ----------------------------------------------------------------------------------
def page_ids() -> list[str]:
    return [rel(page) for page in PAGES]


def test_the_pages_exist():
    assert (REPO_ROOT / "README.md") in PAGES and any(page.parent.name == "results" for page in PAGES)
    lines = len((REPO_ROOT / "README.md").read_text().splitlines())
    assert lines <= 150, f"the README has {lines} lines: keep it under 150 and move details to docs/"


@pytest.mark.parametrize("page", PAGES, ids=page_ids())
def test_paths_named_by_commands_exist(page, monkeypatch):
    monkeypatch.chdir(REPO_ROOT)
    created, edited = created_and_edited(page)
    assert not [p for p in created if (REPO_ROOT / p).exists()], "a how-to creates a file the repository already has"
    assert not [p for p in edited if not (REPO_ROOT / p).is_file()], "a how-to edits a file that does not exist"
    missing = []
    for line, words in bash_commands(page):
        for word in words:
            for path in PATH_IN_TEXT.findall(word):
                path = path.rstrip("/.")
                if path in created or path in PRODUCED:
                    continue
                if not (REPO_ROOT / path).exists():
                    missing.append(f"{path!r} in: {line}")
    assert not missing, "\n".join(missing)


@pytest.mark.parametrize("page", PAGES, ids=page_ids())
def test_config_overrides_exist_in_the_config_named(page, monkeypatch):
    monkeypatch.chdir(REPO_ROOT)
    created, _ = created_and_edited(page)
    problems = []
    for line, words in bash_commands(page):
        keys = overrides(words)
        if not keys:
            continue
        path, args = program(words)
        for spec in config_specs(path, args, words):
            if spec.partition(":")[0] in created:
                continue
            try:
                loaded = config(spec)
                for key in keys:
                    check_override("config", key, loaded)
            except ConfigError as err:
                problems.append(f"{err} in: {line}")
    assert not problems, "\n".join(problems)


@pytest.mark.parametrize("page", PAGES, ids=page_ids())
def test_flags_are_defined_by_the_program(page):
    problems = []
    checked_blocks = [body for lang, body in code_blocks(page) if lang == "bash"]
    # Synopses (```text lines that start with python) name flags too; brackets mark them optional.
    checked_blocks += ["\n".join(line.replace("[", " ").replace("]", " ") for line in shell_lines(body)
                                 if line.lstrip().startswith("python"))
                       for lang, body in code_blocks(page) if lang == "text"]
    for body in checked_blocks:
        for line in shell_lines(body):
            for words in commands(line):
                path, args = program(words)
                if path is None or not path.is_file():
                    continue
                known = defined_flags(path)
                for name in flag_names(args):
                    if name.startswith("config.") and takes_config_overrides(path):
                        continue
                    if name not in known and not (name.startswith("no") and name[2:] in known):
                        problems.append(f"--{name} is not a flag of {rel(path)} in: {line}")
    assert not problems, "\n".join(problems)


def slug(heading: str) -> str:
    """GitHub's anchor of a heading: lower case, punctuation dropped, spaces to hyphens."""
    text = re.sub(r"[`*]|\[([^\]]*)\]\([^)]*\)", lambda m: m.group(1) or "", heading.strip().lower())
    return re.sub(r"[^\w\- ]", "", text).replace(" ", "-")


@functools.cache
def anchors(page: Path) -> frozenset[str]:
    text = FENCE.sub("", page.read_text(encoding="utf-8"))
    found, counts = set(), {}
    for heading in re.findall(r"^#{1,6}\s+(.*?)\s*#*\s*$", text, re.M):
        base = slug(heading)
        n = counts.get(base, 0)
        counts[base] = n + 1
        found.add(base if n == 0 else f"{base}-{n}")
    return frozenset(found)


@pytest.mark.parametrize("page", PAGES, ids=page_ids())
def test_relative_links_resolve(page):
    text = FENCE.sub("", page.read_text(encoding="utf-8"))
    text = re.sub(r"`[^`\n]*`", "", text)
    broken = []
    for target in LINK.findall(text):
        if re.match(r"[a-z][a-z0-9+.-]*:", target):  # http:, https:, mailto:
            continue
        file_part, _, anchor = target.partition("#")
        destination = (page.parent / file_part).resolve() if file_part else page
        if not destination.exists():
            broken.append(f"{target} (no such file)")
        elif anchor and destination.suffix == ".md" and anchor not in anchors(destination):
            broken.append(f"{target} (no heading #{anchor} in {rel(destination)})")
    assert not broken, "\n".join(broken)


# -- the checker itself ---------------------------------------------------------------------------
def test_the_checker_reads_commands_as_a_shell_does():
    line = 'CUDA_VISIBLE_DEVICES=0 python tools/bench.py gpu --out=x.json && (umask 077; echo "a # b") # note'
    assert commands(line) == [["CUDA_VISIBLE_DEVICES=0", "python", "tools/bench.py", "gpu", "--out=x.json"],
                              ["umask", "077"], ["echo", "a # b"]]
    main = REPO_ROOT / "mathpe_jax/main.py"
    assert program(["python", "-m", "mathpe_jax.main", "--mode=eval"]) == (main, ["--mode=eval"])
    assert program(["python", "-m", "mathpe_jax.serve"])[0] == REPO_ROOT / "mathpe_jax/serve/__main__.py"
    assert flag_names(["--config.seed=1", "--jobs", "2", "runs/x", "--noscan_layers"]) == [
        "config.seed", "jobs", "noscan_layers"]
    assert assignments(["qsub", "-v", "CONFIG=configs/t5.py,WORKDIR=runs/t5,ARGS=--config.seed=1,2"]) == {
        "CONFIG": "configs/t5.py", "WORKDIR": "runs/t5", "ARGS": "--config.seed=1,2"}
    assert PATH_IN_TEXT.findall("--configs=configs/experiments/copy_cpu.py:t5 $PWD/enroot/x.sqsh") == [
        "configs/experiments/copy_cpu.py"]
    assert slug("Will it fit? `tools/plan_memory.py`") == "will-it-fit-toolsplan_memorypy"


def test_the_checker_finds_each_kind_of_mistake(monkeypatch):
    monkeypatch.chdir(REPO_ROOT)
    assert "jobs" in defined_flags(REPO_ROOT / "tools/compare.py")
    assert {"config", "workdir", "mode", "verbose"} <= defined_flags(REPO_ROOT / "mathpe_jax/main.py")
    assert "no_such_flag" not in defined_flags(REPO_ROOT / "tools/bench.py")
    with pytest.raises(ConfigError, match="did you mean"):
        check_override("config", "train.step", config("configs/rope.py"))
    path, args = program(["python", "tools/compare.py", "--configs", "configs/rope.py", "configs/alibi.py:x",
                          "--seeds", "2"])
    assert config_specs(path, args, []) == ["configs/rope.py", "configs/alibi.py:x"]
