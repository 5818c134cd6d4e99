"""One entry point for the data sets the command line and examples name."""

from __future__ import annotations

import operator
import os
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import torch

from .._registry import close_matches
from .._validate import choice, positive_int
from ..errors import DatasetNotFoundError
from . import cifar
from .cifar import is_cifar10_python, load_cifar10, read_cifar10_python
from .folder import CIFAR10_CLASSES, list_splits, load_image_folder
from .synthetic import make_synthetic

__all__ = ["CIFAR10_SAMPLE", "Dataset", "NAMED_DATASETS", "load_dataset"]

#: The CIFAR-10 sample inside the package: 500 train and 100 test images per class.
CIFAR10_SAMPLE = Path(__file__).with_name("cifar10_sample.tar.gz")
#: The names ``load_dataset`` (and ``--data``) takes besides paths.
NAMED_DATASETS = ("cifar10", "cifar10-sample", "cifar100", "synthetic")


@dataclass(frozen=True, repr=False)
class Dataset:
    """A labelled split held as tensors: uint8 ``images (N, C, H, W)`` and int64 ``labels (N,)``.

    ``labels[i]`` is the index of the image's class in ``classes``; every split of a
    data set shares one class list, so a label means the same class everywhere.

    It is a map-style dataset as torchvision's are: ``len(ds)``, and ``ds[i]`` is
    ``(image, label)``, a uint8 ``(C, H, W)`` tensor and an ``int``, so it also goes
    straight into a ``torch.utils.data.DataLoader``.  The Trainer takes the whole
    tensors at once (:meth:`Trainer.build_loaders
    <resdepth.training.Trainer.build_loaders>`), never image by image.

    Examples:
        >>> from resdepth.data import load_dataset
        >>> test = load_dataset("cifar10-sample", train=False)
        >>> image, label = test[0]
        >>> image.shape, image.dtype, test.classes[label] == test.classes[int(test.labels[0])]
        (torch.Size([3, 32, 32]), torch.uint8, True)
    """

    name: str
    images: torch.Tensor
    labels: torch.Tensor
    classes: tuple[str, ...]
    split: str | None = None

    def __len__(self) -> int:
        return int(self.labels.shape[0])

    def __getitem__(self, index: int) -> tuple[torch.Tensor, int]:
        """``(image, label)``: uint8 ``(C, H, W)`` and the class index, as torchvision's
        datasets give them.

        Raises:
            TypeError: for an index that is not an integer.
            IndexError: for an index outside ``-len(ds) .. len(ds) - 1``.
        """
        try:
            i = operator.index(index)
        except TypeError:
            raise TypeError(
                f"a Dataset is indexed by an integer, got {type(index).__name__}; "
                "for a part of it use subset(n) or the images and labels tensors"
            ) from None
        if not -len(self) <= i < len(self):
            raise IndexError(f"index {i} is out of range for {self.name} ({len(self)} images)")
        return self.images[i], int(self.labels[i])

    def __repr__(self) -> str:
        shape = "x".join(map(str, self.images.shape[1:]))
        names = ", ".join(self.classes[:4]) + (", ..." if len(self.classes) > 4 else "")
        return (
            f"Dataset({self.name!r}, {len(self)} images of {shape}, "
            f"{len(self.classes)} classes: {names}, split={self.split!r})"
        )

    def with_classes(self, classes: Sequence[str]) -> Dataset:
        """The same images with labels that index ``classes`` instead, matched by name.

        Raises:
            ValueError: if the data set has a class that ``classes`` lacks; a class
                of ``classes`` without images is fine.

        Examples:
            >>> import torch
            >>> from resdepth.data import Dataset
            >>> ds = Dataset("pets", torch.zeros(2, 3, 4, 4, dtype=torch.uint8),
            ...              torch.tensor([0, 1]), ("cat", "dog"))
            >>> ds.with_classes(["bird", "dog", "cat"]).labels
            tensor([2, 1])
        """
        classes = tuple(str(c) for c in classes)
        unknown = [c for c in self.classes if c not in classes]
        if unknown:
            raise ValueError(
                f"{self.name} has the class(es) {', '.join(map(repr, unknown))}, which "
                f"{list(classes)} lacks"
            )
        if classes == self.classes:
            return self
        mapping = torch.tensor([classes.index(c) for c in self.classes], dtype=torch.int64)
        return Dataset(self.name, self.images, mapping[self.labels], classes, self.split)

    def subset(self, n: int | None, seed: int = 0) -> Dataset:
        """A class-balanced-in-expectation random subset of ``n`` samples (all when ``None``).

        Raises:
            ValueError: ``n`` is not a positive integer, or more than the data set holds.
        """
        if n is None:
            return self
        positive_int("subset size", n)
        if n > len(self):
            raise ValueError(f"a subset of {n} images is more than {self.name} holds ({len(self)})")
        if n == len(self):
            return self
        order = torch.randperm(len(self), generator=torch.Generator().manual_seed(seed))
        idx = order[:n].sort().values
        return Dataset(f"{self.name} (subset of {n})", self.images[idx], self.labels[idx],
                       self.classes, self.split)  # fmt: skip


