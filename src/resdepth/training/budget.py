"""Training to a time budget: the concern a :class:`~resdepth.training.Trainer` holds
when ``fit(time_budget=...)`` is given.

The run times its first batches (after one warm-up batch) and one forward pass of an
evaluation batch, then plans the largest number of epochs whose training and
evaluations fit in what is left of the budget, and re-plans the learning-rate schedule
for that length, so that the schedule ends where the budget does.  Where an epoch is
short (under a tenth of the budget), it plans at the end of the first epoch instead,
from that epoch's whole cost: checkpoints and per-epoch work then count too.  The plan is then
fixed: it is recorded in every checkpoint, and a resumed run finishes its planned
epochs whatever the clock says.  A run that falls behind its plan (the machine got
busier) still ends its schedule, so it runs over by as much as it was slowed down.
"""

from __future__ import annotations

import contextlib
import dataclasses
import datetime
import math
import time
from collections.abc import Callable, Mapping
from typing import Any, cast

import torch
from torch import nn

from ..artifacts import History
from ..data import DeviceLoader
from . import distributed as dist
from .devices import autocast, to_device
from .run_state import RunState
from .schedule import Schedule
from .settings import training_batch_shape
from .stopping import CheckpointEvery

__all__ = ["EvaluationCost", "Inference", "TimeBudget"]

#: What the budget evaluates with: the module, its precision and memory format.
Inference = Callable[[], tuple[nn.Module, str, bool]]

MEASURED_STEPS = 8  # timed batches after the warm-up batch, fewer in a shorter epoch
MARGIN = 0.95  # of the budget planned for: the rest absorbs a run slower than measured


@dataclasses.dataclass
class EvaluationCost:
    """What an evaluation of a run costs, for a budget to plan with: timed whole, or
    estimated from one forward pass.

    Args:
        val: the evaluation batches (``None``: the run does not evaluate).
        evaluate: runs a whole evaluation of ``val``.
        inference: the module evaluations use, with its precision and memory format.
        model: the network, whose input size a batch of zeros takes.
        train: the training batches, whose images give that size.
        batch_size: the training batch size (for the shape of ``train``'s batches).
        test_batch_size: the evaluation batch size where ``val`` does not say.
        device: where the run is.
    """

    val: Any
    evaluate: Callable[[Any], Any]
    inference: Inference
    model: nn.Module
    train: object
    batch_size: int
    test_batch_size: int
    device: torch.device

    def timed(self) -> float:
        """Seconds a whole evaluation takes, timed now (0 without ``val``): in short
        epochs its fixed costs outweigh the forward passes."""
        if self.val is None:
            return 0.0
        begin = time.perf_counter()
        self.evaluate(self.val)
        return time.perf_counter() - begin

    def estimated(self) -> float:
        """Seconds an evaluation takes: one timed forward pass of an evaluation batch of
        zeros (no random draws, BatchNorm in eval mode), times the batches."""
        batches = len(self.val) if hasattr(self.val, "__len__") else 0
        if batches == 0:
            return 0.0
        shape = training_batch_shape(self.train, self.model, self.batch_size)
        if shape is None:
            return 0.0
        size = self.test_batch_size
        if isinstance(self.val, DeviceLoader):
            size = min(self.val.batch_size, self.val.images.shape[0])
        net, precision, channels_last = self.inference()
        was_training = net.training
        x = to_device(torch.zeros(size, *shape[1:]), self.device, channels_last)
        net.eval()
        with torch.no_grad(), autocast(self.device, precision):
            net(x)  # warm-up
            begin = time.perf_counter()
            net(x)
            seconds = time.perf_counter() - begin
        net.train(was_training)
        return seconds * batches


