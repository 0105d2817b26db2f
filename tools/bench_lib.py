"""Throughput and peak memory of greedy decoding and of a training step: ours against transformers.

Each framework runs in its own fresh Python process (a *worker*), so that one framework's imports
and allocations never show up in the other's figure. A worker imports its framework, records its
resident memory (``baseline_memory_mib``: the cost of the imports alone), loads the model, runs one
untimed warm-up call (compilation for us, lazy initialisation for torch), then the timed calls, and
reports ``peak_memory_mib``: ``ru_maxrss``, the peak resident memory of the whole process, nothing
subtracted. This is host memory, so the figure means what it says on CPU; on an accelerator it
leaves out device memory.

Workers run this file by path (``python tools/bench_lib.py SPEC``), so the transformers process
never imports the ``mathpe_jax`` package, whose ``__init__`` loads flax and jax (about 135 MiB).
For the same reason this module imports only the standard library and numpy at the top; each
worker imports its own framework. It lives in ``tools/``, not in the package: torch, transformers,
tokenizers and peft are the benchmark's business (the ``bench`` extra), not the library's.

Both sides see the same random token ids (same seed), float32 weights and activations, and count
tokens the same way: ``batch * new_tokens`` per generate call, ``batch * seq`` per training step.
"""

from __future__ import annotations

import importlib
import json
import os
import resource
import statistics
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np

FRAMEWORKS = ("mathpe_jax", "hf")
# What each worker imports before it records its baseline memory.
FRAMEWORK_MODULES = {
    "mathpe_jax": ("jax", "optax", "flax.nnx", "mathpe_jax.convert", "mathpe_jax.decode", "mathpe_jax.train.step"),
    "hf": ("torch", "transformers", "peft"),
}
LORA_TARGETS = ("q_proj", "k_proj", "v_proj", "o_proj")
LORA_ALPHA = 16.0  # our LoRAConfig default; peft is given the same so both compute the same update
LEARNING_RATE, WEIGHT_DECAY = 1e-4, 0.01  # torch.optim.AdamW's default decay, set on both sides
# greedy_generate rounds prompt length and budget up to this multiple; other sizes would make us
# decode more tokens than are counted.
LENGTH_QUANTUM = 8


def peak_memory_mib() -> float:
    """Peak resident memory of this process so far (Linux reports ``ru_maxrss`` in KiB)."""
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def random_tokens(vocab: int, batch: int, length: int, seed: int) -> np.ndarray:
    """The token ids ``[batch, length]`` both frameworks are fed (ids 0-2 left out: pad/BOS/EOS)."""
    return np.random.default_rng(seed).integers(3, vocab, size=(batch, length), dtype=np.int32)


def model_summary(hf_dir: str | Path) -> dict[str, int]:
    """Parameter count (from the safetensors headers, nothing loaded), layers, width and vocabulary."""
    from safetensors import safe_open

    params = 0
    for path in sorted(Path(hf_dir).glob("*.safetensors")):
        with safe_open(path, framework="numpy") as reader:
            params += sum(int(np.prod(reader.get_slice(name).get_shape())) for name in reader.keys())
    config = json.loads((Path(hf_dir) / "config.json").read_text())
    return {
        "params": params,
        "layers": config["num_hidden_layers"],
        "width": config["hidden_size"],
        "vocab": config["vocab_size"],
    }


# The tokenizer of make-model: specials first (so pad/BOS/EOS are ids 0-2, as random_tokens assumes),
# then the characters of arithmetic word problems; BPE merges fill the rest of the vocabulary.
SPECIAL_TOKENS = ("<pad>", "<s>", "</s>", "<unk>")
ALPHABET = "0123456789+-*/=().,?%$ abcdefghijklmnopqrstuvwxyz"


def _corpus(seed: int, lines: int = 2000) -> list[str]:
    """Arithmetic sentences to learn BPE merges from: what the benchmarked models are about."""
    rng = np.random.default_rng(seed)
    words = ("what is", "compute", "the sum of", "the product of", "answer", "so the total is", "each", "has")
    out = []
    for _ in range(lines):
        a, b = (int(x) for x in rng.integers(0, 10_000, size=2))
        op = "+-*/"[int(rng.integers(4))]
        out.append(f"{words[int(rng.integers(len(words)))]} {a} {op} {b} = ? answer: {a} {op} {b}.")
    return out


