"""What a person watching a run sees: a bar on a terminal, a plain line at a steady
interval elsewhere (a log file, CI, a notebook), and an estimate of the run's length."""

from __future__ import annotations

import math
import sys
import time
from typing import IO, Any

from .epoch import EpochProgress

__all__ = ["ProgressReport", "describe_row", "duration"]

# The estimate waits for this many batches: the first ones are slower (allocation,
# compilation), and a few more make the rate steady.
_ESTIMATE_AFTER = 5
# A CPU run longer than this gets a warning with the ways to make it shorter.
_LONG_CPU_RUN = 2 * 3600.0


def duration(seconds: float) -> str:
    """``"45 s"``, ``"8 min"``, ``"3.2 h"``."""
    if seconds < 90:
        return f"{seconds:.0f} s"
    if seconds < 5400:
        return f"{seconds / 60:.0f} min"
    return f"{seconds / 3600:.1f} h"


class ProgressReport:
    """Reports a run's progress to ``stream`` (standard error by default).

    Args:
        enabled: report at all.
        epochs: the run's total epochs.
        device_type: ``"cpu"`` adds a warning for runs of many hours.
        every: seconds between plain progress lines when ``stream`` is no terminal.
        stream: where to write; a terminal gets a tqdm bar instead of lines.
    """

    def __init__(
        self, enabled: bool, epochs: int, device_type: str, every: float = 30.0,
        stream: IO[str] | None = None,
    ) -> None:  # fmt: skip
        self.enabled, self.epochs, self.device_type, self.every = (
            enabled,
            epochs,
            device_type,
            every,
        )
        self.stream = stream if stream is not None else sys.stderr
        self._bar: Any = None
        self._estimated = False
        self._steps = 0  # batches in the current epoch
        self._epoch_start = self._last_line = time.monotonic()
        # Where this process took the epoch up (past batch 0 after a mid-epoch resume):
        # the rate and the estimate count from there, (batches, images).
        self._start_at = (0, 0)
        self._timed_from: tuple[float, int] | None = None  # (time, batches) the rate counts from

    def _write(self, text: str) -> None:
        print(text, file=self.stream, flush=True)

    def start_epoch(self, progress: EpochProgress, steps: int | None) -> None:
        if not self.enabled:
            return
        self._steps = steps or 0
        self._epoch_start = self._last_line = time.monotonic()
        self._start_at = (progress.step, progress.count)
        self._timed_from = None
        if self.stream.isatty():
            from tqdm.auto import tqdm  # type: ignore[import-untyped]  # no type information

            desc = f"epoch {progress.epoch + 1}/{self.epochs}"
            self._bar = tqdm(total=steps, initial=progress.step, unit="batch", leave=False,
                             desc=desc, file=self.stream)  # fmt: skip

    def _rate(self, progress: EpochProgress) -> float | None:
        """Seconds per batch, measured after the first batches this process trained."""
        now = time.monotonic()
        if self._timed_from is None:
            self._timed_from = (now, progress.step)
            return None
        start, at = self._timed_from
        return (now - start) / (progress.step - at) if progress.step > at else None

    def step(self, progress: EpochProgress) -> None:
        """After a batch: update the bar, print a line when one is due, estimate once."""
        if not self.enabled:
            return
        done = progress.step - self._start_at[0]  # batches this process trained
        rate = self._rate(progress) if done >= 2 else None
        if rate is not None and not self._estimated and done >= _ESTIMATE_AFTER:
            self._estimated = True
            self._estimate(progress, rate)
        if self._bar is not None:
            self._bar.update(1)
            if progress.step % 25 == 1:
                loss, acc = self._means(progress)
                self._bar.set_postfix(loss=f"{loss:.3f}", acc=f"{acc:.1f}%")
            return
        now = time.monotonic()
        if now - self._last_line >= self.every:
            self._last_line = now
            self._write(self._line(progress, rate))

    @staticmethod
    def _means(progress: EpochProgress) -> tuple[float, float]:
        n = max(progress.count, 1)  # reading the sums waits for the device: not every batch
        return progress.loss_sum.item() / n, 100.0 * progress.correct.item() / n

    def _line(self, progress: EpochProgress, rate: float | None) -> str:
        loss, acc = self._means(progress)
        text = (
            f"epoch {progress.epoch + 1}/{self.epochs} batch {progress.step}"
            f"{f'/{self._steps}' if self._steps else ''}  loss {loss:.4f} acc {acc:.2f}%"
        )
        if rate:
            seconds = max(time.monotonic() - self._epoch_start, 1e-9)
            text += f"  {(progress.count - self._start_at[1]) / seconds:,.0f} img/s"
            if self._steps:
                epoch_left = rate * (self._steps - progress.step)
                run_left = epoch_left + rate * self._steps * (self.epochs - progress.epoch - 1)
                text += f"  epoch ends in {duration(epoch_left)}, run in {duration(run_left)}"
        return text

    def _estimate(self, progress: EpochProgress, rate: float) -> None:
        if not self._steps:
            return
        epoch = rate * self._steps
        run = epoch * (self.epochs - progress.epoch) - rate * progress.step
        self._write(
            f"expected: about {duration(epoch)} an epoch, {duration(run)} for the "
            f"{self.epochs - progress.epoch} epoch(s) left (training only)"
        )
        if self.device_type == "cpu" and run > _LONG_CPU_RUN:
            self._write(
                f"warning: this is a CPU run of about {duration(run)}; for a quick check use "
                "fewer epochs or images (--epochs, --subset), or train on a GPU"
            )

    def end_epoch(self) -> None:
        if self._bar is not None:
            self._bar.close()
            self._bar = None


def describe_row(row: dict[str, Any], epochs: int) -> str:
    """The one line printed after an epoch."""
    test = (
        f"test loss {row['test_loss']:.4f} acc {row['test_accuracy']:.2f}%"
        if math.isfinite(row["test_accuracy"])
        else "not evaluated"  # no test data, or not an epoch of the recipe's eval_every
    )
    return (
        f"epoch {row['epoch']}/{epochs}  "
        f"train loss {row['train_loss']:.4f} acc {row['train_accuracy']:.2f}%  {test}  "
        f"lr {row['learning_rate']:.4g}  {row['epoch_seconds']:.1f}s "
        f"({row['images_per_second']:,.0f} img/s)"
    )
