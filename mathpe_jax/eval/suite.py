"""Everything ``--mode=eval`` (and the end of training) measures on a model.

``evaluate`` returns the ``eval`` entry of results.json and writes, in ``out_dir``,
``predictions.jsonl`` (one graded completion per line, see ``grading.prediction.Prediction``), attention
heatmaps under ``attention/`` and, for a task with robustness variants (GSM8K),
``robustness_predictions.jsonl`` (the perturbed problems' completions, ids suffixed with the
variant). The task (``EvalSpec.task``) supplies the test problems, prompts, grading and length
buckets; this module never asks for a task by name.

A synthetic task reports accuracy in and out of the training length range and per operand length
(``eval.lengths``: with overlap with training and digit scores per length, and an operand-length
grid for a task trained on unequal operands); a text dataset (the first ``limit`` test problems) reports accuracy
per problem-length tertile of question tokens and, where the task has them, robustness. Both add
the pooled accuracy, truncation rate, error classes, step statistics, attention statistics and
efficiency figures.
"""

from __future__ import annotations

import dataclasses
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import jax
from absl import logging

from mathpe_jax.build import parameter_count
from mathpe_jax.data.prompts import encode_prompt
from mathpe_jax.data.tasks.buckets import tertile_edges
from mathpe_jax.data.tasks.dataset import DatasetTask
from mathpe_jax.data.tasks.synthetic import SyntheticTask
from mathpe_jax.data.tokenizer import Tokenizer
from mathpe_jax.eval.attention.probe import analyse_attention, spread
from mathpe_jax.eval.efficiency import efficiency_report
from mathpe_jax.eval.generation import DecodeTiming, Generation, generate
from mathpe_jax.eval.lengths import accuracy_by, length_report, operand_grid
from mathpe_jax.eval.metrics import summarize, write_predictions
from mathpe_jax.eval.robustness.report import make_variants, robustness_report
from mathpe_jax.eval.spec import EvalSpec
from mathpe_jax.grading.prediction import Completion, Prediction
from mathpe_jax.model.transformer import Decoder
from mathpe_jax.progress import format_seconds
from mathpe_jax.run.layout import GRID_PREDICTIONS, PREDICTIONS, ROBUSTNESS_PREDICTIONS

__all__ = ["ATTENTION_EXAMPLES", "EvalSpec", "evaluate"]

# Examples whose attention is analysed, evenly spread over the evaluation set.
ATTENTION_EXAMPLES = 8


def evaluate(model: Decoder, tokenizer: Tokenizer, spec: EvalSpec, out_dir: Path, run_dir: Path | None = None) -> dict[str, Any]:
    """The ``eval`` entry of results.json for ``spec.task``; writes the per-problem files to
    ``out_dir`` (chief only) and reads the training figures of ``run_dir`` (default: ``out_dir``)."""
    run_dir = run_dir or out_dir
    if spec.task.kind == "synthetic":
        return _evaluate_synthetic(model, tokenizer, spec, out_dir, run_dir)
    return {spec.task.name: _evaluate_dataset(model, tokenizer, spec, out_dir, run_dir)}


def _starts_with_bos(tokenizer: Tokenizer, prompts: Sequence[Sequence[int]]) -> bool:
    """Whether every prompt's first key is BOS (attention statistics treat that key apart)."""
    return tokenizer.bos_id is not None and bool(prompts) and all(p[:1] == [tokenizer.bos_id] for p in prompts)


def _chief() -> bool:
    return jax.process_index() == 0


def _common_metrics(
    model: Decoder,
    tokenizer: Tokenizer,
    out_dir: Path,
    run_dir: Path,
    sequences: Sequence[Sequence[int]],
    predictions: Sequence[Prediction],
    timing: DecodeTiming,
    *,
    first_key_is_bos: bool,
    reasoning: bool,
) -> dict[str, Any]:
    """Pooled accuracy, error classes and steps; attention on a few of ``sequences`` (prompt and
    graded completion ids, one per prediction); efficiency."""
    chosen = spread(len(sequences), ATTENTION_EXAMPLES)
    attention = analyse_attention(
        model,
        tokenizer,
        [sequences[i] for i in chosen],
        [predictions[i].id for i in chosen],
        out_dir,
        first_key_is_bos=first_key_is_bos,
        write=_chief(),
    )
    return {
        **summarize(predictions, reasoning=reasoning),
        "attention": attention,
        "efficiency": efficiency_report(parameter_count(model), timing, run_dir),
    }


