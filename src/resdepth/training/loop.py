"""The epoch loop of a :class:`~resdepth.training.Trainer`: train over the batches,
evaluate, record the history row, step the schedule, save, and stop cleanly where a
signal or a mid-epoch checkpoint asks.

Like Lightning's loops, it works on the parts the trainer owns (model, optimizer,
schedule, history, run folder) and keeps no state of its own, so a checkpoint of the
trainer is the whole of where the run stands.  The trainer is passed in, never
stored: a stored back-reference would make a cycle that keeps a finished trainer
(its model, optimizer and DDP process group) alive until a garbage collection.
"""

from __future__ import annotations

import contextlib
import math
import time
import warnings
from collections.abc import Iterable
from typing import TYPE_CHECKING, Any

import torch
from torch import Tensor

from ..data import DeviceLoader
from ..errors import RunInterrupted
from . import distributed as dist
from .data_init import set_epoch
from .epoch import EpochProgress, check_loss, describe_row, epoch_row
from .evaluation import unwrap_model
from .stopping import Pauses

if TYPE_CHECKING:
    from .trainer import Trainer

__all__ = ["run_epoch"]

Batches = Iterable[tuple[Tensor, Tensor]]


def run_epoch(
    t: Trainer, train: Batches, val: Batches | None, epoch: int, pauses: Pauses | None
) -> dict[str, Any]:
    """Run epoch ``epoch`` of trainer ``t``'s :meth:`~resdepth.training.Trainer.fit` (or
    the rest of it, after a mid-epoch resume) and return its history row."""
    if t._progress is None:
        lr = float(t.optimizer.param_groups[0]["lr"])
        t._progress = EpochProgress.begin(epoch, lr, t.device)
    progress = t._progress
    set_epoch(unwrap_model(t.model), epoch)  # layers that change with the epoch
    start = time.perf_counter()
    _train(t, train, progress, pauses)
    progress.seconds += time.perf_counter() - start
    check_loss(progress, t._holds())
    count, here = (
        torch.tensor(float(n), device=t.device) for n in (progress.count, progress.count_here)
    )
    totals = dist.all_reduce_sum(torch.stack([progress.loss_sum, progress.correct, count, here]))
    if int(totals[2]) == 0:
        raise ValueError(f"train yielded no batches in epoch {epoch + 1}")
    if t._averaging is not None:
        t._averaging.sync()  # one average on every rank for what follows
    # The recipe's eval_every: a short run spends its time training; the last epoch is
    # always evaluated, so the run ends with its figure.
    due = (epoch + 1) % t.recipe.eval_every == 0 or epoch + 1 == t.recipe.epochs
    evaluated = val is not None and due
    test = t.evaluate(val) if val is not None and due else {"loss": math.nan, "accuracy": math.nan}
    row = epoch_row(progress, totals, test, t._note)
    t._progress = None
    t._check_saveable(epoch, row, evaluated)
    with warnings.catch_warnings():
        # An epoch resumed after its last batch steps its schedule before this process
        # has stepped the optimizer; the order is right, but torch warns about it.
        warnings.filterwarnings("ignore", r"Detected call of `lr_scheduler\.step\(\)`")
        if t.recipe.steps_on_metric:
            t.scheduler.step(row[t.recipe.monitor or "test_accuracy"])
        elif t.scheduler is not None and t.recipe.scheduler_interval == "epoch":
            t.scheduler.step()
    metric = "test_accuracy" if val is not None else "train_accuracy"
    previous_best = t.history.best(metric)
    t.history.append(row)
    t.epoch, t._note = epoch + 1, ""
    improved = previous_best is None or row[metric] > previous_best[metric]
    t._save(train, best=improved and (evaluated or val is None))
    if t._budget is not None and t._budget.after_epoch(t, evaluated):
        t._save(train, best=False)  # the plan, in the checkpoint a resume starts from
    if t.progress and t.is_main:
        print(describe_row(row, t.recipe.epochs), flush=True)
    if pauses is not None and t.epoch < t.recipe.epochs:
        signum = pauses.stop_requested()
        if signum:
            raise RunInterrupted.after(signum, f"after epoch {t.epoch}", t._holds())
    return row


def _train(t: Trainer, train: Batches, progress: EpochProgress, pauses: Pauses | None) -> None:
    t._net.train()
    report = t._report
    if report is not None:
        report.start_epoch(progress, len(train) if hasattr(train, "__len__") else None)  # type: ignore[arg-type]
    join: contextlib.AbstractContextManager[Any] = contextlib.nullcontext()
    min_steps = len(train) if hasattr(train, "__len__") else 0  # type: ignore[arg-type]
    if t._ddp is not None:
        join = torch.distributed.algorithms.join.Join([t._ddp])
        # Ranks may hold one batch more or less; they only agree where all take part.
        min_steps = -int(dist.all_reduce_max(torch.tensor(-float(min_steps), device=t.device)))
    batches: Batches = train
    if isinstance(train, DeviceLoader) and progress.step >= len(train):
        # Stopped right after this epoch's last batch: its batches are all done, and the
        # loader's state has moved on to the next epoch, so a pass here would train a
        # whole extra epoch's batches inside this one.
        batches = ()
    train_step = t._step
    assert train_step is not None, "fit prepares the step before the first epoch"
    lookahead, per_epoch = train_step.lookahead, len(train) if hasattr(train, "__len__") else 0  # type: ignore[arg-type]
    with join:
        for step, (x, y) in enumerate(batches, start=progress.step):
            if lookahead is not None:  # the run's length now: a time budget may change it
                lookahead.total_steps = per_epoch * t.recipe.epochs
            per_batch = t.recipe.scheduler_interval == "batch"
            train_step(x, y, progress, step, t.scheduler if per_batch else None)
            progress.step, t._steps_run = step + 1, t._steps_run + 1
            for cb in t.callbacks:
                cb.on_step_end(t, t._steps_run)
            if t._budget is not None:
                t._budget.after_step(t)
            if t.device.type == "cpu":  # free there; on a GPU, at the epoch's end
                check_loss(progress, t._holds())
            if report is not None:
                report.step(progress)
            if pauses is None:
                continue
            exact = isinstance(train, DeviceLoader)
            save, signum = pauses.poll(t._steps_run, progress.step, min_steps, exact)
            if save or (signum and exact):  # a stop saves where it stands, if it can
                check_loss(progress, t._holds())
                t._check_saveable(progress.epoch, None, False)
                t._save(train, best=False)
            if signum:
                where = f"in epoch {progress.epoch + 1}, after batch {progress.step}"
                raise RunInterrupted.after(signum, where, t._holds())
    if report is not None:
        report.end_epoch()
