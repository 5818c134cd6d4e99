"""One optimisation step: the forward pass under autocast, the loss, the backward pass
through the gradient scaler, the optimizer and a per-batch schedule."""

from __future__ import annotations

from typing import Any

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from .epoch import EpochProgress
from .evaluation import autocast, to_device

__all__ = ["TrainStep"]


class TrainStep:
    """Trains ``net`` on one batch at a time with ``optimizer``.

    Args:
        net: the module to call (it may be compiled or wrapped in DDP).
        optimizer: steps the parameters.
        device: where the batches go.
        precision: ``"fp32"``, ``"bf16"`` or ``"fp16"`` (the last with a gradient scaler).
        channels_last: batches in channels_last memory format.
        label_smoothing: passed to the cross-entropy.
    """

    def __init__(
        self,
        net: nn.Module,
        optimizer: torch.optim.Optimizer,
        device: torch.device,
        precision: str,
        channels_last: bool,
        label_smoothing: float,
    ) -> None:
        self.net, self.optimizer, self.device = net, optimizer, device
        self.precision, self.channels_last = precision, channels_last
        self.label_smoothing = label_smoothing
        self.scaler = torch.amp.GradScaler(device.type, enabled=precision == "fp16")

    def loss(self, logits: Tensor, target: Tensor) -> Tensor:
        """Cross-entropy of class indices ``(B,)`` or soft targets ``(B, K)``: for CutMix's
        targets it is the paper's ``lam * CE(y_a) + (1 - lam) * CE(y_b)``."""
        return F.cross_entropy(logits, target, label_smoothing=self.label_smoothing)

    def __call__(
        self, x: Tensor, target: Tensor, progress: EpochProgress, step: int, scheduler: Any
    ) -> None:
        """Train on one batch and add it to ``progress``; ``scheduler`` (or ``None``) steps
        after the optimizer."""
        x = to_device(x, self.device, self.channels_last)
        target = target.to(self.device, non_blocking=True)
        with autocast(self.device, self.precision):
            logits = self.net(x)
        loss = self.loss(logits.float(), target)
        self.optimizer.zero_grad(set_to_none=True)
        self.scaler.scale(loss).backward()  # type: ignore[no-untyped-call]  # torch's typing
        self.scaler.step(self.optimizer)
        self.scaler.update()
        if scheduler is not None:
            scheduler.step()
        progress.record(loss, logits, target, step)
