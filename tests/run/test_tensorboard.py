"""An evaluation in TensorBoard: eval scalars, one image per heatmap and an HParams session in the
run's own tensorboard directory, read back from the event files."""

from __future__ import annotations

import json
import struct
from pathlib import Path

import numpy as np
import pytest
from matplotlib.image import imsave

from mathpe_jax.run import log_evaluation
from mathpe_jax.run.tensorboard import eval_scalars, flat_hparams

RESULTS = {
    "config": "rope",
    "pe": "rope",
    "task": "copy",
    "step": 300,
    "params": 661632,
    "train": {"final_loss": 0.0018, "tokens_per_second": 2474.5, "wall_seconds": 110.1},
    "eval": {
        "in_distribution": {"n": 1000, "exact_match": 1.0, "symbolic_accuracy": 1.0},
        "out_of_distribution": {"n": 500, "exact_match": 0.0, "symbolic_accuracy": 0.0},
        "by_length": {
            "12": {
                "n": 100,
                "exact_match": 0.25,
                "symbolic_accuracy": 0.5,
                "prompt_space": 10**12,
                "possible_in_training": False,
                "digit_accuracy": 0.139,
                "first_wrong_digit": {"0": 15, "1": 77},
            },
        },
        "n": 1500,
        "exact_match": 0.6666,
        "symbolic_accuracy": 0.6666,
        "truncated_rate": 0.0,
        "error_classes": {"correct": 1000, "reasoning_error": 500},
        "grading": {"timed_out": 0, "failed": 0},
        "reasoning": None,
        "attention": {
            "examples": ["copy/1/0", "copy/20/99"],
            "first_key_is_bos": True,
            "entropy": [[1.7, 1.9], [0.7, 1.1]],
            "n_rows": 151,
            "heatmap_example": "copy/20/99",
            "heatmaps": ["attention/attn_L00_H00.png"],
        },
        "efficiency": {"decode_tokens_per_second": 3523.9, "peak_memory_source": "process peak RSS"},
    },
    "schema_version": 2,
}
CONFIG = {"name": "rope", "seed": 0, "model": {"width": 128, "pe": {"name": "rope", "base": 10000.0}},
          "task": {"train_lengths": (1, 10), "reverse": None, "bos": True}}
EXPECTED_SCALARS = {
    "eval/in_distribution/n": 1000.0,
    "eval/in_distribution/exact_match": 1.0,
    "eval/in_distribution/symbolic_accuracy": 1.0,
    "eval/out_of_distribution/n": 500.0,
    "eval/out_of_distribution/exact_match": 0.0,
    "eval/out_of_distribution/symbolic_accuracy": 0.0,
    "eval/by_length/12/n": 100.0,
    "eval/by_length/12/exact_match": 0.25,
    "eval/by_length/12/symbolic_accuracy": 0.5,
    "eval/by_length/12/digit_accuracy": 0.139,
    "eval/n": 1500.0,
    "eval/exact_match": 0.6666,
    "eval/symbolic_accuracy": 0.6666,
    "eval/truncated_rate": 0.0,
    "eval/error_classes/correct": 1000.0,
    "eval/error_classes/reasoning_error": 500.0,
    "eval/grading/timed_out": 0.0,
    "eval/grading/failed": 0.0,
    "eval/attention/n_rows": 151.0,
    "eval/efficiency/decode_tokens_per_second": 3523.9,
}


def read_events(logdir: Path) -> list:
    """Every event of every event file under ``logdir``: TFRecords of ``uint64 length, uint32
    crc, data, uint32 crc`` (the CRCs are not checked; tensorboard, the reader, is not installed)."""
    from tensorboardX.proto.event_pb2 import Event

    events = []
    for path in sorted(logdir.glob("events.out.tfevents.*")):
        data = path.read_bytes()
        offset = 0
        while offset < len(data):
            (length,) = struct.unpack("<Q", data[offset : offset + 8])
            events.append(Event.FromString(data[offset + 12 : offset + 12 + length]))
            offset += 12 + length + 4
    return events


