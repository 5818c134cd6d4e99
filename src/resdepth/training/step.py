"""One optimisation step: the forward pass under autocast, the loss, the backward pass
through the gradient scaler, gradient clipping, the optimizer, the lookahead, the weight
average and a per-batch schedule."""

from __future__ import annotations

from typing import Any

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from ..errors import DataMismatchError
from .averaging import WeightAveraging
from .devices import autocast, to_device, unwrap_model
from .epoch import EpochProgress
from .lookahead import Lookahead

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
        num_classes: the model's outputs, checked on the first batch (0: unknown).
        clip_grad_norm: clip the gradients' total norm to this (``None``: no clipping).
        averaging: the weight average to update after each step, or ``None``.
        lookahead: the lookahead to step after each optimizer step (before the
            average), or ``None``.
    """

    def __init__(
        self,
        net: nn.Module,
        optimizer: torch.optim.Optimizer,
        device: torch.device,
        precision: str,
        channels_last: bool,
        label_smoothing: float,
        num_classes: int = 0,
        clip_grad_norm: float | None = None,
        averaging: WeightAveraging | None = None,
        lookahead: Lookahead | None = None,
    ) -> None:
        self.net, self.optimizer, self.device = net, optimizer, device
        self.precision, self.channels_last = precision, channels_last
        self.label_smoothing = label_smoothing
        self.scaler = torch.amp.GradScaler(device.type, enabled=precision == "fp16")
        self.num_classes = num_classes
        self.clip_grad_norm, self.averaging = clip_grad_norm, averaging
        self.lookahead = lookahead
        self._params = [p for group in optimizer.param_groups for p in group["params"]]
        self._checked = False  # the first batch's output shape
        # The plain module inside DDP or compile wrappers: what the average follows.
        self.averaging_source = unwrap_model(net)

    def _check_output(self, logits: Tensor, target: Tensor, batch: int) -> None:
        """Name a model whose outputs do not fit the batch or the classes, before the
        loss fails on it with a message about tensors."""
        want = self.num_classes or (target.shape[1] if target.dim() == 2 else None)
        if logits.dim() != 2 or logits.shape[0] != batch or (want and logits.shape[1] != want):
            raise DataMismatchError(
                f"the model returns shape {tuple(logits.shape)} for a batch of {batch} "
                f"images; the Trainer needs ({batch}, {want or 'number of classes'}): give "
                "a model that ends in its classifier, or Trainer(..., num_classes=N)"
            )
        if target.dim() == 1 and int(target.max()) >= logits.shape[1]:  # read once
            raise DataMismatchError(
                f"label {int(target.max())} is outside the model's {logits.shape[1]} outputs"
            )
        self._checked = True

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
        if not self._checked:
            self._check_output(logits, target, x.shape[0])
        loss = self.loss(logits.float(), target)
        self.optimizer.zero_grad(set_to_none=True)
        self.scaler.scale(loss).backward()  # type: ignore[no-untyped-call]  # torch's typing
        if self.clip_grad_norm is not None:
            # The true gradients: unscaled first under fp16 (a no-op otherwise); a step
            # the scaler skips for inf/nan gradients is still skipped after clipping.
            self.scaler.unscale_(self.optimizer)
            nn.utils.clip_grad_norm_(self._params, self.clip_grad_norm)
        self.scaler.step(self.optimizer)
        self.scaler.update()
        if self.lookahead is not None:
            self.lookahead.after_step(self.averaging_source)
        if self.averaging is not None:
            self.averaging.update(self.averaging_source)
        if scheduler is not None:
            scheduler.step()
        progress.record(loss, logits, target, step)
