"""Argument and input checks shared by every part; each error names what it checks.

Imports torch only, so that models, transforms and data can all use it.  Every
check returns the value in its normal form (an ``int``, a ``float``, a tuple), so a
caller writes ``self.p = probability("p", p)``.
"""

from __future__ import annotations

import math
import numbers
from collections.abc import Sequence
from typing import Any, TypeGuard, TypeVar

import torch
from torch import Tensor

__all__ = [
    "check_unit_range",
    "choice",
    "finite_float",
    "image_batch",
    "int_in_range",
    "is_int",
    "odd_positive_int",
    "positive_float",
    "positive_int",
    "positive_ints",
    "probability",
]

T = TypeVar("T")


def is_int(value: object) -> TypeGuard[int]:
    """An integer, and not a ``bool`` (which Python counts as one)."""
    return isinstance(value, numbers.Integral) and not isinstance(value, bool)


def positive_int(name: str, value: object, minimum: int = 1) -> int:
    """``value`` as an ``int`` of at least ``minimum``.

    Examples:
        >>> positive_int("epochs", 3)
        3
        >>> positive_int("epochs", 0)
        Traceback (most recent call last):
        ...
        ValueError: epochs must be a positive integer, got 0
    """
    if not is_int(value) or value < minimum:
        what = "a positive integer" if minimum == 1 else f"an integer of at least {minimum}"
        raise ValueError(f"{name} must be {what}, got {value!r}")
    return int(value)


def int_in_range(name: str, value: object, low: int, high: int) -> int:
    """``value`` as an ``int`` with ``low <= value < high``."""
    if not is_int(value) or not low <= value < high:
        raise ValueError(f"{name} must be an integer in [{low}, {high}), got {value!r}")
    return int(value)


def odd_positive_int(name: str, value: object) -> int:
    """A positive odd ``int`` (a kernel size that keeps a feature map centred)."""
    if not is_int(value) or value < 1 or value % 2 == 0:
        raise ValueError(f"{name} must be a positive odd integer, got {value!r}")
    return int(value)


def positive_ints(name: str, values: object) -> tuple[int, ...]:
    """A non-empty sequence of positive integers, as a tuple."""
    if isinstance(values, (str, bytes)) or not isinstance(values, Sequence):
        raise ValueError(f"{name} must be a sequence of positive integers, got {values!r}")
    if len(values) == 0:
        raise ValueError(f"{name} must not be empty")
    if not all(is_int(v) and v >= 1 for v in values):
        raise ValueError(f"{name} must hold positive integers, got {list(values)!r}")
    return tuple(int(v) for v in values)


def finite_float(name: str, value: object) -> float:
    """A finite real number, as a ``float`` (a ``TypeError`` otherwise)."""
    if isinstance(value, bool) or not isinstance(value, numbers.Real) or not math.isfinite(value):
        raise TypeError(f"{name} must be a finite number, got {value!r}")
    return float(value)


def positive_float(name: str, value: object) -> float:
    """A finite real number above zero."""
    if (
        isinstance(value, bool)
        or not isinstance(value, numbers.Real)
        or not (math.isfinite(value) and float(value) > 0)
    ):
        raise ValueError(f"{name} must be positive, got {value!r}")
    return float(value)


def probability(name: str, value: object) -> float:
    """A real number in [0, 1], as a ``float``."""
    if (
        isinstance(value, bool)
        or not isinstance(value, numbers.Real)
        or not (0.0 <= float(value) <= 1.0)
    ):
        raise ValueError(f"{name} must be a probability in [0, 1], got {value!r}")
    return float(value)


def choice(name: str, value: T, options: Sequence[Any]) -> T:
    """``value`` if it is one of ``options``."""
    if value not in options:
        raise ValueError(f"{name} must be one of {tuple(options)}, got {value!r}")
    return value


def image_batch(x: object, name: str = "images") -> Tensor:
    """A 4-D ``(N, C, H, W)`` tensor of uint8 or floating-point values."""
    if not isinstance(x, Tensor):
        raise TypeError(f"{name} must be a torch.Tensor, got {type(x).__name__}")
    if x.dim() != 4:
        raise ValueError(f"{name} must be a 4-D batch (N, C, H, W), got shape {tuple(x.shape)}")
    if not (x.dtype == torch.uint8 or x.is_floating_point()):
        raise TypeError(f"{name} must hold uint8 or floating point values, got {x.dtype}")
    return x


def check_unit_range(x: Tensor, name: str = "images") -> None:
    """Floating-point images must lie in [0, 1]; uint8 ones hold 0..255 by their type.

    Float images scaled 0..255 would pass everything else and come out of
    normalisation near 1,000.  On a CPU the check reads two numbers; elsewhere, and
    under ``torch.compile``, it is an asynchronous device assertion, which never
    waits for the device.
    """
    if not x.is_floating_point() or x.numel() == 0:
        return
    if x.device.type == "cpu" and not torch.compiler.is_compiling():
        low, high = float(x.min()), float(x.max())
        if not (low >= 0.0 and high <= 1.0):  # NaN fails too
            raise ValueError(
                f"floating-point {name} must lie in [0, 1], got values in [{low:g}, {high:g}]; "
                "pass uint8 images (0..255), or divide by 255"
            )
    else:
        torch._assert_async(((x >= 0) & (x <= 1)).all(), f"{name} outside [0, 1]")
