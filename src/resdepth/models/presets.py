"""Named networks: the paper's ResNet10, ResNet40 and ResNet102, and ResNet-18.

Each preset is a thin, keyword-only function over :func:`_resnet`; any
:class:`~resdepth.ResNet` argument can be overridden (``resnet40(num_classes=100)``,
``resnet40(widths=(16, 32, 64, 128))``).
"""

from __future__ import annotations

import inspect
from collections.abc import Sequence
from typing import Any

from .blocks import BasicBlock, ResidualBlock
from .registry import register_model
from .resnet import ResNet

__all__ = ["resnet10", "resnet18", "resnet40", "resnet102"]

_RESNET_ARGS = frozenset(inspect.signature(ResNet.__init__).parameters) - {"self"}


def _resnet(
    block: type[ResidualBlock],
    layers: Sequence[int],
    widths: Sequence[int],
    overrides: dict[str, Any],
) -> ResNet:
    unknown = sorted(set(overrides) - _RESNET_ARGS)
    if unknown:
        raise ValueError(
            f"unknown model argument(s) {', '.join(unknown)}; "
            f"expected some of {', '.join(sorted(_RESNET_ARGS))}"
        )
    return ResNet(**{"block": block, "layers": layers, "widths": widths, **overrides})


@register_model
def resnet10(*, num_classes: int = 10, **overrides: Any) -> ResNet:
    """The paper's ResNet10: BasicBlock, layers [1, 1, 1, 1], widths [64, 128, 256, 512].

    4,903,242 trainable parameters with 10 classes.

    Examples:
        >>> from resdepth import count_parameters, presets
        >>> count_parameters(presets.resnet10())
        4903242
    """
    return _resnet(
        BasicBlock, (1, 1, 1, 1), (64, 128, 256, 512), dict(overrides, num_classes=num_classes)
    )


@register_model
def resnet40(*, num_classes: int = 10, **overrides: Any) -> ResNet:
    """The paper's ResNet40: BasicBlock, layers [5, 7, 4, 3], widths [32, 64, 128, 256].

    4,994,730 trainable parameters with 10 classes; layer for layer the network of
    the paper's Figure 8.

    Examples:
        >>> from resdepth import count_parameters, depth, presets
        >>> net = presets.resnet40()
        >>> count_parameters(net), depth(net)
        (4994730, 40)
    """
    return _resnet(
        BasicBlock, (5, 7, 4, 3), (32, 64, 128, 256), dict(overrides, num_classes=num_classes)
    )


@register_model
def resnet102(*, num_classes: int = 10, **overrides: Any) -> ResNet:
    """The paper's ResNet102: BasicBlock, layers [8, 13, 17, 12], widths [16, 32, 64, 128].

    4,997,658 trainable parameters with 10 classes.

    Examples:
        >>> from resdepth import count_parameters, presets
        >>> count_parameters(presets.resnet102())
        4997658
    """
    return _resnet(
        BasicBlock, (8, 13, 17, 12), (16, 32, 64, 128), dict(overrides, num_classes=num_classes)
    )


@register_model
def resnet18(*, num_classes: int = 10, **overrides: Any) -> ResNet:
    """The usual CIFAR ResNet-18 baseline: layers [2, 2, 2, 2], widths [64, 128, 256, 512].

    11,173,962 trainable parameters with 10 classes.
    """
    return _resnet(
        BasicBlock, (2, 2, 2, 2), (64, 128, 256, 512), dict(overrides, num_classes=num_classes)
    )
