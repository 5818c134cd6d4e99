"""The named networks, as ``resdepth.presets.resnet40()``; see :mod:`resdepth.models.presets`."""

from .models.presets import (
    preact_resnet18,
    resnet10,
    resnet18,
    resnet40,
    resnet102,
    wrn_16_8,
    wrn_28_10,
)

__all__ = [
    "preact_resnet18",
    "resnet10",
    "resnet18",
    "resnet40",
    "resnet102",
    "wrn_16_8",
    "wrn_28_10",
]