class TimeBudget:
    """A wall-clock budget for a run, and once measured, its plan.

    Args:
        seconds: the budget, from the call to ``fit`` to its end, evaluations included.

    Attributes:
        planned_epochs: the plan, once made (``None`` before).
        step_seconds: the measured seconds a training batch.
        eval_seconds: the estimated seconds an evaluation.
    """

    def __init__(self, seconds: float) -> None:
        self.seconds = float(seconds)
        self.planned_epochs: int | None = None
        self.step_seconds = math.nan
        self.eval_seconds = math.nan
        self._started = time.perf_counter()
        self._spent_before = 0.0  # seconds of the budget spent by the run before a resume
        self._steps = 0  # batches trained by this process since fit began
        self._timer = 0.0
        self._steps_per_epoch = 1
        self._loop_started = self._started
        self._evaluation: EvaluationCost | None = None
        self._history = History()
        self.verbose = False
        self._epoch_overhead = 0.0  # seconds an epoch costs beyond its batches and evaluation

    @classmethod
    def parse(cls, value: object, epochs: object = None) -> TimeBudget:
        """A budget from ``"45min"``, ``"90s"``, ``"1.5h"`` or a ``timedelta``.

        Raises:
            ValueError: for anything else (a number of steps included), or with
                ``epochs`` given too: the budget plans the epochs.
        """
        if epochs is not None:
            raise ValueError(
                f"give time_budget or epochs, not both: the budget plans the epochs "
                f"(got time_budget={value!r}, epochs={epochs!r})"
            )
        seconds = None
        with contextlib.suppress(ValueError):  # steps, "off" or nonsense: one message below
            seconds = CheckpointEvery.parse(value, "time_budget").seconds
        if seconds is None:
            raise ValueError(
                f"time_budget must be a duration such as '45min', '90s' or '1.5h', or a "
                f"timedelta, got {value!r}"
            )
        return cls(seconds)

    def describe(self) -> str:
        return str(datetime.timedelta(seconds=round(self.seconds)))

    # ------------------------------------------------------------------ planning
    def start(
        self,
        train: object,
        evaluation: EvaluationCost,
        history: History,
        *,
        device: torch.device,
        verbose: bool = False,
    ) -> None:
        """Note the size of the run's epochs (``train``), and what planning reads: the
        cost of an ``evaluation`` and the ``history`` (an epoch's time).  The clock
        started when the budget was made, at the start of ``fit``: the precision trial
        counts."""
        if not hasattr(train, "__len__"):
            raise ValueError(
                "time_budget needs batches of known length (a DeviceLoader or a sized "
                "DataLoader) to plan epochs; give epochs= instead"
            )
        # The fewest batches any rank has: every rank must plan at the same step.
        self._steps_per_epoch = max(1, dist.fewest_batches(len(train), device))
        self._evaluation, self._history = evaluation, history
        self.verbose = verbose
        self._loop_started = time.perf_counter()

    def after_step(self, run: RunState, schedule: Schedule) -> bool:
        """Called after each training batch: times the first ones, then plans once;
        whether it planned now."""
        if self.planned_epochs is not None:
            return False
        self._steps += 1
        if self._steps == 1:  # the warm-up batch: allocations, first-call costs
            self._timer = time.perf_counter()
            return False
        if self._steps - 1 == min(MEASURED_STEPS, self._steps_per_epoch - 1):
            self.step_seconds = (time.perf_counter() - self._timer) / (self._steps - 1)
            long_epochs = self._steps_per_epoch * self.step_seconds >= 0.1 * self.seconds
            if dist.all_gather_objects(long_epochs)[0]:  # under torchrun, rank 0 decides
                self._plan(run, schedule)
                return True
        return False

    def after_epoch(self, run: RunState, schedule: Schedule, evaluated: bool) -> bool:
        """Called after each epoch (its checkpoint written): plans from the first epoch's
        whole cost where the batches alone did not; whether it planned now."""
        if self.planned_epochs is not None:
            return False
        wall = time.perf_counter() - self._loop_started
        self.eval_seconds = self._evaluation.timed() if self._evaluation is not None else 0.0
        spent_evaluating = self.eval_seconds if evaluated else 0.0
        # The epoch's batches as the history timed them (all of them, not the first few).
        batches = float(self._history[-1]["epoch_seconds"])
        self.step_seconds = batches / self._steps_per_epoch
        self._epoch_overhead = max(0.0, wall - batches - spent_evaluating)
        self._plan(run, schedule)
        return True

    def _plan(self, run: RunState, schedule: Schedule) -> None:
        if math.isnan(self.eval_seconds):
            evaluation = self._evaluation
            self.eval_seconds = evaluation.estimated() if evaluation is not None else 0.0
        every, epoch_steps = schedule.recipe.eval_every, self._steps_per_epoch
        done = run.steps_done(epoch_steps)
        # The epochs already finished are in elapsed(), evaluations included.  No plan
        # ends before the next epoch end: the epoch under way must finish, and a run
        # planned at an epoch's end gets one more, so that it ends evaluated.
        shortest = run.epoch + 1

        def expected(epochs: int) -> float:  # seconds to the end of a run of `epochs`
            evaluations = sum(1 for e in range(run.epoch + 1, epochs + 1)
                              if e % every == 0 or e == epochs)  # fmt: skip
            left = (epochs * epoch_steps - done) * self.step_seconds
            overheads = (epochs - run.epoch) * self._epoch_overhead
            return self.elapsed() + left + overheads + evaluations * self.eval_seconds

        epochs = shortest
        while expected(epochs + 1) <= MARGIN * self.seconds:
            epochs += 1
        # Under torchrun every rank takes rank 0's plan: their clocks differ a little.
        epochs = cast(int, dist.all_gather_objects(epochs)[0])
        # The schedule changes the run's length (the fewest epochs its warm-up allows).
        epochs = schedule.shortest_length(epoch_steps, epochs)
        self.planned_epochs = epochs
        over = expected(epochs) > self.seconds
        run.add_note(f"planned {epochs} epochs for the time budget of {self.describe()}")
        if self.verbose:
            print(
                f"time budget {self.describe()}: {self.step_seconds:.3g} s a batch, "
                f"{self.eval_seconds:.3g} s an evaluation: {epochs} epoch(s), about "
                f"{datetime.timedelta(seconds=round(expected(epochs)))} in all"
                + (" (over the budget: the shortest run the recipe allows)" if over else ""),
                flush=True,
            )

    def elapsed(self) -> float:
        """Seconds of the budget spent: by this process since ``fit`` began, and before
        a resume, by the run's earlier processes."""
        return self._spent_before + time.perf_counter() - self._started

    # ------------------------------------------------------------------ state
    def state_dict(self) -> dict[str, Any]:
        return {
            "seconds": self.seconds,
            "planned_epochs": self.planned_epochs,
            "step_seconds": self.step_seconds,
            "eval_seconds": self.eval_seconds,
            "elapsed": self.elapsed(),
        }

    @classmethod
    def from_state(cls, state: Mapping[str, Any] | None) -> TimeBudget | None:
        """The budget a checkpoint recorded (its plan kept), or ``None``."""
        if state is None:
            return None
        budget = cls(float(state["seconds"]))
        planned = state.get("planned_epochs")
        budget.planned_epochs = int(planned) if planned is not None else None
        budget.step_seconds = float(state.get("step_seconds", math.nan))
        budget.eval_seconds = float(state.get("eval_seconds", math.nan))
        budget._spent_before = float(state.get("elapsed", 0.0))
        return budget
