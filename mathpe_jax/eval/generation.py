"""Greedy decoding of a whole evaluation set, batch by batch, with progress and honest timing.

Every batch is decoded at one shape (same batch size, prompt length and budget), so the model
compiles once; the first batch, which pays for that compilation, is left out of the timing. When
the set fits in one batch, that batch is decoded a second time, now compiled, to be timed.
"""

from __future__ import annotations

import dataclasses
import time
from collections.abc import Sequence

from mathpe_jax.decode import greedy_generate
from mathpe_jax.model.transformer import Decoder
from mathpe_jax.progress import Progress

__all__ = ["DecodeTiming", "Generation", "generate"]


@dataclasses.dataclass(frozen=True)
class DecodeTiming:
    """Wall time of the batches decoded after compilation, and what they produced."""

    seconds: float
    batches: int
    problems: int
    tokens: int  # generated tokens, EOS included, padding rows of the last batch excluded
    batch_size: int


@dataclasses.dataclass(frozen=True)
class Generation:
    """Completion ids per prompt (cut after the first EOS, EOS included) and the timing."""

    completions: list[list[int]]
    timing: DecodeTiming


def generate(
    model: Decoder,
    prompts: Sequence[Sequence[int]],
    *,
    max_new_tokens: int,
    eos_id: int,
    pad_id: int,
    batch_size: int,
    prompt_len: int = 0,
    label: str = "decode",
) -> Generation:
    """Greedy completions of ``prompts``, decoded ``batch_size`` at a time, logging counts and ETA.

    Every batch has exactly ``batch_size`` rows (a short one is filled with copies of its last
    prompt; pass ``min(batch_size, len(prompts))`` to avoid decoding copies of a small set), and
    ``prompt_len`` pads prompts to at least that many tokens, so prompt sets decoded with the same
    ``batch_size``, ``prompt_len`` and ``max_new_tokens`` share one compiled shape.
    """
    if not prompts:
        raise ValueError(f"{label}: nothing to decode")
    prompt_len = max(prompt_len, *(len(p) for p in prompts))
    chunks = [list(prompts[start : start + batch_size]) for start in range(0, len(prompts), batch_size)]

    def decode(chunk: list[Sequence[int]]) -> tuple[list[list[int]], float]:
        filled = chunk + [chunk[-1]] * (batch_size - len(chunk))
        start = time.perf_counter()
        out = greedy_generate(
            model, filled, max_new_tokens=max_new_tokens, eos_id=eos_id, pad_id=pad_id,
            batch_size=batch_size, prompt_len=prompt_len,
        )
        return out[: len(chunk)], time.perf_counter() - start

    completions: list[list[int]] = []
    timed = DecodeTiming(0.0, 0, 0, 0, batch_size)
    progress = Progress(label, len(prompts), "problems decoded", every=0.0)
    for index, chunk in enumerate(chunks):
        out, seconds = decode(chunk)
        completions.extend(out)
        if index > 0:
            timed = _add(timed, seconds, out)
        progress.update(len(completions), timed.seconds / timed.problems if timed.problems else None)
    if timed.batches == 0:
        out, seconds = decode(chunks[0])
        timed = _add(timed, seconds, out)
    return Generation(completions, timed)


def _add(timing: DecodeTiming, seconds: float, out: list[list[int]]) -> DecodeTiming:
    return dataclasses.replace(
        timing,
        seconds=timing.seconds + seconds,
        batches=timing.batches + 1,
        problems=timing.problems + len(out),
        tokens=timing.tokens + sum(len(ids) for ids in out),
    )