def _evaluate_synthetic(model: Decoder, tokenizer: Tokenizer, spec: EvalSpec, out_dir: Path, run_dir: Path) -> dict[str, Any]:
    """Every length's fixed test set and, where the task has one, every operand-grid cell's,
    decoded together; each answer gets the budget its own set had alone (longest target + 2
    tokens), so a longer shared budget changes no verdict. The pooled figures and the length
    report cover the per-length sets; the grid (``grid``) is reported apart, its predictions in
    ``grid_predictions.jsonl``."""
    task: SyntheticTask = spec.task
    lengths = task.eval_lengths()
    sets = [(f"{task.name}/{n}", task.test_examples(n, spec.examples_per_length)) for n in lengths]
    pairs = task.grid_pairs()
    sets += [(f"{task.name}/{a}x{b}", task.grid_examples(a, b, spec.grid_examples)) for a, b in pairs]
    examples = []
    for prefix, subset in sets:
        budget = max((len(tokenizer.encode(task.target(e))) for e in subset), default=0) + 2
        examples += [(f"{prefix}/{k}", e, budget) for k, e in enumerate(subset)]
    overlap = {n: task.overlap(n) for n in lengths}
    if not examples:
        return length_report([], lengths, task.train_lengths, overlap, task.digit_answers)
    texts = [task.prompt(e.prompt, spec.prompt_template) for _, e, _ in examples]
    prompts = [encode_prompt(tokenizer, text, template=spec.prompt_template, bos=task.bos) for text in texts]
    generation = generate(
        model,
        prompts,
        max_new_tokens=max(budget for _, _, budget in examples),
        eos_id=tokenizer.eos_id,
        pad_id=tokenizer.pad_id,
        batch_size=min(spec.batch_size, len(prompts)),
        label=f"{task.name} eval",
    )
    completions, sequences = [], []
    for (problem_id, example, budget), text, prompt, ids in zip(examples, texts, prompts, generation.completions):
        ids = ids[:budget]
        sequences.append(prompt + ids)
        completions.append(
            Completion(
                problem_id=problem_id,
                prompt=text,
                gold=task.target(example),
                completion=tokenizer.decode(ids),
                completion_tokens=len(ids),
                ended=ids[-1:] == [tokenizer.eos_id],
                length=example.length,
                length_bucket=task.length_bucket(example.length),
            )
        )
    graded = task.grade(completions)
    split = len(lengths) * spec.examples_per_length
    predictions, grid_predictions = graded[:split], graded[split:]
    if _chief():
        write_predictions(out_dir / PREDICTIONS, predictions)
        if pairs:
            write_predictions(out_dir / GRID_PREDICTIONS, grid_predictions)
    result = length_report(predictions, lengths, task.train_lengths, overlap, task.digit_answers)
    if pairs:
        operands = [e.operands for _, e, _ in examples[split:]]
        result["grid"] = operand_grid(grid_predictions, operands, pairs)
    result |= _common_metrics(
        model, tokenizer, out_dir, run_dir, sequences[:split], predictions, generation.timing,
        first_key_is_bos=_starts_with_bos(tokenizer, prompts), reasoning=task.step_answers,
    )
    result["positions"] = _position_coverage(model, tokenizer, task, examples[:split], prompts[:split],
                                             spec.trained_positions)
    _log_headline(task.name, result)
    return result


def _position_coverage(
    model: Decoder, tokenizer: Tokenizer, task: SyntheticTask, examples, prompts, trained_positions: int = 0
) -> dict[str, Any]:
    """How far training reached into the PE, against how far evaluation goes: ``trained`` and
    ``evaluated`` are the longest full sequences (prompt, answer, EOS) in tokens of the training
    lengths and of all evaluated lengths, measured on the test sets (the training distribution at
    the longest training length produces sequences as long), and the PE's own ``coverage`` names
    what lies between. Randomized training positions reach ``trained_positions`` whatever the
    sequence lengths: training then counts as that long."""
    sizes = [(e.length, len(p) + len(tokenizer.encode(task.target(e))) + 1) for (_, e, _), p in zip(examples, prompts)]
    if not sizes:
        return {}
    trained = max((n for length, n in sizes if length <= task.train_lengths[1]), default=0)
    trained = max(trained, trained_positions)
    evaluated = max(n for _, n in sizes)
    return {"trained": trained, "evaluated": evaluated, **model.pe.coverage(trained, evaluated)}


@dataclasses.dataclass(frozen=True)
class _Problem:
    """What is decoded and graded for one text problem (an original or a robustness variant)."""

    id: str
    question: str
    gold: str
    prompt: str
    prompt_ids: list[int]


