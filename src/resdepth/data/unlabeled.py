"""Unlabeled images (the paper's hidden test set format, or a plain folder), read safely,
and the predictions CSV written for them."""

from __future__ import annotations

import os
from collections.abc import Sequence
from pathlib import Path, PurePosixPath
from typing import Any

import numpy as np
import torch

from .._atomic import atomic_write
from ..errors import RefusedPickleError
from .folder import _check_source, _decode, _members
from .safe_pickle import restricted_load

__all__ = ["load_unlabeled", "load_unlabeled_pickle", "write_predictions_csv"]

_PICKLES = (".pkl", ".pickle")


def _as_uint8(array: np.ndarray, path: Path) -> np.ndarray:
    """The array's values as uint8, when they are whole numbers in 0..255; else an error."""
    if array.dtype == np.bool_:
        raise ValueError(
            f"b'data' in {path} holds bool values; images must be uint8 (0..255), and "
            "True/False are not read as 0/1"
        )
    if array.dtype == np.uint8:
        return array
    if not np.issubdtype(array.dtype, np.integer):
        raise ValueError(
            f"b'data' in {path} holds {array.dtype} values; images must be uint8 (0..255), "
            "and other values are not cast"
        )
    if array.size and (int(array.min()) < 0 or int(array.max()) > 255):
        raise ValueError(
            f"b'data' in {path} holds values in [{int(array.min())}, {int(array.max())}]; "
            "images must lie in 0..255"
        )
    return array.astype(np.uint8)


def _read_pickle(path: Path) -> dict[Any, Any]:
    if not path.is_file():
        raise FileNotFoundError(f"no pickle file at {path}")
    size = path.stat().st_size
    if size == 0:
        raise ValueError(f"{path} is empty, not a pickle")
    with path.open("rb") as f:
        try:
            obj = restricted_load(f, max_bytes=size)
        except RefusedPickleError as err:
            raise RefusedPickleError(f"{path}: {err}") from None
        except MemoryError:
            raise
        except Exception as err:  # a broken stream, whatever broke: not readable
            raise RefusedPickleError(
                f"{path} is not a readable pickle ({type(err).__name__}: {err})"
            ) from None
    if not isinstance(obj, dict):
        raise ValueError(f"{path} holds a {type(obj).__name__}, expected a dict with b'data'")
    return obj


def load_unlabeled_pickle(path: str | os.PathLike[str]) -> torch.Tensor:
    """Images of an unlabeled pickle: a dict whose ``b'data'`` holds uint8 ``(N, 32, 32, 3)``.

    Rows of 3072 values in CIFAR's channel-major order are accepted too.  Values
    must be whole numbers in 0..255: floats, negative or larger values, NaN and
    complex numbers are errors, never cast.  See :func:`load_unlabeled` for the ids.

    Returns:
        uint8 ``(N, 3, H, W)``.

    Raises:
        RefusedPickleError: (a ``pickle.UnpicklingError``) if the pickle asks for
            anything but numpy arrays of numbers and plain containers, or for more
            memory than its size accounts for (nothing in it is run), or cannot be read.
        ValueError: if there is no ``data`` entry, it has the wrong shape or values
            (bool is not read as 0/1), or it holds no images.
    """
    path = Path(path)
    return _pickle_images(_read_pickle(path), path)


def _pickle_images(obj: dict[Any, Any], path: Path) -> torch.Tensor:
    data = obj.get(b"data", obj.get("data"))
    if data is None:
        raise ValueError(f"{path} has no b'data' entry (keys: {sorted(map(repr, obj))})")
    array = _as_uint8(np.asarray(data), path)
    if array.ndim == 2 and array.shape[1] == 3 * 32 * 32:
        array = array.reshape(-1, 3, 32, 32).transpose(0, 2, 3, 1)
    if array.ndim != 4 or array.shape[-1] != 3:
        raise ValueError(f"b'data' in {path} must have shape (N, H, W, 3), got {array.shape}")
    if array.shape[0] == 0:
        raise ValueError(f"b'data' in {path} holds no images")
    if 0 in array.shape[1:3]:
        raise ValueError(f"b'data' in {path} holds images of {array.shape[1:3]} pixels")
    return torch.from_numpy(np.ascontiguousarray(array)).permute(0, 3, 1, 2).contiguous()


