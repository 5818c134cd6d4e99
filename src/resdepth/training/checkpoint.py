"""Checkpoint files: state dicts only, written atomically, read with ``weights_only=True``.

This module reads and writes files and knows nothing of what is in them beyond
their format mark; :meth:`resdepth.Trainer.state_dict` decides the contents.
"""

from __future__ import annotations

import hashlib
import os
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import torch

from .._atomic import atomic_write
from ..errors import CheckpointError

__all__ = ["FORMAT", "load_checkpoint", "save_checkpoint", "tensor_checksums"]

#: Marks a file as a resdepth checkpoint; bumped when the layout changes.
FORMAT = "resdepth-checkpoint-v2"
_OLDER_FORMATS = ("resdepth-checkpoint-v1",)


def _tensors(value: object, name: str = "") -> Iterator[tuple[str, torch.Tensor]]:
    """Every tensor in a nested state, with its path (``model.fc.weight``)."""
    if isinstance(value, torch.Tensor):
        yield name, value
    elif isinstance(value, dict):
        for key, item in value.items():
            yield from _tensors(item, f"{name}.{key}" if name else str(key))
    elif isinstance(value, (list, tuple)):
        for i, item in enumerate(value):
            yield from _tensors(item, f"{name}[{i}]")


def tensor_checksums(state: dict[str, Any]) -> dict[str, str]:
    """A BLAKE2 digest of every tensor's bytes in ``state``, by its path."""
    sums = {}
    for name, tensor in _tensors(state):
        raw = tensor.detach().cpu().contiguous().reshape(-1).view(torch.uint8)
        sums[name] = hashlib.blake2b(raw.numpy().data, digest_size=8).hexdigest()  # no copy
    return sums


def save_checkpoint(path: str | os.PathLike[str], state: dict[str, Any]) -> Path:
    """Write ``state`` to ``path`` so that a crash at any moment leaves the old file intact,
    with a checksum of every tensor that :func:`load_checkpoint` verifies.

    The data goes to a temporary file in the same folder, is flushed and fsynced,
    and then renamed over ``path``; the folder is fsynced so the rename itself
    survives a power loss.
    """
    path = Path(path)
    with atomic_write(path, "wb") as f:
        torch.save({"format": FORMAT, **state, "checksums": tensor_checksums(state)}, f)
    return path


def load_checkpoint(
    path: str | os.PathLike[str],
    map_location: str | torch.device = "cpu",
    fallback: str | os.PathLike[str] | None = None,
) -> dict[str, Any]:
    """Read a checkpoint written by :func:`save_checkpoint` (``weights_only=True``) and
    verify its tensors against the checksums written with them.

    Args:
        path: the file.
        map_location: where its tensors go.
        fallback: an earlier checkpoint to name when ``path`` is damaged.

    Raises:
        CheckpointError: if the file is missing, truncated, unreadable or damaged (a
            tensor that does not match its checksum), or was not written by this
            version of resdepth; the message names the file.
    """
    path = Path(path)
    if not path.is_file():
        raise CheckpointError(f"no checkpoint at {path}")
    try:
        state = torch.load(path, map_location=map_location, weights_only=True)
    except Exception as err:  # any failure to parse the bytes means an unusable file
        raise CheckpointError(
            f"cannot read checkpoint {path}: truncated or not a PyTorch file "
            f"({str(err).split('.')[0]})"
        ) from None
    if isinstance(state, dict) and state.get("format") in _OLDER_FORMATS:
        raise CheckpointError(
            f"{path} was written by an earlier resdepth ({state['format']}), whose checkpoints "
            "do not record the full recipe; its weights are under the 'model' key"
        )
    if not isinstance(state, dict) or state.get("format") != FORMAT:
        raise CheckpointError(f"{path} is not a resdepth checkpoint")
    written = state.pop("checksums", None)  # absent in files of earlier versions
    if written is not None:
        found = tensor_checksums(state)
        bad = sorted(k for k in set(written) | set(found) if written.get(k) != found.get(k))
        if bad:
            earlier = (
                f"; {fallback}, the checkpoint before it, can take its place"
                if fallback is not None and Path(fallback).is_file()
                else ""
            )
            raise CheckpointError(
                f"{path} is damaged: {bad[0]}{f' and {len(bad) - 1} more' if len(bad) > 1 else ''}"
                f" no longer match the checksums written with them{earlier}"
            )
    return state
