"""Data: CIFAR-10, its packaged sample, CIFAR-100 and image folders as uint8 tensors,
the device loader, safe pickles."""

from .adapters import from_dataset
from .cifar import (
    CIFAR10_URL,
    CIFAR100_LABEL_MODES,
    CIFAR100_URL,
    is_cifar10_python,
    is_cifar100_python,
    load_cifar10,
    load_cifar100,
    read_cifar10_python,
    read_cifar100_python,
)
from .folder import CIFAR10_CLASSES, MAX_PIXELS, list_splits, load_image_folder
from .loader import DeviceLoader
from .safe_pickle import RestrictedUnpickler
from .sources import CIFAR10_SAMPLE, NAMED_DATASETS, Dataset, load_dataset
from .synthetic import make_synthetic
from .unlabeled import load_unlabeled, load_unlabeled_pickle, write_predictions_csv

__all__ = [
    "CIFAR100_LABEL_MODES",
    "CIFAR100_URL",
    "CIFAR10_CLASSES",
    "CIFAR10_SAMPLE",
    "CIFAR10_URL",
    "Dataset",
    "DeviceLoader",
    "MAX_PIXELS",
    "NAMED_DATASETS",
    "RestrictedUnpickler",
    "from_dataset",
    "is_cifar100_python",
    "is_cifar10_python",
    "list_splits",
    "load_cifar10",
    "load_cifar100",
    "load_dataset",
    "load_image_folder",
    "load_unlabeled",
    "load_unlabeled_pickle",
    "make_synthetic",
    "read_cifar100_python",
    "read_cifar10_python",
    "write_predictions_csv",
]
