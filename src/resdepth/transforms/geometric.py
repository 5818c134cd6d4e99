"""Geometric batch transforms: horizontal flip, padded random crop, random affine.

Every transform draws independent parameters for each sample and processes the
whole batch in a few tensor operations, with no Python loop over samples.
"""

from __future__ import annotations

from collections.abc import Sequence

import torch
import torch.nn.functional as F
from torch import Tensor

from .._validate import (
    choice,
    finite_float,
    float_in_range,
    is_int,
    positive_float,
    positive_int,
)
from ._base import BatchTransform, Draw, Params, WithProbability, check_range, memory_format_of
from ._warp import affine_matrix, centred_to_pixel, pixel_matrix, warp

__all__ = [
    "RandomHorizontalFlip",
    "RandomCrop",
    "RandomAffine",
]


def _pair(name: str, value: int | Sequence[int]) -> tuple[int, int]:
    if is_int(value):
        value = (int(value), int(value))
    if (
        not isinstance(value, Sequence)
        or len(value) != 2
        or any(not is_int(v) or v < 1 for v in value)
    ):
        raise ValueError(f"{name} must be a positive int or a pair of them, got {value!r}")
    return int(value[0]), int(value[1])


class RandomHorizontalFlip(WithProbability):
    """Mirror each sample left-right with probability ``p``, independently.

    Args:
        p: probability that a sample is flipped.

    Shape:
        - Input: :math:`(B, C, H, W)`, uint8 or floating point
        - Output: :math:`(B, C, H, W)`, same dtype, device and memory format

    Examples:
        >>> import torch
        >>> from resdepth.transforms import RandomHorizontalFlip
        >>> x = torch.arange(4.0).view(1, 1, 1, 4).repeat(2, 1, 1, 1)
        >>> flip = RandomHorizontalFlip(p=0.5)
        >>> params = {"flip": torch.tensor([True, False])}
        >>> flip(x, params=params)[:, 0, 0]
        tensor([[3., 2., 1., 0.],
                [0., 1., 2., 3.]])
    """

    decision_key = "flip"

    def apply_transform(self, x: Tensor, params: Params) -> Tensor:
        flip = params["flip"].to(x.device).view(-1, 1, 1, 1)
        out = torch.where(flip, x.flip(-1), x)
        return out.contiguous(memory_format=memory_format_of(x))

    def matrix(self, params: Params, height: int, width: int) -> Tensor:
        # x -> (width - 1) - x where flipped: a mirror about the image's middle column.
        flip = params["flip"]
        m = torch.eye(3, device=flip.device).repeat(flip.shape[0], 1, 1)
        m[:, 0, 0] = torch.where(flip, -1.0, 1.0)
        m[:, 0, 2] = torch.where(flip, width - 1.0, 0.0)
        return m


