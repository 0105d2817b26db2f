"""tools/convert_hf.py both ways: any run exported, damaged inputs named in one line, and nothing
the user had lost: an output that overlaps an input or a run is refused, and a failed conversion
leaves its output as it was. Everything runs in this process (``convert_hf.main`` and
``convert_hf.convert``) but one refusal, which runs the tool as a user does: that its stderr holds
the one ``error:`` line and no library log line is a property of the whole process."""

from __future__ import annotations

import json
import re
import shutil
import signal

import numpy as np
import pytest
from safetensors.numpy import load_file

from mathpe_jax.convert import ConversionError
from mathpe_jax.convert.load import load_hf
from mathpe_jax.main import run
from mathpe_jax.model.lora import LoRAConfig, apply_lora, lora_modules, save_adapter
from tests.conftest import run_tool
from tests.convert.tiny_hf import assert_same_tensors
from tests.helpers_run import override, tiny_config
from tools import convert_hf


@pytest.fixture
def convert(capsys):
    """``convert(*flags)``: ``tools/convert_hf.py FLAGS`` in this process, which must succeed; its stderr.
    The tool's SIGTERM handler is put back afterwards, so that it does not outlive the test."""
    previous = signal.getsignal(signal.SIGTERM)

    def convert(*flags: str) -> str:
        capsys.readouterr()
        assert convert_hf.main(list(flags)) == 0
        return capsys.readouterr().err

    yield convert
    signal.signal(signal.SIGTERM, previous)


def test_hf_to_checkpoint_to_hf_with_adapter(hf_dirs, tmp_path, convert):
    checkpoint, hf_out, adapter = tmp_path / "ckpt", tmp_path / "hf", tmp_path / "lora"
    convert(f"--hf_dir={hf_dirs['mistral']}", f"--out={checkpoint}")
    assert json.loads((checkpoint / "model_config.json").read_text())["pe_name"] == "rope"

    model, _, _ = load_hf(hf_dirs["mistral"])
    apply_lora(model, LoRAConfig(rank=2, target_modules=r".*mlp\.up_proj"))
    save_adapter(model, adapter)
    convert("--to_hf", f"--checkpoint={checkpoint}", f"--out={hf_out}", f"--adapter={adapter}")
    assert_same_tensors(hf_dirs["mistral"], hf_out)
    peft_config = json.loads((hf_out / "peft" / "adapter_config.json").read_text())
    assert peft_config["target_modules"] == ["up_proj"] and peft_config["r"] == 2
    assert peft_config["base_model_name_or_path"] == str(hf_out.absolute())
    exported = load_file(hf_out / "peft" / "adapter_model.safetensors")
    for path, layer in lora_modules(model).items():
        key = f"base_model.model.model.layers.{path.split('.')[1]}.mlp.up_proj.lora_A.weight"
        np.testing.assert_array_equal(exported[key], np.asarray(layer.lora.lora_a[...]).T)


def files(directory) -> dict[str, bytes]:
    """Every file under ``directory`` with its bytes, to show that nothing there changed."""
    return {str(p.relative_to(directory)): p.read_bytes() for p in sorted(directory.rglob("*")) if p.is_file()}


def fake_run(directory, config=None):
    """What marks a run directory (config.json with a task, the lock, checkpoints/): enough for refusals,
    which come before anything is read."""
    (directory / "checkpoints" / "10").mkdir(parents=True)
    (directory / "checkpoints" / "10" / "params").write_bytes(b"trained weights")
    (directory / ".lock").write_text("123\n")
    (directory / "config.json").write_text(json.dumps(config or {"task": {"name": "addition"}}))
    return directory


def staging_left(out) -> list:
    return sorted(out.parent.glob(f".{out.name}.tmp-*"))


def test_a_non_empty_out_is_refused_unless_overwrite(hf_dirs, tmp_path):
    out = tmp_path / "hf"
    out.mkdir()
    (out / "model.safetensors").write_bytes(b"the user's own weights")
    (out / "notes.txt").write_text("keep me")
    with pytest.raises(ConversionError, match=f"--out={out} is not empty; .*--overwrite"):
        convert_hf.convert(out, hf_dir=str(hf_dirs["llama"]))
    assert (out / "model.safetensors").read_bytes() == b"the user's own weights"

    ckpt = tmp_path / "ckpt"
    convert_hf.convert(ckpt, hf_dir=str(hf_dirs["mistral"]))
    convert_hf.convert(ckpt, hf_dir=str(hf_dirs["llama"]), overwrite=True)  # a second conversion replaces the first
    assert "llama" in (ckpt / "hf_config.json").read_text()
    convert_hf.convert(out, checkpoint=str(ckpt), overwrite=True)
    assert_same_tensors(hf_dirs["llama"], out)
    assert (out / "notes.txt").read_text() == "keep me"  # only what a conversion writes is replaced
    assert not staging_left(out) and not staging_left(ckpt)


