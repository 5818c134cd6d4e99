"""Callbacks that stop a run in the middle, as a crash or a signal would, and the
comparison of two checkpoints, for resume tests."""

from __future__ import annotations

import os
import signal
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import pytest
import torch

from resdepth import Callback, RunInterrupted, Trainer
from resdepth.artifacts import load_checkpoint


class Crash(Exception):
    """What the callbacks raise: a crash the test expects."""


class CrashAfterEpoch(Callback):
    def __init__(self, epoch: int) -> None:
        self.epoch = epoch

    def on_epoch_end(self, trainer: Trainer, row: dict) -> None:
        if row["epoch"] == self.epoch:
            raise Crash


class CrashAtStep(Callback):
    def __init__(self, step: int) -> None:
        self.step = step

    def on_step_end(self, trainer: Trainer, step: int) -> None:
        if step == self.step:
            raise Crash


class InterruptAfter(Callback):
    """Sends this process ``signum`` after step ``step``: a Ctrl-C, or a scheduler's SIGTERM."""

    def __init__(self, step: int, signum: int = signal.SIGINT) -> None:
        self.step, self.signum = step, signum

    def on_step_end(self, trainer: Trainer, step: int) -> None:
        if step == self.step:
            os.kill(os.getpid(), self.signum)


def assert_same(a: object, b: object, where: str = "") -> None:
    """Two nested checkpoint states are equal, tensors bit for bit (NaN equals NaN)."""
    if isinstance(a, torch.Tensor):
        assert isinstance(b, torch.Tensor) and torch.equal(a, b), where
    elif isinstance(a, dict):
        assert isinstance(b, dict) and a.keys() == b.keys(), where
        for key in a:
            assert_same(a[key], b[key], f"{where}.{key}")
    elif isinstance(a, (list, tuple)):
        assert isinstance(b, (list, tuple)) and len(a) == len(b), where
        for i, (x, y) in enumerate(zip(a, b, strict=True)):
            assert_same(x, y, f"{where}[{i}]")
    else:
        assert a == b or (a != a and b != b), where  # NaN == NaN for unmeasured columns


#: Builds a fresh trainer writing to a folder, with callbacks: ``(trainer, train, val)``.
MakeTrainer = Callable[[Path, list[Callback]], tuple[Trainer, Any, Any]]


def whole_run(make: MakeTrainer, out: Path, epochs: int) -> dict[str, Any]:
    """The last checkpoint of a run that was not interrupted."""
    trainer, train, val = make(out, [])
    trainer.fit(train, val, epochs=epochs)
    return load_checkpoint(out / "last.pt")


def interrupt_and_resume(
    make: MakeTrainer, out: Path, step: int, epochs: int, signum: int = signal.SIGINT
) -> dict[str, Any]:
    """The last checkpoint of a run interrupted after ``step`` and then resumed to its end."""
    trainer, train, val = make(out, [InterruptAfter(step, signum)])
    with pytest.raises(RunInterrupted):
        trainer.fit(train, val, epochs=epochs)
    trainer, train, val = make(out, [])
    trainer.fit(train, val, epochs=epochs, resume=True)
    return load_checkpoint(out / "last.pt")


def assert_same_run(
    whole: dict[str, Any], final: dict[str, Any],
    keys: Sequence[str] = ("model", "optimizer", "scheduler", "epoch", "steps_run"),
) -> None:  # fmt: skip
    """Two checkpoints hold the same run: ``keys`` bit for bit, and the same history
    but for wall times and notes."""
    for key in keys:
        assert_same(whole[key], final[key], key)
    timing = ("epoch_seconds", "images_per_second", "note")  # wall time and notes differ
    rows = [{k: v for k, v in r.items() if k not in timing} for r in final["history"]["rows"]]
    expected = [{k: v for k, v in r.items() if k not in timing} for r in whole["history"]["rows"]]
    assert_same(expected, rows, "history")
