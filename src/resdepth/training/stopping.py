"""When to write a mid-epoch checkpoint, and stopping cleanly on SIGINT or SIGTERM."""

from __future__ import annotations

import contextlib
import datetime
import re
import signal
import sys
import threading
import time
from collections.abc import Iterator
from types import FrameType
from typing import Any

import torch

from .._validate import is_int
from ..artifacts import RunDir
from . import distributed as dist

__all__ = ["CheckpointEvery", "Pauses", "StopSignals", "guarded_run"]

# Under DDP the ranks agree on mid-epoch checkpoints and stops every this many batches.
_SYNC_EVERY = 16

_UNITS = {
    "s": 1.0, "sec": 1.0, "second": 1.0, "seconds": 1.0,
    "m": 60.0, "min": 60.0, "minute": 60.0, "minutes": 60.0,
    "h": 3600.0, "hour": 3600.0, "hours": 3600.0,
    "step": 0.0, "steps": 0.0,
}  # fmt: skip
_SPEC = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*([a-z]+)\s*$")


class CheckpointEvery:
    """A mid-epoch checkpoint cadence: every ``steps`` batches or every ``seconds``.

    Built from ``None`` (never), a positive ``int`` (steps), a ``datetime.timedelta``,
    or a string such as ``"5min"``, ``"300s"``, ``"2h"`` or ``"1000steps"``
    (``"off"`` for never).
    """

    def __init__(self, steps: int | None = None, seconds: float | None = None) -> None:
        self.steps, self.seconds = steps, seconds
        self._last_step = 0
        self._last_time = time.monotonic()

    @classmethod
    def parse(cls, value: object, name: str = "checkpoint_every") -> CheckpointEvery:
        if value is None or (isinstance(value, str) and value.strip().lower() in ("off", "none")):
            return cls()
        if is_int(value):
            if value < 1:
                raise ValueError(f"{name} must be a positive number of steps, got {value!r}")
            return cls(steps=value)
        if isinstance(value, datetime.timedelta):
            if value.total_seconds() <= 0:
                raise ValueError(f"{name} must be a positive duration, got {value!r}")
            return cls(seconds=value.total_seconds())
        match = _SPEC.match(value.lower()) if isinstance(value, str) else None
        if match is None or match.group(2) not in _UNITS or float(match.group(1)) <= 0:
            raise ValueError(
                f"{name} must be a number of steps, a timedelta, or text such as '5min', "
                f"'300s', '2h' or '1000steps' ('off' for never), got {value!r}"
            )
        number, unit = float(match.group(1)), match.group(2)
        if _UNITS[unit] == 0.0:
            if not number.is_integer():
                raise ValueError(f"{name} must be a whole number of steps, got {value!r}")
            return cls(steps=int(number))
        return cls(seconds=number * _UNITS[unit])

    @property
    def enabled(self) -> bool:
        return self.steps is not None or self.seconds is not None

    def due(self, step: int) -> bool:
        """Whether a checkpoint is due after the ``step``-th batch of the run."""
        if self.steps is not None:
            return step - self._last_step >= self.steps
        if self.seconds is not None:
            return time.monotonic() - self._last_time >= self.seconds
        return False

    def saved(self, step: int) -> None:
        """A checkpoint was just written after the ``step``-th batch of the run."""
        self._last_step, self._last_time = step, time.monotonic()

    def __repr__(self) -> str:
        if self.steps is not None:
            return f"every {self.steps} steps"
        if self.seconds is not None:
            return f"every {self.seconds:g} s"
        return "never"


class StopSignals:
    """While active, SIGINT and SIGTERM ask the run to stop at the next batch boundary.

    The first signal only sets :attr:`requested`; a second SIGINT interrupts at once
    (the default Ctrl-C).  Outside the main thread nothing is installed.
    """

    def __init__(self) -> None:
        self.requested: int | None = None
        self._previous: dict[int, Any] = {}

    def _handle(self, signum: int, frame: FrameType | None) -> None:
        if self.requested is not None and signum == signal.SIGINT:
            raise KeyboardInterrupt
        self.requested = signum
        name = signal.Signals(signum).name
        print(
            f"\n{name} received: saving and stopping after this batch "
            "(Ctrl-C again to stop at once)",
            file=sys.stderr,
            flush=True,
        )

    def __enter__(self) -> StopSignals:
        if threading.current_thread() is threading.main_thread():
            for signum in (signal.SIGINT, signal.SIGTERM):
                self._previous[signum] = signal.signal(signum, self._handle)
        return self

    def __exit__(self, *exc: object) -> None:
        for signum, handler in self._previous.items():
            signal.signal(signum, handler)
        self._previous.clear()


class Pauses:
    """The points where a run leaves its training loop for a moment: a mid-epoch
    checkpoint is due, or a signal asked it to stop.

    Under DDP every rank must take the same decision at the same batch, so the ranks
    agree (a small all-reduce) every few batches, and only within the batches that
    every rank has.
    """

    def __init__(self, every: CheckpointEvery, signals: StopSignals, device: torch.device) -> None:
        self.every, self.signals, self.device = every, signals, device

    def poll(self, steps_run: int, position: int, min_steps: int, exact: bool) -> tuple[bool, int]:
        """``(save, signal)`` after the batch at ``position`` of the epoch: ``signal`` is
        the one that asked some rank to stop, or 0; ``exact``: the training data can
        resume mid-epoch (a DeviceLoader)."""
        save = exact and self.every.due(steps_run)
        signum = self.signals.requested or 0
        if not dist.is_distributed():
            return save, signum
        if position % _SYNC_EVERY or position > min_steps:
            return False, 0
        # The signal's number, not a flag: every rank then names the signal one got.
        flags = dist.all_reduce_max(torch.tensor([float(save), float(signum)], device=self.device))
        return bool(flags[0]), int(flags[1])

    def stop_requested(self) -> int | None:
        """The signal that asked any rank to stop, at an epoch's end (every rank calls)."""
        flag = dist.all_reduce_max(
            torch.tensor(float(self.signals.requested or 0), device=self.device)
        )
        return int(flag) or None


@contextlib.contextmanager
def guarded_run(
    run_dir: RunDir | None, watch_signals: bool, every: CheckpointEvery, device: torch.device
) -> Iterator[Pauses | None]:
    """While a ``fit`` runs: the run folder locked (``run_dir``, on the main rank) and,
    where the run saves (``watch_signals``), SIGINT and SIGTERM turned into a clean stop
    at the next checkpoint; yields the :class:`Pauses` the loop polls (``None`` where
    nothing is saved)."""
    with contextlib.ExitStack() as stack:
        if run_dir is not None:
            stack.enter_context(run_dir.active())
        dist.barrier()
        pauses = None
        if watch_signals:
            pauses = Pauses(every, stack.enter_context(StopSignals()), device)
        yield pauses
