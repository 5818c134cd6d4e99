"""One training epoch's running sums, and the checks that keep non-finite values out of
the history and the checkpoints."""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

import torch
from torch import Tensor, nn

from ..errors import NonFiniteLossError

__all__ = [
    "EpochProgress",
    "NonFiniteLossError",
    "check_loss",
    "check_saveable",
    "describe_position",
    "epoch_row",
    "non_finite",
]


@dataclass
class EpochProgress:
    """An epoch under way: its position and running sums.

    The sums stay on the device: reading them every step would stall a GPU.  A
    mid-epoch checkpoint stores them, so a resumed epoch reports what an
    uninterrupted one would.
    """

    epoch: int  # zero-based
    lr: float  # the rate the epoch began with (the history's learning_rate)
    loss_sum: Tensor
    correct: Tensor
    bad_step: Tensor  # the first step whose loss was not finite, or -1
    step: int = 0  # batches done
    count: int = 0  # images done
    seconds: float = 0.0
    # The images and seconds of the epoch that an earlier process trained, before a
    # resume: its rate counts this process's only.  (Older checkpoints lack them.)
    count_before: int = 0
    seconds_before: float = 0.0

    @classmethod
    def begin(cls, epoch: int, lr: float, device: torch.device) -> EpochProgress:
        zero = torch.zeros((), device=device)
        bad = torch.full((), -1, dtype=torch.long, device=device)
        return cls(epoch, lr, zero, zero.clone(), bad)

    def record(self, loss: Tensor, logits: Tensor, target: Tensor, step: int) -> None:
        """Add one batch: its mean loss, logits and targets (indices or soft rows)."""
        with torch.no_grad():
            n = logits.shape[0]
            loss = loss.detach()
            self.loss_sum += loss * n
            pred = logits.argmax(dim=1)
            # Under mixing the target row is lam * onehot(a) + (1 - lam) * onehot(b), so
            # reading it at the prediction gives the paper's lambda-weighted accuracy.
            self.correct += (
                (pred == target).sum()
                if target.dim() == 1
                else target.gather(1, pred[:, None]).sum()
            )
            first_bad = (self.bad_step < 0) & ~torch.isfinite(loss)
            self.bad_step = torch.where(first_bad, step, self.bad_step)
        self.count += n

    def state_dict(self) -> dict[str, Any]:
        return dict(self.__dict__)

    @classmethod
    def from_state(cls, state: dict[str, Any], device: torch.device) -> EpochProgress:
        """The epoch of a checkpoint's ``state``, for this process to take up."""
        tensors = {k: v.to(device) for k, v in state.items() if isinstance(v, Tensor)}
        before = {"count_before": state["count"], "seconds_before": state["seconds"]}
        return cls(**{**state, **tensors, **before})

    @property
    def count_here(self) -> int:
        """Images of the epoch trained in this process (all of them without a resume)."""
        return self.count - self.count_before


def epoch_row(
    progress: EpochProgress, totals: Tensor, test: dict[str, float], note: str
) -> dict[str, Any]:
    """The history row of a finished epoch, from every rank's summed ``totals``
    (loss, correct, images, and images trained in this process) and the evaluation's
    ``test`` figures.  After a mid-epoch resume the time and the rate are this process's
    share of the epoch: what it trained, in the seconds it took."""
    images, images_here = int(totals[2]), int(totals[3])
    seconds = progress.seconds - progress.seconds_before
    if images == 0:
        raise ValueError(f"train yielded no batches in epoch {progress.epoch + 1}")
    return {
        "epoch": progress.epoch + 1,
        "train_accuracy": 100.0 * float(totals[1]) / images,
        "test_accuracy": test["accuracy"],
        "train_loss": float(totals[0]) / images,
        "test_loss": test["loss"],
        "learning_rate": progress.lr,
        "epoch_seconds": seconds,
        "images_per_second": images_here / seconds if images_here and seconds else math.nan,
        "note": note,
    }


def describe_position(epoch: int, progress: EpochProgress | None) -> str:
    """Where a run stands, in words: after ``epoch`` whole epochs, or within ``progress``."""
    if progress is None:
        return f"the end of epoch {epoch}"
    return f"epoch {progress.epoch + 1} up to batch {progress.step}"


def non_finite(
    model: nn.Module,
    row: dict[str, Any] | None,
    has_val: bool,
    optimizer: torch.optim.Optimizer | None = None,
) -> list[str]:
    """Names of the model's floating-point tensors (parameters and buffers, such as
    BatchNorm's running variance), of the optimizer's state (momentum, Adam's moments)
    and of the row's losses that are NaN or infinite."""
    bad = []
    if row is not None:
        bad = [
            k
            for k in ("train_loss", "test_loss")
            if (k == "train_loss" or has_val) and not math.isfinite(row[k])
        ]
    tensors = [(k, t) for k, t in model.state_dict().items() if t.is_floating_point()]
    if optimizer is not None:
        names = {id(p): n for n, p in model.named_parameters()}
        tensors += [
            (f"the optimizer's {key} of {names.get(id(param), 'a parameter')}", value)
            for param, state in optimizer.state.items()
            for key, value in state.items()
            if isinstance(value, Tensor) and value.is_floating_point()
        ]
    # One read of the device for all tensors; the names only when something is wrong.
    if tensors and not bool(torch.stack([t.isfinite().all() for _, t in tensors]).all()):
        bad += [k for k, t in tensors if not bool(t.isfinite().all())]
    return bad


def check_loss(progress: EpochProgress, saved: str) -> None:
    """Raise if a step of the epoch had a non-finite loss (reads the device once)."""
    step = int(progress.bad_step)
    if step >= 0:
        raise NonFiniteLossError(
            f"the training loss became non-finite at epoch {progress.epoch + 1}, step "
            f"{step + 1}; training stopped and {saved}"
        )


def check_saveable(
    model: nn.Module,
    epoch: int,
    row: dict[str, Any] | None,
    has_val: bool,
    saved: str,
    optimizer: torch.optim.Optimizer | None = None,
) -> None:
    """Raise rather than record or save non-finite weights, buffers, optimizer state or
    losses."""
    bad = non_finite(model, row, has_val, optimizer)
    if bad:
        more = f" and {len(bad) - 3} more" if len(bad) > 3 else ""
        raise NonFiniteLossError(
            f"{', '.join(bad[:3])}{more} became non-finite in epoch {epoch + 1}; training "
            f"stopped and {saved}"
        )
