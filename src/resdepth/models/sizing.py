"""Sizing networks: parameter counts, the paper's depth, and width fitting under a budget."""

from __future__ import annotations

import copy
import math
from collections.abc import Sequence
from dataclasses import dataclass
from fractions import Fraction

import torch
from torch import nn
from torch.utils.flop_counter import FlopCounterMode

from .._validate import instance_of, positive_int, positive_ints
from .blocks import BasicBlock, Bottleneck, Projection, ResidualBlock
from .preact import PreActBasicBlock, PreActBottleneck
from .resnet import ResNet, _check_block, _check_stages

__all__ = [
    "count_macs",
    "count_parameters",
    "depth",
    "fit_widths",
    "resnet_num_parameters",
    "WidthFit",
]


def count_parameters(model: nn.Module, trainable_only: bool = True) -> int:
    """Number of parameters in ``model`` (only those with ``requires_grad`` by default).

    Examples:
        >>> from torch import nn
        >>> from resdepth import count_parameters
        >>> count_parameters(nn.Linear(3, 2))
        8
    """
    instance_of("model", model, nn.Module, "an nn.Module")
    return sum(p.numel() for p in model.parameters() if p.requires_grad or not trainable_only)


def depth(model: nn.Module) -> int:
    """Weighted layers, counted as the network family's paper counts them.

    For the paper's networks (and He et al.'s): the stem, the main-path convolutions
    and the linear head, without projection shortcuts, so the presets give 10, 40 and
    102.  For Wide ResNets (:class:`WideBasicBlock`): every convolution, shortcuts
    included, and not the head, the ``6n + 4`` of WRN-28-10.

    Examples:
        >>> from resdepth import depth, presets
        >>> depth(presets.resnet102()), depth(presets.wrn_28_10())
        (102, 28)
    """
    instance_of("model", model, nn.Module, "an nn.Module")
    block = next((type(m) for m in model.modules() if isinstance(m, ResidualBlock)), None)
    with_shortcuts = block is not None and block.depth_counts_shortcuts
    with_head = block is None or block.depth_counts_head
    in_shortcut = {id(m) for p in model.modules() if isinstance(p, Projection) for m in p.modules()}
    return sum(
        1
        for m in model.modules()
        if (isinstance(m, nn.Conv2d) and (with_shortcuts or id(m) not in in_shortcut))
        or (isinstance(m, nn.Linear) and with_head)
    )


def count_macs(model: nn.Module, input_size: Sequence[int] = (3, 32, 32)) -> int:
    """Multiply-accumulates of one forward pass on one input, in convolutions and linear layers.

    The pass runs on the meta device (shapes only, no arithmetic), so it is fast for
    any size; the count is ``torch.utils.flop_counter.FlopCounterMode``'s FLOPs over
    two.  Normalisation, activations and pooling are not counted.

    Examples:
        >>> from resdepth import count_macs, presets
        >>> round(count_macs(presets.resnet40()) / 1e6)
        347
    """
    instance_of("model", model, nn.Module, "an nn.Module")
    input_size = positive_ints("input_size", input_size)
    # A shapes-only twin on the meta device: no memory, no arithmetic, model untouched.
    twin = copy.deepcopy(model).to("meta").eval()
    # torch's FLOP counter counts 2 FLOPs per multiply-accumulate of convolutions and
    # matrix products (linear layers), and nothing for norms, activations and pooling.
    with FlopCounterMode(display=False) as counter, torch.no_grad():
        twin(torch.empty(1, *input_size, device="meta"))
    return int(counter.get_total_flops()) // 2


def _conv(cin: int, cout: int, k: int) -> int:
    return cin * cout * k * k


def _block_parameters(
    block: type[ResidualBlock], cin: int, width: int, stride: int, k: int, sk: int
) -> int:
    # Parameters of one block with BatchNorm (2 per channel) and bias-free convs.
    cout = width * block.expansion
    if issubclass(block, PreActBasicBlock):  # norms on the block's input and middle
        total = _conv(cin, width, k) + _conv(width, width, k) + 2 * cin + 2 * width
    elif block is PreActBottleneck:
        total = _conv(cin, width, 1) + _conv(width, width, k) + _conv(width, cout, 1)
        total += 2 * cin + 4 * width
    elif block is BasicBlock:
        total = _conv(cin, width, k) + _conv(width, width, k) + 4 * width
    elif block is Bottleneck:
        total = _conv(cin, width, 1) + _conv(width, width, k) + _conv(width, cout, 1)
        total += 4 * width + 2 * cout
    else:
        raise ValueError(f"no closed-form count for block {block.__name__}")
    if stride != 1 or cin != cout:  # a pre-activation projection has no norm of its own
        total += _conv(cin, cout, sk) + (0 if block.preactivation else 2 * cout)
    return total


def resnet_num_parameters(
    layers: Sequence[int],
    widths: Sequence[int],
    block: type[ResidualBlock] = BasicBlock,
    num_classes: int = 10,
    in_channels: int = 3,
    kernel_size: int = 3,
    skip_kernel_size: int = 1,
    stem_width: int | None = None,
) -> int:
    """Parameters of ``ResNet(block, layers, widths, ...)`` with BatchNorm, without building it.

    Examples:
        >>> from resdepth import resnet_num_parameters
        >>> resnet_num_parameters((5, 7, 4, 3), (32, 64, 128, 256))
        4994730
    """
    block = _check_block(block)
    layers, widths = _check_stages(layers, widths)
    channels = stem_width or widths[0]
    total = _conv(in_channels, channels, kernel_size)
    total += 0 if block.preactivation else 2 * channels  # pre-activation: no stem norm
    for i, (count, width) in enumerate(zip(layers, widths, strict=True)):
        for j in range(count):
            stride = 2 if (i > 0 and j == 0) else 1
            total += _block_parameters(
                block, channels, width, stride, kernel_size, skip_kernel_size
            )
            channels = width * block.expansion
    total += 2 * channels if block.preactivation else 0  # the final norm before pooling
    return total + channels * num_classes + num_classes


