"""The named networks, as ``resdepth.presets.resnet40()``; see :mod:`resdepth.models.presets`."""

from .models.presets import *  # noqa: F403
from .models.presets import __all__ as __all__
