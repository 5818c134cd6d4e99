"""A layer-by-layer summary in the format of ``torchsummary`` (the paper's Figure 8)."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import torch
from torch import nn

from .._validate import instance_of, positive_ints

__all__ = ["LayerRow", "ModelSummary", "summary"]

_MB = 1024.0**2
# Containers and identities compute nothing of their own; torchsummary lists neither
# (the paper's identity shortcuts were empty Sequentials).
_SKIPPED = (nn.Sequential, nn.ModuleList, nn.ModuleDict, nn.Identity)


@dataclass(frozen=True)
class LayerRow:
    """One row of a summary: ``name`` is ``Type-index`` in forward (completion) order."""

    name: str
    output_shape: tuple[int, ...]
    num_parameters: int
    trainable: bool


@dataclass(frozen=True)
class ModelSummary:
    """Rows and totals of :func:`summary`; ``str()`` gives the torchsummary table.

    Sizes follow torchsummary's conventions: 4 bytes per value, the input size for
    one batch, forward/backward as twice the sum of all row outputs.
    """

    rows: tuple[LayerRow, ...]
    total_parameters: int
    trainable_parameters: int
    input_size_mb: float
    forward_backward_size_mb: float
    params_size_mb: float

    @property
    def non_trainable_parameters(self) -> int:
        return self.total_parameters - self.trainable_parameters

    @property
    def total_size_mb(self) -> float:
        return self.input_size_mb + self.forward_backward_size_mb + self.params_size_mb

    def __str__(self) -> str:
        rule = "-" * 68
        lines = [rule, f"{'Layer (type)':>24}  {'Output Shape':>25} {'Param #':>15}", "=" * 68]
        for row in self.rows:
            shape = str([-1, *row.output_shape[1:]])
            lines.append(f"{row.name:>24}  {shape:>25} {row.num_parameters:>15,}")
        lines += [
            "=" * 68,
            f"Total params: {self.total_parameters:,}",
            f"Trainable params: {self.trainable_parameters:,}",
            f"Non-trainable params: {self.non_trainable_parameters:,}",
            rule,
            f"Input size (MB): {self.input_size_mb:.2f}",
            f"Forward/backward pass size (MB): {self.forward_backward_size_mb:.2f}",
            f"Params size (MB): {self.params_size_mb:.2f}",
            f"Estimated Total Size (MB): {self.total_size_mb:.2f}",
            rule,
        ]
        return "\n".join(lines)


def summary(
    model: nn.Module,
    input_size: Sequence[int] = (3, 32, 32),
    device: torch.device | str | None = None,
) -> ModelSummary:
    """Run one forward pass and record the output of every layer and block.

    Containers (``Sequential``, ``ModuleList``, ``ModuleDict``) and ``Identity``
    get no row.  Rows appear in the order modules finish their forward pass, so a block's row
    follows the rows of its layers, as in torchsummary.  The model runs in eval
    mode under ``torch.no_grad`` on a batch of two random inputs, then returns
    to its previous mode.

    Args:
        model: the network.
        input_size: ``(C, H, W)`` of one input.
        device: where to run (default: the device of the model's first parameter).

    Examples:
        >>> from resdepth import presets, summary
        >>> s = summary(presets.resnet40())
        >>> len(s.rows), s.rows[0].name, s.total_parameters
        (106, 'Conv2d-1', 4994730)
    """
    instance_of("model", model, nn.Module, "an nn.Module")
    input_size = positive_ints("input_size", input_size)
    if device is None:
        first = next(model.parameters(), None)
        device = first.device if first is not None else torch.device("cpu")

    rows: list[LayerRow] = []
    output_values = 0

    def hook(module: nn.Module, _inputs: object, output: object) -> None:
        nonlocal output_values
        tensor = output[0] if isinstance(output, (tuple, list)) else output
        shape = tuple(tensor.shape) if isinstance(tensor, torch.Tensor) else ()
        params = list(module.parameters(recurse=False))
        rows.append(
            LayerRow(
                name=f"{type(module).__name__}-{len(rows) + 1}",
                output_shape=shape,
                num_parameters=sum(p.numel() for p in params),
                trainable=any(p.requires_grad for p in params),
            )
        )
        if shape:
            output_values += int(torch.Size(shape[1:]).numel())

    handles = [
        m.register_forward_hook(hook)
        for m in model.modules()
        if m is not model and not isinstance(m, _SKIPPED)
    ]
    was_training = model.training
    try:
        model.eval()
        with torch.no_grad():
            model(torch.rand(2, *input_size, device=device))
    finally:
        model.train(was_training)
        for h in handles:
            h.remove()

    total = sum(p.numel() for p in model.parameters())
    trainable = sum(p.numel() for p in model.parameters() if p.requires_grad)
    return ModelSummary(
        rows=tuple(rows),
        total_parameters=total,
        trainable_parameters=trainable,
        input_size_mb=int(torch.Size(tuple(input_size)).numel()) * 4 / _MB,
        forward_backward_size_mb=2 * output_values * 4 / _MB,
        params_size_mb=total * 4 / _MB,
    )
