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

:func:`per_sample_strategy` chooses one of the two for every transform.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager

import torch
from torch import Tensor

from .._validate import choice

__all__ = ["Branch", "choose_per_sample", "per_sample_strategy", "take"]

# What :func:`per_sample_strategy` takes.
_STRATEGIES = ("auto", "groups", "masks")
_strategy = "auto"

#: ``branch(images, rows)``: the operation on ``images``, which are the batch's rows
#: ``rows`` (an index tensor), or the whole batch when ``rows`` is None.
Branch = Callable[[Tensor, Tensor | None], Tensor]


def take(values: Tensor, rows: Tensor | None) -> Tensor:
    """The per-sample ``values`` of the rows a branch works on."""
    return values if rows is None else values.index_select(0, rows)


@contextmanager
def per_sample_strategy(strategy: str) -> Iterator[None]:
    """Choose how every transform with a choice per sample applies it, inside a
    ``with`` block.

    The colour transforms, :class:`RandomErasing` and the augmentation policies run
    each operation once and keep, for each sample, the result of its own choice.
    ``"groups"`` gathers the samples of each choice (``index_select``), which is the
    least work but needs the group sizes on the host: a graph break under
    ``torch.compile``, a synchronisation on a GPU.  ``"masks"`` runs each operation
    on the whole batch and selects with ``torch.where``: more work, but static
    shapes, one graph under ``torch.compile`` and nothing that waits for the device.
    ``"auto"`` (the default) takes groups on a CPU and masks elsewhere.  Both give
    the same results up to float rounding.

    The setting is the process's, not a thread's, and is restored when the block
    ends.

    Args:
        strategy: ``"auto"``, ``"groups"`` or ``"masks"``.

    Raises:
        ValueError: for any other strategy.

    Examples:
        >>> import torch
        >>> from resdepth.transforms import TrivialAugmentWide, per_sample_strategy
        >>> augment = TrivialAugmentWide()
        >>> x = torch.randint(0, 256, (8, 3, 32, 32), dtype=torch.uint8)
        >>> params = augment.generate_parameters(x.shape)
        >>> with per_sample_strategy("masks"):
        ...     masked = augment(x, params=params)
        >>> bool((masked.int() - augment(x, params=params).int()).abs().max() <= 1)
        True
    """
    global _strategy
    previous, _strategy = _strategy, choice("strategy", strategy, _STRATEGIES)
    try:
        yield
    finally:
        _strategy = previous


def _grouped(x: Tensor) -> bool:
    """Whether the strategy in force takes index groups for ``x``."""
    return x.device.type == "cpu" if _strategy == "auto" else _strategy == "groups"


def _groups(x: Tensor, choice: Tensor, branches: Sequence[Branch | None]) -> Tensor:
    out = x.clone()
    for k, branch in enumerate(branches):
        if branch is None:
            continue
        rows = (choice == k).nonzero().squeeze(1)
        if rows.numel() == 0:
            continue
        out.index_copy_(0, rows, branch(x.index_select(0, rows), rows).to(x.dtype))
    return out


# ``_groups`` with ``torch.compiler.disable`` applied: made on first use, because
# applying it imports ``torch._dynamo`` (about a third of ``import resdepth``).
_eager_groups: Callable[[Tensor, Tensor, Sequence[Branch | None]], Tensor] | None = None


def _by_groups(x: Tensor, choice: Tensor, branches: Sequence[Branch | None]) -> Tensor:
    """``_groups``, always run eagerly: its sizes depend on the data, so under
    ``torch.compile`` it is a graph break, as a ``torch.compiler.disable`` decorator."""
    global _eager_groups
    if _eager_groups is None:
        _eager_groups = torch.compiler.disable(_groups)  # type: ignore[no-untyped-call]
    return _eager_groups(x, choice, branches)


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
    :func:`per_sample_strategy` does: groups on a CPU, masks elsewhere.  Under
    ``torch.compile`` the groups run eagerly (a graph break): on a CPU that is still
    faster than compiled masks.
    """
    if grouped is None:
        grouped = _grouped(x)
    choice = choice.to(x.device)
    return (_by_groups if grouped else _by_masks)(x, choice, branches)
