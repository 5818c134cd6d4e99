"""Erasing a rectangle of each sample: RandomErasing (Zhong et al., 2020) and Cutout
(DeVries and Taylor, 2017)."""

from __future__ import annotations

import math
import numbers
from collections.abc import Sequence

import torch
from torch import Tensor

from .._validate import finite_float, float_in_range, positive_float, positive_int, probability
from ._base import BatchTransform, Draw, Params, check_range, memory_format_of

__all__ = ["Cutout", "RandomErasing"]

# RandomErasing tries this many boxes per sample, as torchvision does, and keeps the
# first that fits; a sample none of whose boxes fit is left as it is.
_TRIES = 10


def _erase(x: Tensor, box: Tensor, value: Tensor | None, noise: Tensor | None) -> Tensor:
    """Rows ``[top, bottom)`` and columns ``[left, right)`` of each sample set to
    ``value`` (per channel) or to ``noise``; an empty box leaves the sample."""
    height, width = x.shape[-2:]
    rows = torch.arange(height, device=x.device).view(1, 1, -1, 1)
    cols = torch.arange(width, device=x.device).view(1, 1, 1, -1)
    box = box.to(x.device)
    inside = (
        (rows >= box[:, 0, None, None, None]) & (rows < box[:, 1, None, None, None])
        & (cols >= box[:, 2, None, None, None]) & (cols < box[:, 3, None, None, None])
    )  # fmt: skip
    fill = noise if noise is not None else value
    assert fill is not None
    return torch.where(inside, fill.to(x.dtype), x).contiguous(memory_format=memory_format_of(x))


class RandomErasing(BatchTransform):
    """Erase a random rectangle of each sample with probability ``p``, with torchvision's
    semantics.

    The rectangle's area is a uniform fraction ``scale`` of the image and its aspect
    ratio log-uniform in ``ratio``; its height and width are rounded, and up to ten
    draws are made until one fits inside the image (else the sample is left).  Its
    position is uniform over the places it fits.

    Args:
        p: probability that a sample is erased.
        scale: ``(min, max)`` fraction of the image's area.
        ratio: ``(min, max)`` aspect ratio (height / width).
        value: the erased pixels' value, in the input's units: a number, one per
            channel, or ``"random"`` for standard normal noise (floating-point input).

    Shape:
        - Input: :math:`(B, C, H, W)`
        - Output: the same shape, dtype and memory format

    Examples:
        >>> import torch
        >>> from resdepth.transforms import RandomErasing
        >>> out = RandomErasing(p=1.0, value=0.5)(torch.zeros(4, 3, 32, 32))
        >>> bool(((out == 0.5).sum(dim=(1, 2, 3)) > 0).all())
        True
    """

    def __init__(
        self,
        p: float = 0.5,
        scale: Sequence[float] = (0.02, 0.33),
        ratio: Sequence[float] = (0.3, 3.3),
        value: float | Sequence[float] | str = 0.0,
    ) -> None:
        super().__init__()
        self.p = probability("p", p)
        self.scale = check_range("scale", scale, symmetric=False, minimum=0.0)
        self.ratio = check_range("ratio", ratio, symmetric=False)
        float_in_range("scale", self.scale[1], 0.0, 1.0)
        positive_float("ratio", self.ratio[0])
        if isinstance(value, str):
            if value != "random":
                raise ValueError(
                    f"value must be a number, one per channel, or 'random', got {value!r}"
                )
            self.value: tuple[float, ...] | str = value
        elif isinstance(value, numbers.Real):
            self.value = (finite_float("value", value),)
        elif isinstance(value, Sequence) and len(value) > 0:
            self.value = tuple(finite_float("value", v) for v in value)
        else:
            raise ValueError(f"value must be a number, one per channel, or 'random', got {value!r}")

    def _draw(self, d: Draw) -> Params:
        batch, channels, height, width = d.shape
        area = float(height * width)
        u = d.rand(batch, _TRIES, 4)
        erase_area = area * (self.scale[0] + (self.scale[1] - self.scale[0]) * u[..., 0])
        log_lo, log_hi = math.log(self.ratio[0]), math.log(self.ratio[1])
        aspect = torch.exp(log_lo + (log_hi - log_lo) * u[..., 1])
        h = torch.sqrt(erase_area * aspect).round()
        w = torch.sqrt(erase_area / aspect).round()
        fits = (h < height) & (w < width)
        first = fits.to(torch.uint8).argmax(dim=1, keepdim=True)  # the first try that fits
        h, w = h.gather(1, first).squeeze(1), w.gather(1, first).squeeze(1)
        top = (u[..., 2].gather(1, first).squeeze(1) * (height - h + 1)).floor()
        left = (u[..., 3].gather(1, first).squeeze(1) * (width - w + 1)).floor()
        erased = fits.any(dim=1) & (d.rand(batch) < self.p)
        bottom = torch.where(erased, top + h, top)  # an empty box where nothing is erased
        box = torch.stack([top, bottom, left, left + w], dim=1).long()
        params = {"box": box}
        if self.value == "random":
            params["noise"] = d.randn(batch, channels, height, width)
        return params

    def apply_transform(self, x: Tensor, params: Params) -> Tensor:
        noise = params.get("noise")
        if noise is not None and not x.is_floating_point():
            raise TypeError("value='random' erases with normal noise: give floating-point images")
        value = None
        if noise is None:
            fill = self.value if isinstance(self.value, tuple) else (0.0,)
            if len(fill) not in (1, x.shape[1]):
                raise ValueError(f"value has {len(fill)} entries for {x.shape[1]} channels")
            value = torch.zeros(1, x.shape[1], 1, 1, device=x.device, dtype=torch.float32)
            for c in range(x.shape[1]):
                value[:, c].fill_(fill[c if len(fill) > 1 else 0])
        return _erase(x, params["box"], value, noise)

    def extra_repr(self) -> str:
        return f"p={self.p}, scale={self.scale}, ratio={self.ratio}, value={self.value!r}"


class Cutout(BatchTransform):
    """Zero a ``size`` x ``size`` square of each sample at a uniformly random centre,
    clipped at the border (DeVries and Taylor, 2017; 16 for CIFAR-10).

    Args:
        size: side of the square in pixels.
        p: probability that a sample is cut.
        value: the cut pixels' value, in the input's units.

    Examples:
        >>> import torch
        >>> from resdepth.transforms import Cutout
        >>> out = Cutout(16)(torch.ones(4, 3, 32, 32))
        >>> bool(((out == 0).sum(dim=(1, 2, 3)) > 0).all())
        True
    """

    def __init__(self, size: int, p: float = 1.0, value: float = 0.0) -> None:
        super().__init__()
        self.size = positive_int("size", size)
        self.p = probability("p", p)
        self.value = finite_float("value", value)

    def _draw(self, d: Draw) -> Params:
        height, width = d.height, d.width
        u = d.rand(d.batch, 3)
        cy, cx = (u[:, 0] * height).floor(), (u[:, 1] * width).floor()
        half = self.size // 2
        top, left = (cy - half).clamp(min=0), (cx - half).clamp(min=0)
        bottom = (cy - half + self.size).clamp(max=height)
        right = (cx - half + self.size).clamp(max=width)
        bottom = torch.where(u[:, 2] < self.p, bottom, top)
        return {"box": torch.stack([top, bottom, left, right], dim=1).long()}

    def apply_transform(self, x: Tensor, params: Params) -> Tensor:
        value = torch.full((1, 1, 1, 1), self.value, device=x.device)
        return _erase(x, params["box"], value, None)

    def extra_repr(self) -> str:
        return f"size={self.size}, p={self.p}, value={self.value}"
