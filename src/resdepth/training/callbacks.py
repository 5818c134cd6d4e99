"""The hooks a :class:`~resdepth.training.Trainer` calls while it trains, and the view of
the trainer they receive."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Any, Protocol

import torch
from torch import nn

from ..recipes import Recipe

if TYPE_CHECKING:
    from ..artifacts import History, RunDir, RunMetadata
    from .run_state import RunState

__all__ = ["Callback", "TrainerView"]


class TrainerView(Protocol):
    """What a callback (a logger, a user's hook) may read of the trainer that calls it.

    A :class:`~resdepth.training.Trainer` is one; a callback that reads only these
    works with any loop that offers them.
    """

    model: nn.Module
    optimizer: torch.optim.Optimizer
    history: History
    metadata: RunMetadata
    device: torch.device
    is_main: bool
    out_dir: Path | None

    @property
    def recipe(self) -> Recipe: ...

    @property
    def epoch(self) -> int: ...

    @property
    def precision(self) -> str: ...

    @property
    def channels_last(self) -> bool | str: ...

    @property
    def run_state(self) -> RunState: ...

    @property
    def run_dir(self) -> RunDir | None: ...


class Callback:
    """Hooks the Trainer calls; subclass and override the ones you need.

    Each receives the trainer as a :class:`TrainerView`: what a hook may read.

    Examples:
        >>> class PrintAccuracy(Callback):
        ...     def on_epoch_end(self, trainer, row):
        ...         print(f"epoch {row['epoch']}: {row['test_accuracy']:.1f}%")
    """

    def on_fit_start(self, trainer: TrainerView) -> None:
        """Before the first epoch of :meth:`~resdepth.training.Trainer.fit` (or of its resume)."""

    def on_step_end(self, trainer: TrainerView, step: int) -> None:
        """After each training batch; ``step`` counts the run's batches from 1.  Keep it
        cheap: reading a tensor here would wait for the GPU on every batch."""

    def on_epoch_end(self, trainer: TrainerView, row: dict[str, Any]) -> None:
        """After each epoch, with its history row (already saved)."""

    def on_fit_end(self, trainer: TrainerView, history: History) -> None:
        """After the last epoch."""