def make_tokenizer(directory: str | Path, vocab: int, seed: int = 0) -> int:
    """Trains a small BPE tokenizer (at most ``vocab`` tokens) and saves it in Hugging Face form.

    ``AutoTokenizer.from_pretrained(directory)`` then loads it, adding BOS as Llama's does; returns
    the number of tokens. The alphabet is fixed so that even a tiny vocabulary covers every digit.
    """
    from tokenizers import Tokenizer, decoders, models, pre_tokenizers, processors, trainers
    from transformers import PreTrainedTokenizerFast

    minimum = len(SPECIAL_TOKENS) + len(ALPHABET) + 1  # the space becomes the Metaspace marker
    if vocab < minimum:
        raise ValueError(f"--vocab={vocab} must be at least {minimum}: the tokenizer's specials and alphabet")
    tokenizer = Tokenizer(models.BPE(unk_token="<unk>"))
    tokenizer.pre_tokenizer = pre_tokenizers.Metaspace()
    tokenizer.decoder = decoders.Metaspace()
    trainer = trainers.BpeTrainer(
        vocab_size=vocab, special_tokens=list(SPECIAL_TOKENS), initial_alphabet=list(ALPHABET.replace(" ", "\u2581"))
    )
    tokenizer.train_from_iterator(_corpus(seed), trainer)
    tokenizer.post_processor = processors.TemplateProcessing(
        single="<s> $A", pair="<s> $A <s> $B", special_tokens=[("<s>", tokenizer.token_to_id("<s>"))]
    )
    PreTrainedTokenizerFast(
        tokenizer_object=tokenizer, bos_token="<s>", eos_token="</s>", pad_token="<pad>", unk_token="<unk>"
    ).save_pretrained(directory)
    return tokenizer.get_vocab_size()


def make_llama(
    directory: str | Path, *, layers: int, width: int, heads: int, kv_heads: int, vocab: int, mlp: int, seed: int = 0
) -> int:
    """Saves a randomly initialised transformers Llama and a BPE tokenizer for it to ``directory``;
    returns the model's parameter count.

    So that benchmarks need no download: throughput and memory do not depend on the weights' values.
    """
    import torch
    from transformers import AutoModelForCausalLM, LlamaConfig

    make_tokenizer(directory, vocab, seed)
    config = LlamaConfig(
        vocab_size=vocab,
        hidden_size=width,
        intermediate_size=mlp,
        num_hidden_layers=layers,
        num_attention_heads=heads,
        num_key_value_heads=kv_heads,
        max_position_embeddings=2048,
        tie_word_embeddings=False,
        pad_token_id=SPECIAL_TOKENS.index("<pad>"),
        bos_token_id=SPECIAL_TOKENS.index("<s>"),
        eos_token_id=SPECIAL_TOKENS.index("</s>"),
    )
    torch.manual_seed(seed)
    model = AutoModelForCausalLM.from_config(config)
    model.save_pretrained(directory)
    return sum(p.numel() for p in model.parameters())


def _timed(fn: Callable[[], Any], repeats: int) -> tuple[float, list[float], Any]:
    """Runs ``fn`` once untimed (warm-up), then ``repeats`` times; warm-up seconds, timings, last result."""
    start = time.perf_counter()
    fn()
    warmup = time.perf_counter() - start
    seconds, result = [], None
    for _ in range(repeats):
        start = time.perf_counter()
        result = fn()
        seconds.append(time.perf_counter() - start)
    return warmup, seconds, result


def _ours_decode(spec: dict[str, Any]) -> dict[str, Any]:
    from mathpe_jax.convert import load_hf
    from mathpe_jax.decode import greedy_generate

    model, cfg, _ = load_hf(spec["hf_dir"], dtype="float32")
    prompts = random_tokens(cfg.vocab_size, spec["batch"], spec["prompt_len"], spec["seed"]).tolist()
    # EOS -1 is never an argmax, so every row decodes exactly new_tokens tokens.
    warmup, seconds, out = _timed(
        lambda: greedy_generate(
            model, prompts, max_new_tokens=spec["new_tokens"], eos_id=-1, pad_id=0, batch_size=spec["batch"]
        ),
        spec["repeats"],
    )
    return {"warmup_seconds": warmup, "seconds": seconds, "new_tokens": [len(row) for row in out]}


def _hf_decode(spec: dict[str, Any]) -> dict[str, Any]:
    import torch
    from transformers import AutoModelForCausalLM

    model = AutoModelForCausalLM.from_pretrained(spec["hf_dir"], dtype=torch.float32).eval()
    ids = torch.as_tensor(random_tokens(model.config.vocab_size, spec["batch"], spec["prompt_len"], spec["seed"]))

    def generate() -> torch.Tensor:
        with torch.inference_mode():
            return model.generate(
                ids,
                attention_mask=torch.ones_like(ids),
                do_sample=False,
                max_new_tokens=spec["new_tokens"],
                min_new_tokens=spec["new_tokens"],
                pad_token_id=0,
            )

    warmup, seconds, out = _timed(generate, spec["repeats"])
    return {"warmup_seconds": warmup, "seconds": seconds, "new_tokens": [out.shape[1] - ids.shape[1]] * len(out)}


