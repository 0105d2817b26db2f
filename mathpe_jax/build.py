"""What a run config turns into: task, tokenizer, model, training batches and trainable set.

Construction only: ``main.py`` wires these pieces (and evaluates with ``eval``), tests build them
directly. A run is either a synthetic task (character tokenizer, fresh model) or a text dataset
with a tokenizer and model that come from a Hugging Face checkpoint (``init.hf_dir``) or are
trained from scratch.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import jax
import numpy as np
from absl import logging
from flax import nnx
from ml_collections import ConfigDict

from mathpe_jax.data.batching import Batch, randomize_positions, sft_batch
from mathpe_jax.data.prompts import encode_prompt, starts_with_bos
from mathpe_jax.data.tasks import Task
from mathpe_jax.data.tasks import make_task as _make_task
from mathpe_jax.data.tokenizer import CharTokenizer, Tokenizer, digit_ids
from mathpe_jax.errors import UserError
from mathpe_jax.model import lora
from mathpe_jax.model.config import ModelConfig
from mathpe_jax.model.transformer import Decoder
from mathpe_jax.parallel.sharding import create_sharded, state_shardings
from mathpe_jax.pe import chosen_pe, pe_class
from mathpe_jax.run.layout import ADAPTER, ADAPTER_PEFT, TOKENIZER_MODEL

# The LoRA adapters' random stream, apart from the shared layers' and the PE's (model.transformer.PE_STREAM).
LORA_STREAM = 2**31 - 2
# Randomized training positions draw from (seed, POSITION_STREAM, step), apart from the task's streams.
POSITION_STREAM = 2**31 - 3


def make_task(config: ConfigDict) -> Task:
    """The run's task, seeded by ``config.seed`` (which fixes its training batches and test sets)."""
    return _make_task(config.task, config.seed)


def pe_options(config: ConfigDict) -> dict[str, Any]:
    """The options of the run's PE (``pe.chosen_pe``)."""
    return chosen_pe(config.model)[1]


def lora_config(config: ConfigDict) -> lora.LoRAConfig | None:
    if not config.lora.rank:
        return None
    c = config.lora
    return lora.LoRAConfig(c.rank, c.alpha, c.dropout, c.target_modules, c.train_pe)


def build_tokenizer(config: ConfigDict, workdir: Path) -> Tokenizer:
    """The checkpoint's tokenizer, the character tokenizer of synthetic tasks (over the task's
    alphabet, a function of the run's config, so a saved run rebuilds its own), or a SentencePiece
    model trained once on the training set and kept in the run directory."""
    if config.init.hf_dir:
        from mathpe_jax.data.hf_tokenizer import HFTokenizer

        return HFTokenizer(config.init.hf_dir)
    task = make_task(config)
    if task.kind == "synthetic":
        return CharTokenizer(task.alphabet)
    from mathpe_jax.data.sentencepiece_tokenizer import SentencePieceTokenizer, train_sentencepiece

    model_file = workdir / TOKENIZER_MODEL
    if not model_file.exists() and jax.process_index() == 0:
        texts = [p.question + "\n" + p.solution for p in task.problems("train")]
        train_sentencepiece(texts, str(model_file.with_suffix("")), config.task.vocab_size)
    _sync("tokenizer")
    return SentencePieceTokenizer(str(model_file))


def _sync(name: str) -> None:
    if jax.process_count() > 1:
        from jax.experimental import multihost_utils

        multihost_utils.sync_global_devices(name)


def build_model(config: ConfigDict, tokenizer: Tokenizer, mesh: jax.sharding.Mesh) -> Decoder:
    """A fresh decoder (seeded by ``config.seed``) or a converted checkpoint, placed on ``mesh``,
    with the run's changes (``adapt_model``)."""
    if config.init.hf_dir:
        from mathpe_jax.convert.load import load_hf

        _check_bos(config, tokenizer)
        model, _, _ = load_hf(config.init.hf_dir, dtype=config.model.dtype, mesh=mesh,
                              param_dtype=checkpoint_param_dtype(config))
        model.config = model.config.replace(digit_ids=digit_ids(tokenizer))
    else:
        model_config = ModelConfig.from_config(config.model.to_dict(), tokenizer.vocab_size, digit_ids(tokenizer))
        model = create_sharded(lambda: Decoder(model_config, rngs=nnx.Rngs(config.seed)), mesh)
    return adapt_model(config, model, mesh)


def adapt_model(config: ConfigDict, model: Decoder, mesh: jax.sharding.Mesh | None = None) -> Decoder:
    """The run's changes to a built model: the config's PE swapped in where the model (a converted
    checkpoint) has another, LoRA adapters added, then the runtime choices (remat, attention kernel,
    a scanned stack, restacking the adapters too). With a ``mesh``, the arrays are placed on it
    again, as stacking and new adapters leave them wherever they were computed. Shared by
    ``build_model`` and the memory planner, which runs it on shapes only."""
    if config.model.pe.name != model.config.pe_name:
        logging.warning(
            "the checkpoint was pretrained with PE %r; swapping in %r (its parameters start fresh)",
            model.config.pe_name, config.model.pe.name,
        )
        model.replace_pe(config.model.pe.name, pe_options(config), nnx.Rngs(config.seed))
    adapters = lora_config(config)
    if adapters is not None:
        # Adapters draw from a stream of their own: nnx.Rngs(config.seed) would hand them the keys
        # that the embedding and the first projections were drawn with.
        # ``lora.dropout`` draws from a stream of its own as well, a function of the seed.
        key = jax.random.fold_in(jax.random.key(config.seed), LORA_STREAM)
        lora_rngs = nnx.Rngs(params=key, dropout=jax.random.fold_in(key, 1))
        lora.apply_lora(model, adapters, rngs=lora_rngs)
    m = config.model
    model.configure(remat=m.remat, attention_impl=m.attention_impl, scan_layers=m.scan_layers)
    if mesh is not None:
        state = nnx.state(model)
        nnx.update(model, jax.device_put(state, state_shardings(state, mesh)))
    return model