@dataclass(frozen=True)
class WidthFit:
    """The result of :func:`fit_widths`.

    Attributes:
        layers: blocks per stage, as given.
        widths: the fitted width of each stage.
        num_parameters: trainable parameters of that network.
        scale: the smallest factor on ``base_widths`` that gives ``widths``.
    """

    layers: tuple[int, ...]
    widths: tuple[int, ...]
    num_parameters: int
    scale: float


def _widths_at(base: Sequence[int], scale: Fraction, multiple_of: int) -> tuple[int, ...]:
    # Nearest multiple, halves up, never below one multiple.  Exact fractions keep
    # the step points themselves on the wider side of each step.
    half = Fraction(1, 2)
    return tuple(multiple_of * max(1, math.floor(b * scale / multiple_of + half)) for b in base)


def fit_widths(
    layers: Sequence[int],
    max_params: int,
    base_widths: Sequence[int] = (16, 32, 64, 128),
    block: type[ResidualBlock] = BasicBlock,
    num_classes: int = 10,
    multiple_of: int = 8,
    max_macs: int | None = None,
    stem_width: int | None = None,
) -> WidthFit:
    """The widest network of a given shape whose parameter count (and, if given, its
    multiply-accumulates on a 32x32 image) stays within a budget.

    Widths are ``base_widths`` times one common factor ``s``, each rounded to the
    nearest multiple of ``multiple_of`` (halves up, at least one multiple).  As
    ``s`` grows the widths change only at finitely many step points; the result is
    the last step whose network has at most ``max_params`` parameters, so moving to
    the next step (any wider network of this family) exceeds the budget.  Counts are
    in closed form (BatchNorm, bias-free convs, a linear head on ``num_classes``),
    so no network is built.

    Args:
        layers: blocks per stage.
        max_params: the parameter budget (inclusive).
        base_widths: the width ratios between stages; one entry per stage.
        block: :class:`BasicBlock` or :class:`Bottleneck`.
        num_classes: outputs of the head.
        multiple_of: widths are multiples of this (8 suits tensor cores).
        max_macs: a budget of forward multiply-accumulates on one 32x32 image too
            (:func:`count_macs`); both counts grow with the widths.
        stem_width: a fixed stem width (Wide ResNets' 16) instead of the first
            stage's.

    Raises:
        ValueError: on bad arguments, or when even the narrowest network
            (every width ``multiple_of``) exceeds ``max_params`` or ``max_macs``.

    Examples:
        >>> from resdepth import fit_widths
        >>> fit = fit_widths((5, 7, 4, 3), 5_000_000, base_widths=(32, 64, 128, 256))
        >>> fit.widths, fit.num_parameters
        ((32, 64, 128, 256), 4994730)
    """
    layers = positive_ints("layers", layers)
    base = positive_ints("base_widths", base_widths)
    if len(base) != len(layers):
        raise ValueError(
            f"base_widths must have one entry per stage ({len(layers)}), got {len(base)}"
        )
    positive_int("max_params", max_params)
    positive_int("multiple_of", multiple_of)

    if max_macs is not None:
        positive_int("max_macs", max_macs)

    def params(widths: tuple[int, ...]) -> int:
        return resnet_num_parameters(layers, widths, block=block, num_classes=num_classes,
                                     stem_width=stem_width)  # fmt: skip

    def macs(widths: tuple[int, ...]) -> int:
        with torch.device("meta"):
            net = ResNet(block, layers, widths, num_classes=num_classes, stem_width=stem_width)
        return count_macs(net)

    def fits(widths: tuple[int, ...]) -> bool:
        return params(widths) <= max_params and (max_macs is None or macs(widths) <= max_macs)

    narrowest = _widths_at(base, Fraction(0), multiple_of)
    if not fits(narrowest):
        raise ValueError(
            f"max_params={max_params}{f' and max_macs={max_macs}' if max_macs else ''} are "
            f"below the narrowest network {narrowest} ({params(narrowest)} parameters"
            f"{f', {macs(narrowest)} MACs' if max_macs else ''})"
        )
    # Grow an upper bound on the scale, then list every step point below it:
    # stage i widens where b_i * s / multiple_of crosses j + 1/2.
    high = Fraction(1)
    while params(_widths_at(base, high, multiple_of)) <= max_params:
        high *= 2
    steps = sorted(
        {Fraction(0)}
        | {
            Fraction(2 * j + 1, 2) * multiple_of / b
            for b in base
            for j in range(1, math.floor(b * high / multiple_of + Fraction(1, 2)) + 1)
        }
    )
    # Counts never fall as the scale grows: binary search for the last step that fits.
    lo, hi = 0, len(steps)  # steps[lo] fits; steps[hi:] (if any) do not
    while hi - lo > 1:
        mid = (lo + hi) // 2
        if fits(_widths_at(base, steps[mid], multiple_of)):
            lo = mid
        else:
            hi = mid
    widths = _widths_at(base, steps[lo], multiple_of)
    return WidthFit(layers, widths, params(widths), float(steps[lo]))
