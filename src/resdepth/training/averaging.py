"""Weight averaging: an exponential moving average of a model's weights and BatchNorm
buffers, the concern a :class:`~resdepth.training.Trainer` holds when its recipe sets
``ema_decay``.

Built on ``torch.optim.swa_utils``: an ``AveragedModel`` with ``use_buffers=True``, so
the BatchNorm statistics are averaged with the weights instead of being recomputed by
``update_bn``, which would draw batches from the loader's random stream and break an
exact resume; the update is torch's ``get_ema_multi_avg_fn`` at the decay of the
moment.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from torch import Tensor, nn
from torch.optim.swa_utils import AveragedModel, get_ema_multi_avg_fn

from .._validate import float_in_range
from ..transforms import ViewAverage
from . import distributed as dist
from .devices import unwrap_model

__all__ = ["WeightAveraging", "inference_module"]

# The decay warms up as (1 + t) / (WARMUP + t) at update t (TensorFlow's num_updates
# rule): early weights, still far from trained, fade out within a few dozen steps, so
# a run of a few hundred steps ends with an average of its late weights.
WARMUP = 10


class WeightAveraging:
    """An exponential moving average of ``model``'s parameters and buffers, in fp32.

    Args:
        model: the trained module (unwrapped: no DDP or compile prefixes).
        decay: the decay once warmed up, in [0, 1).

    The average lives in fp32 whatever the model's or the autocast's precision: in
    bf16 an update of ``(1 - decay) * step`` falls below the format's resolution and
    the average stops moving.  Under torchrun every rank holds the same average where
    it is used: the parameters agree after each step, and the buffers (BatchNorm
    statistics differ between ranks' batches) are made rank 0's by :meth:`sync`
    before each evaluation and each checkpoint, where all ranks meet anyway.  Rank 0's
    average never depends on the others', so it, and the checkpoint, are the same
    however often the ranks meet.

    Examples:
        >>> import torch
        >>> from resdepth.training import WeightAveraging
        >>> net = torch.nn.Linear(2, 1)
        >>> ema = WeightAveraging(net, decay=0.9)
        >>> ema.update(net); ema.updates
        1
        >>> torch.equal(ema.module.weight, net.weight)   # the first update copies
        True
    """

    def __init__(self, model: nn.Module, decay: float) -> None:
        self.decay = float_in_range("ema_decay", decay, 0.0, 1.0, include_high=False)
        self.updates = 0
        self.averaged = AveragedModel(model, multi_avg_fn=self._average, use_buffers=True)
        self.averaged.module.float()  # floating tensors only: integer counts stay as they are
        self.averaged.eval()

    @property
    def module(self) -> nn.Module:
        """The averaged model (a copy of the trained one's structure)."""
        return self.averaged.module

    def current_decay(self) -> float:
        """The decay the next update applies."""
        return min(self.decay, (1 + self.updates) / (WARMUP + self.updates))

    def _average(
        self, averaged: Sequence[Tensor], current: Sequence[Tensor], count: Tensor | int
    ) -> None:
        if averaged and averaged[0].dtype != current[0].dtype:  # a model kept in bf16
            current = [c.to(averaged[0].dtype) for c in current]
        update = get_ema_multi_avg_fn(self.current_decay())  # type: ignore[no-untyped-call]
        update(averaged, current, count)

    def update(self, model: nn.Module) -> None:
        """Average in ``model``'s current parameters and buffers (after an optimizer step)."""
        self.averaged.update_parameters(model)
        self.updates += 1

    def sync(self) -> None:
        """Rank 0's averaged buffers on every rank (nothing outside torchrun); every rank
        must call it, at the same point."""
        dist.broadcast_from_first(list(self.module.buffers()))

    def state_dict(self) -> dict[str, Any]:
        """The averaged weights (as a plain model's ``state_dict``), the updates and the decay."""
        return {"model": self.module.state_dict(), "updates": self.updates, "decay": self.decay}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        self.module.load_state_dict(state["model"])
        self.updates = int(state["updates"])
        self.averaged.n_averaged.fill_(self.updates)


def inference_module(
    averaging: WeightAveraging | None, net: nn.Module, views: str | None
) -> nn.Module:
    """The module a run evaluates and predicts with: the averaged weights once there
    are any, else the trained ``net`` (unwrapped); over the recipe's test ``views`` if
    it sets any."""
    averaged = averaging is not None and averaging.updates > 0
    net = averaging.module if averaging is not None and averaged else unwrap_model(net)
    return ViewAverage(net, views) if views is not None else net
