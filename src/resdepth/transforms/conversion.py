"""Value transforms: uint8 to float, per-channel normalisation, and the paper's statistics."""

from __future__ import annotations

from collections.abc import Sequence

import torch
from torch import Tensor

from .._validate import check_unit_range, float_tuple, positive_float
from ._base import BatchTransform, Params, memory_format_of

__all__ = ["ToFloat", "Normalize", "CIFAR10_MEAN", "CIFAR10_STD"]

#: Channel means the paper normalised CIFAR-10 with (RGB, on values in [0, 1]).
CIFAR10_MEAN: tuple[float, float, float] = (0.4914, 0.4822, 0.4465)
#: Channel standard deviations the paper used (the widely copied CIFAR-10 values).
CIFAR10_STD: tuple[float, float, float] = (0.2023, 0.1994, 0.2010)

_FLOAT_DTYPES = (torch.float16, torch.bfloat16, torch.float32, torch.float64)


class ToFloat(BatchTransform):
    """Convert uint8 images to floating point in [0, 1]; floating input is only cast,
    and must already lie in [0, 1].

    Args:
        dtype: the floating point dtype of the output.

    Shape:
        - Input: :math:`(B, C, H, W)`, uint8 or floating point
        - Output: :math:`(B, C, H, W)`, ``dtype``, same device and memory format

    Examples:
        >>> import torch
        >>> from resdepth.transforms import ToFloat
        >>> ToFloat()(torch.tensor([0, 255], dtype=torch.uint8).view(1, 1, 1, 2))
        tensor([[[[0., 1.]]]])
    """

    def __init__(self, dtype: torch.dtype = torch.float32) -> None:
        super().__init__()
        if dtype not in _FLOAT_DTYPES:
            raise TypeError(f"dtype must be a floating point dtype, got {dtype!r}")
        self.dtype = dtype

    def apply_transform(self, x: Tensor, params: Params) -> Tensor:
        if x.is_floating_point():
            check_unit_range(x)
            return x.to(self.dtype)
        if x.dtype != torch.uint8:
            raise TypeError(f"ToFloat expects uint8 or floating point images, got {x.dtype}")
        return x.to(self.dtype).div_(255.0)

    def extra_repr(self) -> str:
        return f"dtype={self.dtype}"


class Normalize(BatchTransform):
    """Subtract a per-channel mean and divide by a per-channel standard deviation.

    Args:
        mean: one value per channel.
        std: one positive value per channel.

    Shape:
        - Input: :math:`(B, C, H, W)`, floating point
        - Output: :math:`(B, C, H, W)`, same dtype, device and memory format

    Examples:
        >>> import torch
        >>> from resdepth.transforms import CIFAR10_MEAN, CIFAR10_STD, Normalize
        >>> norm = Normalize(CIFAR10_MEAN, CIFAR10_STD)
        >>> x = torch.tensor(CIFAR10_MEAN).view(1, 3, 1, 1).expand(2, 3, 4, 4)
        >>> bool(norm(x).abs().max() < 1e-6)
        True
    """

    mean: Tensor
    std: Tensor

    def __init__(self, mean: Sequence[float], std: Sequence[float]) -> None:
        super().__init__()
        means = float_tuple("mean", mean)
        stds = float_tuple("std", std, positive_float)
        if len(stds) != len(means):
            raise ValueError(f"std must have one value per mean entry, got {std!r} for {mean!r}")
        self.register_buffer("mean", torch.tensor(means).view(1, -1, 1, 1), persistent=False)
        self.register_buffer("std", torch.tensor(stds).view(1, -1, 1, 1), persistent=False)
        self._factors: dict[tuple[torch.device, torch.dtype], tuple[Tensor, Tensor]] = {}

    def apply_transform(self, x: Tensor, params: Params) -> Tensor:
        if not x.is_floating_point():
            raise TypeError(
                f"Normalize expects floating point images, got {x.dtype}; put ToFloat() first"
            )
        if x.shape[1] != self.mean.shape[1]:
            raise ValueError(
                f"x has {x.shape[1]} channels but Normalize has {self.mean.shape[1]} means"
            )
        # (x - mean) / std as one fused multiply-add over the batch: x * (1/std) - mean/std.
        # The factors are made once per device and dtype: copying them to a GPU on every
        # call would synchronise with it.
        key = (x.device, x.dtype)
        if key not in self._factors:
            scale = (1.0 / self.std).to(device=x.device, dtype=x.dtype)
            self._factors[key] = (scale, (-self.mean / self.std).to(device=x.device, dtype=x.dtype))
        scale, shift = self._factors[key]
        return torch.addcmul(shift, x, scale).contiguous(memory_format=memory_format_of(x))

    def extra_repr(self) -> str:
        fmt = ", ".join
        return (
            f"mean=({fmt(f'{v:.4g}' for v in self.mean.flatten().tolist())}), "
            f"std=({fmt(f'{v:.4g}' for v in self.std.flatten().tolist())})"
        )
