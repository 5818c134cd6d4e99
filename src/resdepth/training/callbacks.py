"""The hooks a :class:`~resdepth.training.Trainer` calls while it trains."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from .history import History
    from .trainer import Trainer

__all__ = ["Callback"]


class Callback:
    """Hooks the Trainer calls; subclass and override the ones you need.

    Examples:
        >>> class PrintAccuracy(Callback):
        ...     def on_epoch_end(self, trainer, row):
        ...         print(f"epoch {row['epoch']}: {row['test_accuracy']:.1f}%")
    """

    def on_fit_start(self, trainer: Trainer) -> None:
        """Before the first epoch of :meth:`~resdepth.training.Trainer.fit` (or of its resume)."""

    def on_step_end(self, trainer: Trainer, step: int) -> None:
        """After each training batch; ``step`` counts the run's batches from 1.  Keep it
        cheap: reading a tensor here would wait for the GPU on every batch."""

    def on_epoch_end(self, trainer: Trainer, row: dict[str, Any]) -> None:
        """After each epoch, with its history row (already saved)."""

    def on_fit_end(self, trainer: Trainer, history: History) -> None:
        """After the last epoch."""
