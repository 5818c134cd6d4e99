"""CIFAR-10 and CIFAR-100 in their official form (the pickled batches), found locally
before any download.

Both releases share one way in: the same search path, the same archive reader, the
same restricted unpickler and the same download rules; a :class:`_Release` says what
differs (names, address, checksum, the files that make a folder one).
"""

from __future__ import annotations

import io
import os
import tarfile
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch

from .._validate import choice
from ..errors import DatasetNotFoundError
from .safe_pickle import restricted_load

__all__ = [
    "CIFAR100_ARCHIVE",
    "CIFAR100_LABEL_MODES",
    "CIFAR100_URL",
    "CIFAR10_ARCHIVE",
    "CIFAR10_URL",
    "DatasetNotFoundError",
    "cifar10_search_path",
    "is_cifar100_python",
    "is_cifar10_python",
    "load_cifar10",
    "load_cifar100",
    "read_cifar100_python",
    "read_cifar10_python",
]

#: Where the official CIFAR-10 (python version) is published, and its file name.
CIFAR10_URL = "https://www.cs.toronto.edu/~kriz/cifar-10-python.tar.gz"
CIFAR10_ARCHIVE = "cifar-10-python.tar.gz"
#: Where the official CIFAR-100 (python version) is published, and its file name.
CIFAR100_URL = "https://www.cs.toronto.edu/~kriz/cifar-100-python.tar.gz"
CIFAR100_ARCHIVE = "cifar-100-python.tar.gz"
#: CIFAR-100's label sets: 100 fine classes, or the 20 coarse superclasses.
CIFAR100_LABEL_MODES = ("fine", "coarse")
_CIFAR100_CLASS_COUNTS = {"fine": 100, "coarse": 20}


@dataclass(frozen=True)
class _Release:
    """One official python release: what to call it, where it lives, how to spot it."""

    title: str  # as people write it: "CIFAR-10"
    key: str  # as load_dataset and --data name it: "cifar10"
    url: str
    archive: str
    folder: str  # the folder the archive unpacks to
    md5: str  # of the archive
    markers: tuple[str, ...]  # files that make a folder this release

    def holds(self, path: Path) -> bool:
        """Whether ``path`` is this release's archive, its folder, or a folder holding it."""
        if path.is_dir():
            return any(
                all((folder / marker).is_file() for marker in self.markers)
                for folder in (path, path / self.folder)
            )
        return path.is_file() and path.name == self.archive


_CIFAR10 = _Release("CIFAR-10", "cifar10", CIFAR10_URL, CIFAR10_ARCHIVE, "cifar-10-batches-py",
                    "c58f30108f718f92721af3b95e74349a", ("batches.meta",))  # fmt: skip
_CIFAR100 = _Release("CIFAR-100", "cifar100", CIFAR100_URL, CIFAR100_ARCHIVE, "cifar-100-python",
                     "eb9058c3a382ffc7106e4002c42a8d85", ("meta", "train", "test"))  # fmt: skip
_BATCHES = {True: [f"data_batch_{i}" for i in range(1, 6)], False: ["test_batch"]}


def is_cifar10_python(path: str | os.PathLike[str]) -> bool:
    """Whether ``path`` is the official CIFAR-10 python archive or its extracted folder."""
    return _CIFAR10.holds(Path(path))


def is_cifar100_python(path: str | os.PathLike[str]) -> bool:
    """Whether ``path`` is the official CIFAR-100 python archive (``cifar-100-python.tar.gz``),
    its extracted ``cifar-100-python`` folder, or a folder that holds that folder."""
    return _CIFAR100.holds(Path(path))


