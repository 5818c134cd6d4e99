"""One entry point for the data sets the command line and examples name."""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

import torch

from .cifar import DatasetNotFoundError, load_cifar10
from .folder import CIFAR10_CLASSES, load_image_folder
from .synthetic import make_synthetic

__all__ = ["Dataset", "load_dataset"]


@dataclass(frozen=True)
class Dataset:
    """A labelled split held as tensors: uint8 ``images (N, C, H, W)`` and int64 ``labels (N,)``."""

    name: str
    images: torch.Tensor
    labels: torch.Tensor
    classes: tuple[str, ...]

    def __len__(self) -> int:
        return int(self.labels.shape[0])

    def subset(self, n: int | None, seed: int = 0) -> Dataset:
        """A class-balanced-in-expectation random subset of ``n`` samples (all when ``None``)."""
        if n is None or n >= len(self):
            return self
        if n < 1:
            raise ValueError(f"subset size must be positive, got {n}")
        idx = (
            torch.randperm(len(self), generator=torch.Generator().manual_seed(seed))[:n]
            .sort()
            .values
        )
        return Dataset(
            f"{self.name} (subset of {n})", self.images[idx], self.labels[idx], self.classes
        )


def load_dataset(
    spec: str | os.PathLike[str],
    train: bool = True,
    root: str | os.PathLike[str] = "data",
    download: bool = False,
    cache_dir: str | os.PathLike[str] | None = None,
    synthetic_size: int = 10_000,
) -> Dataset:
    """``"cifar10"`` (torchvision, under ``root``), ``"synthetic"``, or a folder/archive path.

    A folder or archive with ``train``/``test`` split folders gives the requested
    split; one without them is used for both.

    Raises:
        DatasetNotFoundError: when the data set cannot be found or downloaded.
    """
    split = "train" if train else "test"
    if str(spec) == "cifar10":
        images, labels = load_cifar10(root, train=train, download=download)
        return Dataset(f"CIFAR-10 {split}", images, labels, CIFAR10_CLASSES)
    if str(spec) == "synthetic":
        n = synthetic_size if train else max(synthetic_size // 5, 10)
        images, labels = make_synthetic(n, seed=0 if train else 1)
        return Dataset(f"synthetic {split} (random images, not CIFAR-10)", images, labels,
                       tuple(f"class{i}" for i in range(10)))  # fmt: skip
    path = Path(spec)
    if not path.exists():
        raise DatasetNotFoundError(
            f"no data at {path}: give 'cifar10', 'synthetic', "
            "or a folder or archive of class subfolders"
        )
    try:
        images, labels, classes = load_image_folder(path, split=split, cache_dir=cache_dir)
    except ValueError as err:
        if "not found in" not in str(err):
            raise
        images, labels, classes = load_image_folder(path, cache_dir=cache_dir)
    return Dataset(f"{path.name} {split}", images, labels, tuple(classes))
