"""``tools/compare.py`` end to end, with real runs: two PEs x two seeds of a tiny model produce
every report file (one real sweep, shared by the tests below); a copy of it with one run undone,
swept again, interrupted mid-run and rerun ends with the same statistics as the sweep that was never
interrupted; the PDF's pages render and are not blank; the HTML needs no other file.
With ``tests/sweep/fake_main.py`` standing in for the runs: a second sweep of a directory while one
runs, or a sweep of another study, is refused in one line and writes nothing."""

from __future__ import annotations

import json
import os
import re
import shutil
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import numpy as np
import pytest

from mathpe_jax.analysis.report import FIGURES, FILES, STATS_JSON
from mathpe_jax.run.layout import run_state
from mathpe_jax.sweep.plan import PlannedRun
from tests.conftest import REPO_ROOT
from tests.helpers_run import TINY_OVERRIDES
from tests.sweep.test_local import FAKE_MAIN
from tools.compare import main as compare_main


OVERRIDES = [f"--config.{k}={v}" for k, v in TINY_OVERRIDES.items()]  # 20 steps, a checkpoint at 10


def compare(out: Path, *extra: str) -> list[str]:
    return [sys.executable, "tools/compare.py", "--configs", "configs/rope.py", "configs/nope.py", "--seeds", "2",
            "--out", str(out), "--jobs", "2", *OVERRIDES, *extra]


def _env() -> dict[str, str]:
    return {**os.environ, "JAX_PLATFORMS": "cpu"}


@pytest.fixture
def fake_runs(monkeypatch):
    """``compare_main`` in this process, its runs ``fake_main.py`` processes."""
    monkeypatch.chdir(REPO_ROOT)
    monkeypatch.setattr(PlannedRun, "command", lambda self: [sys.executable, str(FAKE_MAIN), *self.arguments()])
    monkeypatch.delenv("FAKE_MAIN_SLEEP", raising=False)


def _files(out: Path) -> dict[Path, bytes]:
    return {path: path.read_bytes() for path in sorted(out.rglob("*")) if path.is_file()}


@pytest.mark.subprocess
def test_a_second_sweep_of_a_directory_is_refused_naming_the_first(fake_runs, tmp_path, capsys):
    """The first sweep in a child process, its runs held up; the second, here, fails in one line
    naming the first's process and writes nothing; once the first is stopped the same command
    finishes the study."""
    out = tmp_path / "sweep"
    args = ["--configs", "configs/rope.py", "configs/nope.py", "--seeds", "2", "--out", str(out), "--jobs", "2", "--no_report"]
    script = textwrap.dedent(f"""
        import sys
        sys.path.insert(0, {str(REPO_ROOT)!r})
        from mathpe_jax.sweep.plan import PlannedRun
        from tests.sweep.test_local import FAKE_MAIN
        from tools.compare import main
        PlannedRun.command = lambda self: [sys.executable, str(FAKE_MAIN), *self.arguments()]
        sys.exit(main({args!r}))
    """)
    first = subprocess.Popen([sys.executable, "-c", script], cwd=REPO_ROOT, env={**os.environ, "FAKE_MAIN_SLEEP": "60"},
                             stderr=subprocess.PIPE, text=True)
    try:
        while not all(run_state(out / "rope" / f"seed{seed}") == "running" for seed in (0, 1)):
            assert first.poll() is None, "the first sweep did not start its runs"
            time.sleep(0.2)
        before = _files(out)
        capsys.readouterr()
        with pytest.raises(SystemExit) as refused:
            compare_main(args)
        assert refused.value.code == 2
        assert capsys.readouterr().err.splitlines() == [f"error: sweep directory {out} is in use by process {first.pid}"]
        assert _files(out) == before
    finally:
        first.send_signal(signal.SIGTERM)
        _, err = first.communicate(timeout=300)
    assert first.returncode == 143, err[-2000:]
    assert compare_main(args) == 0
    assert all(run_state(out / name / f"seed{seed}") == "finished" for name in ("rope", "nope") for seed in (0, 1))


def test_a_sweep_of_another_study_is_refused_and_writes_nothing(fake_runs, tmp_path, capsys):
    out = tmp_path / "sweep"
    study = ["--configs", "configs/rope.py", "--seeds", "1", "--out", str(out), "--no_report"]
    assert compare_main(study) == 0
    before = _files(out)
    capsys.readouterr()
    with pytest.raises(SystemExit) as refused:
        compare_main(["--configs", "configs/nope.py", "--seeds", "1", "--out", str(out), "--no_report"])
    assert refused.value.code == 2
    assert capsys.readouterr().err.splitlines() == [
        f"error: {out / 'sweep.json'}: {out} holds arm 'rope' (configs/rope.py), which --configs leaves out; "
        "use another --out for a different study"
    ]
    assert _files(out) == before
    assert compare_main(study) == 0  # the same study reruns: its finished run is skipped
    assert _files(out) == before


