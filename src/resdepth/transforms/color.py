"""Colour batch transforms: jitter, greyscale, and the single operations of the
augmentation policies, each with independent parameters per sample.

They take uint8 images (0..255) or floating-point images in [0, 1] and return the
same dtype; thresholds are in the input's units, as in torchvision.  Each matches
torchvision v2's transform of the same name applied image by image with the same
parameters (tested per operation).
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence

import torch
from torch import Tensor

from .._validate import finite_float, int_in_range, non_negative_float, probability
from . import _color as C
from ._base import BatchTransform, Draw, Params, WithProbability, check_range
from ._select import Branch, choose_per_sample, take

__all__ = [
    "ColorJitter",
    "RandomAutocontrast",
    "RandomEqualize",
    "RandomGrayscale",
    "RandomInvert",
    "RandomPosterize",
    "RandomSharpness",
    "RandomSolarize",
]


class _Masked(WithProbability):
    """A colour operation applied to each sample with probability ``p``: a subclass sets
    :attr:`_operation`, or overrides :meth:`_operate` for one with an argument and
    names that argument in :attr:`_shown`."""

    _operation: Callable[[Tensor], Tensor]
    _shown: tuple[str, ...] = ()

    def _operate(self, x: Tensor, scale: float) -> Tensor:
        """The operation on ``x`` in [0, 1]; ``scale`` is the input's (255 for uint8)."""
        return self._operation(x)

    @staticmethod
    def _per_sample(x: Tensor, value: float) -> Tensor:
        """``value`` for each sample of ``x``."""
        return torch.full((x.shape[0],), value, device=x.device)

    def apply_transform(self, x: Tensor, params: Params) -> Tensor:
        scale = C.unit_scale(x)
        operate: Branch = lambda images, rows: self._operate(images, scale)  # noqa: E731
        out = choose_per_sample(C.to_unit(x), params[self.decision_key].long(), [None, operate])
        return C.from_unit(out, x)

    def extra_repr(self) -> str:
        return ", ".join(
            [*(f"{name}={getattr(self, name)}" for name in self._shown), f"p={self.p}"]
        )


class RandomGrayscale(_Masked):
    """Replace a sample by its grey image (in every channel) with probability ``p``.

    Examples:
        >>> import torch
        >>> from resdepth.transforms import RandomGrayscale
        >>> out = RandomGrayscale(p=1.0)(torch.rand(2, 3, 4, 4))
        >>> bool((out[:, 0] == out[:, 2]).all())
        True
    """

    def __init__(self, p: float = 0.1) -> None:
        super().__init__(p)

    def _operate(self, x: Tensor, scale: float) -> Tensor:
        return C.grayscale(x).expand_as(x)


class RandomInvert(_Masked):
    """Invert each sample's values with probability ``p``."""

    _operation = staticmethod(C.invert)


class RandomAutocontrast(_Masked):
    """Stretch each channel to the full range with probability ``p``."""

    _operation = staticmethod(C.autocontrast)


class RandomEqualize(_Masked):
    """Equalise each channel's histogram (on 8-bit values) with probability ``p``."""

    _operation = staticmethod(C.equalize)


class RandomSolarize(_Masked):
    """Invert the values at or above ``threshold`` (in the input's units: 0..255 for
    uint8, 0..1 for floats) with probability ``p``."""

    _shown = ("threshold",)

    def __init__(self, threshold: float, p: float = 0.5) -> None:
        super().__init__(p)
        self.threshold = finite_float("threshold", threshold)

    def _operate(self, x: Tensor, scale: float) -> Tensor:
        return C.solarize(x, self._per_sample(x, self.threshold / scale))


class RandomPosterize(_Masked):
    """Keep the top ``bits`` bits of each 8-bit value with probability ``p``."""

    _shown = ("bits",)

    def __init__(self, bits: int, p: float = 0.5) -> None:
        super().__init__(p)
        self.bits = int_in_range("bits", bits, 0, 9)

    def _operate(self, x: Tensor, scale: float) -> Tensor:
        return C.posterize(x, self._per_sample(x, float(self.bits)))


class RandomSharpness(_Masked):
    """Sharpen (factor above 1) or blur (below 1) each sample with probability ``p``."""

    _shown = ("sharpness_factor",)

    def __init__(self, sharpness_factor: float, p: float = 0.5) -> None:
        super().__init__(p)
        self.sharpness_factor = non_negative_float("sharpness_factor", sharpness_factor)

    def _operate(self, x: Tensor, scale: float) -> Tensor:
        return C.adjust_sharpness(x, self._per_sample(x, self.sharpness_factor))