@pytest.mark.parametrize("where", ["itself", "inside", "holding", "symlink"])
def test_an_out_that_overlaps_its_input_is_refused_and_the_input_kept(hf_dirs, tmp_path, where):
    """``--hf_dir=D --out=D --overwrite`` used to delete D's config.json and weights before reading them."""
    source = tmp_path / "models" / "src"
    shutil.copytree(hf_dirs["llama"], source)
    before = files(tmp_path / "models")
    (tmp_path / "link").symlink_to(source)
    outs = {"itself": source, "inside": source / "ours", "holding": tmp_path / "models", "symlink": tmp_path / "link"}
    out = outs[where]
    relation = {"itself": "is", "inside": "lies inside", "holding": "holds", "symlink": "is"}[where]
    with pytest.raises(ConversionError) as err:
        convert_hf.convert(out, hf_dir=str(source), overwrite=True)
    assert str(err.value) == f"--out={out} {relation} --hf_dir={source}; write the conversion somewhere else"
    assert files(tmp_path / "models") == before and not staging_left(out)


def test_a_run_is_never_an_output(tmp_path):
    """``--to_hf --checkpoint=R --out=R`` used to delete the run's config.json, and ``--out=OTHER_RUN``
    to replace another run's config.json by a Hugging Face one, after which it could not be evaluated."""
    run, other = fake_run(tmp_path / "run"), fake_run(tmp_path / "other")
    damaged = fake_run(tmp_path / "damaged", config={"model_type": "llama"})  # its config.json already replaced
    holder = tmp_path / "holder"
    fake_run(holder / "peft")  # a run where a conversion writes its PEFT adapter
    before = files(tmp_path)
    refusals = {
        run: f"--out={run} is --checkpoint={run}",
        other: f"--out={other} is a run directory; write the conversion somewhere else",
        damaged: f"--out={damaged} is a run directory",
        other / "checkpoints" / "10": f"--out={other / 'checkpoints' / '10'} lies inside the run directory {other}",
        holder: f"--out={holder} holds the run directory {holder / 'peft'}, which --overwrite would replace",
    }
    for out, message in refusals.items():
        with pytest.raises(ConversionError, match=re.escape(message)):
            convert_hf.convert(out, checkpoint=str(run), overwrite=True)
    assert files(tmp_path) == before and not list(tmp_path.rglob(".*.tmp-*"))


def test_peft_out_gets_the_same_checks(hf_dirs, tmp_path):
    ckpt, adapter, run = tmp_path / "ckpt", tmp_path / "lora", fake_run(tmp_path / "run")
    adapter.mkdir()
    (adapter / "lora_config.json").write_text("{}")
    refusals = {
        adapter: f"--peft_out={adapter} is --adapter={adapter}",
        ckpt / "peft": f"--peft_out={ckpt / 'peft'} lies inside --checkpoint={ckpt}",
        run: f"--peft_out={run} is a run directory",
        tmp_path / "hf" / "adapter": f"--out={tmp_path / 'hf'} holds --peft_out={tmp_path / 'hf' / 'adapter'}",
    }
    convert_hf.convert(ckpt, hf_dir=str(hf_dirs["llama"]))
    for peft_out, message in refusals.items():
        with pytest.raises(ConversionError, match=re.escape(message)):
            convert_hf.convert(tmp_path / "hf", checkpoint=str(ckpt), adapter=str(adapter), peft_out=peft_out)
    assert not (tmp_path / "hf").exists()


@pytest.mark.parametrize("failure", [KeyboardInterrupt(), ConversionError("a damaged tokenizer file")])
def test_a_failed_overwrite_leaves_out_as_it_was(hf_dirs, tmp_path, monkeypatch, failure):
    """The new files are staged beside --out and moved in only once all are written."""
    out = tmp_path / "ckpt"
    convert_hf.convert(out, hf_dir=str(hf_dirs["mistral"]))
    (out / "notes.txt").write_text("keep me")
    before = files(out)

    def fail(*args):
        raise failure

    monkeypatch.setattr(convert_hf, "copy_tokenizer", fail)  # after the parameters are written
    with pytest.raises(type(failure)):
        convert_hf.convert(out, hf_dir=str(hf_dirs["llama"]), overwrite=True)
    assert files(out) == before and not staging_left(out)


