"""Reopening a saved model as a :class:`~resdepth.training.Trainer`: the arguments
that :meth:`Trainer.from_checkpoint <resdepth.training.Trainer.from_checkpoint>` builds
it with, from what :func:`~resdepth.artifacts.open_model_file` reads."""

from __future__ import annotations

import os
from typing import Any

from ..artifacts import open_model_file

__all__ = ["reopen_arguments"]


def reopen_arguments(path: str | os.PathLike[str], **overrides: Any) -> dict[str, Any]:
    """The Trainer arguments that reopen a checkpoint, a model folder or one of the
    paper's model files: its rebuilt model, its recipe and metadata, its seed, the
    precision and memory format it trained in (fp32 for the paper's files), no progress
    output and no mid-epoch checkpoints; ``overrides`` win."""
    saved = open_model_file(path)
    return {
        "model": saved.model,
        "recipe": saved.recipe,
        "metadata": saved.metadata,
        "seed": saved.metadata.seed or 0,  # a reopened trainer records what the run trained with
        "precision": saved.precision,
        "channels_last": saved.channels_last,
        "progress": False,
        "checkpoint_every": None,
        **overrides,
    }
