"""Batch transforms that run on whole ``(B, C, H, W)`` batches on their device.

Each sample gets its own random parameters; drawing parameters
(``generate_parameters``) is separate from applying them (``apply_transform``), so any call
can be replayed exactly.
"""

from .._protocols import BatchMixing, ImageTransform
from ._base import BatchTransform, Params
from ._select import per_sample_strategy
from ._warp import affine_matrix
from .color import (
    ColorJitter,
    RandomAutocontrast,
    RandomEqualize,
    RandomGrayscale,
    RandomInvert,
    RandomPosterize,
    RandomSharpness,
    RandomSolarize,
)
from .compose import Compose
from .conversion import CIFAR10_MEAN, CIFAR10_STD, Normalize, ToFloat
from .erasing import Cutout, RandomErasing
from .geometric import RandomAffine, RandomCrop, RandomHorizontalFlip
from .mixing import CutMix, MixUp, sample_beta, to_soft_targets
from .policies import AutoAugment, RandAugment, TrivialAugmentWide, apply_operations
from .views import TEST_VIEWS, ViewAverage, tta_views

__all__ = [
    "TEST_VIEWS",
    "ViewAverage",
    "tta_views",
    "CIFAR10_MEAN",
    "CIFAR10_STD",
    "AutoAugment",
    "BatchMixing",
    "BatchTransform",
    "ColorJitter",
    "Compose",
    "CutMix",
    "Cutout",
    "ImageTransform",
    "MixUp",
    "Normalize",
    "Params",
    "RandAugment",
    "RandomAffine",
    "RandomAutocontrast",
    "RandomCrop",
    "RandomEqualize",
    "RandomErasing",
    "RandomGrayscale",
    "RandomHorizontalFlip",
    "RandomInvert",
    "RandomPosterize",
    "RandomSharpness",
    "RandomSolarize",
    "ToFloat",
    "TrivialAugmentWide",
    "affine_matrix",
    "apply_operations",
    "per_sample_strategy",
    "sample_beta",
    "to_soft_targets",
]
