"""Cross-entropy for soft targets (the output of CutMix and MixUp), with label smoothing."""

from __future__ import annotations

import torch.nn.functional as F
from torch import Tensor, nn

from .mixing import to_soft_targets

__all__ = ["soft_target_cross_entropy", "SoftTargetCrossEntropy"]


def soft_target_cross_entropy(
    logits: Tensor, target: Tensor, label_smoothing: float = 0.0, reduction: str = "mean"
) -> Tensor:
    """Cross-entropy between ``logits (B, K)`` and targets, indices ``(B,)`` or soft ``(B, K)``.

    Soft targets make the paper's CutMix loss ``lam * CE(y_a) + (1 - lam) * CE(y_b)``
    a single cross-entropy.  ``label_smoothing`` mixes the targets with the uniform
    distribution: ``(1 - eps) * target + eps / K``.

    Examples:
        >>> import torch
        >>> from resdepth.losses import soft_target_cross_entropy
        >>> logits = torch.tensor([[2.0, 0.0], [0.0, 2.0]])
        >>> hard = soft_target_cross_entropy(logits, torch.tensor([0, 1]))
        >>> torch.allclose(hard, torch.nn.functional.cross_entropy(logits, torch.tensor([0, 1])))
        True
    """
    if not isinstance(logits, Tensor) or logits.dim() != 2:
        raise ValueError(
            f"logits must be a (B, K) tensor, got {getattr(logits, 'shape', logits)!r}"
        )
    if not 0.0 <= label_smoothing < 1.0:
        raise ValueError(f"label_smoothing must be in [0, 1), got {label_smoothing!r}")
    if reduction not in ("mean", "sum", "none"):
        raise ValueError(f"reduction must be 'mean', 'sum' or 'none', got {reduction!r}")
    if target.shape[0] != logits.shape[0]:
        raise ValueError(
            "logits and target must have the same batch size, "
            f"got {logits.shape[0]} and {target.shape[0]}"
        )
    num_classes = logits.shape[1]
    soft = to_soft_targets(target, num_classes, dtype=logits.dtype)
    if label_smoothing:
        soft = soft * (1.0 - label_smoothing) + label_smoothing / num_classes
    loss = -(soft * F.log_softmax(logits, dim=1)).sum(dim=1)
    if reduction == "mean":
        return loss.mean()
    if reduction == "sum":
        return loss.sum()
    return loss


class SoftTargetCrossEntropy(nn.Module):
    """Module form of :func:`soft_target_cross_entropy`."""

    def __init__(self, label_smoothing: float = 0.0, reduction: str = "mean") -> None:
        super().__init__()
        self.label_smoothing = label_smoothing
        self.reduction = reduction

    def forward(self, logits: Tensor, target: Tensor) -> Tensor:
        return soft_target_cross_entropy(logits, target, self.label_smoothing, self.reduction)

    def extra_repr(self) -> str:
        return f"label_smoothing={self.label_smoothing}"
