"""The epoch loop of a :class:`~resdepth.training.Trainer`: train over the batches,
evaluate, record the history row, step the schedule, save, and stop cleanly where a
signal or a mid-epoch checkpoint asks.

Like timm's ``train_one_epoch``, it receives the parts it works on (where the run
stands, the schedule, the prepared step, the history, the time budget) and the few
things it asks of its owner (evaluate, save, the check before a save) as callables;
it keeps no state of its own, so a checkpoint of those parts is the whole of where
the run stands.  It is built for one ``fit`` call and dropped after it, never stored
on the trainer: a back-reference would keep a finished trainer (its model, optimizer
and DDP process group) alive until a garbage collection.
"""

from __future__ import annotations

import contextlib
import dataclasses
import math
import time
from collections.abc import Callable, Sequence
from typing import Any

import torch
from torch import nn

from ..artifacts import History
from ..data import DeviceLoader
from ..errors import RunInterrupted
from . import distributed as dist
from .batches import Batches
from .budget import EvaluationCost, Inference, TimeBudget
from .callbacks import Callback, TrainerView
from .data_init import set_epoch
from .epoch import EpochProgress, check_loss, epoch_row
from .prepare import PreparedRun
from .progress import ProgressReport, describe_row
from .run_state import RunState
from .schedule import Schedule, current_learning_rate
from .stopping import Pauses

__all__ = ["EpochLoop"]