def _factor_range(
    name: str, value: float | Sequence[float] | None, centre: float = 1.0, bound: float = math.inf
) -> tuple[float, float] | None:
    """torchvision's ranges: ``v`` means ``[max(0, centre - v), centre + v]``."""
    if value is None or (not isinstance(value, Sequence) and value == 0):
        return None
    if isinstance(value, Sequence) and not isinstance(value, str):
        low, high = check_range(name, value, symmetric=False)
    else:
        v = non_negative_float(name, value)
        low, high = (max(0.0, centre - v) if centre else -v), centre + v
    if not (-bound <= low and high <= bound) or (centre and low < 0):
        allowed = f"[{-bound:g}, {bound:g}]" if math.isfinite(bound) else "[0, inf)"
        raise ValueError(f"{name} must give a range within {allowed}, got {value!r}")
    return low, high


class ColorJitter(BatchTransform):
    """Random brightness, contrast, saturation and hue, in a random order per sample.

    The parameters mean what they mean in torchvision: ``brightness=b`` draws a factor
    uniformly from ``[max(0, 1 - b), 1 + b]`` (or give a ``(min, max)`` pair), likewise
    contrast and saturation; ``hue=h`` draws a shift from ``[-h, h]``, ``h <= 0.5``.
    Each sample draws its own factors and its own order of the four operations, as
    torchvision's ColorJitter does for each image; with probability ``1 - p`` a sample
    is left as it is.

    The order is per sample, so the batch goes through four rounds; in each, every
    operation runs once, on the samples whose order puts it there (index groups on a
    CPU, masks on GPUs and under ``torch.compile``).

    Args:
        brightness, contrast, saturation: jitter of the factor (0: none).
        hue: jitter of the hue shift, in [0, 0.5] (0: none).
        p: probability that a sample is jittered at all.

    Shape:
        - Input: :math:`(B, 3, H, W)`, uint8 or floating point in [0, 1]
        - Output: the same shape, dtype and memory format

    Examples:
        >>> import torch
        >>> from resdepth.transforms import ColorJitter
        >>> jitter = ColorJitter(brightness=0.4, contrast=0.4, saturation=0.4, hue=0.1)
        >>> x = torch.randint(0, 256, (8, 3, 32, 32), dtype=torch.uint8)
        >>> params = jitter.generate_parameters(x.shape)
        >>> torch.equal(jitter(x, params=params), jitter(x, params=params))
        True
    """

    def __init__(
        self,
        brightness: float | Sequence[float] | None = 0,
        contrast: float | Sequence[float] | None = 0,
        saturation: float | Sequence[float] | None = 0,
        hue: float | Sequence[float] | None = 0,
        p: float = 1.0,
    ) -> None:
        super().__init__()
        self.brightness = _factor_range("brightness", brightness)
        self.contrast = _factor_range("contrast", contrast)
        self.saturation = _factor_range("saturation", saturation)
        self.hue = _factor_range("hue", hue, centre=0.0, bound=0.5)
        self.p = probability("p", p)

    def _ranges(self) -> list[tuple[float, float] | None]:
        return [self.brightness, self.contrast, self.saturation, self.hue]

    def _draw(self, d: Draw) -> Params:
        neutral = (1.0, 1.0, 1.0, 0.0)
        factors = []
        for spread, rest in zip(self._ranges(), neutral, strict=True):
            if spread is None:
                factors.append(torch.full((d.batch,), rest, device=d.device))
            else:
                factors.append(d.uniform(*spread))
        order = d.rand(d.batch, 4).argsort(dim=1)
        jitter = d.rand(d.batch) < self.p
        return {"factors": torch.stack(factors, dim=1), "order": order, "apply": jitter}

    def apply_transform(self, x: Tensor, params: Params) -> Tensor:
        unit = C.to_unit(x)
        factors = params["factors"].to(unit.device, unit.dtype)
        order = params["order"].to(unit.device)
        ops = (C.adjust_brightness, C.adjust_contrast, C.adjust_saturation, C.adjust_hue)

        def branch(k: int) -> Branch | None:
            if self._ranges()[k] is None:
                return None
            return lambda images, rows: ops[k](images, take(factors[:, k], rows))

        branches = [branch(k) for k in range(4)]
        applied = params["apply"].to(unit.device)
        out = unit
        # Four rounds: in round r each sample takes the r-th operation of its order;
        # a sample that is not jittered chooses no operation (index 4).
        for step in range(4):
            out = choose_per_sample(out, torch.where(applied, order[:, step], 4), branches)
        return C.from_unit(out, x)

    def extra_repr(self) -> str:
        names = ("brightness", "contrast", "saturation", "hue")
        parts = [f"{n}={r}" for n, r in zip(names, self._ranges(), strict=True) if r is not None]
        return ", ".join([*parts, f"p={self.p}"])
