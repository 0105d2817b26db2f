"""A served model: a loaded checkpoint under a name, with what the API does to it.

The API never calls the model directly: prompts go through ``solve.build_prompt`` (the template
and BOS the model was trained with), budgets through ``solve.check_budget``, completions through
``solve.read_completion``, and a gold answer is graded by the model's own task, exactly as
evaluation grades it. Decoding goes through the model's ``DecodeQueue``.
"""

from __future__ import annotations

import dataclasses
import functools
from collections.abc import Sequence
from typing import Any

import numpy as np
from flax import nnx

from mathpe_jax.build import parameter_count
from mathpe_jax.decode import greedy_generate_split
from mathpe_jax.eval.attention.heatmaps import token_labels
from mathpe_jax.eval.attention.probe import attention_probs
from mathpe_jax.grading.prediction import Completion
from mathpe_jax.inference import Loaded, load_checkpoint
from mathpe_jax.serve.batcher import DecodeQueue
from mathpe_jax.serve.errors import RequestError
from mathpe_jax.serve.redact import public_source
from mathpe_jax.solve import build_prompt, check_budget, read_completion

__all__ = ["DEFAULT_MAX_NEW_TOKENS", "MAX_HEATMAP_TOKENS", "ServedModel", "load_models", "parse_model_spec"]

# The budget of a request that names none, lowered to what the model's positions leave.
DEFAULT_MAX_NEW_TOKENS = 256
# A heatmap shows at most the last this many tokens: larger ones are unreadable and heavy as JSON.
MAX_HEATMAP_TOKENS = 256


