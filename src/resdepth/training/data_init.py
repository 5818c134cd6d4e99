"""Data-dependent initialisation: modules that must see training images before the
first step (such as :class:`~resdepth.models.PatchWhitening`), and modules whose
behaviour depends on the epoch.

A module takes part by having a method: ``init_from_data(images)`` (with an
``init_images`` attribute for how many it wants, and a ``fitted`` property that says
whether it has been) and ``set_epoch(epoch)``.  The Trainer calls the first once, when
a fresh run starts (never on resume: what the fit set is in the model's
``state_dict``, so the checkpoint holds it), and the second at the start of every epoch.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from typing import Any

import torch
from torch import Tensor, nn

from ..data import DeviceLoader
from . import distributed as dist

__all__ = ["DEFAULT_INIT_IMAGES", "has_epoch_hooks", "init_from_data", "set_epoch"]

#: Images a data-initialised module gets when it names no ``init_images``.
DEFAULT_INIT_IMAGES = 5000


def _waiting(model: nn.Module) -> list[nn.Module]:
    waiting = (m for m in model.modules() if callable(getattr(m, "init_from_data", None)))
    return [m for m in waiting if not getattr(m, "fitted", False)]


def _sample(train: Iterable[Any], count: int, seed: int) -> Tensor:
    """``count`` raw training images: from a :class:`~resdepth.data.DeviceLoader`, the
    first ``count`` of a permutation of the whole set drawn with ``seed`` (the same on
    every rank, whatever its shard); from other batches, the first ``count`` images of
    their raw batches, in order."""
    if isinstance(train, DeviceLoader):
        n = train.images.shape[0]
        order = torch.randperm(n, generator=torch.Generator().manual_seed(seed))[:count]
        return train.images.index_select(0, order.to(train.images.device))
    raw = getattr(train, "batches", train)  # a user's batches inside RecipeBatches
    if iter(raw) is raw:
        raise ValueError(
            "the model has layers fitted on training images, which a one-shot iterator "
            "would use up: give train as a DeviceLoader, a DataLoader or a list"
        )
    taken: list[Tensor] = []
    found = 0
    for images, _ in raw:
        taken.append(torch.as_tensor(images))
        found += taken[-1].shape[0]
        if found >= count:
            break
    if not taken:
        raise ValueError("train yielded no images to initialise the model's data-fitted layers")
    return torch.cat([t.cpu() for t in taken])[:count]


@torch.no_grad()
def init_from_data(
    model: nn.Module,
    train: Iterable[Any],
    transform: Callable[[Tensor], Tensor],
    seed: int,
    device: torch.device,
) -> str:
    """Fit every module of ``model`` that waits for data on a seeded sample of ``train``.

    The sample (see :func:`_sample`) passes through ``transform`` (the recipe's
    evaluation transform: the images as the network sees them, unaugmented); each
    module gets the first ``init_images`` of it.  Under torchrun rank 0's result is
    broadcast, so every rank holds the same model whatever its batches.

    Returns:
        What was done, in words ("" when no module waits).
    """
    modules = _waiting(model)
    if not modules:
        return ""
    counts = [int(getattr(m, "init_images", DEFAULT_INIT_IMAGES)) for m in modules]
    images = _sample(train, max(counts), seed)
    x = transform(images.to(device))
    for module, count in zip(modules, counts, strict=True):
        module.init_from_data(x[:count])  # type: ignore[operator]
    for module in modules:
        dist.broadcast_from_first([*module.parameters(), *module.buffers()])
    names = ", ".join(sorted({type(m).__name__ for m in modules}))
    return f"{names} fitted on {x.shape[0]} training images (seed {seed})"


def set_epoch(model: nn.Module, epoch: int) -> None:
    """Call ``set_epoch(epoch)`` on every module of ``model`` that has one."""
    for module in model.modules():
        hook = getattr(module, "set_epoch", None)
        if callable(hook):
            hook(epoch)


def has_epoch_hooks(model: nn.Module) -> bool:
    """Whether a module of ``model`` changes with the epoch (under DDP, its parameters
    may then take no gradient in some epochs)."""
    return any(callable(getattr(m, "set_epoch", None)) for m in model.modules())