def per_layer(model: Decoder) -> Decoder:
    """``model`` with its layers as separate modules (a copy if they are one scanned stack), for
    code that walks modules by layer path: adapter files, PEFT and Hugging Face export."""
    if not model.config.scan_layers:
        return model
    copy = nnx.clone(model)
    copy.configure(scan_layers=False)
    return copy


def checkpoint_param_dtype(config: ConfigDict) -> str:
    """The dtype a checkpoint's weights are loaded in: ``model.param_dtype`` (float32 master
    weights) when they train, the compute dtype when LoRA keeps them frozen (a frozen weight needs
    no master copy: a 7B base is 13.5 GB in bf16 instead of 27 GB)."""
    return config.model.dtype if lora_config(config) is not None else config.model.param_dtype


def _check_bos(config: ConfigDict, tokenizer: Tokenizer) -> None:
    """A PE that reads position from the BOS token (NoPE) cannot run on prompts without one; a
    Hugging Face tokenizer decides its own special tokens, so this is known only once it is loaded."""
    name = config.model.pe.name
    if pe_class(name).requires_bos and not starts_with_bos(tokenizer, template=config.task.template):
        raise UserError(
            f"config.model.pe.name={name!r} needs a BOS token first, and the tokenizer of "
            f"{config.init.hf_dir} adds none to its prompts; choose another PE for this checkpoint"
        )


def trainable(config: ConfigDict):
    """The nnx filter of the variables that train: everything, or the adapters (and PE) under LoRA."""
    adapters = lora_config(config)
    return nnx.Param if adapters is None else lora.trainable_filter(adapters)


def batch_fn(config: ConfigDict, tokenizer: Tokenizer) -> Callable[[int], Batch]:
    """``step -> Batch``: the global batch of that step, the same on every host and every rerun,
    its positions numbered by the ``train.positions`` scheme."""
    batches = _task_batch_fn(config, tokenizer)
    if config.train.positions == "sequential":
        return batches

    def randomized(step: int) -> Batch:
        rng = np.random.default_rng((config.seed, POSITION_STREAM, step))
        return randomize_positions(batches(step), config.model.max_len, rng)

    return randomized


def _task_batch_fn(config: ConfigDict, tokenizer: Tokenizer) -> Callable[[int], Batch]:
    task = make_task(config)
    if task.kind == "synthetic":
        return _synthetic_batch_fn(task, config.train.batch_size, tokenizer)
    from mathpe_jax.data.sft import SFTBatches, sft_examples

    problems = task.problems("train", config.task.train_limit)
    examples = sft_examples(problems, tokenizer, task, max_len=config.task.max_len)
    return SFTBatches(
        examples, config.train.batch_size, config.seed, eos_id=tokenizer.eos_id, pad_id=tokenizer.pad_id,
        length_quantum=config.task.length_quantum,
    )


def _synthetic_batch_fn(task: Task, batch_size: int, tokenizer: Tokenizer) -> Callable[[int], Batch]:
    def make(step: int) -> Batch:
        examples = task.train_examples(batch_size, step)
        return sft_batch(
            [encode_prompt(tokenizer, task.prompt(e.prompt), template=task.template, bos=task.bos) for e in examples],
            [tokenizer.encode(task.target(e)) for e in examples],
            eos_id=tokenizer.eos_id,
            pad_id=tokenizer.pad_id,
        )

    return make


def save_adapters(config: ConfigDict, model: Decoder, workdir: Path) -> None:
    """After LoRA training: the adapter alone (``WORKDIR/adapter``) and, when the PE is the
    checkpoint's own, the same adapter in PEFT format (``WORKDIR/adapter_peft``) for transformers."""
    if lora_config(config) is None or jax.process_index() != 0:
        return
    from mathpe_jax.convert.hf_config import model_config, read_hf_config
    from mathpe_jax.convert.load import resolve
    from mathpe_jax.convert.peft import export_peft

    model = per_layer(model)
    lora.save_adapter(model, workdir / ADAPTER)
    hf_config = read_hf_config(resolve(config.init.hf_dir))
    if model.config.pe_name == model_config(hf_config).pe_name:
        export_peft(model, workdir / ADAPTER_PEFT, hf_config)
    else:
        logging.warning("PE %r has no transformers equivalent: no PEFT adapter written", model.config.pe_name)


def parameter_count(model: nnx.Module) -> int:
    return int(sum(np.prod(x.shape) for x in jax.tree.leaves(nnx.state(model, nnx.Param))))


def describe(config: ConfigDict) -> dict[str, Any]:
    """The identifying fields of results.json; a config's ``caveat`` (e.g. a design confounded by
    base model) travels with every result, so no table built from it can drop the warning."""
    fields = {"config": config.name, "pe": config.model.pe.name, "task": config.task.name}
    if config.get("caveat"):
        fields["caveat"] = config.caveat
    return fields
