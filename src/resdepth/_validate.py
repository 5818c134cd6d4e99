"""Argument and input checks shared by every part; each error names what it checks.

Imports torch only, so that models, transforms and data can all use it.
"""

from __future__ import annotations

import torch
from torch import Tensor

__all__ = ["check_unit_range"]


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