@dataclasses.dataclass
class EpochLoop:
    """One ``fit`` call's loop over epochs.

    Attributes:
        owner: what callbacks receive (the trainer, as a :class:`TrainerView`).
        run: where the run stands; the loop moves it on.
        schedule: the recipe and its scheduler (a time budget may change its length).
        prepared: the wrapped network and the step.
        model: the unwrapped model (layers that change with the epoch).
        optimizer: its first group's rate starts each history row.
        history: the rows the loop appends.
        device: where training runs.
        callbacks: called after each step and epoch.
        evaluate: a whole evaluation of some batches (loss and accuracy).
        inference: the module evaluations use, with its precision and memory format.
        save: write a checkpoint of the run as it stands, with the training batches'
            position (``best`` or not).
        check_saveable: refuse a save of non-finite values (epoch, row, evaluated).
        holds: what the run folder holds, for error messages.
        budget: the time budget, or ``None``.
        pauses: mid-epoch checkpoints and signals, or ``None`` without a run folder.
        verbose: report progress and print a line per epoch.
        progress_every: seconds between progress lines off a terminal.
        report: the progress report (made by :meth:`begin`).
    """

    owner: TrainerView
    run: RunState
    schedule: Schedule
    prepared: PreparedRun
    model: nn.Module
    optimizer: torch.optim.Optimizer
    history: History
    device: torch.device
    callbacks: Sequence[Callback]
    evaluate: Callable[[Batches], dict[str, float]]
    inference: Inference
    save: Callable[[Batches, bool], None]
    check_saveable: Callable[[int, dict[str, Any] | None, bool], None]
    holds: Callable[[], str]
    budget: TimeBudget | None = None
    pauses: Pauses | None = None
    verbose: bool = False
    progress_every: float = 30.0
    report: ProgressReport | None = None

    def begin(self, train: Batches, val: Batches | None) -> None:
        """Start the progress report and the time budget (which times the first
        batches and evaluations of ``train`` and ``val``)."""
        self.report = ProgressReport(self.verbose, self.schedule.epochs, self.device.type,
                                     self.progress_every)  # fmt: skip
        if self.budget is not None:
            recipe = self.schedule.recipe
            evaluation = EvaluationCost(
                val, self.evaluate, self.inference, self.model, train, recipe.batch_size,
                recipe.test_batch_size, self.device,
            )  # fmt: skip
            self.budget.start(train, evaluation, self.history, device=self.device,
                              verbose=self.verbose)  # fmt: skip

    def run_epoch(self, train: Batches, val: Batches | None) -> dict[str, Any]:
        """Run the next epoch (or the rest of it, after a mid-epoch resume) and return
        its history row."""
        run, schedule = self.run, self.schedule
        epoch = run.epoch
        lr = current_learning_rate(self.optimizer)
        progress = run.begin_epoch(epoch, lr, self.device)
        set_epoch(self.model, epoch)  # layers that change with the epoch
        start = time.perf_counter()
        self._train(train, progress)
        progress.seconds += time.perf_counter() - start
        check_loss(progress, self.holds())
        count, here = (torch.tensor(float(n), device=self.device)
                       for n in (progress.count, progress.count_here))  # fmt: skip
        sums = torch.stack([progress.loss_sum, progress.correct, count, here])
        totals = dist.all_reduce_sum(sums)
        if int(totals[2]) == 0:
            raise ValueError(f"train yielded no batches in epoch {epoch + 1}")
        if self.prepared.averaging is not None:
            self.prepared.averaging.sync()  # one average on every rank for what follows
        # The recipe's eval_every: a short run spends its time training; the last epoch
        # is always evaluated, so the run ends with its figure.
        due = (epoch + 1) % schedule.recipe.eval_every == 0 or epoch + 1 == schedule.epochs
        evaluated = val is not None and due
        nothing = {"loss": math.nan, "accuracy": math.nan}
        test = self.evaluate(val) if val is not None and due else nothing
        row = epoch_row(progress, totals, test, run.note)
        run.progress = None
        self.check_saveable(epoch, row, evaluated)
        schedule.step_after_epoch(row)
        metric = "test_accuracy" if val is not None else "train_accuracy"
        previous_best = self.history.best(metric)
        self.history.append(row)
        run.finish_epoch()
        improved = previous_best is None or row[metric] > previous_best[metric]
        self.save(train, improved and (evaluated or val is None))
        if self.budget is not None and self.budget.after_epoch(run, schedule, evaluated):
            self._planned()
            self.save(train, False)  # the plan, in the checkpoint a resume starts from
        if self.verbose:
            print(describe_row(row, schedule.epochs), flush=True)
        if self.pauses is not None and run.epoch < schedule.epochs:
            signum = self.pauses.stop_requested()
            if signum:
                raise RunInterrupted.after(signum, f"after epoch {run.epoch}", self.holds())
        return row

    def _planned(self) -> None:
        if self.report is not None:
            self.report.epochs = self.schedule.epochs

    def _train(self, train: Batches, progress: EpochProgress) -> None:
        run, schedule, prepared = self.run, self.schedule, self.prepared
        prepared.net.train()
        sized = hasattr(train, "__len__")
        per_epoch = len(train) if sized else 0  # type: ignore[arg-type]
        if self.report is not None:
            self.report.start_epoch(progress, per_epoch if sized else None)
        join: contextlib.AbstractContextManager[Any] = contextlib.nullcontext()
        min_steps = per_epoch
        if prepared.ddp is not None:
            join = torch.distributed.algorithms.join.Join([prepared.ddp])
            min_steps = dist.fewest_batches(min_steps, self.device)
        batches: Batches = train
        if isinstance(train, DeviceLoader) and progress.step >= len(train):
            # Stopped right after this epoch's last batch: its batches are all done, and
            # the loader's state has moved on to the next epoch, so a pass here would
            # train a whole extra epoch's batches inside this one.
            batches = ()
        step_once, lookahead = prepared.step, prepared.lookahead
        exact = isinstance(train, DeviceLoader)
        with join:
            for step, (x, y) in enumerate(batches, start=progress.step):
                if lookahead is not None:  # the run's length now: a time budget may change it
                    lookahead.total_steps = per_epoch * schedule.epochs
                step_once(x, y, progress, step, schedule.scheduler if schedule.per_batch else None)
                progress.step, run.steps_run = step + 1, run.steps_run + 1
                for cb in self.callbacks:
                    cb.on_step_end(self.owner, run.steps_run)
                if self.budget is not None and self.budget.after_step(run, schedule):
                    self._planned()
                if self.device.type == "cpu":  # free there; on a GPU, at the epoch's end
                    check_loss(progress, self.holds())
                if self.report is not None:
                    self.report.step(progress)
                if self.pauses is None:
                    continue
                save, signum = self.pauses.poll(run.steps_run, progress.step, min_steps, exact)
                if save or (signum and exact):  # a stop saves where it stands, if it can
                    check_loss(progress, self.holds())
                    self.check_saveable(progress.epoch, None, False)
                    self.save(train, False)
                if signum:
                    where = f"in epoch {progress.epoch + 1}, after batch {progress.step}"
                    raise RunInterrupted.after(signum, where, self.holds())
        if self.report is not None:
            self.report.end_epoch()