@dataclasses.dataclass
class ServedModel:
    """``loaded`` under ``name``; ``source`` is the directory or hub id it came from (responses
    show it through ``redact.public_source``: never an absolute path)."""

    name: str
    source: str
    loaded: Loaded
    queue: DecodeQueue | None = None  # started by ``start``

    def start(self, *, max_batch: int, max_wait_s: float, max_pending: int) -> None:
        """Starts the model's decoding thread (see ``batcher``), replacing one started before."""
        self.stop()
        tokenizer = self.loaded.tokenizer
        graphdef, state = nnx.split(self.loaded.model)  # once: served weights never change

        def decode(prompts: Sequence[Sequence[int]], max_new_tokens: int, rows: int, prompt_len: int) -> list[list[int]]:
            return greedy_generate_split(
                graphdef, state, prompts, max_new_tokens=max_new_tokens, eos_id=tokenizer.eos_id,
                pad_id=tokenizer.pad_id, batch_size=rows, prompt_len=prompt_len,
            )

        self.queue = DecodeQueue(
            self.name, decode, max_len=self.max_len, max_batch=max_batch, max_wait_s=max_wait_s, max_pending=max_pending
        )

    def stop(self) -> None:
        if self.queue is not None:
            self.queue.close()
            self.queue = None

    @property
    def max_len(self) -> int:
        return self.loaded.model.config.max_len

    @functools.cached_property
    def info(self) -> dict[str, Any]:
        """What ``GET /models`` says of the model (counted once: served weights never change)."""
        config = self.loaded.model.config
        return {
            "name": self.name,
            "pe": config.pe_name,
            "parameters": parameter_count(self.loaded.model),
            "source": public_source(self.source),
            "task": self.loaded.task.name,
            "template": self.loaded.task.template,
            "max_len": config.max_len,
            "num_layers": config.num_layers,
            "num_heads": config.num_heads,
            "attention_maps": config.attention_impl == "xla",
        }

    # -- a request ---------------------------------------------------------------------------------
    def prompt(self, problem: str, template: str | None) -> list[int]:
        """The prompt's token ids; a problem the tokenizer or template cannot take names its field."""
        try:
            return build_prompt(problem, self.loaded, template)
        except ValueError as err:
            raise RequestError("template" if template else "problem", f"model {self.name!r}: {err}") from None

    def budget(self, prompt_tokens: int, requested: int | None) -> int:
        """``requested`` new tokens (default: ``DEFAULT_MAX_NEW_TOKENS`` or what the positions
        leave), checked against the model's positions."""
        if prompt_tokens >= self.max_len:
            raise RequestError(
                "problem", f"model {self.name!r}: the prompt has {prompt_tokens} tokens; the model has {self.max_len} positions"
            )
        if requested is None:
            return min(DEFAULT_MAX_NEW_TOKENS, self.max_len - prompt_tokens)
        try:
            check_budget(prompt_tokens, requested, self.max_len)
        except ValueError as err:
            raise RequestError("max_new_tokens", f"model {self.name!r}: {err}") from None
        return requested

    def read(self, completion_ids: list[int]) -> dict[str, Any]:
        """Completion text, extracted answer and whether it ended with EOS."""
        out = read_completion(self.loaded, completion_ids)
        return {"completion": out["completion"], "answer": out["answer"], "finished": out["finished"]}

    def grade(self, problem: str, template: str | None, completion: dict[str, Any], tokens: int, gold: str) -> bool:
        """Whether ``completion`` answers ``problem`` with ``gold``, by the model's own task
        (its symbolic verdict: the one evaluation reports). Blocking: the grader may run a helper."""
        task = self.loaded.task
        (prediction,) = task.grade([
            Completion(
                problem_id="request", prompt=task.prompt(problem, template), gold=gold,
                completion=completion["completion"], completion_tokens=tokens, ended=completion["finished"],
                length=0, length_bucket="",
            )
        ])
        return bool(prediction.symbolic_correct)

    def attention(self, problem: str, completion: str | list[int], template: str | None, layer: int, head: int) -> dict[str, Any]:
        """Attention probabilities of one layer and head over the prompt and ``completion``: text,
        encoded here, or the generated ids themselves (exact: text may not encode back to them).

        Blocking (a forward pass). At most the last ``MAX_HEATMAP_TOKENS`` tokens are returned;
        ``first_token`` is the index of the first one shown.
        """
        config = self.loaded.model.config
        if config.attention_impl != "xla":
            raise RequestError("model", f"model {self.name!r} uses attention_impl={config.attention_impl!r}, which returns no attention maps")
        for field, value, count in (("layer", layer, config.num_layers), ("head", head, config.num_heads)):
            if not 0 <= value < count:
                raise RequestError(field, f"{field}={value} is out of range: model {self.name!r} has {count}")
        tokenizer = self.loaded.tokenizer
        ids = self.prompt(problem, template)
        field = "completion"
        if isinstance(completion, list):
            field = "completion_token_ids"
            vocab = self.loaded.model.config.vocab_size
            bad = [i for i in completion if not 0 <= i < vocab]
            if bad:
                raise RequestError(field, f"token id {bad[0]} is outside the vocabulary of model {self.name!r} ({vocab} ids)")
            ids = ids + completion
        elif completion:
            try:
                ids = ids + tokenizer.encode(completion)
            except ValueError as err:
                raise RequestError(field, f"model {self.name!r}: {err}") from None
        if len(ids) > self.max_len:
            raise RequestError(field, f"model {self.name!r}: {len(ids)} tokens exceed its {self.max_len} positions")
        (probs,) = attention_probs(self.loaded.model, [ids], tokenizer.pad_id)
        first = max(0, len(ids) - MAX_HEATMAP_TOKENS)
        weights = np.asarray(probs[layer, head, first:, first:], np.float64).round(5)
        return {
            "model": self.name, "layer": layer, "head": head, "first_token": first,
            "tokens": token_labels(tokenizer, ids[first:], for_matplotlib=False), "weights": weights.tolist(),
        }


def parse_model_spec(spec: str) -> tuple[str, str]:
    """``NAME=SOURCE`` -> (name, source); a one-line error naming the bad spec."""
    name, sep, source = spec.partition("=")
    name, source = name.strip(), source.strip()
    if not sep or not name or not source:
        raise ValueError(f"--model={spec!r}: expected NAME=DIRECTORY_OR_HUB_ID")
    if not name.replace("-", "").replace("_", "").replace(".", "").isalnum():
        raise ValueError(f"--model={spec!r}: a model name may hold letters, digits, '-', '_' and '.' only")
    return name, source


def load_models(specs: Sequence[str], bases: Sequence[str] = ()) -> list[ServedModel]:
    """Loads every ``NAME=SOURCE`` of ``specs``; ``bases`` holds ``NAME=BASE`` for adapters."""
    parsed = [parse_model_spec(spec) for spec in specs]
    if not parsed:
        raise ValueError("no model to serve: give --model NAME=DIRECTORY at least once")
    names = [name for name, _ in parsed]
    for name in names:
        if names.count(name) > 1:
            raise ValueError(f"--model: the name {name!r} is given twice")
    base_of = dict(parse_model_spec(spec) for spec in bases)
    for name in base_of:
        if name not in names:
            raise ValueError(f"--base={name}=...: no --model is named {name!r}")
    return [ServedModel(name, source, load_checkpoint(source, base_of.get(name))) for name, source in parsed]