def _members(path: Path, wanted: list[str], release: _Release) -> Iterator[tuple[str, Any]]:
    """``(name, unpickled content)`` of each wanted member of a release's folder or
    archive (in the archive's order), read through the restricted unpickler.

    Raises:
        ValueError: if one of them is missing.
    """
    if path.is_dir():
        folder = path / release.folder if (path / release.folder).is_dir() else path
        for name in wanted:
            file = folder / name
            if not file.is_file():
                raise ValueError(f"{folder} has no {name}: not a complete {release.title} folder")
            yield name, _unpickle(file.read_bytes())
        return
    found = set()
    with tarfile.open(path, "r|*") as tf:
        for member in tf:
            name = Path(member.name).name
            if member.isfile() and name in wanted:
                handle = tf.extractfile(member)
                if handle is not None:
                    found.add(name)
                    yield name, _unpickle(handle.read())
    missing = sorted(set(wanted) - found)
    if missing:
        raise ValueError(
            f"{path} has no {', '.join(missing)}: not a complete {release.title} archive"
        )


def _unpickle(data: bytes) -> Any:
    return restricted_load(io.BytesIO(data), max_bytes=len(data))


def _images(batch: Any, name: str, path: Path, title: str) -> np.ndarray:
    """The uint8 ``(N, 3, 32, 32)`` images of a batch's ``b"data"`` rows."""
    rows = np.asarray(batch.get(b"data") if isinstance(batch, dict) else None)
    if rows.dtype != np.uint8 or rows.ndim != 2 or rows.shape[1] != 3 * 32 * 32:
        raise ValueError(f"{name} in {path} does not hold {title}'s uint8 (N, 3072) rows")
    return rows.reshape(-1, 3, 32, 32)


def _labels(batch: Any, key: bytes, classes: int, images: int, where: str) -> np.ndarray:
    """A batch's labels under ``key`` as int64: one per image, each in ``0..classes-1``."""
    targets = np.asarray(batch.get(key, []) if isinstance(batch, dict) else [])
    if targets.shape != (images,) or not np.isin(targets, range(classes)).all():
        what = key.decode().rstrip("s").replace("_", " ")
        raise ValueError(f"{where} does not hold one {what} in 0..{classes - 1} per image")
    return targets.astype(np.int64)


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
    for name, batch in _members(path, wanted, _CIFAR10):
        images[name] = _images(batch, name, path, _CIFAR10.title)
        labels[name] = _labels(batch, b"labels", 10, len(images[name]), f"{name} in {path}")
    return (
        torch.from_numpy(np.concatenate([images[n] for n in wanted])),
        torch.from_numpy(np.concatenate([labels[n] for n in wanted])),
    )


def _class_names(meta: Any, label_mode: str, path: Path) -> tuple[str, ...]:
    """The fine or coarse class names of CIFAR-100's ``meta``, in label order."""
    count = _CIFAR100_CLASS_COUNTS[label_mode]
    raw = meta.get(f"{label_mode}_label_names".encode()) if isinstance(meta, dict) else None
    names = [n.decode("utf-8", "replace") if isinstance(n, bytes) else n for n in raw or ()]
    strings = all(isinstance(n, str) and n for n in names)
    if not (strings and len(names) == len(set(names)) == count):
        raise ValueError(
            f"meta in {path} does not hold CIFAR-100's {count} distinct {label_mode} class names"
        )
    return tuple(names)


def read_cifar100_python(
    path: str | os.PathLike[str], train: bool = True, label_mode: str = "fine"
) -> tuple[torch.Tensor, torch.Tensor, tuple[str, ...]]:
    """Read a split of the official CIFAR-100 release: ``cifar-100-python.tar.gz`` or its
    ``cifar-100-python`` folder (or a folder that holds it).

    The ``train``, ``test`` and ``meta`` pickles are read through the restricted
    unpickler, as CIFAR-10's batches are.

    Args:
        path: the archive or folder.
        train: the training split (50,000 images), else the test split (10,000).
        label_mode: ``"fine"`` (100 classes) or ``"coarse"`` (20 superclasses).

    Returns:
        uint8 ``(N, 3, 32, 32)`` images, int64 ``(N,)`` labels and the class names of
        ``meta`` (``fine_label_names`` or ``coarse_label_names``) in label order.

    Raises:
        ValueError: for another ``label_mode``, a missing member, or a member that
            does not hold CIFAR-100's arrays and names.
    """
    choice("label_mode", label_mode, CIFAR100_LABEL_MODES)
    path = Path(path)
    split = "train" if train else "test"
    read = dict(_members(path, ["meta", split], _CIFAR100))
    classes = _class_names(read["meta"], label_mode, path)
    images = _images(read[split], split, path, _CIFAR100.title)
    labels = _labels(read[split], f"{label_mode}_labels".encode(), len(classes), len(images),
                     f"{split} in {path}")  # fmt: skip
    return torch.from_numpy(images), torch.from_numpy(labels), classes