@pytest.fixture(scope="module")
def uninterrupted(tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("sweep") / "a"
    done = subprocess.run(compare(out), cwd=REPO_ROOT, env=_env(), capture_output=True, text=True, timeout=1800, check=False)
    assert done.returncode == 0, done.stderr[-3000:]
    assert "report:" in done.stdout
    return out


@pytest.mark.slow
@pytest.mark.subprocess
def test_every_report_file_is_written(uninterrupted):
    for name in FILES:
        assert (uninterrupted / name).stat().st_size > 0, name
    figures = sorted(p.name for p in (uninterrupted / FIGURES).glob("*.png"))
    for expected in ("addition_by_length.png", "addition_accuracy_out_of_distribution.png", "addition_training.png",
                     "addition_efficiency.png", "addition_attention.png", "addition_errors.png"):
        assert expected in figures
    report = json.loads((uninterrupted / "comparison_report.json").read_text())
    study = report["studies"]["addition"]
    assert sorted(study["arms"]) == ["nope", "rope"]
    assert [r["seed"] for r in study["arms"]["rope"]["runs"]] == [0, 1]
    assert study["arms"]["rope"]["metrics"]["out_of_distribution"]["n"] == 2
    assert study["by_length"]["3"]["nope"]["ci95"] is not None or study["by_length"]["3"]["nope"]["std"] == 0
    assert "positions" in study["arms"]["nope"]["untrained"]["summary"]
    assert report["commands"]["sweep"].startswith("python tools/compare.py --configs configs/rope.py configs/nope.py")
    stats = json.loads((uninterrupted / STATS_JSON).read_text())["studies"]["addition"]
    assert set(stats["tests"]) >= {"all", "in_distribution", "out_of_distribution", "1", "2", "3"}
    assert stats["tests"]["3"]["pairs"]["nope vs rope"]["n"] == 2 * TINY_OVERRIDES["eval.examples_per_length"]
    summary = (uninterrupted / "summary.md").read_text()
    assert "| nope | 2 |" in summary and len(summary.splitlines()) < 60


@pytest.mark.slow
@pytest.mark.subprocess
def test_html_is_self_contained(uninterrupted):
    page = (uninterrupted / "report.html").read_text()
    assert page.count("data:image/png;base64,") >= 6
    assert not re.search(r"""(src|href)=['"](?!data:)""", page)
    assert "python tools/compare.py" in page and "nope vs rope" in page


@pytest.mark.slow
@pytest.mark.subprocess
def test_pdf_pages_render_and_are_not_blank(uninterrupted):
    import pypdfium2 as pdfium  # a test requirement: the PDF is rendered, never skipped
    document = pdfium.PdfDocument(str(uninterrupted / "report.pdf"))
    assert len(document) >= 4
    for index in range(len(document)):
        pixels = np.asarray(document[index].render(scale=0.5).to_pil().convert("L"))
        assert pixels.size and (pixels < 200).mean() > 0.002, f"page {index + 1} is blank"


@pytest.mark.slow
@pytest.mark.subprocess
def test_an_interrupted_sweep_rerun_gives_the_same_report(uninterrupted, tmp_path):
    """The shared sweep less one run and its report: sweeping it again runs that one run (its steps
    after the first checkpoint slowed, so that the interruption lands mid-run), which the interruption
    stops; the rerun resumes it, skips the others, and reports as the sweep did."""
    out = tmp_path / "b"
    shutil.copytree(uninterrupted, out)
    shutil.rmtree(out / "nope" / "seed1")
    shutil.rmtree(out / FIGURES)
    for name in FILES:
        (out / name).unlink()
    script = textwrap.dedent(f"""
        import sys
        sys.path.insert(0, {str(REPO_ROOT)!r})
        from mathpe_jax.sweep.plan import PlannedRun
        from tests.helpers_run import SLOWED_MAIN
        from tools.compare import main
        PlannedRun.command = lambda self: [sys.executable, "-c", SLOWED_MAIN, *self.arguments()]
        sys.exit(main({compare(out)[2:]!r}))
    """)
    sweep = subprocess.Popen([sys.executable, "-c", script], cwd=REPO_ROOT, env=_env(), stdout=subprocess.PIPE,
                             stderr=subprocess.PIPE, text=True, start_new_session=True)
    while not any((d / "checkpoints" / "10").exists() and not (d / "results.json").exists() for d in out.glob("*/seed*")):
        assert sweep.poll() is None, "no run reached its first checkpoint"
        time.sleep(0.2)
    sweep.send_signal(signal.SIGINT)
    _, err = sweep.communicate(timeout=600)
    assert sweep.returncode == 143, err[-2000:]
    assert "rerun the same command to resume" in err
    assert re.search(r"^nope/seed1: stopped with a checkpoint at step [1-9]\d*$", err, re.M), err[-2000:]
    assert not (out / STATS_JSON).exists()
    again = subprocess.run(compare(out), cwd=REPO_ROOT, env=_env(), capture_output=True, text=True, timeout=1800, check=False)
    assert again.returncode == 0, again.stderr[-3000:]
    assert "finished before, skipped" in again.stderr
    assert json.loads((out / STATS_JSON).read_text()) == json.loads((uninterrupted / STATS_JSON).read_text())
