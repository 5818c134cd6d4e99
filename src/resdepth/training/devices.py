"""Where and how a model computes: the plain module inside its wrappers, its number of
classes, autocast for a precision, and batches moved to the device in a memory format.
Shared by the step, the evaluation passes, the settings' trial and the time budget."""

from __future__ import annotations

import contextlib
from typing import Any

import torch
from torch import Tensor, nn

from .._validate import positive_int
from ..recipes import Recipe

__all__ = ["PRECISIONS", "autocast", "model_num_classes", "to_device", "unwrap_model"]

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
