"""Applying one of several operations to each sample, chosen per sample.

``choose_per_sample(x, choice, branches)`` returns ``out`` with ``out[i] =
branches[choice[i]](x)[i]``.  Two ways give the same result:

* by index groups (the CPU, eager): each branch runs once, on the samples that chose
  it, gathered with ``index_select`` and written back with ``index_copy_``.  The work
  is one operation per sample however many branches there are.  Finding a group's
  samples (``nonzero``) needs its size on the host, which costs nothing on a CPU.
* by masks (GPUs): each branch runs once on the whole
  batch and ``torch.where`` keeps each sample's own result.  The work grows with the
  number of branches, but nothing waits for the device and shapes stay static.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

import torch
from torch import Tensor

__all__ = ["Branch", "choose_per_sample", "take"]

#: ``branch(images, rows)``: the operation on ``images``, which are the batch's rows
#: ``rows`` (an index tensor), or the whole batch when ``rows`` is None.
Branch = Callable[[Tensor, Tensor | None], Tensor]


def take(values: Tensor, rows: Tensor | None) -> Tensor:
    """The per-sample ``values`` of the rows a branch works on."""
    return values if rows is None else values.index_select(0, rows)


def grouped_by_default(x: Tensor) -> bool:
    return x.device.type == "cpu"


@torch.compiler.disable  # type: ignore[untyped-decorator]  # data-dependent sizes: run eagerly
def _by_groups(x: Tensor, choice: Tensor, branches: Sequence[Branch | None]) -> Tensor:
    out = x.clone()
    for k, branch in enumerate(branches):
        if branch is None:
            continue
        rows = (choice == k).nonzero().squeeze(1)
        if rows.numel() == 0:
            continue
        out.index_copy_(0, rows, branch(x.index_select(0, rows), rows).to(x.dtype))
    return out


def _by_masks(x: Tensor, choice: Tensor, branches: Sequence[Branch | None]) -> Tensor:
    out = x
    for k, branch in enumerate(branches):
        if branch is not None:
            chosen = (choice == k).view(-1, *([1] * (x.dim() - 1)))
            out = torch.where(chosen, branch(x, None).to(x.dtype), out)
    return out


def choose_per_sample(
    x: Tensor,
    choice: Tensor,
    branches: Sequence[Branch | None],
    grouped: bool | None = None,
) -> Tensor:
    """``out[i] = branches[choice[i]](x)[i]``; a ``None`` branch leaves its samples.

    ``grouped`` picks index groups or masks (see the module's notes); by default
    groups on a CPU, masks elsewhere.  Under ``torch.compile`` the groups run eagerly
    (a graph break): on a CPU that is still faster than compiled masks.
    """
    if grouped is None:
        grouped = grouped_by_default(x)
    choice = choice.to(x.device)
    return (_by_groups if grouped else _by_masks)(x, choice, branches)
