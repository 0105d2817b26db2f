"""Where training numbers go: metrics.jsonl, TensorBoard and a progress line."""

from __future__ import annotations

import json
import time
from pathlib import Path

from absl import logging
from tensorboardX import SummaryWriter


def format_seconds(seconds: float) -> str:
    seconds = int(max(seconds, 0))
    h, rem = divmod(seconds, 3600)
    m, s = divmod(rem, 60)
    return f"{h}h{m:02d}m{s:02d}s" if h else f"{m}m{s:02d}s"


class MetricsLog:
    """Appends one JSON object per logged step to ``metrics.jsonl`` and mirrors scalars to TensorBoard.

    On resume, lines logged after the restored step (by the interrupted run) are dropped: the
    resumed run logs those steps again, identically, and the file keeps one line per step.
    """

    def __init__(self, workdir: str | Path, resume_step: int = 0, enabled: bool = True):
        self.enabled = enabled
        self.path = Path(workdir) / "metrics.jsonl"
        if not enabled:
            return
        if self.path.exists():
            keep = [line for line in self.path.read_text().splitlines() if line and json.loads(line)["step"] <= resume_step]
            self.path.write_text("".join(line + "\n" for line in keep))
        self.writer = SummaryWriter(str(Path(workdir) / "tensorboard"))

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


class Progress:
    """Step, loss, tokens/s and ETA, measured from the first step after compilation."""

    def __init__(self, first_step: int, last_step: int):
        self.first_step, self.last_step = first_step, last_step
        self.start_time: float | None = None
        self.start_step = first_step
        self.tokens = 0

    def start(self, step: int) -> None:
        """Call after the first (compiling) step has finished."""
        self.start_time, self.start_step, self.tokens = time.perf_counter(), step, 0

    def add_tokens(self, n: int) -> None:
        self.tokens += n

    def tokens_per_second(self) -> float:
        if self.start_time is None:
            return 0.0
        return self.tokens / max(time.perf_counter() - self.start_time, 1e-9)

    def report(self, step: int, loss: float, lr: float) -> str:
        done = step - self.start_step
        elapsed = 0.0 if self.start_time is None else time.perf_counter() - self.start_time
        eta = elapsed / done * (self.last_step - step) if done > 0 else float("nan")
        line = (
            f"step {step}/{self.last_step} loss {loss:.4f} lr {lr:.2e} "
            f"tokens/s {self.tokens_per_second():,.0f} ETA {format_seconds(eta) if done > 0 else '?'}"
        )
        logging.info(line)
        return line
