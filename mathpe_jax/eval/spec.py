"""What an evaluation needs to know: the task and the evaluation settings, not the whole run config."""

from __future__ import annotations

import dataclasses

from ml_collections import ConfigDict

from mathpe_jax.build import make_task
from mathpe_jax.data.tasks import Task


@dataclasses.dataclass(frozen=True)
class EvalSpec:
    """``task`` supplies the test sets, prompts, grading and length buckets. ``examples_per_length``
    sizes a synthetic task's test set per length and ``grid_examples`` its
    operand-grid cells' (a grid has lengths squared cells); ``limit`` keeps a dataset's first test problems
    (0: all); ``max_new_tokens`` is a dataset problem's generation budget (a synthetic answer gets
    its length's longest target + 2); ``seed`` draws the robustness variants; ``template``
    overrides the task's prompt template (None: the task's own)."""

    task: Task
    examples_per_length: int = 256
    grid_examples: int = 32
    limit: int = 0
    batch_size: int = 256
    max_new_tokens: int = 256
    seed: int = 0
    template: str | None = None
    # Training drew positions from 0..trained_positions-1 (randomized positions), whatever its
    # sequence lengths; 0 when training numbered its tokens 0, 1, 2, ...
    trained_positions: int = 0

    @classmethod
    def from_config(cls, config: ConfigDict) -> EvalSpec:
        """The evaluation a run config asks for (its ``task`` and ``eval`` blocks, and its seed)."""
        e = config.eval
        return cls(
            task=make_task(config),
            examples_per_length=e.examples_per_length,
            grid_examples=e.grid_examples,
            limit=e.limit,
            batch_size=e.batch_size,
            max_new_tokens=e.max_new_tokens,
            seed=config.seed,
            trained_positions=config.model.max_len if config.train.positions == "randomized" else 0,
        )

    @property
    def prompt_template(self) -> str:
        return self.template or self.task.template