def _train_arrays(vocab: int, spec: dict[str, Any]) -> tuple[np.ndarray, np.ndarray]:
    """Inputs and targets ``[batch, seq]``: random ids, loss on every token."""
    ids = random_tokens(vocab, spec["batch"], spec["seq"] + 1, spec["seed"])
    return ids[:, :-1], ids[:, 1:]


def _ours_train(spec: dict[str, Any]) -> dict[str, Any]:
    import jax
    import jax.numpy as jnp
    import optax
    from flax import nnx
    from jax.sharding import NamedSharding, PartitionSpec

    from mathpe_jax.convert import load_hf
    from mathpe_jax.convert.load import default_mesh
    from mathpe_jax.data.batching import Batch
    from mathpe_jax.model.lora import LoRAConfig, apply_lora, trainable_filter
    from mathpe_jax.train.step import TrainState, make_train_step

    model, cfg, _ = load_hf(spec["hf_dir"], dtype="float32")
    trainable: Any = nnx.Param
    if spec["lora_rank"]:
        lora = LoRAConfig(rank=spec["lora_rank"], alpha=LORA_ALPHA)
        apply_lora(model, lora)
        trainable = trainable_filter(lora)
    graphdef, params, rngs, frozen = nnx.split(model, trainable, nnx.RngState, ...)
    del model
    tx = optax.adamw(LEARNING_RATE, weight_decay=WEIGHT_DECAY)
    # Every input on the mesh load_hf placed the weights on, as the step's outputs will be: an input
    # without it (the step counter, the new adapters) would make the second call compile again.
    on_mesh = NamedSharding(default_mesh(), PartitionSpec())
    state = jax.device_put(TrainState(jnp.int32(0), params, tx.init(params), rngs), on_mesh)
    step = jax.jit(make_train_step(graphdef, tx, grad_accum=1), donate_argnums=(0,))
    inputs, targets = _train_arrays(cfg.vocab_size, spec)
    positions = np.broadcast_to(np.arange(spec["seq"], dtype=np.int32), inputs.shape)
    batch = jax.device_put(Batch(inputs, targets, positions, np.ones(inputs.shape, np.float32)), on_mesh)
    losses = []

    def run() -> None:
        nonlocal state
        state, metrics = step(state, frozen, batch)
        losses.append(float(metrics["loss"]))  # float() waits for the step to finish

    warmup, seconds, _ = _timed(run, spec["steps"])
    trainable_params = sum(x.size for x in jax.tree.leaves(state.params))
    return {"warmup_seconds": warmup, "seconds": seconds, "losses": losses, "trainable_params": trainable_params}


def _hf_train(spec: dict[str, Any]) -> dict[str, Any]:
    import torch
    import torch.nn.functional as F
    from peft import LoraConfig, get_peft_model
    from transformers import AutoModelForCausalLM

    model = AutoModelForCausalLM.from_pretrained(spec["hf_dir"], dtype=torch.float32)
    if spec["lora_rank"]:
        lora = LoraConfig(
            r=spec["lora_rank"], lora_alpha=LORA_ALPHA, lora_dropout=0.0, target_modules=list(LORA_TARGETS)
        )
        model = get_peft_model(model, lora)
    model.train()
    trainable = [p for p in model.parameters() if p.requires_grad]
    optimizer = torch.optim.AdamW(trainable, lr=LEARNING_RATE, weight_decay=WEIGHT_DECAY)
    inputs, targets = (torch.as_tensor(a, dtype=torch.long) for a in _train_arrays(model.config.vocab_size, spec))
    losses = []

    def run() -> None:
        logits = model(input_ids=inputs, use_cache=False).logits
        loss = F.cross_entropy(logits.reshape(-1, logits.shape[-1]), targets.reshape(-1))
        loss.backward()
        optimizer.step()
        optimizer.zero_grad(set_to_none=True)
        losses.append(loss.item())

    warmup, seconds, _ = _timed(run, spec["steps"])
    return {
        "warmup_seconds": warmup,
        "seconds": seconds,
        "losses": losses,
        "trainable_params": sum(p.numel() for p in trainable),
    }


WORKERS: dict[tuple[str, str], Callable[[dict[str, Any]], dict[str, Any]]] = {
    ("decode", "mathpe_jax"): _ours_decode,
    ("decode", "hf"): _hf_decode,
    ("train", "mathpe_jax"): _ours_train,
    ("train", "hf"): _hf_train,
}


