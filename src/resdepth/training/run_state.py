"""Where a run stands: the one object that says how far a run has got (its completed
epochs, the batches it has trained, the epoch under way) and what the next history row
will note.  The epoch loop writes it, the time budget and the loggers read it, and a
checkpoint stores it as its own entries."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import torch

from ..artifacts import CheckpointKeys
from .epoch import EpochProgress, describe_position

__all__ = ["RunState"]


class RunState:
    """How far a run has got.

    Attributes:
        epoch: completed epochs.
        steps_run: batches trained in this run, across epochs and resumes.
        progress: the epoch under way (its position and running sums), or ``None``
            between epochs.
        note: what goes into the next history row (a resume, a new length, a plan).

    Examples:
        >>> state = RunState()
        >>> state.add_note("resumed"); state.add_note("length 3 -> 5 epochs")
        >>> state.note, state.started, state.position()
        ('resumed; length 3 -> 5 epochs', False, 'the end of epoch 0')
    """

    def __init__(self) -> None:
        self.epoch = 0
        self.steps_run = 0
        self.progress: EpochProgress | None = None
        self.note = ""

    @property
    def started(self) -> bool:
        """Whether the run has trained anything: a finished epoch or part of one."""
        return self.epoch > 0 or self.progress is not None

    def add_note(self, text: str) -> None:
        """Add ``text`` to the next history row's note."""
        if text:
            self.note = f"{self.note}; {text}" if self.note else text

    def position(self) -> str:
        """Where the run stands, in words (``epoch 2 up to batch 5``)."""
        return describe_position(self.epoch, self.progress)

    def steps_done(self, steps_per_epoch: int) -> int:
        """Batches of the schedule done: the finished epochs' and the current one's."""
        within = self.progress.step if self.progress is not None else 0
        return self.epoch * steps_per_epoch + within

    def begin_epoch(self, epoch: int, lr: float, device: torch.device) -> EpochProgress:
        """The epoch under way: a resumed one as it was, else a new one at rate ``lr``."""
        if self.progress is None:
            self.progress = EpochProgress.begin(epoch, lr, device)
        return self.progress

    def finish_epoch(self) -> None:
        """Count the epoch under way as done (its history row has taken the note)."""
        self.progress, self.note = None, ""
        self.epoch += 1

    def state_dict(self) -> dict[str, Any]:
        """The checkpoint's ``epoch``, ``progress`` and ``steps_run`` entries."""
        return {
            CheckpointKeys.EPOCH: self.epoch,
            CheckpointKeys.PROGRESS: self.progress.state_dict() if self.progress else None,
            CheckpointKeys.STEPS_RUN: self.steps_run,
        }

    def load_state_dict(
        self,
        state: Mapping[str, Any],
        device: torch.device,
        progress: Mapping[str, Any] | None = None,
    ) -> None:
        """Take up a checkpoint's position; ``progress`` is this rank's epoch under way
        where ranks keep their own (default: the checkpoint's)."""
        own = progress if progress is not None else state[CheckpointKeys.PROGRESS]
        self.epoch, self.steps_run = (
            int(state[CheckpointKeys.EPOCH]),
            int(state[CheckpointKeys.STEPS_RUN]),
        )
        self.progress = EpochProgress.from_state(dict(own), device) if own else None