def summary_values(events: list) -> list:
    return [(event.step, value) for event in events if event.HasField("summary") for value in event.summary.value]


def hparams_session(values: list):
    """The HParams plugin's records among ``values`` (experiment, session start and end), by tag."""
    from tensorboardX.proto.plugin_hparams_pb2 import HParamsPluginData

    return {
        value.tag: HParamsPluginData.FromString(value.metadata.plugin_data.content)
        for _, value in values
        if value.metadata.plugin_data.plugin_name == "hparams"
    }


def test_the_rule_keeps_numbers_and_skips_lists_flags_and_task_properties():
    scalars = dict(eval_scalars(RESULTS["eval"]))
    assert scalars == pytest.approx(EXPECTED_SCALARS)


def test_config_flattens_to_dotted_keys_with_plugin_types():
    assert flat_hparams(CONFIG) == {
        "name": "rope",
        "seed": 0,
        "model.width": 128,
        "model.pe.name": "rope",
        "model.pe.base": 10000.0,
        "task.train_lengths": "(1, 10)",
        "task.reverse": "None",
        "task.bos": True,
    }


def test_scalars_images_and_hparams_land_in_the_runs_tensorboard_dir(tmp_path):
    (tmp_path / "attention").mkdir()
    imsave(tmp_path / "attention" / "attn_L00_H00.png", np.linspace(0, 1, 12).reshape(3, 4))
    imsave(tmp_path / "attention" / "attn_L01_H00.png", np.ones((5, 2)))
    (tmp_path / "config.json").write_text(json.dumps(CONFIG))

    log_evaluation(tmp_path, RESULTS)

    assert not [p for p in (tmp_path / "tensorboard").iterdir() if p.is_dir()]  # no run of its own
    values = summary_values(read_events(tmp_path / "tensorboard"))
    scalars = {value.tag: (step, value.simple_value) for step, value in values if value.HasField("simple_value")}
    assert scalars == {tag: (300, pytest.approx(v)) for tag, v in EXPECTED_SCALARS.items()}
    images = {value.tag: value.image for step, value in values if value.HasField("image") and step == 300}
    assert {tag: (image.height, image.width) for tag, image in images.items()} == {
        "attention/attn_L00_H00": (3, 4),
        "attention/attn_L01_H00": (5, 2),
    }
    plugin = hparams_session(values)
    assert set(plugin) == {"_hparams_/experiment", "_hparams_/session_start_info", "_hparams_/session_end_info"}
    start = plugin["_hparams_/session_start_info"].session_start_info.hparams
    assert start["model.pe.name"].string_value == "rope" and start["model.width"].number_value == 128
    assert start["task.train_lengths"].string_value == "[1, 10]"  # config.json has lists and start["task.bos"].bool_value
    metrics = {info.name.tag for info in plugin["_hparams_/experiment"].experiment.metric_infos}
    assert metrics == {"eval/exact_match", "eval/in_distribution/exact_match", "eval/out_of_distribution/exact_match"}


@pytest.mark.subprocess
def test_training_and_evaluation_write_events_without_importing_torch(tmp_path):
    """A fresh interpreter (torch is installed, as in the test extra): the metrics log and the
    evaluation's events are written and torch is never imported; importing it afterwards works."""
    import subprocess
    import sys

    from tests.conftest import REPO_ROOT

    script = f"""
import sys
from mathpe_jax.run import log_evaluation
from mathpe_jax.train.logging import MetricsLog
log = MetricsLog({str(tmp_path)!r})
log.write(1, {{"loss": 2.0}})
log.close()
log_evaluation({str(tmp_path)!r}, {{"step": 1, "eval": {{"exact_match": 0.5}}}}, {{"model": {{"pe": {{"name": "rope"}}}}}})
assert "torch" not in sys.modules
import torch
print(torch.ones(1).sum().item())
"""
    done = subprocess.run([sys.executable, "-c", script], cwd=REPO_ROOT, capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr[-3000:]
    assert done.stdout.strip() == "1.0"
    assert len(list((tmp_path / "tensorboard").iterdir())) == 2
