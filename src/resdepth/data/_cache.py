"""The decoded-tensor cache of image folders and archives: keyed on content, checked on read."""

from __future__ import annotations

import hashlib
import os
import warnings
from collections.abc import Sequence
from pathlib import Path

import torch

from .._atomic import atomic_write

__all__ = ["cache_file", "read_cache", "write_cache"]

_CACHE_VERSION = 2
_CHUNK = 1 << 20


def _content_digest(path: Path) -> str:
    """A digest of what ``path`` holds: the bytes of an archive, or every file's relative
    path and bytes in a folder.  Reading bytes is far cheaper than decoding them."""
    h = hashlib.sha256()
    files = [path] if path.is_file() else sorted(p for p in path.rglob("*") if p.is_file())
    for file in files:
        h.update(file.relative_to(path).as_posix().encode() if file != path else b"")
        with file.open("rb") as f:
            while chunk := f.read(_CHUNK):
                h.update(chunk)
    return h.hexdigest()


def cache_file(
    cache_dir: str | os.PathLike[str], source: Path, split: str | None,
    classes: Sequence[str] | None,
) -> Path:  # fmt: skip
    """Where the decoded tensors of ``source`` (this split and class list) are kept."""
    key = f"{_CACHE_VERSION}|{_content_digest(source)}|{split}|{list(classes or [])}"
    return Path(cache_dir) / f"{source.name}-{hashlib.sha256(key.encode()).hexdigest()[:24]}.pt"


def _invalid(data: object) -> str | None:
    """Why a cache entry cannot be what was stored, or ``None``."""
    if not isinstance(data, dict) or {"images", "labels", "classes"} - set(data):
        return "not a cache entry"
    images, labels, classes = data["images"], data["labels"], data["classes"]
    if not isinstance(images, torch.Tensor) or images.dtype != torch.uint8 or images.dim() != 4:
        return "images are not a uint8 (N, C, H, W) tensor"
    if not isinstance(labels, torch.Tensor) or labels.dtype != torch.int64 or labels.dim() != 1:
        return "labels are not an int64 (N,) tensor"
    if labels.shape[0] != images.shape[0]:
        return f"{images.shape[0]} images but {labels.shape[0]} labels"
    if not isinstance(classes, list) or not all(isinstance(c, str) for c in classes):
        return "class names are not a list of strings"
    if labels.numel() and (int(labels.min()) < 0 or int(labels.max()) >= len(classes)):
        return f"labels outside [0, {len(classes)})"
    return None


def read_cache(path: Path) -> tuple[torch.Tensor, torch.Tensor, list[str]] | None:
    """The cached ``(images, labels, classes)``, or ``None`` when there is no valid entry.

    A file that cannot be read or does not hold what a cache entry holds is removed
    with a warning, and the caller decodes the source again.
    """
    if not path.is_file():
        return None
    try:
        data = torch.load(path, weights_only=True)
        why = _invalid(data)
    except Exception as err:  # any unreadable file is a broken entry, whatever broke it
        why = f"unreadable: {str(err).splitlines()[0][:80]}"
    if why is None:
        return data["images"], data["labels"], list(data["classes"])
    warnings.warn(f"ignoring the decoded-image cache {path} ({why}); decoding again", stacklevel=3)
    path.unlink(missing_ok=True)
    return None


def write_cache(path: Path, images: torch.Tensor, labels: torch.Tensor, classes: list[str]) -> None:
    with atomic_write(path, "wb") as f:
        torch.save({"images": images, "labels": labels, "classes": list(classes)}, f)
