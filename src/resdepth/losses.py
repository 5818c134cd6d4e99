"""Losses for training with soft targets; see :mod:`resdepth.transforms.losses`."""

from .transforms.losses import SoftTargetCrossEntropy, soft_target_cross_entropy

__all__ = ["SoftTargetCrossEntropy", "soft_target_cross_entropy"]
