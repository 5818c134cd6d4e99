"""Evaluation and prediction passes over batches, in eval mode and without gradients."""

from __future__ import annotations

import contextlib
from collections.abc import Callable, Iterable, Iterator
from typing import Any

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from .._validate import positive_int
from ..errors import DataMismatchError
from ..recipes import Recipe
from . import distributed as dist

__all__ = [
    "PRECISIONS",
    "autocast",
    "evaluate_batches",
    "model_num_classes",
    "predict_images",
    "to_device",
    "unwrap_model",
]

PRECISIONS = {"fp32": None, "bf16": torch.bfloat16, "fp16": torch.float16}


def unwrap_model(model: nn.Module) -> nn.Module:
    """The plain module inside ``torch.compile`` and DDP wrappers (plain state-dict keys)."""
    model = getattr(model, "_orig_mod", model)
    if isinstance(model, nn.parallel.DistributedDataParallel):
        model = model.module
    return getattr(model, "_orig_mod", model)


def model_num_classes(model: nn.Module, given: int | None, recipe: Recipe) -> int:
    """The number of classes ``model`` predicts: ``given``, else its ``num_classes`` or
    its ``fc`` layer's outputs; 0 if unknown and the ``recipe`` mixes no batches."""
    if given is not None:
        return positive_int("num_classes", given)
    n = getattr(model, "num_classes", None) or getattr(
        getattr(model, "fc", None), "out_features", None
    )
    if n is None and recipe.mixing is not None:
        raise ValueError(
            f"cannot tell the number of classes of {type(model).__name__} for the batch "
            f"mixing of recipe {recipe.name!r}: pass Trainer(..., num_classes=N)"
        )
    return int(n or 0)


def autocast(device: torch.device, precision: str) -> contextlib.AbstractContextManager[Any]:
    """Autocast to the precision's dtype on ``device`` (nothing for fp32)."""
    dtype = PRECISIONS[precision]
    if dtype is None:
        return contextlib.nullcontext()
    return torch.autocast(device.type, dtype=dtype)


def to_device(x: Tensor, device: torch.device, channels_last: bool) -> Tensor:
    """A batch of images on ``device`` (without waiting for the copy), in channels_last
    memory format when asked (faster convolutions on tensor-core GPUs)."""
    x = x.to(device, non_blocking=True)
    return x.contiguous(memory_format=torch.channels_last) if channels_last else x


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
