"""``tools/compare.py`` end to end, with real runs: two PEs x two seeds of a tiny model produce
every report file; a sweep interrupted mid-run and rerun ends with the same statistics as one that
was never interrupted; the PDF's pages render and are not blank; the HTML needs no other file."""

from __future__ import annotations

import json
import os
import re
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest

from mathpe_jax.analysis.report import FILES, FIGURES, STATS_JSON
from tests.conftest import REPO_ROOT
from tests.helpers_run import TINY_OVERRIDES


OVERRIDES = [f"--config.{k}={v}" for k, v in {**TINY_OVERRIDES, "train.steps": 30, "train.checkpoint_every": 10}.items()]


def compare(out: Path, *extra: str) -> list[str]:
    return [sys.executable, "tools/compare.py", "--configs", "configs/rope.py", "configs/nope.py", "--seeds", "2",
            "--out", str(out), "--jobs", "2", *OVERRIDES, *extra]


def _env() -> dict[str, str]:
    return {**os.environ, "JAX_PLATFORMS": "cpu"}


@pytest.fixture(scope="module")
def uninterrupted(tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("sweep") / "a"
    done = subprocess.run(compare(out), cwd=REPO_ROOT, env=_env(), capture_output=True, text=True, timeout=900, check=False)
    assert done.returncode == 0, done.stderr[-3000:]
    assert "report:" in done.stdout
    return out


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


def test_html_is_self_contained(uninterrupted):
    page = (uninterrupted / "report.html").read_text()
    assert page.count("data:image/png;base64,") >= 6
    assert not re.search(r"""(src|href)=['"](?!data:)""", page)
    assert "python tools/compare.py" in page and "nope vs rope" in page


def test_pdf_pages_render_and_are_not_blank(uninterrupted):
    pdfium = pytest.importorskip("pypdfium2")
    document = pdfium.PdfDocument(str(uninterrupted / "report.pdf"))
    assert len(document) >= 4
    for index in range(len(document)):
        pixels = np.asarray(document[index].render(scale=0.5).to_pil().convert("L"))
        assert pixels.size and (pixels < 200).mean() > 0.002, f"page {index + 1} is blank"


def test_an_interrupted_sweep_rerun_gives_the_same_report(uninterrupted, tmp_path):
    out = tmp_path / "b"
    sweep = subprocess.Popen(compare(out), cwd=REPO_ROOT, env=_env(), stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                             text=True, start_new_session=True)
    deadline = time.monotonic() + 600
    while not any((d / "checkpoints" / "10").exists() and not (d / "results.json").exists() for d in out.glob("*/seed*")):
        assert sweep.poll() is None and time.monotonic() < deadline, "no run reached its first checkpoint"
        time.sleep(0.2)
    sweep.send_signal(signal.SIGINT)
    _, err = sweep.communicate(timeout=300)
    assert sweep.returncode == 143, err[-2000:]
    assert "rerun the same command to resume" in err
    assert not (out / STATS_JSON).exists()
    again = subprocess.run(compare(out), cwd=REPO_ROOT, env=_env(), capture_output=True, text=True, timeout=900, check=False)
    assert again.returncode == 0, again.stderr[-3000:]
    assert "finished before, skipped" in again.stderr or "started (partial)" in again.stderr
    assert json.loads((out / STATS_JSON).read_text()) == json.loads((uninterrupted / STATS_JSON).read_text())