def _ids(raw: Any, count: int, path: Path) -> list[str]:
    """The ids of a pickle's ``b'ids'`` as text: a list or 1-d array of numbers or text."""
    if raw is None:
        return [str(i) for i in range(count)]
    items = raw.tolist() if isinstance(raw, np.ndarray) and raw.ndim == 1 else raw
    if not isinstance(items, list | tuple) or not all(
        isinstance(i, int | str | bytes) for i in items
    ):
        raise ValueError(f"b'ids' in {path} must be a list of numbers or text")
    try:
        return [i.decode() if isinstance(i, bytes) else str(i) for i in items]
    except UnicodeDecodeError:
        raise ValueError(f"b'ids' in {path} holds bytes that are not UTF-8 text") from None


def load_unlabeled(
    path: str | os.PathLike[str], split: str | None = None
) -> tuple[torch.Tensor, list[str]]:
    """Unlabeled images and their ids: from a pickle (ids from its ``b'ids'``, else the
    row numbers) or from a folder or archive of image files (ids are the files' paths
    inside it, such as ``0001.jpg`` or ``cat/0001.jpg``).

    Args:
        path: a ``.pkl``, or a folder or archive of images.
        split: for a folder or archive, read only the images under this top folder.

    Returns:
        uint8 ``(N, 3, H, W)`` and ``N`` ids as text.

    Raises:
        ValueError: for ids that do not match the images one to one, images of
            different sizes, or the errors of :func:`load_unlabeled_pickle`.
    """
    path = Path(path)
    if path.suffix.lower() in _PICKLES:
        obj = _read_pickle(path)
        images = _pickle_images(obj, path)
        ids = _ids(obj.get(b"ids", obj.get("ids")), len(images), path)
        if len(ids) != len(images) or len(set(ids)) != len(ids):
            raise ValueError(f"b'ids' in {path} must hold {len(images)} distinct ids")
        return images, ids
    source = _check_source(path)
    files = sorted(_members(source))
    parts = [PurePosixPath(name).parts for name, _ in files]
    while parts and all(len(p) > 1 for p in parts) and len({p[0] for p in parts}) == 1:
        parts = [p[1:] for p in parts]  # a folder every file shares: not part of the ids
    if split is not None:
        tops = sorted({p[0] for p in parts if len(p) > 1})
        if split not in tops:
            raise ValueError(
                f"split {split!r} not found in {source}; it has {tops or 'no folders'}"
            )
        keep = [i for i, p in enumerate(parts) if len(p) > 1 and p[0] == split]
        files, parts = [files[i] for i in keep], [parts[i][1:] for i in keep]
    if not files:
        raise ValueError(f"no images in {source}")
    arrays = [_decode(data, name, source) for name, data in files]
    if len({a.shape for a in arrays}) != 1:
        raise ValueError(f"the images in {source} are not all of one size")
    images = torch.from_numpy(np.stack(arrays)).permute(0, 3, 1, 2).contiguous()
    return images, ["/".join(p) for p in parts]


def write_predictions_csv(
    path: str | os.PathLike[str],
    predictions: torch.Tensor | np.ndarray | Sequence[int],
    ids: Sequence[object] | None = None,
) -> Path:
    """Write ``ID,Label`` rows atomically; ``ID`` is ``ids[i]``, or the row index.

    Returns:
        The path written.

    Raises:
        IsADirectoryError: if ``path`` is a folder.
        ValueError: if ``ids`` and ``predictions`` differ in length.
    """
    labels = torch.as_tensor(np.asarray(predictions)).flatten()
    if labels.is_floating_point() or labels.dtype == torch.bool:
        raise TypeError(f"predictions must be integer class labels, got {labels.dtype}")
    path = Path(path)
    if path.is_dir():
        raise IsADirectoryError(
            f"{path} is a folder; give the CSV file's name, such as {path / 'predictions.csv'}"
        )
    names = [str(i) for i in ids] if ids is not None else [str(i) for i in range(len(labels))]
    if len(names) != len(labels):
        raise ValueError(f"{len(names)} ids for {len(labels)} predictions")
    with atomic_write(path, "w", newline="") as f:
        f.write("ID,Label\n")
        f.writelines(f"{i},{int(v)}\n" for i, v in zip(names, labels.tolist(), strict=True))
    return path
