"""Progress lines for long evaluation loops: how many items are done, elapsed time and ETA."""

from __future__ import annotations

import time

from absl import logging

from mathpe_jax.train.logging import format_seconds

__all__ = ["Progress"]


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
