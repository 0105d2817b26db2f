"""Progress lines for long loops: elapsed time and ETA, for training steps and evaluated items.

One module below training and evaluation alike, so that neither reaches into the other for it.
"""

from __future__ import annotations

import time

from absl import logging

__all__ = ["Progress", "StepProgress", "format_seconds"]


def format_seconds(seconds: float) -> str:
    """``1h02m03s``, or ``2m03s`` under an hour; negative durations read as zero."""
    seconds = int(max(seconds, 0))
    h, rem = divmod(seconds, 3600)
    m, s = divmod(rem, 60)
    return f"{h}h{m:02d}m{s:02d}s" if h else f"{m}m{s:02d}s"


class Progress:
    """Logs ``label: done/total <unit> in <elapsed>, ETA <eta>``, at most once per ``every`` seconds
    (and always when the loop finishes), so a long run shows it is alive without flooding the log."""

    def __init__(self, label: str, total: int, unit: str = "problems", every: float = 10.0):
        self.label, self.total, self.unit, self.every = label, total, unit, every
        self.start = time.perf_counter()
        self._last_line = self.start

    def update(self, done: int, seconds_per_item: float | None = None) -> None:
        """Report ``done`` items; the ETA uses ``seconds_per_item`` when given (e.g. a pace measured
        without compilation), else the average pace so far."""
        now = time.perf_counter()
        if done < self.total and now - self._last_line < self.every:
            return
        self._last_line = now
        elapsed = now - self.start
        pace = seconds_per_item if seconds_per_item is not None else elapsed / max(done, 1)
        logging.info(
            "%s: %d/%d %s in %s, ETA %s",
            self.label, done, self.total, self.unit, format_seconds(elapsed), format_seconds(pace * (self.total - done)),
        )


class StepProgress:
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
