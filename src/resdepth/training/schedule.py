"""The recipe a run follows and its learning-rate scheduler, for the run's length: the
one place where a run's length changes (``fit(epochs=...)`` on resume, and the time
budget's plan), and where the schedule steps at an epoch's end."""

from __future__ import annotations

import warnings
from collections.abc import Mapping
from typing import Any

import torch

from ..recipes import Recipe

__all__ = ["Schedule", "current_learning_rate", "replan_schedule"]


def current_learning_rate(optimizer: torch.optim.Optimizer) -> float:
    """The rate the optimizer's first parameter group steps with now: what the history
    and the loggers record as a run's learning rate."""
    return float(optimizer.param_groups[0]["lr"])


def replan_schedule(
    recipe: Recipe, optimizer: torch.optim.Optimizer, steps_per_epoch: int, steps_taken: int
) -> Any:
    """The scheduler of an uninterrupted run of ``recipe``'s length, ``steps_taken`` steps in.

    The scheduler is built on the optimizer's initial rates and stepped forward as the
    uninterrupted run would have stepped it, so the rate from here on is exactly that
    run's: for a cosine, ``lr(e) = base * (1 + cos(pi * e / epochs)) / 2``.  Not for
    schedules that follow a metric (their state does not depend on the length).
    """
    for group in optimizer.param_groups:
        group["lr"] = group.get("initial_lr", group["lr"])
    scheduler = recipe.build_scheduler(optimizer, steps_per_epoch)
    if scheduler is None:
        return scheduler
    with warnings.catch_warnings():
        # No optimizer step happens in between; torch warns about that order.
        warnings.simplefilter("ignore", UserWarning)
        for _ in range(steps_taken):
            scheduler.step()
    return scheduler


class Schedule:
    """A run's recipe and the scheduler that carries out its learning-rate schedule.

    Args:
        recipe: the recipe; its ``epochs`` is the run's length.
        optimizer: the optimizer the scheduler drives.

    Examples:
        >>> import torch
        >>> from resdepth.recipes import get_recipe
        >>> net = torch.nn.Linear(2, 2)
        >>> recipe = get_recipe("as1", epochs=4)
        >>> schedule = Schedule(recipe, recipe.build_optimizer(net))
        >>> schedule.start(steps_per_epoch=10)
        >>> schedule.change_length(10, 8)
        'length 4 -> 8 epochs'
        >>> schedule.recipe.epochs
        8
    """

    def __init__(self, recipe: Recipe, optimizer: torch.optim.Optimizer) -> None:
        self.recipe, self.optimizer = recipe, optimizer
        self.scheduler: Any = None

    @property
    def epochs(self) -> int:
        """The run's length."""
        return int(self.recipe.epochs)

    @property
    def per_batch(self) -> bool:
        """Whether the scheduler steps after every batch (else at epochs' ends)."""
        return self.recipe.scheduler_interval == "batch"

    def start(self, steps_per_epoch: int, epochs: int | None = None) -> None:
        """Build the scheduler for a run of ``epochs`` (default: the recipe's)."""
        self.recipe = self.recipe.replace(epochs=epochs or self.recipe.epochs)
        self.scheduler = self.recipe.build_scheduler(self.optimizer, steps_per_epoch)

    def change_length(self, steps_per_epoch: int, epochs: int) -> str:
        """Make the run ``epochs`` long: a schedule that follows a metric keeps its state,
        any other is re-planned (:func:`replan_schedule`) from the steps it has taken.
        Returns the note for the history ("" when the length stays).

        Raises:
            ValueError: the recipe's schedule cannot be that short (a long warm-up).
        """
        old = self.epochs
        if epochs == old:
            return ""
        recipe = self.recipe.replace(epochs=epochs)
        if not recipe.steps_on_metric:
            taken = self.scheduler.last_epoch if self.scheduler is not None else 0
            self.scheduler = replan_schedule(recipe, self.optimizer, steps_per_epoch, taken)
        self.recipe = recipe
        return f"length {old} -> {epochs} epochs"

    def shortest_length(self, steps_per_epoch: int, epochs: int) -> int:
        """Change to ``epochs``, or to the fewest above it that the schedule allows;
        the length set.

        Raises:
            ValueError: no length up to 1,000 epochs more fits.
        """
        for extra in range(1000):
            try:
                self.change_length(steps_per_epoch, epochs + extra)
                return epochs + extra
            except ValueError:
                continue
        raise ValueError(f"recipe {self.recipe.name!r}: no schedule fits the time budget")

    def step_after_epoch(self, row: Mapping[str, Any]) -> None:
        """Step an epoch-wise schedule at an epoch's end (a metric-following one on the
        recipe's ``monitor``, read from the epoch's history ``row``)."""
        with warnings.catch_warnings():
            # An epoch resumed after its last batch steps its schedule before this
            # process has stepped the optimizer; the order is right, but torch warns.
            warnings.filterwarnings("ignore", r"Detected call of `lr_scheduler\.step\(\)`")
            if self.recipe.steps_on_metric:
                self.scheduler.step(row[self.recipe.monitor or "test_accuracy"])
            elif self.scheduler is not None and not self.per_batch:
                self.scheduler.step()

    def state_dict(self) -> dict[str, Any] | None:
        """The scheduler's state (``None`` without one)."""
        return self.scheduler.state_dict() if self.scheduler is not None else None

    def load_state_dict(self, state: Mapping[str, Any] | None) -> None:
        if self.scheduler is not None and state is not None:
            self.scheduler.load_state_dict(dict(state))
