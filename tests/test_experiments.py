"""The experiment presets: every preset and PE is a valid config; the arms of a study differ in
their PE alone (the fine-tune's controlled design: one base, one LoRA budget); the original design
carries its caveat into results.json; the CPU sizes keep the study's stretch of lengths."""

from __future__ import annotations

import pytest

from configs.experiments import common
from mathpe_jax import build, cli
from mathpe_jax.config import validate
from mathpe_jax.sweep.plan import expand_configs
from tests.conftest import REPO_ROOT

PRESETS = sorted(p.stem for p in (REPO_ROOT / "configs" / "experiments").glob("*.py") if p.stem not in {"__init__", "common"})


@pytest.fixture(autouse=True)
def _at_repo_root(monkeypatch):
    monkeypatch.chdir(REPO_ROOT)


@pytest.mark.parametrize("preset", PRESETS)
def test_every_arm_is_valid_and_differs_from_the_others_in_its_pe_only(preset):
    arms = [cli.load_config_file(spec) for spec in expand_configs([f"configs/experiments/{preset}.py"])]
    assert len(arms) >= 5
    for arm in arms:
        validate(arm)
    reference = arms[0].to_dict()
    for arm in arms[1:]:
        other = arm.to_dict()
        for key in ("name", "model", "init", "caveat"):
            reference.pop(key, None), other.pop(key, None)
        assert reference == other, arm.name
        assert {k: v for k, v in arm.model.items() if k != "pe"} == {k: v for k, v in arms[0].model.items() if k != "pe"}
    assert len({arm.name for arm in arms}) == len(arms)


def test_controlled_finetune_has_one_base_and_one_lora_budget():
    arms = [cli.load_config_file(s) for s in expand_configs(["configs/experiments/finetune_controlled.py"])]
    assert {a.init.hf_dir for a in arms} == {"deepseek-ai/deepseek-math-7b-base"}
    assert {(a.lora.rank, a.lora.alpha, a.train.steps) for a in arms} == {(16, 32.0, 2000)}
    assert sorted(a.model.pe.name for a in arms) == sorted(common.PES)
    assert dict(next(a for a in arms if a.model.pe.name == "rope").model.pe) == {"name": "rope"}  # the checkpoint's own


def test_original_design_says_it_is_confounded_in_its_results():
    arms = [cli.load_config_file(s) for s in expand_configs(["configs/experiments/finetune_original.py"])]
    assert len({a.init.hf_dir for a in arms}) == 5
    for arm in arms:
        assert "confounded by base model" in build.describe(arm)["caveat"]


@pytest.mark.parametrize("task", ["copy", "reverse", "addition", "multiplication"])
def test_cpu_size_keeps_the_stretch_and_gpu_size_follows_the_literature(task):
    gpu = cli.load_config_file(f"configs/experiments/{task}.py:nope")
    cpu = cli.load_config_file(f"configs/experiments/{task}_cpu.py:nope")
    assert max(cpu.task.test_lengths) == 2 * cpu.task.train_lengths[1]
    assert max(gpu.task.test_lengths) >= 2 * gpu.task.train_lengths[1]
    if task in ("copy", "reverse"):
        assert (gpu.task.train_lengths, min(gpu.task.test_lengths), max(gpu.task.test_lengths)) == ((1, 20), 21, 40)


def test_an_unknown_pe_names_the_preset():
    with pytest.raises(cli.ConfigError, match="unknown PE 'xpos' for preset copy_cpu"):
        cli.load_config_file("configs/experiments/copy_cpu.py:xpos")
