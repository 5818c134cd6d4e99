"""Evaluation and prediction passes over batches, in eval mode and without gradients."""

from __future__ import annotations

import contextlib
from collections.abc import Callable, Iterable, Iterator

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from ..errors import DataMismatchError
from . import distributed as dist
from .devices import autocast, to_device

__all__ = ["evaluate_batches", "predict_images"]


@contextlib.contextmanager
def _eval_mode(net: nn.Module) -> Iterator[None]:
    was_training = net.training
    net.eval()
    try:
        with torch.no_grad():
            yield
    finally:
        net.train(was_training)


def evaluate_batches(
    net: nn.Module,
    batches: Iterable[tuple[Tensor, Tensor]],
    device: torch.device,
    precision: str,
    channels_last: bool,
) -> dict[str, float]:
    """Mean cross-entropy and accuracy (percent) over every rank's batches.

    Raises:
        ValueError: if the batches hold no images on any rank.
    """
    sums = torch.zeros(3, device=device)
    with _eval_mode(net):
        for i, (x, y) in enumerate(batches):
            x, y = to_device(x, device, channels_last), y.to(device, non_blocking=True)
            with autocast(device, precision):
                logits = net(x).float()
            if i == 0 and y.numel() and int(y.max()) >= logits.shape[1]:  # one read, once
                raise DataMismatchError(
                    f"label {int(y.max())} is outside the model's {logits.shape[1]} outputs: "
                    "the data has more classes than the model was trained on"
                )
            sums[0] += F.cross_entropy(logits, y, reduction="sum")
            sums[1] += (logits.argmax(dim=1) == y).sum()
            sums[2] += y.shape[0]
    sums = dist.all_reduce_sum(sums)
    n = float(sums[2])
    if n == 0:
        raise ValueError("the evaluation data holds no images")
    return {"loss": float(sums[0]) / n, "accuracy": 100.0 * float(sums[1]) / n}


def predict_images(
    net: nn.Module,
    images: Tensor,
    transform: Callable[[Tensor], Tensor],
    batch_size: int,
    device: torch.device,
    precision: str,
    channels_last: bool,
    tta: bool,
) -> Tensor:
    """Class labels ``(N,)`` on the CPU; ``tta`` averages with horizontally flipped images."""
    out = []
    with _eval_mode(net):
        for i in range(0, images.shape[0], batch_size):
            x = to_device(transform(images[i : i + batch_size].to(device)), device, channels_last)
            with autocast(device, precision):
                probs = net(x).float().softmax(dim=1)
                if tta:
                    probs = probs + net(x.flip(-1)).float().softmax(dim=1)
            out.append(probs.argmax(dim=1).cpu())
    return torch.cat(out) if out else torch.empty(0, dtype=torch.long)
