"""Argument and input checks shared by every part; each error names what it checks.

Imports torch only, so that models, transforms and data can all use it.  Every
check returns the value in its normal form (an ``int``, a ``float``, a tuple), so a
caller writes ``self.p = probability("p", p)``.
"""

from __future__ import annotations

import math
import numbers
from collections.abc import Callable, Sequence
from typing import Any, TypeGuard, TypeVar

import torch
from torch import Tensor

__all__ = [
    "check_unit_range", "choice", "finite_float", "float_in_range", "float_tuple",
    "image_batch", "instance_of", "int_in_range", "is_int", "is_real", "non_empty_string",
    "non_negative_float", "odd_positive_int", "positive_float", "positive_int",
    "positive_ints", "probability",
]  # fmt: skip

T = TypeVar("T")


def is_int(value: object) -> TypeGuard[int]:
    """An integer, and not a ``bool`` (which Python counts as one)."""
    return isinstance(value, numbers.Integral) and is_real(value)


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


def _non_empty_sequence(name: str, values: object, what: str) -> Sequence[Any]:
    """``values`` if it is a sequence (not a string) with at least one item."""
    if isinstance(values, (str, bytes)) or not isinstance(values, Sequence):
        raise ValueError(f"{name} must be a sequence of {what}, got {values!r}")
    if len(values) == 0:
        raise ValueError(f"{name} must not be empty")
    return values


def positive_ints(name: str, values: object) -> tuple[int, ...]:
    """A non-empty sequence of positive integers, as a tuple."""
    items = _non_empty_sequence(name, values, "positive integers")
    if not all(is_int(v) and v >= 1 for v in items):
        raise ValueError(f"{name} must hold positive integers, got {list(items)!r}")
    return tuple(int(v) for v in items)


def float_tuple(
    name: str, values: object, check: Callable[[str, object], float] | None = None
) -> tuple[float, ...]:
    """A non-empty sequence of numbers as a tuple of ``float``, each passed through
    ``check(name, value)`` (default :func:`finite_float`): ``(0.2, 1.0)`` from ``(0.2, 1)``."""
    items = _non_empty_sequence(name, values, "numbers")
    return tuple((check or finite_float)(name, v) for v in items)


def is_real(value: object) -> TypeGuard[numbers.Real]:
    """A real number (``int``, ``float``, numpy scalar ...), and not a ``bool``."""
    return isinstance(value, numbers.Real) and not isinstance(value, bool)


def _real(name: str, value: object, allowed: Callable[[float], bool], what: str,
          error: type[Exception] = ValueError) -> float:  # fmt: skip
    """``value`` as a ``float`` if it is a real number for which ``allowed`` holds; else
    ``error`` saying that ``name`` must be ``what``."""
    if not is_real(value) or not allowed(float(value)):
        raise error(f"{name} must be {what}, got {value!r}")
    return float(value)


def finite_float(name: str, value: object) -> float:
    """A finite real number, as a ``float`` (a ``TypeError`` otherwise)."""
    return _real(name, value, math.isfinite, "a finite number", TypeError)


def positive_float(name: str, value: object) -> float:
    """A finite real number above zero."""
    return _real(name, value, lambda v: math.isfinite(v) and v > 0, "positive")


def non_negative_float(name: str, value: object) -> float:
    """A finite real number of at least zero, as a ``float``."""
    return _real(name, value, lambda v: math.isfinite(v) and v >= 0, "a finite number >= 0")


def probability(name: str, value: object) -> float:
    """A real number in [0, 1], as a ``float``."""
    return _real(name, value, lambda v: 0.0 <= v <= 1.0, "a probability in [0, 1]")


def float_in_range(
    name: str, value: object, low: float, high: float, *, include_high: bool = True
) -> float:
    """A real number in ``[low, high]`` (``[low, high)`` without ``include_high``).

    Examples:
        >>> float_in_range("label_smoothing", 0.1, 0.0, 1.0, include_high=False)
        0.1
        >>> float_in_range("label_smoothing", 1, 0.0, 1.0, include_high=False)
        Traceback (most recent call last):
        ...
        ValueError: label_smoothing must be a number in [0, 1), got 1
    """
    bounds = f"[{low:g}, {high:g}{']' if include_high else ')'}"
    inside = (lambda v: low <= v <= high) if include_high else (lambda v: low <= v < high)
    return _real(name, value, inside, f"a number in {bounds}")


def non_empty_string(name: str, value: object) -> str:
    """A ``str`` with at least one character."""
    if not isinstance(value, str) or not value:
        raise ValueError(f"{name} must be a non-empty string, got {value!r}")
    return value


def flag(name: str, value: object, also: Sequence[Any] = ()) -> Any:
    """``value`` if it is ``True`` or ``False`` (not 0 or 1), or one of ``also``."""
    if isinstance(value, bool) or any(value == v and type(value) is type(v) for v in also):
        return value
    options = ", ".join(["True", "False", *map(repr, also)])
    raise TypeError(f"{name} must be one of {options}, got {value!r}")


def instance_of(name: str, value: object, cls: type[T], what: str | None = None) -> T:
    """``value`` if it is a ``cls``; else a ``TypeError`` saying that ``name`` must be
    ``what`` (default: a ``cls``) and naming the type it has."""
    if not isinstance(value, cls):
        raise TypeError(f"{name} must be {what or 'a ' + cls.__name__}, got {type(value).__name__}")
    return value


def choice(name: str, value: T, options: Sequence[Any]) -> T:
    """``value`` if it is one of ``options``."""
    if value not in options:
        raise ValueError(f"{name} must be one of {tuple(options)}, got {value!r}")
    return value


def image_batch(x: object, name: str = "images") -> Tensor:
    """A 4-D ``(N, C, H, W)`` tensor of uint8 or floating-point values."""
    batch = instance_of(name, x, Tensor, "a torch.Tensor")
    if batch.dim() != 4:
        raise ValueError(f"{name} must be a 4-D batch (N, C, H, W), got shape {tuple(batch.shape)}")
    if not (batch.dtype == torch.uint8 or batch.is_floating_point()):
        raise TypeError(f"{name} must hold uint8 or floating point values, got {batch.dtype}")
    return batch


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
