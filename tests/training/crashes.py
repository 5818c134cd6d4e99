"""Callbacks that stop a run in the middle, as a crash would, for resume tests."""

from __future__ import annotations

from resdepth import Callback, Trainer


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