def worker(spec: dict[str, Any]) -> dict[str, Any]:
    """One framework, one mode, in this (fresh) process: timings, throughput and memory."""
    if spec["framework"] == "hf":
        import torch

        torch.set_num_threads(os.cpu_count() or 1)
    for name in FRAMEWORK_MODULES[spec["framework"]]:
        importlib.import_module(name)
    baseline = peak_memory_mib()
    result = WORKERS[spec["mode"], spec["framework"]](spec)
    if spec["mode"] == "decode" and set(result["new_tokens"]) != {spec["new_tokens"]}:
        raise RuntimeError(f"{spec['framework']} generated {result['new_tokens']} tokens per row, not {spec['new_tokens']}")
    tokens = spec["batch"] * (spec["new_tokens"] if spec["mode"] == "decode" else spec["seq"])
    result.update(
        tokens_per_second=tokens / statistics.median(result["seconds"]),
        peak_memory_mib=peak_memory_mib(),
        baseline_memory_mib=baseline,
    )
    return result


def run_worker(spec: dict[str, Any]) -> dict[str, Any]:
    """``worker(spec)`` in a fresh interpreter; its stderr (progress, warnings) passes through.

    The worker sees this process's import path, so it finds ``mathpe_jax`` wherever we found it.
    """
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(p or os.getcwd() for p in sys.path)}
    done = subprocess.run(
        [sys.executable, __file__, json.dumps(spec)], stdout=subprocess.PIPE, text=True, check=False, env=env
    )
    if done.returncode:
        raise RuntimeError(f"{spec['framework']} {spec['mode']} worker failed with exit code {done.returncode}")
    return json.loads(done.stdout.strip().splitlines()[-1])


def check_sizes(mode: str, spec: dict[str, Any]) -> None:
    """Sizes that both frameworks can run with the same amount of work."""
    sizes = ("batch", "prompt_len", "new_tokens", "repeats") if mode == "decode" else ("batch", "seq", "steps")
    for key in sizes:
        if spec[key] < 1:
            raise ValueError(f"--{key} must be >= 1, got {spec[key]}")
    if mode == "decode":
        for key in ("prompt_len", "new_tokens"):
            if spec[key] % LENGTH_QUANTUM:
                raise ValueError(
                    f"--{key}={spec[key]} must be a multiple of {LENGTH_QUANTUM}: greedy_generate rounds it "
                    "up and would decode tokens that are not counted"
                )
    if mode == "train" and spec["lora_rank"] < 0:
        raise ValueError(f"--lora_rank must be >= 0 (0: full fine-tuning), got {spec['lora_rank']}")


def benchmark(mode: str, spec: dict[str, Any], *, peer: bool, log: Callable[[str], None] = print) -> dict[str, Any]:
    """Runs ours (and the transformers peer) in fresh processes; the report ``tools/bench.py`` prints.

    ``spec`` holds ``hf_dir``, ``batch``, ``seed`` and, for decode, ``prompt_len``, ``new_tokens``,
    ``repeats``; for train, ``seq``, ``lora_rank`` (0: full fine-tuning) and ``steps``.
    """
    if mode not in ("decode", "train"):
        raise ValueError(f"unknown mode {mode!r}; use 'decode' or 'train'")
    check_sizes(mode, spec)
    load_before = os.getloadavg()  # before our own workers add to it
    spec = {**spec, "hf_dir": str(Path(spec["hf_dir"]).resolve()), "mode": mode}
    results: dict[str, dict[str, Any] | None] = {"hf": None}
    for framework in FRAMEWORKS if peer else FRAMEWORKS[:1]:
        log(f"{framework} {mode}: starting a fresh worker process")
        results[framework] = run_worker({**spec, "framework": framework})
        log(
            f"{framework} {mode}: {results[framework]['tokens_per_second']:.1f} tokens/s, "
            f"peak memory {results[framework]['peak_memory_mib']:.0f} MiB"
        )
    ours, theirs = results["mathpe_jax"], results["hf"]
    ratio = None
    if theirs is not None:
        ratio = {
            "tokens_per_second": ours["tokens_per_second"] / theirs["tokens_per_second"],
            "peak_memory": ours["peak_memory_mib"] / theirs["peak_memory_mib"],
        }
    settings = {k: v for k, v in spec.items() if k not in ("hf_dir", "mode", "batch")}
    return {
        "mode": mode,
        "model": {"hf_dir": spec["hf_dir"], **model_summary(spec["hf_dir"])},
        "batch": spec["batch"],
        "settings": settings,
        "cpu_count": os.cpu_count(),
        "load_average": load_before,
        "mathpe_jax": ours,
        "hf": theirs,
        "ratio": ratio,
    }


if __name__ == "__main__":
    print(json.dumps(worker(json.loads(sys.argv[-1]))))