def cifar10_search_path(root: str | os.PathLike[str] | None = None) -> list[Path]:
    """Where ``load_cifar10`` and ``load_cifar100`` look, in order: ``root``,
    ``$RESDEPTH_DATA``, ``~/.cache/resdepth``."""
    places = [Path(root)] if root is not None else []
    if os.environ.get("RESDEPTH_DATA"):
        places.append(Path(os.environ["RESDEPTH_DATA"]))
    places.append(Path.home() / ".cache" / "resdepth")
    return places


def _find(release: _Release, places: list[Path]) -> Path | None:
    for place in places:
        for candidate in (place / release.folder, place / release.archive):
            if release.holds(candidate):
                return candidate
    return None


def _locate(release: _Release, root: str | os.PathLike[str] | None, download: bool) -> Path:
    """The release's folder or archive from the search path, downloaded if allowed."""
    places = cifar10_search_path(root)
    found = _find(release, places)
    fetch = f"fetch {release.url} and pass --data PATH/{release.archive}"
    if found is None and download:
        target = places[0] if root is not None else places[-1]
        created = not target.exists()
        try:
            # torchvision ships no type information for this module.
            from torchvision.datasets.utils import download_url  # type: ignore[import-untyped]

            download_url(release.url, str(target), release.archive, release.md5)
            found = _find(release, [target])
        except Exception as err:  # no network, a proxy, a bad checksum: all end the same way
            if created and target.is_dir() and not any(target.iterdir()):
                target.rmdir()  # leave no empty folder behind
            reason = str(err).splitlines()[0][:100] if str(err) else type(err).__name__
            raise DatasetNotFoundError(
                f"{release.title} is not in {', '.join(map(str, places))} and could not be "
                f"downloaded ({reason}): {fetch} (or put it in one of those folders)"
            ) from None
    if found is None:
        raise DatasetNotFoundError(
            f"{release.title} is not in {', '.join(map(str, places))}: {fetch} (or put it in "
            f"one of those folders), or pass download=True (--data {release.key} without "
            "--no-download) where there is a network"
        )
    return found


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
    return read_cifar10_python(_locate(_CIFAR10, root, download), train=train)


def load_cifar100(
    root: str | os.PathLike[str] | None = None,
    train: bool = True,
    download: bool = False,
    label_mode: str = "fine",
) -> tuple[torch.Tensor, torch.Tensor, tuple[str, ...]]:
    """CIFAR-100 as ``(images, labels, classes)``: uint8 ``(N, 3, 32, 32)``, int64
    ``(N,)`` and the class names, fine (100) or coarse (20) by ``label_mode``.

    Looks for ``cifar-100-python/`` or ``cifar-100-python.tar.gz`` where
    :func:`load_cifar10` looks for CIFAR-10 (``root``, ``$RESDEPTH_DATA``,
    ``~/.cache/resdepth``), and downloads it (checking its MD5) under the same rules.

    Raises:
        ValueError: for a ``label_mode`` other than ``"fine"`` or ``"coarse"``.
        DatasetNotFoundError: when it is nowhere and cannot be downloaded; the
            message names the places searched and the file to fetch.
    """
    choice("label_mode", label_mode, CIFAR100_LABEL_MODES)
    found = _locate(_CIFAR100, root, download)
    return read_cifar100_python(found, train=train, label_mode=label_mode)
