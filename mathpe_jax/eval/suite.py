"""Everything ``--mode=eval`` (and the end of training) measures on a run.

``evaluate_run`` returns the ``eval`` entry of results.json and writes, in the run directory,
``predictions.jsonl`` (one graded completion per line, see ``predictions.Prediction``), attention
heatmaps under ``attention/`` and, for GSM8K, ``robustness_predictions.jsonl`` (the perturbed
problems' completions, ids suffixed with the variant).

A synthetic task reports accuracy in and out of the training length range and per operand length
(``lengths``); a text dataset (GSM8K, MATH: the first ``eval.limit`` test problems)
reports accuracy per problem-length tertile of question tokens and, for GSM8K, robustness. Both add
the pooled accuracy, truncation rate, error classes, step statistics, attention statistics and
efficiency figures.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import jax
from absl import logging
from ml_collections import ConfigDict

from mathpe_jax.data.synthetic import Example, eval_examples
from mathpe_jax.data.tokenizer import Tokenizer
from mathpe_jax.eval.attention.probe import analyse_attention, spread
from mathpe_jax.eval.efficiency import efficiency_report
from mathpe_jax.eval.generation import DecodeTiming, Generation, generate
from mathpe_jax.eval.lengths import accuracy_by, length_bucket, length_group, length_report, tertile_edges
from mathpe_jax.eval.predictions import Prediction, grade_text, summarize, write_predictions
from mathpe_jax.eval.robustness.report import make_variants, robustness_report
from mathpe_jax.eval.synthetic_eval import STEP_TASKS, grade_synthetic
from mathpe_jax.experiment import is_synthetic, parameter_count
from mathpe_jax.model.transformer import Decoder
from mathpe_jax.progress import Progress

__all__ = ["ATTENTION_EXAMPLES", "PREDICTIONS", "ROBUSTNESS_PREDICTIONS", "evaluate_run"]

PREDICTIONS = "predictions.jsonl"
ROBUSTNESS_PREDICTIONS = "robustness_predictions.jsonl"
# Examples whose attention is analysed, evenly spread over the evaluation set.
ATTENTION_EXAMPLES = 8


def evaluate_run(config: ConfigDict, model: Decoder, tokenizer: Tokenizer, workdir: Path) -> dict[str, Any]:
    """The ``eval`` entry of results.json for the run's task; writes the per-problem files (chief only)."""
    if is_synthetic(config):
        return _evaluate_synthetic(config, model, tokenizer, workdir)
    return {config.task.name: _evaluate_dataset(config, model, tokenizer, workdir)}


def _chief() -> bool:
    return jax.process_index() == 0


def _common_metrics(
    model: Decoder,
    tokenizer: Tokenizer,
    workdir: Path,
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
        workdir,
        first_key_is_bos=first_key_is_bos,
        write=_chief(),
    )
    return {
        **summarize(predictions, reasoning=reasoning),
        "attention": attention,
        "efficiency": efficiency_report(parameter_count(model), timing, workdir),
    }


def _evaluate_synthetic(config: ConfigDict, model: Decoder, tokenizer: Tokenizer, workdir: Path) -> dict[str, Any]:
    """Every length's fixed test set, decoded together; each answer gets the budget its length had
    alone (longest target + 2 tokens), so a longer shared budget changes no verdict."""
    task = config.task
    train_lengths = tuple(task.train_lengths)
    lengths = sorted({*range(train_lengths[0], train_lengths[1] + 1), *task.test_lengths})
    examples: list[tuple[str, Example, int]] = []
    for n in lengths:
        subset = eval_examples(task.name, n, config.eval.examples_per_length, config.seed, task.reverse)
        budget = max((len(tokenizer.encode(e.answer)) for e in subset), default=0) + 2
        examples += [(f"{task.name}/{n}/{k}", e, budget) for k, e in enumerate(subset)]
    if not examples:
        return length_report([], lengths, train_lengths)
    head = [tokenizer.bos_id] if task.bos else []
    prompts = [head + tokenizer.encode(e.prompt) for _, e, _ in examples]
    generation = generate(
        model,
        prompts,
        max_new_tokens=max(budget for _, _, budget in examples),
        eos_id=tokenizer.eos_id,
        pad_id=tokenizer.pad_id,
        batch_size=min(config.eval.batch_size, len(prompts)),
        label=f"{task.name} eval",
    )
    predictions, sequences = [], []
    for (problem_id, example, budget), prompt, ids in zip(examples, prompts, generation.completions):
        ids = ids[:budget]
        sequences.append(prompt + ids)
        predictions.append(
            grade_synthetic(
                problem_id=problem_id,
                example=example,
                completion=tokenizer.decode(ids),
                completion_tokens=len(ids),
                ended=ids[-1:] == [tokenizer.eos_id],
                task=task.name,
                reverse=task.reverse,
                length_bucket=length_group(example.length, train_lengths),
            )
        )
    if _chief():
        write_predictions(workdir / PREDICTIONS, predictions)
    result = length_report(predictions, lengths, train_lengths)
    result |= _common_metrics(
        model, tokenizer, workdir, sequences, predictions, generation.timing,
        first_key_is_bos=bool(task.bos), reasoning=task.name in STEP_TASKS,
    )
    _log_headline(task.name, result)
    return result


