"""The operation sets, magnitude bins and the CIFAR-10 sub-policies of the augmentation
policies: torchvision's, for :mod:`resdepth.transforms.policies`."""

from __future__ import annotations

from collections.abc import Callable

import torch
from torch import Tensor

__all__ = [
    "AUTO_AUGMENT_SPACE",
    "CIFAR10_POLICY",
    "GEOMETRIC_OPERATIONS",
    "RAND_AUGMENT_SPACE",
    "TRIVIAL_AUGMENT_SPACE",
    "Space",
    "no_magnitude",
]

GEOMETRIC_OPERATIONS = ("ShearX", "ShearY", "TranslateX", "TranslateY", "Rotate")

# name -> (the magnitudes of its bins, given (bins, height, width, device); signed)
Space = dict[str, tuple[Callable[[int, int, int, torch.device], Tensor | None], bool]]
_Magnitudes = Callable[[int, int, int, torch.device], Tensor]


def _linspace(high: float) -> _Magnitudes:
    return lambda bins, height, width, device: torch.linspace(0.0, high, bins, device=device)


def _posterize(spread: float) -> _Magnitudes:
    return lambda bins, height, width, device: (
        8 - torch.arange(bins, device=device) / ((bins - 1) / spread)
    ).round()


def _solarize(bins: int, height: int, width: int, device: torch.device) -> Tensor:
    return torch.linspace(1.0, 0.0, bins, device=device)


def no_magnitude(bins: int, height: int, width: int, device: torch.device) -> None:
    return None


def _image_fraction(fraction: float, axis: int) -> _Magnitudes:
    """Up to ``fraction`` of the image's width (``axis`` 0) or height (``axis`` 1)."""
    return lambda bins, height, width, device: torch.linspace(
        0.0, fraction * (width, height)[axis], bins, device=device
    )


def _operations(
    shear: float, translate: tuple[_Magnitudes, _Magnitudes], rotate: float, blend: float,
    posterize: float,
) -> Space:  # fmt: skip
    """The operations every policy has, in torchvision's order, with the largest shear,
    rotation (degrees) and blend factor, the translations' bins, and the bits
    posterize takes away at its last bin."""
    return {
        "ShearX": (_linspace(shear), True),
        "ShearY": (_linspace(shear), True),
        "TranslateX": (translate[0], True),
        "TranslateY": (translate[1], True),
        "Rotate": (_linspace(rotate), True),
        **{
            name: (_linspace(blend), True)
            for name in ("Brightness", "Color", "Contrast", "Sharpness")
        },
        "Posterize": (_posterize(posterize), False),
        "Solarize": (_solarize, False),
        "AutoContrast": (no_magnitude, False),
        "Equalize": (no_magnitude, False),
    }


#: AutoAugment's and RandAugment's operations (torchvision's), TrivialAugmentWide's.
# torchvision's translation reaches 150/331 of the image (AutoAugment's ImageNet rule).
AUTO_AUGMENT_SPACE: Space = {
    **_operations(
        0.3, (_image_fraction(150 / 331, 0), _image_fraction(150 / 331, 1)), 30.0, 0.9, 4
    ),
    "Invert": (no_magnitude, False),
}
RAND_AUGMENT_SPACE: Space = {
    "Identity": (no_magnitude, False),
    **{k: v for k, v in AUTO_AUGMENT_SPACE.items() if k != "Invert"},
}
TRIVIAL_AUGMENT_SPACE: Space = {
    "Identity": (no_magnitude, False),
    **_operations(0.99, (_linspace(32.0), _linspace(32.0)), 135.0, 0.99, 6),
}

#: AutoAugment's CIFAR-10 sub-policies: two (operation, probability, magnitude bin).
CIFAR10_POLICY: tuple[tuple[tuple[str, float, int | None], tuple[str, float, int | None]], ...] = (
    (("Invert", 0.1, None), ("Contrast", 0.2, 6)),
    (("Rotate", 0.7, 2), ("TranslateX", 0.3, 9)),
    (("Sharpness", 0.8, 1), ("Sharpness", 0.9, 3)),
    (("ShearY", 0.5, 8), ("TranslateY", 0.7, 9)),
    (("AutoContrast", 0.5, None), ("Equalize", 0.9, None)),
    (("ShearY", 0.2, 7), ("Posterize", 0.3, 7)),
    (("Color", 0.4, 3), ("Brightness", 0.6, 7)),
    (("Sharpness", 0.3, 9), ("Brightness", 0.7, 9)),
    (("Equalize", 0.6, None), ("Equalize", 0.5, None)),
    (("Contrast", 0.6, 7), ("Sharpness", 0.6, 5)),
    (("Color", 0.7, 7), ("TranslateX", 0.5, 8)),
    (("Equalize", 0.3, None), ("AutoContrast", 0.4, None)),
    (("TranslateY", 0.4, 3), ("Sharpness", 0.2, 6)),
    (("Brightness", 0.9, 6), ("Color", 0.2, 8)),
    (("Solarize", 0.5, 2), ("Invert", 0.0, None)),
    (("Equalize", 0.2, None), ("AutoContrast", 0.6, None)),
    (("Equalize", 0.2, None), ("Equalize", 0.6, None)),
    (("Color", 0.9, 9), ("Equalize", 0.6, None)),
    (("AutoContrast", 0.8, None), ("Solarize", 0.2, 8)),
    (("Brightness", 0.1, 3), ("Color", 0.7, 0)),
    (("Solarize", 0.4, 5), ("AutoContrast", 0.9, None)),
    (("TranslateY", 0.9, 9), ("TranslateY", 0.7, 9)),
    (("AutoContrast", 0.9, None), ("Solarize", 0.8, 3)),
    (("Equalize", 0.8, None), ("Invert", 0.1, None)),
    (("TranslateY", 0.7, 9), ("AutoContrast", 0.9, None)),
)
