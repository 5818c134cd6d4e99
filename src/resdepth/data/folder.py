"""Image folders and archives of class subfolders, decoded once into uint8 tensors."""

from __future__ import annotations

import io
import os
import tarfile
import warnings
import zipfile
from collections.abc import Iterator, Sequence
from pathlib import Path, PurePosixPath

import numpy as np
import torch
from PIL import Image, UnidentifiedImageError

from ._cache import cache_file, read_cache, write_cache

__all__ = ["CIFAR10_CLASSES", "IMAGE_SUFFIXES", "MAX_PIXELS", "list_splits", "load_image_folder"]

#: CIFAR-10's class names in the canonical label order 0..9.
CIFAR10_CLASSES: tuple[str, ...] = (
    "airplane", "automobile", "bird", "cat", "deer",
    "dog", "frog", "horse", "ship", "truck",
)  # fmt: skip
IMAGE_SUFFIXES = frozenset({".jpg", ".jpeg", ".png", ".bmp", ".gif", ".webp", ".tif", ".tiff"})
_ARCHIVES = (".tar", ".tar.gz", ".tgz", ".zip")
#: Images with more pixels than this are refused before they are decoded: a small
#: compressed file can expand into gigabytes (a "decompression bomb").
MAX_PIXELS = 4096 * 4096


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


def _member_names(path: Path) -> list[str]:
    """The relative paths of a folder's or archive's images, without reading them."""
    if path.is_dir():
        return [p.relative_to(path).as_posix() for p in sorted(path.rglob("*"))
                if p.is_file() and p.suffix.lower() in IMAGE_SUFFIXES]  # fmt: skip
    if path.name.lower().endswith(".zip"):
        with zipfile.ZipFile(path) as zf:
            names = [i.filename for i in zf.infolist() if not i.is_dir()]
    else:
        with tarfile.open(path, "r|*") as tf:
            names = [m.name for m in tf if m.isfile()]
    return [n for n in names if PurePosixPath(n).suffix.lower() in IMAGE_SUFFIXES]


def list_splits(path: str | os.PathLike[str]) -> dict[str | None, list[str]]:
    """The class folders of each split of a folder or archive, without decoding an image.

    Returns ``{"train": [...], "test": [...]}`` for a source with split folders, or
    ``{None: [...]}`` for one whose top level holds the class folders.  Class names
    are sorted.

    Raises:
        FileNotFoundError: if ``path`` does not exist.
        ValueError: if it is neither a folder nor an archive.
    """
    source = _check_source(path)
    parts = _strip_wrappers([tuple(PurePosixPath(n).parts) for n in _member_names(source)])
    if parts and all(len(p) > 2 for p in parts):
        splits: dict[str | None, set[str]] = {}
        for p in parts:
            splits.setdefault(p[0], set()).add(p[1])
    else:
        splits = {None: {p[0] for p in parts if len(p) >= 2}}
    return {k: sorted(v) for k, v in splits.items()}


def _check_source(path: str | os.PathLike[str]) -> Path:
    source = Path(path)
    if not source.exists():
        raise FileNotFoundError(f"no image folder or archive at {source}")
    if not (source.is_dir() or _is_archive(source)):
        raise ValueError(f"{source} is neither a folder nor a .tar, .tar.gz or .zip archive")
    return source


def _strip_wrappers(paths: list[tuple[str, ...]]) -> list[tuple[str, ...]]:
    # Drop leading folders shared by every file (an archive of "cifar10/train/cat/1.jpg").
    while paths and all(len(p) > 2 for p in paths) and len({p[0] for p in paths}) == 1:
        paths = [p[1:] for p in paths]
    return paths


