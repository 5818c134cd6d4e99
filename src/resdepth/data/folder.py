"""Image folders and archives of class subfolders, decoded once into uint8 tensors."""

from __future__ import annotations

import hashlib
import io
import os
import tarfile
import zipfile
from collections.abc import Iterator, Sequence
from pathlib import Path, PurePosixPath

import numpy as np
import torch
from PIL import Image, UnidentifiedImageError

__all__ = ["load_image_folder", "CIFAR10_CLASSES", "IMAGE_SUFFIXES"]

#: CIFAR-10's class names in the canonical label order 0..9.
CIFAR10_CLASSES: tuple[str, ...] = (
    "airplane", "automobile", "bird", "cat", "deer",
    "dog", "frog", "horse", "ship", "truck",
)  # fmt: skip
IMAGE_SUFFIXES = frozenset({".jpg", ".jpeg", ".png", ".bmp", ".gif", ".webp", ".tif", ".tiff"})
_ARCHIVES = (".tar", ".tar.gz", ".tgz", ".zip")
_CACHE_VERSION = 1


def _is_archive(path: Path) -> bool:
    return path.is_file() and path.name.lower().endswith(_ARCHIVES)


def _members(path: Path) -> Iterator[tuple[str, bytes]]:
    """(relative posix path, bytes) of every image file in a folder or archive."""
    if path.is_dir():
        for root, dirs, files in os.walk(path):
            dirs.sort()
            for name in sorted(files):
                full = Path(root) / name
                if full.suffix.lower() in IMAGE_SUFFIXES:
                    yield full.relative_to(path).as_posix(), full.read_bytes()
    elif path.name.lower().endswith(".zip"):
        with zipfile.ZipFile(path) as zf:
            for info in zf.infolist():
                if (
                    not info.is_dir()
                    and PurePosixPath(info.filename).suffix.lower() in IMAGE_SUFFIXES
                ):
                    yield info.filename, zf.read(info)
    else:
        # Streaming mode ("r|*") reads a .tar.gz front to back once, without seeking.
        with tarfile.open(path, "r|*") as tf:
            for member in tf:
                if member.isfile() and PurePosixPath(member.name).suffix.lower() in IMAGE_SUFFIXES:
                    handle = tf.extractfile(member)
                    if handle is not None:
                        yield member.name, handle.read()


def _strip_wrappers(paths: list[tuple[str, ...]]) -> list[tuple[str, ...]]:
    # Drop leading folders shared by every file (an archive of "cifar10/train/cat/1.jpg").
    while paths and all(len(p) > 2 for p in paths) and len({p[0] for p in paths}) == 1:
        paths = [p[1:] for p in paths]
    return paths


def _fingerprint(path: Path) -> str:
    """Changes whenever the source changes: size and mtime of the archive or of every file."""
    h = hashlib.sha256(str(path.resolve()).encode())
    if path.is_dir():
        for root, dirs, files in os.walk(path):
            dirs.sort()
            for name in sorted(files):
                st = (Path(root) / name).stat()
                h.update(
                    f"{Path(root, name).relative_to(path)}:{st.st_size}:{st.st_mtime_ns};".encode()
                )
    else:
        st = path.stat()
        h.update(f"{st.st_size}:{st.st_mtime_ns}".encode())
    return h.hexdigest()


def _decode(data: bytes, name: str, source: Path) -> np.ndarray:
    try:
        with Image.open(io.BytesIO(data)) as img:
            return np.asarray(img.convert("RGB"))
    except (UnidentifiedImageError, OSError, ValueError) as err:
        raise ValueError(f"cannot decode image {name!r} in {source}: {err}") from None


