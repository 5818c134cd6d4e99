"""torchvision v2's operations image by image: the references the batch transforms are
checked against.  Each follows torchvision's auto-augment ``_apply_op`` for the same
operation name and magnitude."""

from __future__ import annotations

import math

import torch
import torchvision.transforms.v2.functional as TF
from torchvision.transforms import InterpolationMode


def images(batch: int, height: int, width: int, dtype: torch.dtype, seed: int = 0) -> torch.Tensor:
    """Random images: uniform noise blended with a per-sample smooth ramp, so that
    histograms, means and edges differ from sample to sample."""
    g = torch.Generator().manual_seed(seed)
    noise = torch.rand(batch, 3, height, width, generator=g, dtype=torch.float64)
    ramp = torch.linspace(0, 1, width, dtype=torch.float64).expand(batch, 3, height, width)
    mix = torch.rand(batch, 1, 1, 1, generator=g, dtype=torch.float64)
    x = mix * noise + (1 - mix) * ramp * torch.rand(
        batch, 3, 1, 1, generator=g, dtype=torch.float64
    )
    if dtype == torch.uint8:
        return (x * 255).round().to(torch.uint8)
    return x.to(dtype)


def apply_op(
    img: torch.Tensor,
    name: str,
    magnitude: float,
    interpolation: InterpolationMode = InterpolationMode.NEAREST,
    fill: float = 0.0,
) -> torch.Tensor:
    """One image ``(C, H, W)`` through torchvision's operation ``name``."""
    shear = math.degrees(math.atan(magnitude))
    geometric = {"interpolation": interpolation, "fill": [fill]}
    if name == "Identity":
        return img
    if name == "ShearX":
        return TF.affine(img, angle=0.0, translate=[0, 0], scale=1.0, shear=[shear, 0.0],
                         center=[0, 0], **geometric)  # fmt: skip
    if name == "ShearY":
        return TF.affine(img, angle=0.0, translate=[0, 0], scale=1.0, shear=[0.0, shear],
                         center=[0, 0], **geometric)  # fmt: skip
    if name == "TranslateX":
        return TF.affine(img, angle=0.0, translate=[int(magnitude), 0], scale=1.0,
                         shear=[0.0, 0.0], **geometric)  # fmt: skip
    if name == "TranslateY":
        return TF.affine(img, angle=0.0, translate=[0, int(magnitude)], scale=1.0,
                         shear=[0.0, 0.0], **geometric)  # fmt: skip
    if name == "Rotate":
        return TF.rotate(img, magnitude, **geometric)
    if name == "Brightness":
        return TF.adjust_brightness(img, 1.0 + magnitude)
    if name == "Color":
        return TF.adjust_saturation(img, 1.0 + magnitude)
    if name == "Contrast":
        return TF.adjust_contrast(img, 1.0 + magnitude)
    if name == "Sharpness":
        return TF.adjust_sharpness(img, 1.0 + magnitude)
    if name == "Posterize":
        return TF.posterize(img, int(magnitude))
    if name == "Solarize":
        return TF.solarize(img, magnitude)
    if name == "AutoContrast":
        return TF.autocontrast(img)
    if name == "Equalize":
        return TF.equalize(img)
    if name == "Invert":
        return TF.invert(img)
    raise KeyError(name)
