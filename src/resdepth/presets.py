"""The named networks, as ``resdepth.presets.resnet40()``; see :mod:`resdepth.models.presets`."""

from .models.presets import resnet10, resnet18, resnet40, resnet102

__all__ = ["resnet10", "resnet18", "resnet40", "resnet102"]
