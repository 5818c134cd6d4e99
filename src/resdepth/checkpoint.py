"""Checkpoints: state dicts only, written atomically, read with ``weights_only=True``."""

from __future__ import annotations

import dataclasses
import os
from pathlib import Path
from typing import TYPE_CHECKING, Any

import torch
from torch import nn

if TYPE_CHECKING:
    from .trainer import Trainer

__all__ = [
    "CheckpointError",
    "FORMAT",
    "load_checkpoint",
    "restore_trainer",
    "save_checkpoint",
    "trainer_state",
    "unwrap_model",
]

#: Marks a file as a resdepth checkpoint; bumped when the layout changes.
FORMAT = "resdepth-checkpoint-v1"


class CheckpointError(ValueError):
    """A checkpoint that is missing, truncated, or not a resdepth checkpoint."""


def save_checkpoint(path: str | os.PathLike[str], state: dict[str, Any]) -> Path:
    """Write ``state`` to ``path`` so that a crash at any moment leaves the old file intact.

    The data goes to a temporary file in the same folder, is flushed and fsynced,
    and then renamed over ``path`` (an atomic replace on POSIX and Windows); the
    folder is fsynced so the rename itself survives a power loss.
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.tmp{os.getpid()}")
    try:
        with tmp.open("wb") as f:
            torch.save({"format": FORMAT, **state}, f)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    finally:
        if tmp.exists():
            tmp.unlink()
    if hasattr(os, "O_DIRECTORY"):
        fd = os.open(path.parent, os.O_RDONLY | os.O_DIRECTORY)
        try:
            os.fsync(fd)
        finally:
            os.close(fd)
    return path


def load_checkpoint(
    path: str | os.PathLike[str], map_location: str | torch.device = "cpu"
) -> dict[str, Any]:
    """Read a checkpoint written by :func:`save_checkpoint` (``weights_only=True``).

    Raises:
        CheckpointError: if the file is missing, truncated or unreadable, or was not
            written by resdepth; the message names the file.
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
    if not isinstance(state, dict) or state.get("format") != FORMAT:
        raise CheckpointError(f"{path} is not a resdepth checkpoint")
    return state


def unwrap_model(model: nn.Module) -> nn.Module:
    """The plain module inside ``torch.compile`` and DDP wrappers (plain state-dict keys)."""
    model = getattr(model, "_orig_mod", model)
    if isinstance(model, nn.parallel.DistributedDataParallel):
        model = model.module
    return getattr(model, "_orig_mod", model)


def _recipe_overrides(trainer: Trainer) -> dict[str, Any]:
    from .recipes import get_recipe, list_recipes

    recipe = trainer.recipe
    fields = [f.name for f in dataclasses.fields(recipe)]
    if recipe.name not in list_recipes():
        return {name: getattr(recipe, name) for name in fields}
    base = get_recipe(recipe.name)
    return {n: getattr(recipe, n) for n in fields if getattr(recipe, n) != getattr(base, n)}


def trainer_state(trainer: Trainer, train: object = None) -> dict[str, Any]:
    """A trainer's full state: model (without compile/DDP prefixes), optimizer, scheduler,
    scaler, loader and RNG states, completed epochs, history, recipe name and overrides."""
    from .data import DeviceLoader

    cuda = torch.cuda.get_rng_state_all() if trainer.device.type == "cuda" else []
    return {
        "epoch": trainer.epoch,
        "model": unwrap_model(trainer.model).state_dict(),
        "optimizer": trainer.optimizer.state_dict(),
        "scheduler": trainer.scheduler.state_dict() if trainer.scheduler is not None else None,
        "scaler": trainer.scaler.state_dict(),
        "loader": train.state_dict() if isinstance(train, DeviceLoader) else None,
        "rng": {
            "torch": torch.get_rng_state(),
            "cuda": cuda,
            "mixing": trainer._mix_gen.get_state(),
        },
        "history": trainer.history.rows,
        "recipe": trainer.recipe.name,
        "recipe_overrides": _recipe_overrides(trainer),
        "precision": trainer.precision,
        "metadata": trainer.metadata,
    }


def restore_trainer(trainer: Trainer, state: dict[str, Any], train: object = None) -> None:
    """Put a trainer (and its DeviceLoader) back where :func:`trainer_state` found it."""
    from .data import DeviceLoader
    from .history import History

    if state["recipe"] != trainer.recipe.name:
        raise ValueError(
            f"the checkpoint was trained with recipe {state['recipe']!r}, "
            f"not {trainer.recipe.name!r}"
        )
    unwrap_model(trainer.model).load_state_dict(state["model"])
    trainer.optimizer.load_state_dict(state["optimizer"])
    if trainer.scheduler is not None and state["scheduler"] is not None:
        trainer.scheduler.load_state_dict(state["scheduler"])
    trainer.scaler.load_state_dict(state["scaler"])
    if isinstance(train, DeviceLoader) and state["loader"] is not None:
        train.load_state_dict(state["loader"])
    torch.set_rng_state(state["rng"]["torch"].cpu())
    if state["rng"]["cuda"] and trainer.device.type == "cuda":
        torch.cuda.set_rng_state_all([s.cpu() for s in state["rng"]["cuda"]])
    trainer._mix_gen.set_state(state["rng"]["mixing"].cpu())
    trainer.history = History(state["history"])
    trainer.epoch = int(state["epoch"])
