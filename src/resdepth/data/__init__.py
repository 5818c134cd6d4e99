"""Data: CIFAR-10 and image folders as uint8 tensors, the device loader, safe pickles."""

from .cifar import DatasetNotFoundError, load_cifar10
from .folder import CIFAR10_CLASSES, load_image_folder
from .hidden import RestrictedUnpickler, load_unlabeled_pickle, write_predictions_csv
from .loader import DeviceLoader
from .sources import Dataset, load_dataset
from .synthetic import make_synthetic

__all__ = [
    "CIFAR10_CLASSES",
    "Dataset",
    "DatasetNotFoundError",
    "DeviceLoader",
    "RestrictedUnpickler",
    "load_cifar10",
    "load_dataset",
    "load_image_folder",
    "load_unlabeled_pickle",
    "make_synthetic",
    "write_predictions_csv",
]
