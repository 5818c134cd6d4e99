"""CIFAR-10 in its official form (the pickled batches), found locally before any download."""

from __future__ import annotations

import io
import os
import tarfile
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import torch

from ..errors import DatasetNotFoundError
from .safe_pickle import restricted_load

__all__ = [
    "CIFAR10_ARCHIVE",
    "CIFAR10_URL",
    "DatasetNotFoundError",
    "cifar10_search_path",
    "is_cifar10_python",
    "load_cifar10",
    "read_cifar10_python",
]

#: Where the official CIFAR-10 (python version) is published, and its file name.
CIFAR10_URL = "https://www.cs.toronto.edu/~kriz/cifar-10-python.tar.gz"
CIFAR10_ARCHIVE = "cifar-10-python.tar.gz"
_FOLDER = "cifar-10-batches-py"
_MD5 = "c58f30108f718f92721af3b95e74349a"
_BATCHES = {True: [f"data_batch_{i}" for i in range(1, 6)], False: ["test_batch"]}


def is_cifar10_python(path: str | os.PathLike[str]) -> bool:
    """Whether ``path`` is the official CIFAR-10 python archive or its extracted folder."""
    path = Path(path)
    if path.is_dir():
        return (path / "batches.meta").is_file() or (path / _FOLDER / "batches.meta").is_file()
    return path.is_file() and path.name == CIFAR10_ARCHIVE


def _batches(path: Path, wanted: list[str]) -> Iterator[tuple[str, bytes]]:
    if path.is_dir():
        folder = path / _FOLDER if (path / _FOLDER).is_dir() else path
        for name in wanted:
            file = folder / name
            if not file.is_file():
                raise ValueError(f"{folder} has no {name}: not a complete CIFAR-10 folder")
            yield name, file.read_bytes()
        return
    found = set()
    with tarfile.open(path, "r|*") as tf:
        for member in tf:
            name = Path(member.name).name
            if member.isfile() and name in wanted:
                handle = tf.extractfile(member)
                if handle is not None:
                    found.add(name)
                    yield name, handle.read()
    missing = sorted(set(wanted) - found)
    if missing:
        raise ValueError(f"{path} has no {', '.join(missing)}: not a complete CIFAR-10 archive")


def read_cifar10_python(
    path: str | os.PathLike[str], train: bool = True
) -> tuple[torch.Tensor, torch.Tensor]:
    """Read a split of the official CIFAR-10 release: ``cifar-10-python.tar.gz`` or its
    ``cifar-10-batches-py`` folder (or a folder that holds it).

    The batches are pickles; they are read through the restricted unpickler, so a
    tampered file can build numpy arrays and plain containers and nothing else.

    Returns:
        uint8 ``(N, 3, 32, 32)`` images and int64 ``(N,)`` labels in the canonical
        order of :data:`~resdepth.data.CIFAR10_CLASSES`.

    Raises:
        ValueError: if a batch is missing or does not hold CIFAR-10's arrays.
    """
    path = Path(path)
    wanted = _BATCHES[bool(train)]
    images, labels = {}, {}
    for name, data in _batches(path, wanted):
        batch = restricted_load(io.BytesIO(data), max_bytes=len(data))
        rows = np.asarray(batch.get(b"data") if isinstance(batch, dict) else None)
        targets = np.asarray(batch.get(b"labels", []) if isinstance(batch, dict) else [])
        if rows.dtype != np.uint8 or rows.ndim != 2 or rows.shape[1] != 3 * 32 * 32:
            raise ValueError(f"{name} in {path} does not hold CIFAR-10's uint8 (N, 3072) rows")
        if targets.shape != (rows.shape[0],) or not np.isin(targets, range(10)).all():
            raise ValueError(f"{name} in {path} does not hold one label in 0..9 per image")
        images[name], labels[name] = rows.reshape(-1, 3, 32, 32), targets.astype(np.int64)
    return (
        torch.from_numpy(np.concatenate([images[n] for n in wanted])),
        torch.from_numpy(np.concatenate([labels[n] for n in wanted])),
    )


def cifar10_search_path(root: str | os.PathLike[str] | None = None) -> list[Path]:
    """Where ``load_cifar10`` looks, in order: ``root``, ``$RESDEPTH_DATA``,
    ``~/.cache/resdepth``."""
    places = [Path(root)] if root is not None else []
    if os.environ.get("RESDEPTH_DATA"):
        places.append(Path(os.environ["RESDEPTH_DATA"]))
    places.append(Path.home() / ".cache" / "resdepth")
    return places


def _find(places: list[Path]) -> Path | None:
    for place in places:
        for candidate in (place / _FOLDER, place / CIFAR10_ARCHIVE):
            if is_cifar10_python(candidate):
                return candidate
    return None


def load_cifar10(
    root: str | os.PathLike[str] | None = None, train: bool = True, download: bool = False
) -> tuple[torch.Tensor, torch.Tensor]:
    """CIFAR-10 as ``(images, labels)``: uint8 ``(N, 3, 32, 32)`` and int64 ``(N,)``.

    Looks for ``cifar-10-batches-py/`` or ``cifar-10-python.tar.gz`` in ``root``,
    ``$RESDEPTH_DATA`` and ``~/.cache/resdepth``, in that order; with
    ``download=True`` and none found, downloads the archive (checking its MD5) into
    ``root``, or ``~/.cache/resdepth`` when ``root`` is not given.

    Raises:
        DatasetNotFoundError: when it is nowhere and cannot be downloaded; the
            message names the places searched and the file to fetch.
    """
    places = cifar10_search_path(root)
    found = _find(places)
    if found is None and download:
        target = places[0] if root is not None else places[-1]
        created = not target.exists()
        try:
            # torchvision ships no type information for this module.
            from torchvision.datasets.utils import download_url  # type: ignore[import-untyped]

            download_url(CIFAR10_URL, str(target), CIFAR10_ARCHIVE, _MD5)
            found = _find([target])
        except Exception as err:  # no network, a proxy, a bad checksum: all end the same way
            if created and target.is_dir() and not any(target.iterdir()):
                target.rmdir()  # leave no empty folder behind
            reason = str(err).splitlines()[0][:100] if str(err) else type(err).__name__
            raise DatasetNotFoundError(
                f"CIFAR-10 is not in {', '.join(map(str, places))} and could not be downloaded "
                f"({reason}): fetch {CIFAR10_URL} and pass --data PATH/{CIFAR10_ARCHIVE} "
                f"(or put it in one of those folders)"
            ) from None
    if found is None:
        raise DatasetNotFoundError(
            f"CIFAR-10 is not in {', '.join(map(str, places))}: fetch {CIFAR10_URL} and pass "
            f"--data PATH/{CIFAR10_ARCHIVE} (or put it in one of those folders), or pass "
            "download=True (--data cifar10 without --no-download) where there is a network"
        )
    return read_cifar10_python(found, train=train)