@pytest.mark.parametrize(
    "damage, needle",
    [
        (lambda d: (d / "model.safetensors").write_bytes((d / "model.safetensors").read_bytes()[:200]), "model.safetensors"),
        (lambda d: (d / "model.safetensors").write_bytes(b"garbage" * 100), "model.safetensors is not a readable"),
        (lambda d: (d / "config.json").write_text('{"model_type": "llama",'), "config.json is not valid JSON"),
        (lambda d: (d / "config.json").write_text("[1, 2]"), "config.json holds a JSON list"),
    ],
)
def test_damaged_inputs_are_named_in_one_line(hf_dirs, tmp_path, damage, needle):
    source = tmp_path / "src"
    shutil.copytree(hf_dirs["llama"], source)
    damage(source)
    with pytest.raises(ConversionError) as err:
        convert_hf.convert(tmp_path / "out", hf_dir=str(source))
    assert needle in str(err.value) and str(source) in str(err.value) and "\n" not in str(err.value)
    assert not (tmp_path / "out").exists() and not staging_left(tmp_path / "out")


@pytest.mark.slow
def test_a_run_trained_from_scratch_exports_to_transformers(trained_run, tmp_path, convert):
    import torch
    from transformers import AutoModelForCausalLM

    from mathpe_jax.inference import load_checkpoint

    out = tmp_path / "hf"
    stderr = convert("--to_hf", f"--checkpoint={trained_run}", f"--out={out}")
    assert "warning: the run's CharTokenizer has no Hugging Face form" in stderr

    ours = load_checkpoint(str(trained_run)).model
    ids = np.arange(3, 40, dtype=np.int32)[None] % ours.config.vocab_size
    theirs = AutoModelForCausalLM.from_pretrained(out, dtype=torch.float32).eval()
    with torch.no_grad():
        expected = theirs(torch.as_tensor(ids, dtype=torch.long)).logits.numpy()
    positions = np.arange(ids.shape[1], dtype=np.int32)[None]
    np.testing.assert_allclose(np.asarray(ours(ids, positions).logits), expected, atol=2e-4, rtol=2e-4)


@pytest.mark.slow
@pytest.mark.subprocess
def test_a_run_with_a_pe_transformers_lacks_is_refused_in_one_line(tmp_path):
    """The run is trained here (two steps); the refusal is the tool's own process, as a user sees it."""
    workdir = tmp_path / "run"
    run(tiny_config("alibi", **{"train.steps": 2, "train.checkpoint_every": 2, "eval.examples_per_length": 2}),
        workdir, "train")
    done = run_tool("convert_hf.py", "--to_hf", f"--checkpoint={workdir}", f"--out={tmp_path / 'hf'}")
    lines = done.stderr.strip().splitlines()
    assert done.returncode == 2 and lines[-1].startswith("error: "), done.stderr[-3000:]
    assert "Traceback" not in done.stderr and not any(line.startswith("W") for line in lines), done.stderr[-3000:]
    assert "model.pe_name='alibi'" in lines[-1]


@pytest.mark.slow
def test_a_lora_run_exports_merged_and_as_peft_on_its_base(tiny_hf_checkpoint, tmp_path, convert):
    """The merged export and transformers + peft on the base agree: both are the fine-tuned model."""
    import importlib

    import torch
    from peft import PeftModel
    from transformers import AutoModelForCausalLM

    base = tiny_hf_checkpoint  # only read: the run names it as its base
    workdir = tmp_path / "run"
    settings = {
        "init.hf_dir": str(base), "lora.rank": 2, "task.train_limit": 16, "task.length_quantum": 512, "train.steps": 4, "train.batch_size": 4,
        "train.learning_rate": 1e-2, "train.warmup_steps": 1, "train.log_every": 2, "train.checkpoint_every": 4,
        "eval.limit": 2, "eval.batch_size": 2, "eval.max_new_tokens": 4,
    }
    run(override(importlib.import_module("configs.finetune_gsm8k").get_config(), settings), workdir, "train")

    out = tmp_path / "hf"
    convert("--to_hf", f"--checkpoint={workdir}", f"--out={out}")
    assert json.loads((out / "peft" / "adapter_config.json").read_text())["base_model_name_or_path"] == str(base)
    ids = torch.arange(3, 300).reshape(1, -1)  # long: RoPE is the identity at position 0
    merged = AutoModelForCausalLM.from_pretrained(out, dtype=torch.float32).eval()
    adapted = PeftModel.from_pretrained(AutoModelForCausalLM.from_pretrained(base, dtype=torch.float32), out / "peft")
    with torch.no_grad():
        np.testing.assert_allclose(
            merged(ids).logits.numpy(), adapted.eval()(ids).logits.numpy(), atol=1e-4, rtol=1e-4
        )
        plain = AutoModelForCausalLM.from_pretrained(base, dtype=torch.float32).eval()(ids).logits.numpy()
    assert not np.allclose(merged(ids).logits.detach().numpy(), plain, atol=1e-4)  # the adapters did change it
    assert (out / "tokenizer.json").is_file() or (out / "tokenizer_config.json").is_file()
