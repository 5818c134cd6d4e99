"""Named networks: the paper's ResNet10, ResNet40 and ResNet102, ResNet-18, the
standard CIFAR baselines PreAct-ResNet-18, WRN-16-8 and WRN-28-10, and the speedrun
networks airbench94 and airbench95.

Each preset is a thin, keyword-only function over one builder, which also sets its
``pretrained_cfg`` (see :mod:`resdepth.models.hub`); any
:class:`~resdepth.ResNet` argument can be overridden (``resnet40(num_classes=100)``,
``resnet40(widths=(16, 32, 64, 128))``).
"""

from __future__ import annotations

import inspect
from typing import Any

from .blocks import BasicBlock, ResidualBlock
from .hub import make_pretrained_cfg
from .preact import PreActBasicBlock, WideBasicBlock
from .registry import register_model, unknown_arguments_error
from .resnet import ResNet
from .speedrun import SpeedrunNet

__all__ = [
    "airbench94",
    "airbench95",
    "preact_resnet18",
    "resnet10",
    "resnet18",
    "resnet40",
    "resnet102",
    "wrn_16_8",
    "wrn_28_10",
]

_RESNET_ARGS = frozenset(inspect.signature(ResNet.__init__).parameters) - {"self"}

_PAPER = "Deep Residual Learning: Analyzing Model Performance on CIFAR-10 Images"
_HE = "He et al., 2016, Deep Residual Learning for Image Recognition (CVPR)"
_PREACT = "He et al., 2016, Identity Mappings in Deep Residual Networks (ECCV)"
_WRN = "Zagoruyko and Komodakis, 2016, Wide Residual Networks (BMVC)"

# Each preset's block, blocks per stage, widths, and the paper it comes from.
_PRESETS: dict[str, tuple[type[ResidualBlock], tuple[int, ...], tuple[int, ...], str]] = {
    "resnet10": (BasicBlock, (1, 1, 1, 1), (64, 128, 256, 512), _PAPER),
    "resnet40": (BasicBlock, (5, 7, 4, 3), (32, 64, 128, 256), _PAPER),
    "resnet102": (BasicBlock, (8, 13, 17, 12), (16, 32, 64, 128), _PAPER),
    "resnet18": (BasicBlock, (2, 2, 2, 2), (64, 128, 256, 512), _HE),
    "preact_resnet18": (PreActBasicBlock, (2, 2, 2, 2), (64, 128, 256, 512), _PREACT),
    "wrn_16_8": (WideBasicBlock, (2, 2, 2), (128, 256, 512), _WRN),
    "wrn_28_10": (WideBasicBlock, (4, 4, 4), (160, 320, 640), _WRN),
}


def _preset(name: str, overrides: dict[str, Any], takes: frozenset[str] = _RESNET_ARGS) -> ResNet:
    """The preset ``name`` with ``overrides`` (of the arguments it ``takes``), and its
    ``pretrained_cfg``: the one place a preset's network is built and describes itself."""
    if not set(overrides) <= _RESNET_ARGS:
        raise unknown_arguments_error(name, set(overrides) - _RESNET_ARGS, takes)
    block, layers, widths, source = _PRESETS[name]
    net = ResNet(**{"block": block, "layers": layers, "widths": widths, **overrides})
    channels = net.conv1.in_channels
    net.pretrained_cfg = make_pretrained_cfg(net.num_classes, channels, name, source)
    return net


@register_model
def resnet10(*, num_classes: int = 10, **overrides: Any) -> ResNet:
    """The paper's ResNet10: BasicBlock, layers [1, 1, 1, 1], widths [64, 128, 256, 512].

    4,903,242 trainable parameters with 10 classes.

    Examples:
        >>> from resdepth import count_parameters, presets
        >>> count_parameters(presets.resnet10())
        4903242
    """
    return _preset("resnet10", dict(overrides, num_classes=num_classes))


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
    return _preset("resnet40", dict(overrides, num_classes=num_classes))


@register_model
def resnet102(*, num_classes: int = 10, **overrides: Any) -> ResNet:
    """The paper's ResNet102: BasicBlock, layers [8, 13, 17, 12], widths [16, 32, 64, 128].

    4,997,658 trainable parameters with 10 classes.

    Examples:
        >>> from resdepth import count_parameters, presets
        >>> count_parameters(presets.resnet102())
        4997658
    """
    return _preset("resnet102", dict(overrides, num_classes=num_classes))


