"""The grading check of ``tools/bench.py grading``: how right, how fast and how steady the grader
is, side by side with plain math-verify.

labels: verdicts on the human-labelled pairs in ``tests/grading/data`` (final answers through
``compare_answers``, whole completions through ``grade_many``), against math-verify's defaults
(``verify(parse(gold), parse(pred))``). Those defaults also read plain expressions with
``sympy.parse_expr``, which evaluates Python, so the peer only ever sees these trusted files.
throughput: answers per second grading MATH completions (the training split's reference solutions,
half against their own answer and half against another problem's, so half need the parser): our
``grade_many`` with one helper process and with the default pool, and math-verify in one process.
load: the same calls made quietly and then from ``threads`` threads while ``hogs`` CPU-bound
processes run, on fresh helpers: how many verdicts differ and the slowest call against its budget.
"""

from __future__ import annotations

import json
import logging
import subprocess
import sys
import time
from collections.abc import Callable, Mapping
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

from mathpe_jax.data.math_datasets import default_data_dir
from mathpe_jax.grading.equivalence import compare_answers, fresh_helpers, grade_many

MODES = ("labels", "throughput", "load")
LABELS = Path(__file__).resolve().parent.parent / "tests" / "grading" / "data"

Log = Callable[[str], None]


def _math_verify(gold_text: str, pred_text: str) -> bool:
    """Plain math-verify, default configuration; an exception counts as a mismatch."""
    from math_verify import parse, verify

    try:
        return bool(verify(parse(gold_text), parse(pred_text)))
    except Exception:  # noqa: BLE001 - the peer's failure is its verdict
        return False


def _rows(path: Path) -> list[dict]:
    return [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines() if line.strip()]


def _ours(rows: list[dict], answers: bool) -> list[bool]:
    if answers:
        with ThreadPoolExecutor(max_workers=4) as threads:
            return list(threads.map(lambda r: compare_answers(r["pred"], r["gold"]) == "correct", rows))
    verdicts = [False] * len(rows)
    for dataset in sorted({r["dataset"] for r in rows}):
        picked = [i for i, r in enumerate(rows) if r["dataset"] == dataset]
        results = grade_many([rows[i]["completion"] for i in picked], [rows[i]["gold"] for i in picked], dataset)
        for i, result in zip(picked, results):
            verdicts[i] = result.symbolic_match
    return verdicts


def _peer(rows: list[dict], answers: bool) -> list[bool]:
    if answers:
        return [
            _math_verify(f"${r['gold']}$", r["pred"] if "\\boxed" in r["pred"] else f"${r['pred']}$") for r in rows
        ]
    return [_math_verify(f"${r['gold']}$", r["completion"]) for r in rows]


def labels(show_misses: bool, log: Log = print) -> dict[str, Any]:
    """Lines whose verdict equals the human label, per file and grader."""
    report: dict[str, Any] = {}
    for path in sorted(LABELS.glob("*.jsonl")):
        rows, answers = _rows(path), path.stem.endswith("_answers")
        report[path.name] = {"lines": len(rows)}
        for name, grader in (("mathpe_jax", _ours), ("math-verify", _peer)):
            verdicts = grader(rows, answers)
            misses = [(i, r) for i, (r, v) in enumerate(zip(rows, verdicts), 1) if v != r["expected"]]
            report[path.name][name] = len(rows) - len(misses)
            log(f"{path.name}: {name} {len(rows) - len(misses)}/{len(rows)}")
            if show_misses:
                for i, r in misses:
                    shown = {k: v for k, v in r.items() if k not in ("note",)}
                    log(f"  line {i} ({r['note']}): {json.dumps(shown, ensure_ascii=False)[:240]}")
    return report


def _math_workload(n: int) -> tuple[list[str], list[str]]:
    """``n`` (completion, gold) pairs: reference solutions, every other one against the next
    problem's answer."""
    rows = _rows(default_data_dir() / "math" / "train.jsonl")[:n]
    completions = [r["solution"] for r in rows]
    golds = [r["answer"] if i % 2 == 0 else rows[(i + 1) % len(rows)]["answer"] for i, r in enumerate(rows)]
    return completions, golds


def _rate(label: str, n: int, run: Callable[[], object], log: Log) -> float:
    start = time.monotonic()
    run()
    seconds = time.monotonic() - start
    log(f"{label}: {n} answers in {seconds:.1f} s, {n / seconds:,.0f} answers/s")
    return n / seconds


