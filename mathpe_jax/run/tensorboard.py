"""What an evaluation adds to ``WORKDIR/tensorboard``: eval scalars, attention heatmaps, hparams.

Training mirrors its scalars there (``mathpe_jax/train/logging.py``); this puts the evaluation of
the same run beside them, so that ``tensorboard --logdir`` over a run or a sweep shows training
curves, evaluation numbers, heatmaps and one HParams row per run without opening results.json.

Scalars follow one rule: every number reached through nested dicts of ``results["eval"]`` becomes
``eval/`` and its keys joined by slashes (``eval/by_length/12/exact_match``, ``eval/gsm8k/exact_match``),
except what is not one value to plot (lists such as the per-layer, per-head attention matrices;
booleans; strings) and the subtrees of ``_NOT_MEASURED``.
"""

from __future__ import annotations

import sys
from collections.abc import Iterator, Mapping
from pathlib import Path
from types import ModuleType
from typing import Any

from mathpe_jax.run.layout import ATTENTION, TENSORBOARD, read_config

# Numbers in the eval section that are not a measurement of the model: ``prompt_space`` is the
# number of distinct prompts of a length (a property of the task), and ``first_wrong_digit`` is a
# histogram keyed by position that would add one tag per (length, position). Both stay in results.json.
_NOT_MEASURED = frozenset({"prompt_space", "first_wrong_digit"})


def tensorboardx() -> ModuleType:
    """tensorboardX, imported without torch.

    tensorboardX imports torch whenever it is installed (seconds of every training process's start),
    only to accept torch tensors, which this package never passes; without torch it takes numpy
    arrays alone, as here. So while it is first imported, ``import torch`` fails as if torch were
    absent (unless torch is already loaded); later imports of torch are untouched.
    """
    if "tensorboardX" not in sys.modules and "torch" not in sys.modules:
        sys.modules["torch"] = None  # type: ignore[assignment]  # ``import torch`` raises ImportError
        try:
            import tensorboardX  # noqa: F401
        finally:
            del sys.modules["torch"]
    import tensorboardX

    return tensorboardX


def eval_scalars(section: Mapping[str, Any], prefix: str = "eval") -> Iterator[tuple[str, float]]:
    """``(tag, value)`` for every number of ``section`` by the module's rule."""
    for key, value in section.items():
        if key in _NOT_MEASURED:
            continue
        tag = f"{prefix}/{key}"
        if isinstance(value, Mapping):
            yield from eval_scalars(value, tag)
        elif isinstance(value, (int, float)) and not isinstance(value, bool):
            yield tag, float(value)


def flat_hparams(config: Mapping[str, Any], prefix: str = "") -> dict[str, str | int | float | bool]:
    """``config`` as dotted keys with the value types the HParams plugin takes; anything else
    (tuples, lists, None) becomes its ``str`` so that every key still has a column."""
    flat: dict[str, str | int | float | bool] = {}
    for key, value in config.items():
        name = f"{prefix}{key}"
        if isinstance(value, Mapping):
            flat.update(flat_hparams(value, f"{name}."))
        elif isinstance(value, (str, int, float, bool)):
            flat[name] = value
        else:
            flat[name] = str(value)
    return flat


def _headline_metrics(scalars: Mapping[str, float]) -> dict[str, float]:
    """The metric columns of a run's HParams row: ``eval/exact_match`` and the exact match of each
    top-level section (``eval/in_distribution``, ``eval/out_of_distribution``, ``eval/gsm8k``)."""
    return {tag: value for tag, value in scalars.items() if tag.endswith("/exact_match") and tag.count("/") <= 2}


def log_evaluation(workdir: str | Path, results: Mapping[str, Any], config: Mapping[str, Any] | None = None) -> None:
    """Writes the evaluation of ``results`` (results.json's contents) to ``WORKDIR/tensorboard``.

    At step ``results["step"]``: the eval scalars, each ``WORKDIR/attention/*.png`` as the image
    ``attention/<file stem>``, and an HParams session of ``config`` (the config evaluated, eval
    overrides included; default ``WORKDIR/config.json``) with the headline exact matches as
    metrics. The session is written into the run's own directory, not a subdirectory, so that a
    sweep's logdir has one HParams row per run next to its training curves.

    Each call adds a new event file (suffix ``.eval``, so it never shares a name with training's);
    re-evaluating a run therefore adds a second point at the same step, which TensorBoard shows
    as the newer value.
    """
    from matplotlib.image import imread  # here: no command but evaluation pays for matplotlib

    SummaryWriter = tensorboardx().SummaryWriter  # noqa: N806 - the class
    from tensorboardX.summary import hparams  # after tensorboardx(), which imports it without torch

    workdir = Path(workdir)
    step = int(results["step"])
    if config is None:
        config = read_config(workdir) or {}
    scalars = dict(eval_scalars(results.get("eval") or {}))
    writer = SummaryWriter(str(workdir / TENSORBOARD), filename_suffix=".eval")
    try:
        for tag, value in scalars.items():
            writer.add_scalar(tag, value, step)
        for png in sorted((workdir / ATTENTION).glob("*.png")):
            writer.add_image(f"attention/{png.stem}", imread(png), step, dataformats="HWC")
        # The summaries add_hparams would write, without its subdirectory (a run of its own in
        # TensorBoard) and its copy of the metrics: the metric tags name the eval scalars above.
        for summary in hparams(flat_hparams(config), _headline_metrics(scalars)):
            writer.file_writer.add_summary(summary, step)
    finally:
        writer.close()