class RandomCrop(BatchTransform):
    """Pad each sample, then cut a ``size`` window at a random integer offset per sample.

    Args:
        size: output ``(height, width)``, one int for a square, or ``None`` for the
            input's own size.
        padding: pixels added on every side before cropping; at most the input's
            height or width, checked before anything is padded.
        fill: value of the padding when ``padding_mode="constant"`` (in the
            input's units: 0..255 for uint8).
        padding_mode: ``"constant"`` or ``"reflect"`` (mirror without repeating
            the edge, as ``torch.nn.functional.pad``).

    The offsets ``(top, left)`` into the padded image are drawn uniformly from
    ``[0, H + 2 * padding - height]`` and ``[0, W + 2 * padding - width]``.

    Shape:
        - Input: :math:`(B, C, H, W)`, uint8 or floating point
        - Output: :math:`(B, C, height, width)`, same dtype, device and memory format

    Examples:
        >>> import torch
        >>> from resdepth.transforms import RandomCrop
        >>> crop = RandomCrop(32, padding=4)
        >>> g = torch.Generator().manual_seed(0)
        >>> crop(torch.rand(8, 3, 32, 32), generator=g).shape
        torch.Size([8, 3, 32, 32])
    """

    def __init__(
        self,
        size: int | Sequence[int] | None,
        padding: int = 4,
        fill: float = 0,
        padding_mode: str = "constant",
    ) -> None:
        super().__init__()
        self.size = None if size is None else _pair("size", size)
        self.padding = positive_int("padding", padding, minimum=0)
        self.fill = finite_float("fill", fill)
        self.padding_mode = choice("padding_mode", padding_mode, ("constant", "reflect"))

    def output_size(self, height: int, width: int) -> tuple[int, int]:
        return self.size if self.size is not None else (height, width)

    def _check_fits(self, height: int, width: int) -> None:
        if self.padding > max(height, width):
            # Checked before padding: a huge padding would allocate a huge batch.
            raise ValueError(
                f"padding={self.padding} is larger than the input ({height}, {width}): "
                "more padding than image"
            )
        h, w = self.output_size(height, width)
        if h > height + 2 * self.padding or w > width + 2 * self.padding:
            raise ValueError(
                f"size {(h, w)} is larger than the padded input "
                f"({height + 2 * self.padding}, {width + 2 * self.padding})"
            )
        if self.padding_mode == "reflect" and self.padding >= min(height, width):
            raise ValueError(
                f"padding={self.padding} must be smaller than the input size "
                f"({height}, {width}) for padding_mode='reflect'"
            )

    def _draw(self, d: Draw) -> Params:
        height, width = d.height, d.width
        self._check_fits(height, width)
        out_h, out_w = self.output_size(height, width)
        # Python numbers only: a tensor made from a list here would be a host-to-device
        # copy, and a synchronisation, on every call.
        span_h = height + 2 * self.padding - out_h + 1
        span_w = width + 2 * self.padding - out_w + 1
        u = d.rand(d.batch, 2)
        top = (u[:, 0] * span_h).long().clamp_(max=span_h - 1)
        left = (u[:, 1] * span_w).long().clamp_(max=span_w - 1)
        return {"offset": torch.stack([top, left], dim=1)}

    def apply_transform(self, x: Tensor, params: Params) -> Tensor:
        batch, _, height, width = x.shape
        self._check_fits(height, width)
        offset = params["offset"].to(x.device)
        p = self.padding
        padded = x
        if p > 0:
            if self.padding_mode == "constant":
                padded = F.pad(x, (p, p, p, p), mode="constant", value=self.fill)
            else:
                padded = F.pad(x, (p, p, p, p), mode="reflect")
        # Every window of the padded batch as a strided view (B, C, nH, nW, h, w), then
        # one advanced index picks each sample's own window: no per-sample loop.
        h, w = self.output_size(height, width)
        windows = padded.unfold(2, h, 1).unfold(3, w, 1)
        b = torch.arange(batch, device=x.device)
        out = windows[b, :, offset[:, 0], offset[:, 1]]
        return out.contiguous(memory_format=memory_format_of(x))

    def matrix(self, params: Params, height: int, width: int) -> Tensor | None:
        # A shift by the offset less the padding; zero padding is what lies outside.
        if self.padding_mode != "constant" or self.fill != 0:
            return None
        offset = params["offset"].float() - self.padding
        m = torch.eye(3, device=offset.device).repeat(offset.shape[0], 1, 1)
        m[:, 0, 2], m[:, 1, 2] = offset[:, 1], offset[:, 0]
        return m

    def extra_repr(self) -> str:
        s = f"size={self.size}, padding={self.padding}, padding_mode={self.padding_mode!r}"
        return s + (f", fill={self.fill}" if self.fill != 0 else "")


