"""Named networks: the paper's ResNet10, ResNet40 and ResNet102, ResNet-18, and the
standard CIFAR baselines PreAct-ResNet-18, WRN-16-8 and WRN-28-10.

Each preset is a thin, keyword-only function over :func:`_resnet`; any
:class:`~resdepth.ResNet` argument can be overridden (``resnet40(num_classes=100)``,
``resnet40(widths=(16, 32, 64, 128))``).
"""

from __future__ import annotations

import inspect
from collections.abc import Sequence
from typing import Any

from .blocks import BasicBlock, ResidualBlock
from .preact import PreActBasicBlock, WideBasicBlock
from .registry import register_model
from .resnet import ResNet

__all__ = [
    "preact_resnet18",
    "resnet10",
    "resnet18",
    "resnet40",
    "resnet102",
    "wrn_16_8",
    "wrn_28_10",
]

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


@register_model
def preact_resnet18(*, num_classes: int = 10, **overrides: Any) -> ResNet:
    """Pre-activation ResNet-18 for CIFAR (He et al., 2016b): ResNet-18's shape with
    :class:`PreActBasicBlock`, convolution-only projections and a final BN-ReLU.

    11,172,170 trainable parameters with 10 classes (the 11.17M usually quoted).
    """
    return _resnet(PreActBasicBlock, (2, 2, 2, 2), (64, 128, 256, 512),
                   dict(overrides, num_classes=num_classes))  # fmt: skip


def _wide(n: int, k: int, num_classes: int, dropout: float, overrides: dict[str, Any]) -> ResNet:
    widths = (16 * k, 32 * k, 64 * k)
    kwargs = {"stem_width": 16, "block_kwargs": {"dropout": dropout}, **overrides}
    return _resnet(WideBasicBlock, (n, n, n), widths, dict(kwargs, num_classes=num_classes))


@register_model
def wrn_16_8(*, num_classes: int = 10, dropout: float = 0.0, **overrides: Any) -> ResNet:
    """Wide ResNet WRN-16-8 (Zagoruyko and Komodakis, 2016): 2 blocks per stage, widths
    128, 256, 512, a 16-channel stem; ``dropout`` between the convolutions of each block.

    10,961,370 trainable parameters with 10 classes (the paper's 11.0M).
    """
    return _wide(2, 8, num_classes, dropout, overrides)


@register_model
def wrn_28_10(*, num_classes: int = 10, dropout: float = 0.0, **overrides: Any) -> ResNet:
    """Wide ResNet WRN-28-10 (Zagoruyko and Komodakis, 2016): 4 blocks per stage, widths
    160, 320, 640, a 16-channel stem; the paper's best CIFAR results use ``dropout=0.3``.

    36,479,194 trainable parameters with 10 classes (the paper's 36.5M).
    """
    return _wide(4, 10, num_classes, dropout, overrides)
