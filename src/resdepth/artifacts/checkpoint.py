"""Checkpoint files: state dicts only, written atomically, read with ``weights_only=True``.

This module reads and writes files; :meth:`resdepth.Trainer.state_dict` decides the
contents, and :class:`CheckpointKeys` names its top-level entries once for every part
that writes or reads them.
"""

from __future__ import annotations

import hashlib
import os
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import Any

import torch

from .._atomic import atomic_write
from ..errors import CheckpointError

__all__ = [
    "FORMAT",
    "CheckpointKeys",
    "inference_weights",
    "load_checkpoint",
    "recorded_compute",
    "save_checkpoint",
    "tensor_checksums",
]

#: Marks a file as a resdepth checkpoint; bumped when the layout changes.
FORMAT = "resdepth-checkpoint-v2"
_OLDER_FORMATS = ("resdepth-checkpoint-v1",)


class CheckpointKeys:
    """The top-level entries of a training checkpoint, named once.

    ``AVERAGED_MODEL`` and ``TIME_BUDGET`` are there only for runs that have them, so
    that runs without them write what earlier releases wrote.
    """

    EPOCH = "epoch"
    PROGRESS = "progress"  # the epoch under way, or None between epochs
    STEPS_RUN = "steps_run"
    MODEL = "model"
    OPTIMIZER = "optimizer"
    SCHEDULER = "scheduler"
    SCALER = "scaler"
    HISTORY = "history"
    RECIPE = "recipe"
    RUN = "run"  # what a resume must keep (recipe, model structure, data, settings)
    RANKS = "ranks"  # each rank's loader position, random streams and buffers
    PRECISION = "precision"
    CHANNELS_LAST = "channels_last"
    METADATA = "metadata"
    AVERAGED_MODEL = "averaged_model"
    TIME_BUDGET = "time_budget"


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


def recorded_compute(state: Mapping[str, Any]) -> tuple[str, bool]:
    """The precision and memory format a checkpoint's run trained in: what every reader
    of a checkpoint (a resume, ``load_model``'s users, ``export_model``, ``resdepth
    eval``) takes as the run's.  The paper's files and checkpoints from before either
    was recorded read as fp32 in the plain format.

    Examples:
        >>> recorded_compute({"precision": "bf16", "channels_last": True})
        ('bf16', True)
        >>> recorded_compute({})
        ('fp32', False)
    """
    precision = str(state.get(CheckpointKeys.PRECISION) or "fp32")
    return precision, bool(state.get(CheckpointKeys.CHANNELS_LAST, False))


def inference_weights(state: Mapping[str, Any]) -> tuple[dict[str, Any], bool]:
    """The weights a checkpoint's model is evaluated with, and whether they are the
    average: the weight average once it has updates (a recipe with ``ema_decay``), as
    the run's own evaluations used, else the trained weights.

    Examples:
        >>> average = {"model": {"w": 2}, "updates": 3}
        >>> inference_weights({"model": {"w": 1}, "averaged_model": average})
        ({'w': 2}, True)
        >>> inference_weights({"model": {"w": 1}, "averaged_model": {**average, "updates": 0}})
        ({'w': 1}, False)
    """
    averaged = state.get(CheckpointKeys.AVERAGED_MODEL) or {}
    if averaged.get("updates"):
        return dict(averaged[CheckpointKeys.MODEL]), True
    return dict(state[CheckpointKeys.MODEL]), False
