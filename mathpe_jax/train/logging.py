"""Where training numbers go: metrics.jsonl and TensorBoard."""

from __future__ import annotations

import json
from pathlib import Path

from mathpe_jax.run.layout import METRICS, TENSORBOARD
from mathpe_jax.run.tensorboard import tensorboardx


class MetricsLog:
    """Appends one JSON object per logged step to ``metrics.jsonl`` and mirrors scalars to TensorBoard.

    On resume, lines logged after the restored step (by the interrupted run) are dropped: the
    resumed run logs those steps again, identically, and the file keeps one line per step.
    """

    def __init__(self, workdir: str | Path, resume_step: int = 0, enabled: bool = True):
        self.enabled = enabled
        self.path = Path(workdir) / METRICS
        if not enabled:
            return
        if self.path.exists():
            keep = [line for line in self.path.read_text().splitlines() if line and json.loads(line)["step"] <= resume_step]
            self.path.write_text("".join(line + "\n" for line in keep))
        self.writer = tensorboardx().SummaryWriter(str(Path(workdir) / TENSORBOARD))

    def write(self, step: int, scalars: dict[str, float]) -> None:
        if not self.enabled:
            return
        with self.path.open("a") as f:
            f.write(json.dumps({"step": step, **scalars}) + "\n")
        for key, value in scalars.items():
            self.writer.add_scalar(key, value, step)
        self.writer.flush()

    def last(self, key: str) -> float:
        """The most recent logged value of ``key`` (NaN if none): a resumed run that has no step
        left to train still reports the loss its last step logged."""
        if not self.path.exists():
            return float("nan")
        values = [json.loads(line).get(key) for line in self.path.read_text().splitlines() if line]
        values = [v for v in values if v is not None]
        return float(values[-1]) if values else float("nan")

    def close(self) -> None:
        if self.enabled:
            self.writer.close()
