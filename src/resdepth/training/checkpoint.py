"""Checkpoint files: state dicts only, written atomically, read with ``weights_only=True``.

This module reads and writes files and knows nothing of what is in them beyond
their format mark; :meth:`resdepth.Trainer.state_dict` decides the contents.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import torch

from .._atomic import atomic_write
from ..errors import CheckpointError

__all__ = ["CheckpointError", "FORMAT", "load_checkpoint", "save_checkpoint"]

#: Marks a file as a resdepth checkpoint; bumped when the layout changes.
FORMAT = "resdepth-checkpoint-v2"
_OLDER_FORMATS = ("resdepth-checkpoint-v1",)


def save_checkpoint(path: str | os.PathLike[str], state: dict[str, Any]) -> Path:
    """Write ``state`` to ``path`` so that a crash at any moment leaves the old file intact.

    The data goes to a temporary file in the same folder, is flushed and fsynced,
    and then renamed over ``path``; the folder is fsynced so the rename itself
    survives a power loss.
    """
    path = Path(path)
    with atomic_write(path, "wb") as f:
        torch.save({"format": FORMAT, **state}, f)
    return path


def load_checkpoint(
    path: str | os.PathLike[str], map_location: str | torch.device = "cpu"
) -> dict[str, Any]:
    """Read a checkpoint written by :func:`save_checkpoint` (``weights_only=True``).

    Raises:
        CheckpointError: if the file is missing, truncated or unreadable, or was not
            written by this version of resdepth; the message names the file.
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
    return state