class RandomAffine(BatchTransform):
    """Rotate, translate, scale and shear each sample by its own random amounts.

    Parameters mean what they mean in torchvision's ``RandomAffine`` and are drawn
    the same way, independently per sample: angle uniform in ``degrees`` (a number
    ``d`` means ``(-d, d)``); translation uniform in ``(-tx * W, tx * W)`` and
    ``(-ty * H, ty * H)``, rounded to whole pixels; scale uniform in ``scale``;
    shear in degrees, a number ``s`` meaning x-shear in ``(-s, s)``, a pair an
    x-shear range, four numbers x and y ranges.  All samples are warped in one
    ``grid_sample`` call.  Points that fall outside the input take ``fill``,
    blended at the border as torchvision blends them.

    Args:
        degrees: rotation range in degrees (clockwise, as torchvision).
        translate: maximal absolute fractions ``(tx, ty)`` of width and height.
        scale: ``(min, max)`` scale factors.
        shear: shear range(s) in degrees.
        interpolation: ``"bilinear"`` or ``"nearest"``.
        fill: value for points outside the input (in the input's units).

    Shape:
        - Input: :math:`(B, C, H, W)`, uint8 or floating point
        - Output: :math:`(B, C, H, W)`, same dtype, device and memory format

    Examples:
        >>> import torch
        >>> from resdepth.transforms import RandomAffine
        >>> affine = RandomAffine(10, translate=(0.1, 0.1), scale=(0.9, 1.1), shear=10)
        >>> x = torch.rand(4, 3, 32, 32)
        >>> params = affine.generate_parameters(x.shape)
        >>> torch.equal(affine(x, params=params), affine(x, params=params))
        True
    """

    def __init__(
        self,
        degrees: float | Sequence[float],
        translate: Sequence[float] | None = None,
        scale: Sequence[float] | None = None,
        shear: float | Sequence[float] | None = None,
        interpolation: str = "bilinear",
        fill: float = 0,
    ) -> None:
        super().__init__()
        self.degrees = check_range("degrees", degrees, symmetric=True)
        if translate is not None:
            if (
                isinstance(translate, str)
                or not isinstance(translate, Sequence)
                or len(translate) != 2
            ):
                raise ValueError(f"translate must be a pair of fractions, got {translate!r}")
            translate = (
                float_in_range("translate", translate[0], 0.0, 1.0),
                float_in_range("translate", translate[1], 0.0, 1.0),
            )
        self.translate = translate
        if scale is not None:
            scale = check_range("scale", scale, symmetric=False)
            positive_float("scale", scale[0])
        self.scale = scale
        self.shear = self._parse_shear(shear)
        choice("interpolation", interpolation, ("bilinear", "nearest"))
        self.interpolation = interpolation
        self.fill = finite_float("fill", fill)

    @staticmethod
    def _parse_shear(shear: float | Sequence[float] | None) -> tuple[float, ...] | None:
        if shear is None:
            return None
        if isinstance(shear, Sequence) and not isinstance(shear, str) and len(shear) == 4:
            return check_range("shear", shear[:2], symmetric=False) + check_range(
                "shear", shear[2:], symmetric=False
            )
        return check_range("shear", shear, symmetric=True)

    def _draw(self, d: Draw) -> Params:
        zeros = torch.zeros(d.batch, device=d.device)
        angle = d.uniform(*self.degrees)
        if self.translate is not None:
            max_dx, max_dy = self.translate[0] * d.width, self.translate[1] * d.height
            tx = d.uniform(-max_dx, max_dx)
            ty = d.uniform(-max_dy, max_dy)
            translate = torch.stack([tx, ty], dim=-1).round()
        else:
            translate = torch.zeros(d.batch, 2, device=d.device)
        scale = (
            d.uniform(*self.scale)
            if self.scale is not None
            else torch.ones(d.batch, device=d.device)
        )
        shear_x = shear_y = zeros
        if self.shear is not None:
            shear_x = d.uniform(self.shear[0], self.shear[1])
            if len(self.shear) == 4:
                shear_y = d.uniform(self.shear[2], self.shear[3])
        shear = torch.stack([shear_x, shear_y], dim=-1)
        return {"angle": angle, "translate": translate, "scale": scale, "shear": shear}

    resamples = True

    def apply_transform(self, x: Tensor, params: Params) -> Tensor:
        batch, _, height, width = x.shape
        m = affine_matrix({k: v.to(x.device, torch.float32) for k, v in params.items()})
        src = centred_to_pixel(m, height, width)
        lo, hi = (0.0, 0.0), (width - 1.0, height - 1.0)
        return warp(x, src, (height, width), lo, hi, self.interpolation, self.fill)

    def matrix(self, params: Params, height: int, width: int) -> Tensor:
        m = centred_to_pixel(
            affine_matrix({k: v.float() for k, v in params.items()}), height, width
        )
        return pixel_matrix(m, height, width)

    def extra_repr(self) -> str:
        parts = [f"degrees={self.degrees}"]
        if self.translate is not None:
            parts.append(f"translate={self.translate}")
        if self.scale is not None:
            parts.append(f"scale={self.scale}")
        if self.shear is not None:
            parts.append(f"shear={self.shear}")
        parts.append(f"interpolation={self.interpolation!r}")
        if self.fill != 0:
            parts.append(f"fill={self.fill}")
        return ", ".join(parts)