def load_image_folder(
    path: str | os.PathLike[str],
    split: str | None = None,
    classes: Sequence[str] | None = None,
    cache_dir: str | os.PathLike[str] | None = None,
) -> tuple[torch.Tensor, torch.Tensor, list[str]]:
    """Decode a folder (or ``.tar``, ``.tar.gz``, ``.zip``) of class subfolders into tensors.

    The layout is ``[split/]class_name/image`` (leading folders shared by every
    file are skipped).  When the top level holds split folders such as ``train``
    and ``test``, ``split`` chooses one.  Labels follow ``classes`` when given,
    else the sorted class names, so CIFAR-10's folders come out in the canonical
    order airplane=0 ... truck=9.  Every image must have the same size.

    Args:
        path: a folder or an archive.
        split: the top-level folder to read (``"train"``, ``"test"``), if any.
        classes: class names in label order; folders not listed are skipped.
        cache_dir: where to keep the decoded tensors; a second load of an
            unchanged source reads them back instead of decoding.  A changed source
            (size or modification time) gets a new cache entry.

    Returns:
        ``(images, labels, class_names)``: uint8 ``(N, 3, H, W)``, int64 ``(N,)``
        and the class names in label order.  Samples are sorted by class, then path.

    Raises:
        FileNotFoundError: if ``path`` does not exist.
        ValueError: for an unknown split, a missing split choice, no images, an
            unreadable image (naming the file) or images of different sizes.

    Examples:
        >>> from resdepth.data import load_image_folder
        >>> images, labels, names = load_image_folder(
        ...     "cifar10-jpeg.tar.gz", split="test")  # doctest: +SKIP
        >>> images.shape, names[:2]  # doctest: +SKIP
        (torch.Size([10000, 3, 32, 32]), ['airplane', 'automobile'])
    """
    source = Path(path)
    if not source.exists():
        raise FileNotFoundError(f"no image folder or archive at {source}")
    if not (source.is_dir() or _is_archive(source)):
        raise ValueError(f"{source} is neither a folder nor a .tar, .tar.gz or .zip archive")
    if classes is not None:
        classes = [str(c) for c in classes]
        if len(set(classes)) != len(classes) or not classes:
            raise ValueError(f"classes must be distinct names, got {classes!r}")

    cache_file = None
    if cache_dir is not None:
        key = hashlib.sha256(
            f"{_CACHE_VERSION}|{_fingerprint(source)}|{split}|{classes}".encode()
        ).hexdigest()[:24]
        cache_file = Path(cache_dir) / f"{source.name}-{key}.pt"
        if cache_file.exists():
            cached = torch.load(cache_file, weights_only=True)
            return cached["images"], cached["labels"], list(cached["classes"])

    files = list(_members(source))
    parts = _strip_wrappers([tuple(PurePosixPath(name).parts) for name, _ in files])
    tops = sorted({p[0] for p in parts if len(p) > 2})
    if split is not None:
        if split not in tops:
            raise ValueError(f"split {split!r} not found in {source}; it has {tops or 'no splits'}")
        keep = [i for i, p in enumerate(parts) if len(p) > 2 and p[0] == split]
        files = [files[i] for i in keep]
        parts = [parts[i][1:] for i in keep]
    elif tops and all(len(p) > 2 for p in parts):
        raise ValueError(f"{source} holds the splits {tops}; choose one with split=")
    found = sorted({p[0] for p in parts if len(p) >= 2})
    names = list(classes) if classes is not None else found
    index = {c: i for i, c in enumerate(names)}
    chosen = sorted(
        (index[p[0]], "/".join(p), data)
        for p, (_, data) in zip(parts, files, strict=True)
        if len(p) >= 2 and p[0] in index
    )
    if not chosen:
        raise ValueError(f"no images of classes {names} found in {source}")

    first = _decode(chosen[0][2], chosen[0][1], source)
    images = np.empty((len(chosen), *first.shape), dtype=np.uint8)
    for i, (_, name, data) in enumerate(chosen):
        array = first if i == 0 else _decode(data, name, source)
        if array.shape != first.shape:
            raise ValueError(
                f"image {name!r} in {source} has size {array.shape[:2]}, expected {first.shape[:2]}"
            )
        images[i] = array
    result = (
        torch.from_numpy(images).permute(0, 3, 1, 2).contiguous(),
        torch.tensor([label for label, _, _ in chosen], dtype=torch.int64),
        names,
    )
    if cache_file is not None:
        cache_file.parent.mkdir(parents=True, exist_ok=True)
        tmp = cache_file.with_suffix(f".tmp{os.getpid()}")
        torch.save({"images": result[0], "labels": result[1], "classes": names}, tmp)
        os.replace(tmp, cache_file)
    return result
