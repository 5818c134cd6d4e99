"""A synthetic image set with a learnable class signal, for benchmarks and smoke runs."""

from __future__ import annotations

import torch

from .._validate import positive_int

__all__ = ["make_synthetic"]


def make_synthetic(
    num_samples: int,
    num_classes: int = 10,
    image_size: int = 32,
    channels: int = 3,
    seed: int = 0,
) -> tuple[torch.Tensor, torch.Tensor]:
    """Random uint8 images, each mixed half and half with a fixed pattern of its class.

    The per-class patterns make the labels learnable (a small network gets far
    above chance in a few epochs), while the noise keeps it from being trivial.
    Anything trained on it is a smoke test, not a result: name it synthetic.

    Returns:
        ``(images, labels)``: uint8 ``(N, C, S, S)`` and int64 ``(N,)``, balanced classes.

    Examples:
        >>> from resdepth.data import make_synthetic
        >>> images, labels = make_synthetic(20, num_classes=4, image_size=8)
        >>> images.shape, labels.bincount().tolist()
        (torch.Size([20, 3, 8, 8]), [5, 5, 5, 5])
    """
    for name, value in (("num_samples", num_samples), ("num_classes", num_classes),
                        ("image_size", image_size), ("channels", channels)):  # fmt: skip
        positive_int(name, value)
    g = torch.Generator().manual_seed(seed)
    patterns = torch.rand(num_classes, channels, image_size, image_size, generator=g)
    labels = torch.arange(num_samples) % num_classes
    labels = labels[torch.randperm(num_samples, generator=g)]
    noise = torch.rand(num_samples, channels, image_size, image_size, generator=g)
    images = 0.5 * patterns[labels] + 0.5 * noise
    return (images * 255).round().to(torch.uint8), labels
