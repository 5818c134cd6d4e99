"""Chaining batch transforms while keeping every step's parameters replayable."""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from typing import Any

from torch import Tensor, nn

from .._validate import instance_of
from ._base import BatchTransform, Draw, Params
from ._warp import fused_warp

__all__ = ["Compose"]


class Compose(BatchTransform):
    """Apply batch transforms one after another.

    Parameters are drawn for every step in order (shapes follow each step's
    :meth:`~BatchTransform.output_size`), so ``generate_parameters`` gives one
    replayable record of the whole chain, keyed by step index and name
    (``"1.flip"``, ``"2.offset"``, ...).

    A run of steps that only move whole pixels (flips, zero-padded crops: those with
    a :meth:`~BatchTransform.matrix`) right before a resampling step with one (a
    :class:`RandomAffine`) is fused into a single sampling pass through the product
    of their matrices; the result equals the step-by-step one up to float rounding
    (``fuse=False`` turns this off).

    Args:
        transforms: the steps, each a :class:`BatchTransform`.
        fuse: fold runs of whole-pixel moves into a following resampling step.

    Shape:
        - Input: :math:`(B, C, H, W)`
        - Output: whatever the last step returns

    Examples:
        >>> import torch
        >>> from resdepth import transforms as T
        >>> pipeline = T.Compose([
        ...     T.ToFloat(), T.RandomHorizontalFlip(), T.RandomCrop(32, padding=4),
        ...     T.Normalize(T.CIFAR10_MEAN, T.CIFAR10_STD),
        ... ])
        >>> images = torch.randint(0, 256, (16, 3, 32, 32), dtype=torch.uint8)
        >>> pipeline(images).dtype
        torch.float32
    """

    def __init__(self, transforms: Iterable[BatchTransform], fuse: bool = True) -> None:
        super().__init__()
        self.fuse = bool(fuse)
        steps = list(transforms)
        for i, t in enumerate(steps):
            instance_of(f"transforms[{i}]", t, BatchTransform)
        self.transforms = nn.ModuleList(steps)

    def __iter__(self) -> Iterator[BatchTransform]:
        return iter(self.transforms)  # type: ignore[arg-type]

    def __len__(self) -> int:
        return len(self.transforms)

    def output_size(self, height: int, width: int) -> tuple[int, int]:
        for t in self:
            height, width = t.output_size(height, width)
        return height, width

    def _draw(self, d: Draw) -> Params:
        batch, channels, height, width = d.shape
        params: dict[str, Tensor] = {}
        for i, t in enumerate(self):
            for key, value in t.generate_parameters(
                (batch, channels, height, width), d.device, d.generator
            ).items():
                params[f"{i}.{key}"] = value
            height, width = t.output_size(height, width)
        return params

    def apply_transform(self, x: Tensor, params: Params) -> Tensor:
        steps = list(self)
        own = [
            {k[len(f"{i}.") :]: v for k, v in params.items() if k.startswith(f"{i}.")}
            for i in range(len(steps))
        ]
        i = 0
        while i < len(steps):
            fused = self._fuse_from(x, steps, own, i) if self.fuse else None
            if fused is not None:
                x, i = fused
                continue
            x = steps[i].apply_transform(x, own[i])
            i += 1
        return x

    @staticmethod
    def _fuse_from(
        x: Tensor, steps: list[BatchTransform], own: list[Params], start: int
    ) -> tuple[Tensor, int] | None:
        """Steps ``start, ...``: whole-pixel moves then one resampling step, as one
        sampling pass, and the index after them; ``None`` where no such run starts."""
        size = (x.shape[-2], x.shape[-1])
        moves, sizes = [], []
        j = start
        while j < len(steps) and not steps[j].resamples:
            move = steps[j].matrix(own[j], *size)
            if move is None:
                return None
            size = steps[j].output_size(*size)
            moves.append(move)
            sizes.append(size)
            j += 1
        if not moves or j == len(steps):
            return None
        last = steps[j].matrix(own[j], *size)
        if last is None:
            return None
        step: Any = steps[j]
        out = fused_warp(x, moves, sizes, last, step.output_size(*size), step.interpolation,
                         step.fill)  # fmt: skip
        return out, j + 1