def throughput(n: int, peer_n: int, log: Log = print) -> dict[str, Any]:
    """Answers per second of ``grade_many`` (one helper, the pool) on ``n`` MATH completions and of
    math-verify on the first ``peer_n``."""
    completions, golds = _math_workload(n)
    report: dict[str, Any] = {"n": len(completions), "peer_n": min(peer_n, len(completions))}
    for name, size in (("one_helper", 1), ("pool", None)):
        with fresh_helpers(size) as helpers:
            report[f"{name}_size"] = helpers.size
            report[f"{name}_answers_per_s"] = _rate(
                f"mathpe_jax grade_many, {helpers.size} helper(s)", len(completions),
                lambda: grade_many(completions, golds, "math"), log,
            )
    k = report["peer_n"]
    report["math_verify_answers_per_s"] = _rate(
        "math-verify, one process", k,
        lambda: [_math_verify(f"${g}$", c) for c, g in zip(completions[:k], golds[:k])], log,
    )
    report["pool_over_math_verify"] = report["pool_answers_per_s"] / report["math_verify_answers_per_s"]
    return report


def load(threads: int, hogs: int, budget: float, log: Log = print) -> dict[str, Any]:
    """Verdicts of ``compare_answers`` made quietly, then from ``threads`` threads beside ``hogs``
    busy processes: how many differ, and the slowest call against ``budget`` CPU seconds."""
    answers = [r["answer"] for r in _rows(default_data_dir() / "math" / "test.jsonl")]
    pairs = [(answers[i], answers[i + 1]) for i in range(96)] + [("\\frac{1}{2}", "0.5"), ("x+1", "1+x")] * 16
    quiet = [compare_answers(p, g, timeout_s=budget) for p, g in pairs]

    def timed(pair: tuple[str, str]) -> tuple[str, float]:
        start = time.monotonic()
        status = compare_answers(*pair, timeout_s=budget)
        return status, time.monotonic() - start

    hog_processes = [subprocess.Popen([sys.executable, "-c", "while True: pass"]) for _ in range(hogs)]
    try:
        with fresh_helpers(), ThreadPoolExecutor(max_workers=threads) as pool:
            loaded = list(pool.map(timed, pairs))
    finally:
        for hog in hog_processes:
            hog.kill()
            hog.wait()
    seconds = sorted(s for _, s in loaded)
    report = {
        "calls": len(pairs),
        "threads": threads,
        "hogs": hogs,
        "budget_s": budget,
        "verdicts_differing": sum(q != status for q, (status, _) in zip(quiet, loaded)),
        "timed_out": sum(status == "timed out" for status, _ in loaded),
        "median_call_s": seconds[len(seconds) // 2],
        "slowest_call_s": seconds[-1],
    }
    log(f"load: {report['verdicts_differing']} of {len(pairs)} verdicts differ from the quiet ones; "
        f"slowest call {report['slowest_call_s']:.2f} s (budget {budget:g} s)")
    return report


def check_spec(spec: Mapping[str, Any]) -> None:
    """A mode and sizes the check can run; raises ValueError naming the flag."""
    if spec["mode"] not in MODES:
        raise ValueError(f"grading needs one of {', '.join(MODES)}, got {spec['mode']!r}")
    for key in ("n", "peer_n", "threads"):
        if spec[key] < 1:
            raise ValueError(f"--{key} must be >= 1, got {spec[key]}")
    if spec["hogs"] < 0:
        raise ValueError(f"--hogs must be >= 0, got {spec['hogs']}")
    if spec["budget"] <= 0:
        raise ValueError(f"--budget must be > 0, got {spec['budget']}")


def run(spec: Mapping[str, Any], log: Log = print) -> dict[str, Any]:
    """The report of ``spec["mode"]`` (``labels``, ``throughput`` or ``load``) with the sizes of
    ``spec``: ``show_misses``, ``n``, ``peer_n``, ``threads``, ``hogs``, ``budget``."""
    check_spec(spec)
    logging.getLogger("math_verify").setLevel(logging.ERROR)
    mode = spec["mode"]
    if mode == "labels":
        report = labels(spec["show_misses"], log)
    elif mode == "throughput":
        report = throughput(spec["n"], spec["peer_n"], log)
    else:
        report = load(spec["threads"], spec["hogs"], spec["budget"], log)
    return {"mode": mode, **report}