def _text_problems(tokenizer: Tokenizer, spec: EvalSpec, items: Sequence[tuple[str, str, str]]) -> list[_Problem]:
    """``(id, question, gold)`` triples in the spec's prompt template, encoded by ``encode_prompt``."""
    task, template = spec.task, spec.prompt_template
    out = []
    for problem_id, question, gold in items:
        prompt = task.prompt(question, template)
        ids = encode_prompt(tokenizer, prompt, template=template, bos=task.bos)
        out.append(_Problem(problem_id, question, gold, prompt, ids))
    return out


def _decode_and_grade(
    model: Decoder,
    tokenizer: Tokenizer,
    spec: EvalSpec,
    problems: Sequence[_Problem],
    *,
    batch_size: int,
    prompt_len: int,
    bucket: Callable[[int], str],
    label: str,
) -> tuple[Generation, list[Prediction]]:
    """Greedy completions of ``problems`` at the shared shape (``batch_size`` rows of
    ``prompt_len`` tokens), graded, with each problem's question length put in its ``bucket``."""
    generation = generate(
        model,
        [p.prompt_ids for p in problems],
        max_new_tokens=spec.max_new_tokens,
        eos_id=tokenizer.eos_id,
        pad_id=tokenizer.pad_id,
        batch_size=batch_size,
        prompt_len=prompt_len,
        label=label,
    )
    completions = []
    for problem, ids in zip(problems, generation.completions):
        length = len(tokenizer.encode(problem.question))
        completions.append(
            Completion(
                problem_id=problem.id,
                prompt=problem.prompt,
                gold=problem.gold,
                completion=tokenizer.decode(ids),
                completion_tokens=len(ids),
                ended=ids[-1:] == [tokenizer.eos_id],
                length=length,
                length_bucket=bucket(length),
            )
        )
    started = time.monotonic()
    predictions = spec.task.grade(completions)
    logging.info("%s: graded %d completions in %s", label, len(predictions), format_seconds(time.monotonic() - started))
    return generation, predictions


def _evaluate_dataset(model: Decoder, tokenizer: Tokenizer, spec: EvalSpec, out_dir: Path, run_dir: Path) -> dict[str, Any]:
    """The first ``spec.limit`` test problems (all when 0) and, where the task has them, their
    robustness variants, all decoded at one prompt length so the model compiles once."""
    task: DatasetTask = spec.task
    source = task.problems("test", spec.limit)
    originals = _text_problems(tokenizer, spec, [(p.id, p.question, p.answer) for p in source])
    variants = make_variants(source, spec.seed) if task.robustness else {}
    changed = {
        name: _text_problems(tokenizer, spec, [(f"{source[v.index].id}#{name}", v.question, v.gold) for v in items])
        for name, items in variants.items()
    }
    # One compiled shape for every group: the longest prompt, and the originals' batch size.
    shape = {
        "prompt_len": max(len(p.prompt_ids) for group in (originals, *changed.values()) for p in group),
        "batch_size": min(spec.batch_size, len(originals)),
    }
    edges = tertile_edges([len(tokenizer.encode(p.question)) for p in originals])

    def bucket(length: int) -> str:
        return task.length_bucket(length, edges)

    label = f"{task.name} eval"
    generation, predictions = _decode_and_grade(model, tokenizer, spec, originals, **shape, bucket=bucket, label=label)
    if _chief():
        write_predictions(out_dir / PREDICTIONS, predictions)
    sequences = [p.prompt_ids + ids for p, ids in zip(originals, generation.completions)]
    result = _common_metrics(
        model, tokenizer, out_dir, run_dir, sequences, predictions, generation.timing,
        first_key_is_bos=_starts_with_bos(tokenizer, [p.prompt_ids for p in originals]), reasoning=task.step_answers,
    )
    result["by_length_bucket"] = {"unit": "question tokens", "edges": list(edges), **accuracy_by(predictions)}
    if variants:
        graded: dict[str, list[Prediction]] = {}
        for name, group in changed.items():
            graded[name] = []
            if group:
                label = f"{task.name} {name}"
                _, graded[name] = _decode_and_grade(model, tokenizer, spec, group, **shape, bucket=bucket, label=label)
        result["robustness"] = robustness_report(predictions, variants, graded)
        if _chief():
            write_predictions(out_dir / ROBUSTNESS_PREDICTIONS, [p for group in graded.values() for p in group])
    _log_headline(task.name, result)
    return result


def _log_headline(name: str, result: dict[str, Any]) -> None:
    logging.info(
        "%s: exact match %s, symbolic accuracy %s (n=%d); error classes %s",
        name, result["exact_match"], result["symbolic_accuracy"], result["n"], result["error_classes"],
    )
