"""Planning a depth-vs-width study: the network shapes it compares, each as wide as
one parameter (and optionally MAC) budget allows."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from .._validate import is_int
from ..models import (
    BasicBlock,
    Bottleneck,
    PreActBasicBlock,
    PreActBottleneck,
    ResidualBlock,
    ResNet,
    WideBasicBlock,
    count_macs,
    count_parameters,
    depth,
    fit_widths,
    get_model,
)

__all__ = ["FAMILIES", "StudyShape", "plan_study", "spread_blocks"]


#: Block families a shape can name (``"preact:26"``), by their short names.
FAMILIES = {
    "basic": BasicBlock, "bottleneck": Bottleneck, "preact": PreActBasicBlock,
    "preact-bottleneck": PreActBottleneck, "wide": WideBasicBlock,
}  # fmt: skip


@dataclass(frozen=True)
class StudyShape:
    """One network of a study: its block, blocks per stage, fitted widths, its depth (as
    its family counts it) and what it costs."""

    name: str
    layers: tuple[int, ...]
    widths: tuple[int, ...]
    parameters: int
    macs: int
    depth: int
    block: str = "BasicBlock"
    preset: str | None = None
    stem_width: int | None = None


def spread_blocks(
    depth: int, stages: int = 4, block: type[ResidualBlock] = BasicBlock
) -> tuple[int, ...]:
    """Blocks per stage of a network of ``depth`` layers, spread evenly (earlier stages
    take the remainder).

    Depth counts as the block's family counts it: stem, main-path convolutions and
    head for He et al.'s blocks (``2 + 2 x blocks`` for BasicBlocks); ``6n + 4`` over
    three stages for Wide ResNets.

    Examples:
        >>> from resdepth.models import WideBasicBlock
        >>> from resdepth.study import spread_blocks
        >>> spread_blocks(10), spread_blocks(40), spread_blocks(28, block=WideBasicBlock)
        ((1, 1, 1, 1), (5, 5, 5, 4), (4, 4, 4))
    """
    if block.depth_counts_shortcuts:  # Wide ResNets: 6n + 4, three stages of n blocks
        per_stage, rest = divmod(depth - 4, 6) if is_int(depth) else (0, 1)
        if rest or per_stage < 1:
            raise ValueError(f"depth of a Wide ResNet must be 6n + 4 (10, 16, 22, 28, ...), "
                             f"got {depth!r}")  # fmt: skip
        return (per_stage,) * 3
    step = block.main_path_convs
    blocks, rest = divmod(depth - 2, step) if is_int(depth) else (0, 1)
    if rest or blocks < stages:
        raise ValueError(
            f"depth must be 2 + {step} x blocks, at least {2 + step * stages}, got {depth!r}"
        )
    base, extra = divmod(blocks, stages)
    return tuple(base + (1 if i < extra else 0) for i in range(stages))


def _family(spec: object) -> tuple[str, object]:
    """``("preact", 26)`` from ``"preact:26"``; ``("basic", spec)`` for anything else."""
    if isinstance(spec, str) and ":" in spec:
        family, _, rest = spec.partition(":")
        if family not in FAMILIES:
            raise ValueError(f"unknown block family {family!r}; known: {', '.join(FAMILIES)}")
        return family, int(rest) if rest.isdigit() else tuple(int(v) for v in rest.split(","))
    return "basic", spec


def _shape(spec: object, budget: int, base_widths: Sequence[int], max_macs: int | None,
           num_classes: int) -> StudyShape:  # fmt: skip
    if isinstance(spec, str) and ":" not in spec:  # a preset, as it is
        net = get_model(spec, num_classes=num_classes)
        if not isinstance(net, ResNet):
            raise ValueError(f"shape {spec!r} is not a ResNet preset")
        shape = StudyShape(spec, tuple(net.layers), tuple(net.widths), count_parameters(net),
                           count_macs(net), depth(net), net.block.__name__,
                           preset=spec)  # fmt: skip
        if shape.parameters > budget or (max_macs is not None and shape.macs > max_macs):
            raise ValueError(f"the preset {spec!r} is over the budget")
        return shape
    family, spec = _family(spec)
    block = FAMILIES[family]
    layers = spread_blocks(spec, block=block) if isinstance(spec, int) else tuple(spec)  # type: ignore[arg-type]
    base = tuple(base_widths)[: len(layers)]
    if len(base) != len(layers):
        raise ValueError(f"base_widths needs one entry per stage of {layers}")
    stem = 16 if family == "wide" else None  # Wide ResNets keep a 16-channel stem
    fit = fit_widths(layers, budget, base_widths=base, block=block, num_classes=num_classes,
                     max_macs=max_macs, stem_width=stem)  # fmt: skip
    net = ResNet(block, fit.layers, fit.widths, num_classes=num_classes, stem_width=stem)
    prefix = "" if family == "basic" else f"{family}-"
    name = f"{prefix}d{depth(net)}-{'.'.join(map(str, layers))}"
    return StudyShape(name, fit.layers, fit.widths, fit.num_parameters, count_macs(net),
                      depth(net), block.__name__, stem_width=stem)  # fmt: skip


def plan_study(
    shapes: Sequence[str | int | Sequence[int]],
    budget: int = 5_000_000,
    base_widths: Sequence[int] = (16, 32, 64, 128),
    max_macs: int | None = None,
    num_classes: int = 10,
) -> list[StudyShape]:
    """The shapes of a study, each as wide as the budget allows.

    Args:
        shapes: preset names (``"resnet40"``: the preset as it is), depths (``26``:
            blocks spread over four stages with :func:`spread_blocks`), or blocks
            per stage (``(5, 7, 4, 3)``); the last two are widened with
            :func:`~resdepth.fit_widths`.  ``"family:depth"`` or
            ``"family:5,7,4,3"`` picks another block (:data:`FAMILIES`: ``preact``,
            ``wide``, ``bottleneck``, ``preact-bottleneck``), so one study can set
            BasicBlock, pre-activation and wide blocks side by side.
        budget: trainable parameters, at most.
        base_widths: the width ratios between stages of fitted shapes.
        max_macs: forward multiply-accumulates on one 32x32 image, at most.
        num_classes: outputs of the head.

    Raises:
        ValueError: for a shape that cannot be built or does not fit, or two shapes
            with one name.
    """
    plan = [_shape(s, budget, base_widths, max_macs, num_classes) for s in shapes]
    names = [s.name for s in plan]
    if len(set(names)) != len(names):
        raise ValueError(f"shapes must be distinct, got {names}")
    return plan
