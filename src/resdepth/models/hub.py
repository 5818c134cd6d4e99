"""What a model says about itself to timm and torch.hub: its ``pretrained_cfg``.

timm keeps, on every model, a plain dict of the settings its inputs need (image
size, normalisation, resize interpolation, crop fraction) and of where its stem and
classifier sit; ``timm.data.resolve_model_data_config(model)`` reads it.  resdepth's
networks are for 32x32 CIFAR-10 images, and say so in the same dict.
"""

from __future__ import annotations

from typing import Any

__all__ = ["CIFAR10_MEAN", "CIFAR10_STD", "IMAGE_SIZE", "make_pretrained_cfg"]

#: Channel means of CIFAR-10 (RGB, on values in [0, 1]), as the paper normalised it.
CIFAR10_MEAN: tuple[float, float, float] = (0.4914, 0.4822, 0.4465)
#: Channel standard deviations of CIFAR-10 that the paper used.
CIFAR10_STD: tuple[float, float, float] = (0.2023, 0.1994, 0.2010)
#: Height and width of the images the networks are made for.
IMAGE_SIZE = 32


def make_pretrained_cfg(
    num_classes: int,
    in_channels: int = 3,
    architecture: str | None = None,
    source: str | None = None,
) -> dict[str, Any]:
    """A timm-style ``pretrained_cfg`` for a network of 32x32 images.

    Three-channel networks get CIFAR-10's mean and std; others the neutral 0.5 for
    every channel.  ``url`` is empty: resdepth ships no weights.

    Args:
        num_classes: outputs of the classifier (0 for a network without one).
        in_channels: channels of the input images.
        architecture: the preset's registered name (``None`` for a network built
            by hand).
        source: the paper the architecture comes from.

    Returns:
        A new dict, the caller's to keep and change.

    Examples:
        >>> from resdepth.models.hub import make_pretrained_cfg
        >>> cfg = make_pretrained_cfg(10)
        >>> cfg["input_size"], cfg["interpolation"], cfg["crop_pct"], cfg["classifier"]
        ((3, 32, 32), 'bilinear', 1.0, 'fc')
        >>> make_pretrained_cfg(2, in_channels=1)["mean"]
        (0.5,)
    """
    rgb = in_channels == 3
    return {
        "architecture": architecture,
        "source": source,
        "url": "",
        "num_classes": num_classes,
        "input_size": (in_channels, IMAGE_SIZE, IMAGE_SIZE),
        "mean": CIFAR10_MEAN if rgb else (0.5,) * in_channels,
        "std": CIFAR10_STD if rgb else (0.5,) * in_channels,
        "interpolation": "bilinear",
        "crop_pct": 1.0,
        "crop_mode": "center",
        "first_conv": "conv1",
        "classifier": "fc",
    }