def _text_bos(config: ConfigDict, tokenizer: Tokenizer) -> bool:
    """Prompts start with BOS when the run asks for it and the tokenizer has one (Qwen2 has none)."""
    return bool(config.task.bos) and tokenizer.bos_id is not None


@dataclasses.dataclass(frozen=True)
class _Problem:
    """What is decoded and graded for one text problem (an original or a robustness variant)."""

    id: str
    question: str
    gold: str
    prompt: str
    prompt_ids: list[int]


def _text_problems(
    config: ConfigDict, tokenizer: Tokenizer, items: Sequence[tuple[str, str, str]]
) -> list[_Problem]:
    """``(id, question, gold)`` triples prompted with ``task.template`` (BOS first when
    ``task.bos`` is set and the tokenizer has one)."""
    from mathpe_jax.data.prompts import format_prompt

    head = [tokenizer.bos_id] if _text_bos(config, tokenizer) else []
    out = []
    for problem_id, question, gold in items:
        prompt = format_prompt(question, config.task.template, config.task.name)
        out.append(_Problem(problem_id, question, gold, prompt, head + tokenizer.encode(prompt)))
    return out


def _decode_and_grade(
    config: ConfigDict,
    model: Decoder,
    tokenizer: Tokenizer,
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
        max_new_tokens=config.eval.max_new_tokens,
        eos_id=tokenizer.eos_id,
        pad_id=tokenizer.pad_id,
        batch_size=batch_size,
        prompt_len=prompt_len,
        label=label,
    )
    progress = Progress(f"{label} grading", len(problems))
    predictions = []
    for problem, ids in zip(problems, generation.completions):
        length = len(tokenizer.encode(problem.question))
        predictions.append(
            grade_text(
                problem_id=problem.id,
                prompt=problem.prompt,
                completion=tokenizer.decode(ids),
                completion_tokens=len(ids),
                truncated=ids[-1:] != [tokenizer.eos_id],
                gold=problem.gold,
                dataset=config.task.name,
                length=length,
                length_bucket=bucket(length),
            )
        )
        progress.update(len(predictions))
    return generation, predictions


def _evaluate_dataset(config: ConfigDict, model: Decoder, tokenizer: Tokenizer, workdir: Path) -> dict[str, Any]:
    """The first ``eval.limit`` test problems (all when 0) and, for GSM8K, their robustness
    variants, all decoded at one prompt length so the model compiles once."""
    from mathpe_jax.data.math_datasets import load_problems

    dataset = config.task.name
    source = load_problems(dataset, "test", source=config.task.source or None, limit=config.eval.limit or None)
    originals = _text_problems(config, tokenizer, [(p.id, p.question, p.answer) for p in source])
    variants = make_variants(source, config.seed) if dataset == "gsm8k" else {}
    changed = {
        name: _text_problems(config, tokenizer, [(f"{source[v.index].id}#{name}", v.question, v.gold) for v in items])
        for name, items in variants.items()
    }
    # One compiled shape for every group: the longest prompt, and the originals' batch size.
    shape = {
        "prompt_len": max(len(p.prompt_ids) for group in (originals, *changed.values()) for p in group),
        "batch_size": min(config.eval.batch_size, len(originals)),
    }
    edges = tertile_edges([len(tokenizer.encode(p.question)) for p in originals])

    def bucket(length: int) -> str:
        return length_bucket(length, edges)

    generation, predictions = _decode_and_grade(
        config, model, tokenizer, originals, **shape, bucket=bucket, label=f"{dataset} eval"
    )
    if _chief():
        write_predictions(workdir / PREDICTIONS, predictions)
    sequences = [p.prompt_ids + ids for p, ids in zip(originals, generation.completions)]
    result = _common_metrics(
        model, tokenizer, workdir, sequences, predictions, generation.timing,
        first_key_is_bos=_text_bos(config, tokenizer), reasoning=True,
    )
    result["by_length_bucket"] = {"unit": "question tokens", "edges": list(edges), **accuracy_by(predictions)}
    if variants:
        graded: dict[str, list[Prediction]] = {}
        for name, group in changed.items():
            graded[name] = []
            if group:
                label = f"{dataset} {name}"
                _, graded[name] = _decode_and_grade(config, model, tokenizer, group, **shape, bucket=bucket, label=label)
        result["robustness"] = robustness_report(predictions, variants, graded)
        if _chief():
            write_predictions(workdir / ROBUSTNESS_PREDICTIONS, [p for group in graded.values() for p in group])
    _log_headline(dataset, result)
    return result


def _log_headline(name: str, result: dict[str, Any]) -> None:
    logging.info(
        "%s: exact match %s, symbolic accuracy %s (n=%d); error classes %s",
        name, result["exact_match"], result["symbolic_accuracy"], result["n"], result["error_classes"],
    )
