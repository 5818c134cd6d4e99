"""The call shapes the parts agree on, so the loader needs to know nothing of transforms.

A transform of a batch takes the images and a keyword ``generator`` for its random
draws; a batch mixing takes images and targets and returns both.  Every
:mod:`resdepth.transforms` transform, ``CutMix`` and ``MixUp`` fit them, and so
does any function with those parameters.
"""

from __future__ import annotations

from typing import Protocol

import torch
from torch import Tensor

__all__ = ["BatchMixing", "ImageTransform"]


class ImageTransform(Protocol):
    """``transform(images, generator=g) -> images``; ``g`` may be ``None``."""

    def __call__(self, x: Tensor, *, generator: torch.Generator | None = ...) -> Tensor: ...


class BatchMixing(Protocol):
    """``mixing(images, targets, generator=g) -> (images, soft_targets)``."""

    def __call__(
        self, x: Tensor, y: Tensor, *, generator: torch.Generator | None = ...
    ) -> tuple[Tensor, Tensor]: ...
