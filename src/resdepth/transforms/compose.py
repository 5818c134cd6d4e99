"""Chaining batch transforms while keeping every step's parameters replayable."""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Sequence

import torch
from torch import Tensor, nn

from ._base import BatchTransform, Params
from .geometric import RandomAffine, can_fuse, fused_flip_crop_affine

__all__ = ["Compose"]


class Compose(BatchTransform):
    """Apply batch transforms one after another.

    Parameters are drawn for every step in order (shapes follow each step's
    :meth:`~BatchTransform.output_size`), so ``generate_parameters`` gives one
    replayable record of the whole chain, keyed ``"0"``, ``"1"``, ... .

    Flips and zero-padded crops that come right before a :class:`RandomAffine`
    are fused with it into a single sampling pass; the result equals the
    step-by-step one up to float rounding (``fuse=False`` turns this off).

    Args:
        transforms: the steps, each a :class:`BatchTransform`.
        fuse: fold flip/crop runs into a following affine warp.

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
            if not isinstance(t, BatchTransform):
                raise TypeError(f"transforms[{i}] must be a BatchTransform, got {type(t).__name__}")
        self.transforms = nn.ModuleList(steps)

    def __iter__(self) -> Iterator[BatchTransform]:
        return iter(self.transforms)  # type: ignore[arg-type]

    def __len__(self) -> int:
        return len(self.transforms)

    def output_size(self, height: int, width: int) -> tuple[int, int]:
        for t in self:
            height, width = t.output_size(height, width)
        return height, width

    def generate_parameters(
        self,
        shape: torch.Size | Sequence[int],
        device: torch.device | str = "cpu",
        generator: torch.Generator | None = None,
    ) -> Params:
        batch, channels, height, width = shape
        params: dict[str, Tensor] = {}
        for i, t in enumerate(self):
            for key, value in t.generate_parameters(
                (batch, channels, height, width), device, generator
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
            # Flips and zero-padded crops right before an affine warp fold into its
            # sampling pass: one grid_sample instead of three passes over the batch.
            j = i
            while j < len(steps) and can_fuse(steps[j]):
                j += 1
            if self.fuse and j > i and j < len(steps) and isinstance(steps[j], RandomAffine):
                pre = list(zip(steps[i:j], own[i:j], strict=True))
                x = fused_flip_crop_affine(x, pre, steps[j], own[j])
                i = j + 1
                continue
            x = steps[i].apply_transform(x, own[i])
            i += 1
        return x