def _folder_split(
    path: Path, split: str, classes: Sequence[str] | None, allow_unsplit: bool,
    cache_dir: str | os.PathLike[str] | None,
) -> Dataset:  # fmt: skip
    splits = list_splits(path)
    if None in splits:
        if split != "train" and not allow_unsplit:
            raise ValueError(
                f"{path} has no train/ and test/ folders, so its {split} split would be the "
                "training images again: split it into train/ and test/ folders, or pass "
                "allow_unsplit=True (--test-on-train) to test on the training images"
            )
        use: str | None = None
    elif split not in splits:
        raise ValueError(f"split {split!r} not found in {path}; it has {sorted(map(str, splits))}")
    else:
        use = split
    # One class list for every split: the training split's (or the given one), so a
    # split that lacks a class keeps the others' labels.
    names = list(classes) if classes is not None else splits.get("train", splits[use])
    images, labels, _ = load_image_folder(path, split=use, classes=names, cache_dir=cache_dir)
    return Dataset(f"{path.name} {split}", images, labels, tuple(names), use)


def _cifar100(
    name: str, split: str, label_mode: str, read: tuple[torch.Tensor, torch.Tensor, tuple[str, ...]]
) -> Dataset:
    images, labels, classes = read
    suffix = " (coarse labels)" if label_mode == "coarse" else ""
    return Dataset(f"{name} {split}{suffix}", images, labels, classes, split)


def load_dataset(
    spec: str | os.PathLike[str],
    train: bool = True,
    root: str | os.PathLike[str] | None = None,
    download: bool = False,
    cache_dir: str | os.PathLike[str] | None = None,
    synthetic_size: int = 10_000,
    classes: Sequence[str] | None = None,
    allow_unsplit: bool = False,
    label_mode: str = "fine",
) -> Dataset:
    """A split of a named data set or of a path.

    Args:
        spec: ``"cifar10"`` (looked for under ``root``, ``$RESDEPTH_DATA`` and
            ``~/.cache/resdepth``, downloaded with ``download=True``),
            ``"cifar10-sample"`` (the 6,000-image sample inside the package),
            ``"cifar100"`` (found and downloaded as ``"cifar10"`` is),
            ``"synthetic"``, the official ``cifar-10-python.tar.gz`` or its
            ``cifar-10-batches-py`` folder, the official
            ``cifar-100-python.tar.gz`` or its ``cifar-100-python`` folder, or a
            folder or archive of class subfolders.
        train: the training split, else the test split.
        root: where to look for (and download) CIFAR-10 or CIFAR-100 first.
        download: fetch CIFAR-10 or CIFAR-100 when it is nowhere to be found.
        cache_dir: where to keep decoded images of a folder or archive.
        synthetic_size: images in the synthetic training split (a fifth as many in
            its test split).
        classes: the class list of a folder or archive, in label order; by default
            the class folders of its training split.
        allow_unsplit: let a folder without ``train``/``test`` folders serve as the
            test split (it then holds the training images).
        label_mode: CIFAR-100's labels: ``"fine"`` (100 classes) or ``"coarse"``
            (20 superclasses); other data sets take ``"fine"`` only.

    Raises:
        DatasetNotFoundError: when the data set cannot be found or downloaded.
        ValueError: for a split that is missing, a class outside the class list, the
            test split of a folder without splits, or a ``label_mode`` other than
            ``"fine"`` for anything but CIFAR-100.

    Examples:
        >>> from resdepth.data import load_dataset
        >>> load_dataset("cifar10-sample", train=False)
        Dataset('cifar10-sample test', 1000 images of 3x32x32, 10 classes: airplane, automobile, bird, cat, ..., split='test')
    """  # noqa: E501
    split = "train" if train else "test"
    name = str(spec)
    choice("label_mode", label_mode, cifar.CIFAR100_LABEL_MODES)
    if label_mode != "fine" and name != "cifar100" and not cifar.is_cifar100_python(Path(spec)):
        raise ValueError(f"label_mode={label_mode!r} is for CIFAR-100 only, not {name}")
    if name == "cifar100":
        read = cifar.load_cifar100(root, train=train, download=download, label_mode=label_mode)
        return _cifar100("CIFAR-100", split, label_mode, read)
    if name == "cifar10":
        images, labels = load_cifar10(root, train=train, download=download)
        return Dataset(f"CIFAR-10 {split}", images, labels, CIFAR10_CLASSES, split)
    if name == "cifar10-sample":
        # Its layout is known (train/ and test/ of CIFAR-10's classes): one pass over the
        # archive, without first listing its splits.
        images, labels, _ = load_image_folder(
            CIFAR10_SAMPLE, split=split, classes=CIFAR10_CLASSES, cache_dir=cache_dir
        )
        return Dataset(f"cifar10-sample {split}", images, labels, CIFAR10_CLASSES, split)
    if name == "synthetic":
        n = synthetic_size if train else max(synthetic_size // 5, 10)
        images, labels = make_synthetic(n, seed=0 if train else 1)
        return Dataset(f"synthetic {split} (random images, not CIFAR-10)", images, labels,
                       tuple(f"class{i}" for i in range(10)), split)  # fmt: skip
    path = Path(spec)
    if not path.exists():
        close = close_matches(str(spec), NAMED_DATASETS)
        hint = f" (did you mean {', '.join(map(repr, close))}?)" if close else ""
        raise DatasetNotFoundError(
            f"no data at {path}{hint}: give {', '.join(map(repr, NAMED_DATASETS))}, "
            "or a folder or archive of class subfolders"
        )
    if is_cifar10_python(path):
        images, labels = read_cifar10_python(path, train=train)
        return Dataset(f"{path.name} {split}", images, labels, CIFAR10_CLASSES, split)
    if cifar.is_cifar100_python(path):
        read = cifar.read_cifar100_python(path, train=train, label_mode=label_mode)
        return _cifar100(path.name, split, label_mode, read)
    return _folder_split(path, split, classes, allow_unsplit, cache_dir)
