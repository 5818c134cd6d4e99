"""Lookahead: every few steps the trained weights move part of the way toward a slow
copy, which then takes their place (Zhang et al., 2019, "Lookahead Optimizer: k steps
forward, 1 step back"), in the form of airbench (Jordan, 2024): the slow copy covers
all floating-point state (weights and BatchNorm statistics), its decay ramps up as the
cube of the run's progress, and the run ends on the slow copy.
"""

from __future__ import annotations

from typing import Any

import torch
from torch import Tensor, nn

from .._validate import float_in_range, positive_int

__all__ = ["Lookahead"]


class Lookahead:
    """The slow copy of a model's floating-point state, and the steps that update it.

    Every ``every`` optimizer steps (:meth:`after_step`), with ``p`` the fraction of
    the run's steps done and ``d = decay * p ** 3``: ``slow = d * slow + (1 - d) *
    fast``, then ``fast = slow``.  At the run's last step, if no update is due, the
    model takes the slow copy as it stands (airbench's final update with ``d = 1``), so
    the run always ends on the slow copy.  The copy is kept in fp32.

    Args:
        model: the trained module (unwrapped).
        every: steps between updates.
        decay: the decay at the end of the run, in [0, 1].

    Examples:
        >>> import torch
        >>> net = torch.nn.Linear(2, 1)
        >>> lookahead = Lookahead(net, every=2, decay=0.5)
        >>> lookahead.total_steps = 4
        >>> lookahead.after_step(net); lookahead.steps
        1
    """

    def __init__(self, model: nn.Module, every: int = 5, decay: float = 0.95**5) -> None:
        self.every = positive_int("lookahead_every", every)
        self.decay = float_in_range("lookahead_decay", decay, 0.0, 1.0)
        self.steps = 0
        self.total_steps = 0  # the run's length; the loop sets it before each epoch
        self.slow = [t.detach().float().clone() for t in self._state(model)]

    @staticmethod
    def _state(model: nn.Module) -> list[Tensor]:
        return [t for t in model.state_dict(keep_vars=True).values() if t.is_floating_point()]

    def current_decay(self) -> float:
        """The decay of an update after the steps counted so far."""
        fraction = min(1.0, self.steps / self.total_steps) if self.total_steps else 0.0
        return self.decay * fraction**3

    @torch.no_grad()
    def after_step(self, model: nn.Module) -> None:
        """Count an optimizer step of ``model``; update it and the slow copy when due,
        and at the run's last step leave it on the slow copy."""
        self.steps += 1
        due = self.steps % self.every == 0
        last = bool(self.total_steps) and self.steps == self.total_steps
        if not (due or last):
            return
        decay = self.current_decay() if due else 1.0
        for slow, fast in zip(self.slow, self._state(model), strict=True):
            slow.lerp_(fast.detach().float(), 1.0 - decay)
            fast.detach().copy_(slow)

    def state_dict(self) -> dict[str, Any]:
        """The slow copy and the steps counted."""
        return {"slow": [t.clone() for t in self.slow], "steps": self.steps,
                "every": self.every, "decay": self.decay}  # fmt: skip

    def load_state_dict(self, state: dict[str, Any]) -> None:
        if len(state["slow"]) != len(self.slow):
            raise ValueError(
                f"the lookahead state holds {len(state['slow'])} tensors; this model has "
                f"{len(self.slow)}"
            )
        for slow, saved in zip(self.slow, state["slow"], strict=True):
            slow.copy_(saved)
        self.steps = int(state["steps"])