@register_model
def resnet18(*, num_classes: int = 10, **overrides: Any) -> ResNet:
    """The usual CIFAR ResNet-18 baseline: layers [2, 2, 2, 2], widths [64, 128, 256, 512].

    11,173,962 trainable parameters with 10 classes.
    """
    return _preset("resnet18", dict(overrides, num_classes=num_classes))


@register_model
def preact_resnet18(*, num_classes: int = 10, **overrides: Any) -> ResNet:
    """Pre-activation ResNet-18 for CIFAR (He et al., 2016b): ResNet-18's shape with
    :class:`PreActBasicBlock`, convolution-only projections and a final BN-ReLU.

    11,172,170 trainable parameters with 10 classes (the 11.17M usually quoted).
    """
    return _preset("preact_resnet18", dict(overrides, num_classes=num_classes))


def _wide(name: str, num_classes: int, dropout: float, overrides: dict[str, Any]) -> ResNet:
    kwargs = {"stem_width": 16, "block_kwargs": {"dropout": dropout}, **overrides}
    return _preset(name, dict(kwargs, num_classes=num_classes), _RESNET_ARGS | {"dropout"})


@register_model
def wrn_16_8(*, num_classes: int = 10, dropout: float = 0.0, **overrides: Any) -> ResNet:
    """Wide ResNet WRN-16-8 (Zagoruyko and Komodakis, 2016): 2 blocks per stage, widths
    128, 256, 512, a 16-channel stem; ``dropout`` between the convolutions of each block.

    10,961,370 trainable parameters with 10 classes (the paper's 11.0M).
    """
    return _wide("wrn_16_8", num_classes, dropout, overrides)


@register_model
def wrn_28_10(*, num_classes: int = 10, dropout: float = 0.0, **overrides: Any) -> ResNet:
    """Wide ResNet WRN-28-10 (Zagoruyko and Komodakis, 2016): 4 blocks per stage, widths
    160, 320, 640, a 16-channel stem; the paper's best CIFAR results use ``dropout=0.3``.

    36,479,194 trainable parameters with 10 classes (the paper's 36.5M).
    """
    return _wide("wrn_28_10", num_classes, dropout, overrides)


_JORDAN = "Jordan, 2024, 94% on CIFAR-10 in 3.29 Seconds on a Single GPU (arXiv 2404.00498)"
_SPEEDRUN_ARGS = frozenset(inspect.signature(SpeedrunNet.__init__).parameters) - {"self"}


def _speedrun(name: str, widths: tuple[int, ...], overrides: dict[str, Any]) -> SpeedrunNet:
    if not set(overrides) <= _SPEEDRUN_ARGS:
        raise unknown_arguments_error(name, set(overrides) - _SPEEDRUN_ARGS, _SPEEDRUN_ARGS)
    net = SpeedrunNet(**{"widths": widths, **overrides})
    net.pretrained_cfg.update(architecture=name, source=_JORDAN)
    return net


@register_model
def airbench94(*, num_classes: int = 10, **overrides: Any) -> SpeedrunNet:
    """airbench94's network (Jordan, 2024): patch whitening (2x2, 24 channels), then
    groups of widths 64, 256, 256 (:class:`~resdepth.models.SpeedrunNet`).

    1,971,352 trainable parameters with 10 classes (1,972,792 in all); train it with
    the ``airbench94`` recipe; a Trainer fits its whitening layer on training images
    when the run starts.

    Examples:
        >>> from resdepth import count_parameters, depth, presets
        >>> net = presets.airbench94()
        >>> count_parameters(net), depth(net)
        (1971352, 8)
    """
    return _speedrun("airbench94", (64, 256, 256), dict(overrides, num_classes=num_classes))


@register_model
def airbench95(*, num_classes: int = 10, **overrides: Any) -> SpeedrunNet:
    """The wider speedrun network of airbench95 (Jordan, 2024): groups of widths 128,
    384, 384.

    4,604,440 trainable parameters with 10 classes.
    """
    return _speedrun("airbench95", (128, 384, 384), dict(overrides, num_classes=num_classes))
