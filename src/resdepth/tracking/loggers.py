"""Callbacks that write a run's history where people already look at runs: TensorBoard,
and a JSON-lines file any tool can read."""

from __future__ import annotations

import json
import math
import os
from pathlib import Path
from typing import IO, Any

from .._validate import is_real
from ..artifacts import History
from ..training import Callback, TrainerView, current_learning_rate

__all__ = ["JsonLinesLogger", "TensorBoardLogger"]


def _numbers(row: dict[str, Any]) -> dict[str, float]:
    return {k: float(v) for k, v in row.items() if k != "epoch" and is_real(v)}


def _per_batch(trainer: TrainerView) -> bool:
    return trainer.recipe.scheduler_interval == "batch"


class JsonLinesLogger(Callback):
    """Append one JSON object per line to ``path``: ``{"kind": "epoch", ...}`` with the
    history row after every epoch, and, for per-batch schedules, ``{"kind": "step",
    "step": n, "learning_rate": lr}`` after every batch.

    Non-finite numbers are written as ``null``.  Only the main rank writes.

    Examples:
        >>> import json, pathlib, tempfile
        >>> from resdepth import ResNet, Trainer
        >>> from resdepth.data import make_synthetic
        >>> from resdepth.tracking import JsonLinesLogger
        >>> path = tempfile.mkdtemp() + "/log.jsonl"
        >>> net = ResNet(layers=(1,), widths=(4,), num_classes=4)
        >>> trainer = Trainer(net, device="cpu", progress=False, callbacks=[JsonLinesLogger(path)])
        >>> _ = trainer.fit(trainer.build_loaders(make_synthetic(16, 4, 8))[0], epochs=2)
        >>> lines = pathlib.Path(path).read_text().splitlines()
        >>> [json.loads(line)["epoch"] for line in lines]
        [1, 2]
    """

    def __init__(self, path: str | os.PathLike[str]) -> None:
        self.path = Path(path)
        self._file: IO[str] | None = None

    def _write(self, record: dict[str, Any]) -> None:
        if self._file is None:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            self._file = self.path.open("a")
        clean = {k: (None if isinstance(v, float) and not math.isfinite(v) else v)
                 for k, v in record.items()}  # fmt: skip
        self._file.write(json.dumps(clean) + "\n")
        self._file.flush()

    def on_step_end(self, trainer: TrainerView, step: int) -> None:
        if trainer.is_main and _per_batch(trainer):
            lr = current_learning_rate(trainer.optimizer)
            self._write({"kind": "step", "step": step, "learning_rate": lr})

    def on_epoch_end(self, trainer: TrainerView, row: dict[str, Any]) -> None:
        if trainer.is_main:
            self._write({"kind": "epoch", **row})

    def on_fit_end(self, trainer: TrainerView, history: History) -> None:
        if self._file is not None:
            self._file.close()
            self._file = None


class TensorBoardLogger(Callback):
    """Write the history to TensorBoard (``pip install "resdepth[tensorboard]"``): every
    number of a row as a scalar per epoch (``train/accuracy``, ``test/loss``, ...), and
    the learning rate per batch for per-batch schedules.

    Args:
        log_dir: the event files' folder; ``tensorboard --logdir`` it.

    Raises:
        ImportError: without the ``tensorboard`` package, naming the extra.
    """

    def __init__(self, log_dir: str | os.PathLike[str]) -> None:
        try:
            from torch.utils.tensorboard import SummaryWriter
        except ImportError as err:  # pragma: no cover - depends on the environment
            raise ImportError(
                'TensorBoardLogger needs tensorboard: pip install "resdepth[tensorboard]"'
            ) from err
        self.log_dir = Path(log_dir)
        self._writer_class = SummaryWriter
        self._writer: Any = None

    def _writer_for(self, trainer: TrainerView) -> Any:
        if self._writer is None:
            self._writer = self._writer_class(log_dir=str(self.log_dir))
        return self._writer

    def on_step_end(self, trainer: TrainerView, step: int) -> None:
        if trainer.is_main and _per_batch(trainer):
            lr = current_learning_rate(trainer.optimizer)
            self._writer_for(trainer).add_scalar("learning_rate/step", lr, step)

    def on_epoch_end(self, trainer: TrainerView, row: dict[str, Any]) -> None:
        if not trainer.is_main:
            return
        writer = self._writer_for(trainer)
        for key, value in _numbers(row).items():
            split, _, name = key.partition("_")
            tag = f"{split}/{name}" if split in ("train", "test") else key
            writer.add_scalar(tag, value, int(row["epoch"]))
        writer.flush()

    def on_fit_end(self, trainer: TrainerView, history: History) -> None:
        if self._writer is not None:
            self._writer.close()
            self._writer = None
