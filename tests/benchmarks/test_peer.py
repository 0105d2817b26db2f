"""decode and train against transformers on a tiny random Llama: report structure and sanity,
never timings.

Everything runs in this process but the workers, whose fresh processes are what the benchmark is
about; the command line is called as ``bench.main``. One test runs the worker here instead, for
the report without a peer.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from benchmarks import models, peer
from tools import bench

SIZES = {"layers": 1, "width": 32, "heads": 2, "kv_heads": 1, "vocab": 64, "mlp": 64}


@pytest.fixture(scope="module")
def hf_dir(tmp_path_factory) -> Path:
    directory = tmp_path_factory.mktemp("tiny_llama")
    models.make_llama(directory, **SIZES)
    return directory


def check_framework(result: dict, mode: str) -> None:
    assert result["tokens_per_second"] > 0 and all(s > 0 for s in result["seconds"])
    assert result["peak_memory_mib"] >= result["baseline_memory_mib"] > 0
    if mode == "train":
        assert result["trainable_params"] > 0 and all(loss > 0 for loss in result["losses"])


def check_report(report: dict, mode: str, batch: int, peer: bool) -> None:
    assert report["mode"] == mode and report["batch"] == batch
    assert {k: report["model"][k] for k in ("layers", "width", "vocab")} == {
        "layers": SIZES["layers"],
        "width": SIZES["width"],
        "vocab": SIZES["vocab"],
    }
    assert report["model"]["params"] > 0
    check_framework(report["mathpe_jax"], mode)
    if peer:
        check_framework(report["hf"], mode)
        assert report["ratio"]["tokens_per_second"] > 0 and report["ratio"]["peak_memory"] > 0
    else:
        assert report["hf"] is None and report["ratio"] is None


@pytest.mark.slow
@pytest.mark.subprocess
def test_decode_against_transformers(hf_dir, capsys):
    flags = ["--batch=2", "--prompt_len=8", "--new_tokens=8", "--repeats=1"]
    assert bench.main(["decode", f"--hf_dir={hf_dir}", *flags]) == 0
    report = json.loads(capsys.readouterr().out.strip().splitlines()[-1])
    check_report(report, "decode", batch=2, peer=True)
    for framework in ("mathpe_jax", "hf"):
        assert report[framework]["new_tokens"] == [8, 8]  # exactly the budget: EOS never stops a row


@pytest.mark.slow
@pytest.mark.subprocess
def test_lora_train_against_transformers_peft(hf_dir):
    spec = {"mode": "train", "peer": "hf", "hf_dir": hf_dir, "batch": 2, "seed": 0, "seq": 16, "lora_rank": 2,
            "steps": 1}
    report = peer.run(spec, log=lambda line: None)
    check_report(report, "train", batch=2, peer=True)
    # one layer, A [in, 2] and B [2, out] per target: q and o are 32 -> 32, k and v 32 -> 16 (one kv head)
    adapters = 2 * (2 * (32 + 32)) + 2 * (2 * (32 + 16))
    assert report["mathpe_jax"]["trainable_params"] == report["hf"]["trainable_params"] == adapters


@pytest.mark.slow
def test_full_train_without_peer(hf_dir, monkeypatch):
    monkeypatch.setattr(peer, "run_worker", peer.worker)
    spec = {"mode": "train", "peer": "none", "hf_dir": hf_dir, "batch": 2, "seed": 0, "seq": 8, "lora_rank": 0,
            "steps": 1}
    report = peer.run(spec, log=lambda line: None)
    check_report(report, "train", batch=2, peer=False)
    assert report["mathpe_jax"]["trainable_params"] == report["model"]["params"]


def test_model_summary_counts_what_make_llama_built(tmp_path):
    params = models.make_llama(tmp_path, **SIZES)
    assert peer.model_summary(tmp_path)["params"] == params


@pytest.mark.parametrize("key, value", [("new_tokens", 12), ("prompt_len", 0)])
def test_sizes_greedy_generate_would_round_are_refused(key, value):
    spec = {"mode": "decode", "hf_dir": "x", "batch": 1, "prompt_len": 8, "new_tokens": 8, "repeats": 1, key: value}
    with pytest.raises(ValueError, match=key):
        peer.check_spec(spec)


def test_make_model_writes_a_tokenizer_the_model_can_use(hf_dir):
    from transformers import AutoTokenizer

    tokenizer = AutoTokenizer.from_pretrained(hf_dir)
    text = "what is 12 + 345 = ? answer: 357."
    ids = tokenizer(text)["input_ids"]
    assert ids[0] == tokenizer.bos_token_id == 1 and max(ids) < SIZES["vocab"]
    assert tokenizer.unk_token_id not in ids
    assert tokenizer.decode(ids, skip_special_tokens=True) == text


def test_make_model_refuses_a_vocabulary_smaller_than_the_alphabet(tmp_path, capsys):
    with pytest.raises(SystemExit) as refused:
        bench.main(["make-model", f"--out={tmp_path}", "--vocab=20"])
    assert refused.value.code == 2
    assert capsys.readouterr().err.splitlines() == ["error: --vocab=20 must be at least 54: the tokenizer's specials and alphabet"]
