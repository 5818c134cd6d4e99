"""CIFAR-10 through torchvision (its checksums and download), as uint8 tensors."""

from __future__ import annotations

import os
from pathlib import Path

import torch

__all__ = ["load_cifar10", "DatasetNotFoundError"]


class DatasetNotFoundError(FileNotFoundError):
    """A data set is missing and could not be downloaded; the message says what to do."""


def load_cifar10(
    root: str | os.PathLike[str], train: bool = True, download: bool = False
) -> tuple[torch.Tensor, torch.Tensor]:
    """CIFAR-10 as ``(images, labels)``: uint8 ``(N, 3, 32, 32)`` and int64 ``(N,)``.

    Reads torchvision's ``cifar-10-batches-py`` under ``root``, verifying its
    checksums; with ``download=True`` fetches it first when missing.

    Raises:
        DatasetNotFoundError: when the files are missing (or fail their checksum)
            and cannot be downloaded; the message names the path and the options.
    """
    from torchvision.datasets import CIFAR10

    root = Path(root)
    try:
        dataset = CIFAR10(str(root), train=train, download=download)
    except (RuntimeError, OSError) as err:
        hint = (
            "the download failed (is there a network connection?)"
            if download
            else "pass download=True (--data cifar10 with network access)"
        )
        raise DatasetNotFoundError(
            f"CIFAR-10 not found or corrupted under {root / 'cifar-10-batches-py'}: {hint}, "
            f"or use a local copy: a folder or archive of class subfolders ({err})"
        ) from None
    images = torch.from_numpy(dataset.data).permute(0, 3, 1, 2).contiguous()
    labels = torch.tensor(dataset.targets, dtype=torch.int64)
    return images, labels