def _decode(data: bytes, name: str, source: Path, max_pixels: int = MAX_PIXELS) -> np.ndarray:
    try:
        with warnings.catch_warnings():
            # Pillow's own bomb warning; the size check below is stricter and an error.
            warnings.simplefilter("ignore", Image.DecompressionBombWarning)
            with Image.open(io.BytesIO(data)) as img:  # reads the header, not the pixels
                if img.width * img.height > max_pixels:
                    raise ValueError(
                        f"image {name!r} in {source} is {img.width}x{img.height} pixels, over "
                        f"the limit of {max_pixels:,} (max_pixels=); it was not decoded"
                    )
                return np.asarray(img.convert("RGB"))
    except Image.DecompressionBombError as err:
        raise ValueError(f"image {name!r} in {source} was refused: {err}") from None
    except (UnidentifiedImageError, OSError) as err:
        raise ValueError(f"cannot decode image {name!r} in {source}: {err}") from None


def load_image_folder(
    path: str | os.PathLike[str],
    split: str | None = None,
    classes: Sequence[str] | None = None,
    cache_dir: str | os.PathLike[str] | None = None,
    max_pixels: int = MAX_PIXELS,
) -> tuple[torch.Tensor, torch.Tensor, list[str]]:
    """Decode a folder (or ``.tar``, ``.tar.gz``, ``.zip``) of class subfolders into tensors.

    The layout is ``[split/]class_name/image`` (leading folders shared by every
    file are skipped).  When the top level holds split folders such as ``train``
    and ``test``, ``split`` chooses one.  Labels follow ``classes`` when given,
    else the sorted class names, so CIFAR-10's folders come out in the canonical
    order airplane=0 ... truck=9.  With ``classes`` given, a folder of a class not
    in the list is an error, and a class without a folder is fine: labels always
    mean the same names.  Every image must have the same size.

    Args:
        path: a folder or an archive.
        split: the top-level folder to read (``"train"``, ``"test"``), if any.
        classes: class names in label order.
        cache_dir: where to keep the decoded tensors; a second load of an
            unchanged source reads them back instead of decoding.  Entries are keyed
            on the source's content, and one that cannot be read back whole is
            decoded again, with a warning.
        max_pixels: images with more pixels are refused before they are decoded.

    Returns:
        ``(images, labels, class_names)``: uint8 ``(N, 3, H, W)``, int64 ``(N,)``
        and the class names in label order.  Samples are sorted by class, then path.

    Raises:
        FileNotFoundError: if ``path`` does not exist.
        ValueError: for an unknown split, a missing split choice, no images, a class
            folder not in ``classes``, an unreadable or oversized image (naming the
            file) or images of different sizes.

    Examples:
        >>> from resdepth.data import load_image_folder
        >>> images, labels, names = load_image_folder(
        ...     "cifar10-jpeg.tar.gz", split="test")  # doctest: +SKIP
        >>> images.shape, names[:2]  # doctest: +SKIP
        (torch.Size([10000, 3, 32, 32]), ['airplane', 'automobile'])
    """
    source = _check_source(path)
    if classes is not None:
        classes = [str(c) for c in classes]
        if len(set(classes)) != len(classes) or not classes:
            raise ValueError(f"classes must be distinct names, got {classes!r}")
    cached = None
    if cache_dir is not None:
        cached = cache_file(cache_dir, source, split, classes)
        hit = read_cache(cached)
        if hit is not None:
            return hit

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
    unknown = [c for c in found if c not in names]
    if unknown:
        where = f"{source} ({split})" if split else str(source)
        raise ValueError(
            f"{where} has images of {', '.join(map(repr, unknown))}, which the class list "
            f"{names} lacks"
        )
    index = {c: i for i, c in enumerate(names)}
    chosen = sorted(
        (index[p[0]], "/".join(p), data)
        for p, (_, data) in zip(parts, files, strict=True)
        if len(p) >= 2 and p[0] in index
    )
    if not chosen:
        raise ValueError(f"no images of classes {names} found in {source}")

    first = _decode(chosen[0][2], chosen[0][1], source, max_pixels)
    images = np.empty((len(chosen), *first.shape), dtype=np.uint8)
    for i, (_, name, data) in enumerate(chosen):
        array = first if i == 0 else _decode(data, name, source, max_pixels)
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
    if cached is not None:
        write_cache(cached, *result)
    return result
