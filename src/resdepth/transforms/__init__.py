"""Batch transforms that run on whole ``(B, C, H, W)`` batches on their device.

Each sample gets its own random parameters; drawing parameters
(``generate_parameters``) is separate from applying them (``apply_transform``), so any call
can be replayed exactly.
"""

from .._protocols import BatchMixing, ImageTransform
from ._base import BatchTransform, Params
from ._warp import affine_matrix
from .compose import Compose
from .geometric import RandomAffine, RandomCrop, RandomHorizontalFlip
from .intensity import CIFAR10_MEAN, CIFAR10_STD, Normalize, ToFloat
from .mixing import CutMix, MixUp, sample_beta, to_soft_targets

__all__ = [
    "CIFAR10_MEAN",
    "CIFAR10_STD",
    "BatchMixing",
    "BatchTransform",
    "Compose",
    "ImageTransform",
    "CutMix",
    "MixUp",
    "Normalize",
    "Params",
    "RandomAffine",
    "RandomCrop",
    "RandomHorizontalFlip",
    "ToFloat",
    "affine_matrix",
    "sample_beta",
    "to_soft_targets",
]
