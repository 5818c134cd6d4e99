"""Users' own datasets as resdepth data: a map-style dataset (torchvision's, a Hugging
Face dataset with a transform, your own) read once into uint8 tensors.

Each item is ``(image, label)`` (a tuple or list), or a mapping with an image under
``"image"``, ``"img"`` or ``"pixel_values"`` and an integer under ``"label"`` or
``"labels"``.  An image is a ``PIL.Image``, a numpy array (``H x W x C`` or ``H x W``,
as PIL and OpenCV give them, or ``C x H x W``) or a tensor (``C x H x W``), of uint8
values or of floats in [0, 1].  Every image must have the first image's shape.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np
import torch
from torch import Tensor

from .._validate import check_unit_range, is_int
from .sources import Dataset

__all__ = ["from_dataset"]

_IMAGE_KEYS = ("image", "img", "pixel_values")
_LABEL_KEYS = ("label", "labels")


def _split_item(item: object, index: int) -> tuple[object, object]:
    if isinstance(item, Mapping):
        image = next((item[k] for k in _IMAGE_KEYS if k in item), None)
        label = next((item[k] for k in _LABEL_KEYS if k in item), None)
        if image is None or label is None:
            raise TypeError(
                f"item {index} is a mapping with keys {sorted(map(str, item))}; it needs an "
                f"image under one of {_IMAGE_KEYS} and a label under one of {_LABEL_KEYS}"
            )
        return image, label
    if isinstance(item, (tuple, list)) and len(item) == 2:
        return item[0], item[1]
    raise TypeError(
        f"item {index} is a {type(item).__name__}; a dataset's items must be (image, label) "
        "pairs or mappings with an image and a label"
    )


def _as_uint8_chw(image: object, index: int) -> Tensor:
    """One image as a uint8 ``(C, H, W)`` tensor."""
    if hasattr(image, "mode") and hasattr(image, "size") and hasattr(image, "getbands"):
        image = np.array(image)  # a PIL image: H x W (x C), copied (PIL's is read-only)
    channels_last = isinstance(image, np.ndarray)
    if isinstance(image, np.ndarray):
        if image.dtype == np.bool_ or image.dtype.kind not in "uif":
            raise TypeError(f"image {index} holds {image.dtype} values; give uint8 or float")
        image = torch.from_numpy(np.ascontiguousarray(image))
    if not isinstance(image, Tensor):
        raise TypeError(
            f"image {index} is a {type(image).__name__}; give a PIL image, a numpy array or "
            "a tensor"
        )
    if image.dim() == 2:
        image = image[None] if not channels_last else image[:, :, None]
    if image.dim() != 3:
        raise ValueError(f"image {index} has shape {tuple(image.shape)}; give one image")
    if channels_last and image.shape[-1] in (1, 3, 4) and image.shape[0] not in (1, 3, 4):
        image = image.permute(2, 0, 1)
    if image.dtype == torch.uint8:
        return image.contiguous()
    if image.is_floating_point():
        check_unit_range(image[None], f"image {index}")
        return (image * 255).round().to(torch.uint8).contiguous()
    raise TypeError(f"image {index} holds {image.dtype} values; give uint8 or float in [0, 1]")


def from_dataset(
    dataset: Any,
    classes: Sequence[str] | None = None,
    name: str | None = None,
    split: str | None = None,
) -> Dataset:
    """A user's map-style dataset (``len(dataset)`` and ``dataset[i]``) as a :class:`Dataset`
    of uint8 tensors, read once, so the recipe's transforms run on whole batches.

    Args:
        dataset: items ``(image, label)`` or mappings (see the module's notes).
        classes: class names in label order; default the dataset's ``classes``
            attribute (torchvision's datasets have one), else ``"0"``, ``"1"``, ...
        name: what to call it in messages (default: its class name).
        split: ``"train"``, ``"test"`` or ``None``.

    Raises:
        TypeError: an item, image or label of a kind it cannot read; the message names
            the item's index.
        ValueError: an empty dataset, images of different shapes, a label outside the
            classes, or float images outside [0, 1].

    Examples:
        >>> import torch
        >>> from resdepth.data import from_dataset
        >>> pairs = [(torch.rand(3, 8, 8), i % 2) for i in range(4)]
        >>> ds = from_dataset(pairs, classes=["cat", "dog"])
        >>> ds.images.dtype, tuple(ds.images.shape), ds.labels.tolist()
        (torch.uint8, (4, 3, 8, 8), [0, 1, 0, 1])
    """
    if not (hasattr(dataset, "__len__") and hasattr(dataset, "__getitem__")):
        raise TypeError(
            f"dataset must be map-style (len() and indexing), got {type(dataset).__name__}"
        )
    if len(dataset) == 0:
        raise ValueError("dataset is empty")
    images, labels = [], []
    for index in range(len(dataset)):
        image, label = _split_item(dataset[index], index)
        if isinstance(label, Tensor) and label.numel() == 1:
            label = label.item()
        if isinstance(label, np.generic):
            label = label.item()
        if not is_int(label) or int(label) < 0:
            raise TypeError(f"label {index} must be a class index (an int >= 0), got {label!r}")
        images.append(_as_uint8_chw(image, index))
        labels.append(int(label))
        if images[-1].shape != images[0].shape:
            raise ValueError(
                f"image {index} has shape {tuple(images[-1].shape)}, image 0 "
                f"{tuple(images[0].shape)}; resize them to one shape first"
            )
    given = classes if classes is not None else getattr(dataset, "classes", None)
    names = tuple(str(c) for c in given) if given is not None else None
    if names is None:
        names = tuple(str(i) for i in range(max(labels) + 1))
    if max(labels) >= len(names):
        raise ValueError(f"label {max(labels)} is outside the {len(names)} classes {list(names)}")
    return Dataset(name or type(dataset).__name__, torch.stack(images),
                   torch.tensor(labels, dtype=torch.long), names, split)  # fmt: skip
