"""What a checkpoint promises about its run, the check that a resume keeps that promise,
and re-planning a schedule when a resumed run is given another length."""

from __future__ import annotations

import os
import warnings
from collections.abc import Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any

import torch
from torch import nn

from ..data import DeviceLoader
from ..errors import ResumeMismatchError
from ..recipes import Recipe
from . import distributed as dist
from .batches import RecipeBatches
from .evaluation import unwrap_model
from .run_dir import RunDir

if TYPE_CHECKING:
    from .trainer import Trainer

__all__ = [
    "describe_run",
    "mapping_differences",
    "change_length",
    "check_resumable",
    "checkpoint_to_resume",
    "rank_state",
    "replan_schedule",
    "restore_rank_state",
    "run_differences",
]

# Fields of a recipe that may differ on resume: the length is re-planned explicitly,
# and the prose describes rather than changes the run.
_FREE_RECIPE_FIELDS = ("epochs", "source", "description")


def describe_run(
    model: nn.Module,
    recipe: Recipe,
    train: object,
    precision: str,
    world_size: int,
    channels_last: bool | str = False,
) -> dict[str, Any]:
    """The settings a resume must keep: recipe, model structure, data, precision,
    memory format, ranks."""
    data: dict[str, Any] = {}
    if isinstance(train, DeviceLoader):
        data = {
            "classes": list(train.classes) if train.classes is not None else None,
            "size": int(train.images.shape[0]),
            "batch_size": train.batch_size,
            "fingerprint": train.fingerprint(),  # what the images are, not only how many
        }
    elif hasattr(train, "__len__"):
        data = {"batches": len(train)}
    return {
        "recipe": recipe.to_dict(),
        "model": {
            "class": type(model).__name__,
            "shapes": {k: list(v.shape) for k, v in model.state_dict().items()},
        },
        "data": data,
        "precision": precision,
        "channels_last": channels_last,
        "world_size": world_size,
    }


def _short(value: Any) -> str:
    text = repr(value)
    return text if len(text) <= 60 else text[:57] + "..."


def _model_differences(old: Mapping[str, Any], new: Mapping[str, Any]) -> list[str]:
    out = []
    if old["class"] != new["class"]:
        out.append(f"model class: {old['class']} -> {new['class']}")
    old_shapes, new_shapes = old["shapes"], new["shapes"]
    missing = sorted(set(old_shapes) - set(new_shapes))
    extra = sorted(set(new_shapes) - set(old_shapes))
    reshaped = [k for k in old_shapes if k in new_shapes and old_shapes[k] != new_shapes[k]]
    if missing:
        out.append(
            f"model: {len(missing)} tensor(s) of the checkpoint are gone ({missing[0]}, ...)"
        )
    if extra:
        out.append(f"model: {len(extra)} new tensor(s) not in the checkpoint ({extra[0]}, ...)")
    for key in reshaped[:3]:
        out.append(f"model {key}: shape {tuple(old_shapes[key])} -> {tuple(new_shapes[key])}")
    if len(reshaped) > 3:
        out.append(f"model: {len(reshaped) - 3} more tensor(s) of another shape")
    return out


def mapping_differences(prefix: str, old: Any, new: Any, skip: tuple[str, ...] = ()) -> list[str]:
    """``"prefix.key: old -> new"`` for every leaf where two nested mappings differ."""
    if isinstance(old, Mapping) and isinstance(new, Mapping):
        out = []
        for key in sorted(set(old) | set(new), key=str):
            if key in skip:
                continue
            if key not in old:
                out.append(f"{prefix}{key}: (not set) -> {_short(new[key])}")
            elif key not in new:
                out.append(f"{prefix}{key}: {_short(old[key])} -> (not set)")
            else:
                out += mapping_differences(f"{prefix}{key}.", old[key], new[key])
        return out
    if isinstance(old, (list, tuple)) and isinstance(new, (list, tuple)):
        old, new = list(old), list(new)
    return [] if old == new else [f"{prefix.rstrip('.')}: {_short(old)} -> {_short(new)}"]


def run_differences(saved: Mapping[str, Any], current: Mapping[str, Any]) -> list[str]:
    """Each setting that differs between a checkpoint's run and this one, as
    ``"what: old -> new"`` lines; the recipe's length is not among them."""
    out = mapping_differences("recipe.", saved["recipe"], current["recipe"],
                               skip=_FREE_RECIPE_FIELDS)  # fmt: skip
    out += _model_differences(saved["model"], current["model"])
    old_data, new_data = saved["data"], current["data"]
    for key in sorted(set(old_data) & set(new_data)):
        if old_data[key] is not None and new_data[key] is not None:
            out += mapping_differences(f"data {key}.", old_data[key], new_data[key])
    saved = {"channels_last": False, **saved}  # not recorded before: the plain format
    for key in ("precision", "channels_last", "world_size"):
        if saved[key] != current[key]:
            out.append(f"{key}: {saved[key]!r} -> {current[key]!r}")
    return out


def checkpoint_to_resume(resume: object, run_dir: RunDir | None) -> Path:
    """The checkpoint ``fit(resume=...)`` names: a path as given, or ``True`` for the
    run folder's ``last.pt``."""
    if isinstance(resume, (str, os.PathLike)):
        return Path(resume)
    if run_dir is None:
        raise ValueError("resume=True needs out_dir (or pass a checkpoint path)")
    return run_dir.last


def check_resumable(
    state: Mapping[str, Any],
    current: Mapping[str, Any],
    train: object,
    source: object,
    allow_other_data: bool = False,
) -> list[str]:
    """Refuse to resume the checkpoint ``state`` into a run described by ``current``
    (:func:`describe_run`) that differs in any setting, naming each difference.

    Returns:
        The data differences ``allow_other_data`` let through (for the history).

    Raises:
        ResumeMismatchError: a setting differs, or a mid-epoch checkpoint would resume
            with batches other than a :class:`~resdepth.data.DeviceLoader`.
    """
    differences = run_differences(state["run"], current)
    allowed = [d for d in differences if d.startswith("data fingerprint")]
    if allow_other_data:
        differences = [d for d in differences if d not in allowed]
    if state["progress"] is not None and not isinstance(train, DeviceLoader):
        differences.append("a mid-epoch checkpoint resumes only with a DeviceLoader")
    if differences:
        other_data = (
            " (other images of the same size and classes: allow_other_data=True, or "
            "--allow-other-data, resumes on them anyway and the history notes it)"
            if any(d.startswith("data fingerprint") for d in differences)
            else ""
        )
        raise ResumeMismatchError(
            f"cannot resume {source} with other settings ({'; '.join(differences)}){other_data}; "
            "resume with the run's own settings, or start a new run in another directory"
        )
    return allowed if allow_other_data else []


def replan_schedule(
    recipe: Recipe, optimizer: torch.optim.Optimizer, steps_per_epoch: int, steps_taken: int
) -> Any:
    """The scheduler of an uninterrupted run of ``recipe``'s length, ``steps_taken`` steps in.

    The scheduler is built on the optimizer's initial rates and stepped forward as the
    uninterrupted run would have stepped it, so the rate from here on is exactly that
    run's: for a cosine, ``lr(e) = base * (1 + cos(pi * e / epochs)) / 2``.  Not for
    schedules that follow a metric (their state does not depend on the length).
    """
    for group in optimizer.param_groups:
        group["lr"] = group.get("initial_lr", group["lr"])
    scheduler = recipe.build_scheduler(optimizer, steps_per_epoch)
    if scheduler is None:
        return scheduler
    with warnings.catch_warnings():
        # No optimizer step happens in between; torch warns about that order.
        warnings.simplefilter("ignore", UserWarning)
        for _ in range(steps_taken):
            scheduler.step()
    return scheduler


def rank_state(trainer: Trainer, train: object) -> dict[str, Any]:
    """This rank's share of a checkpoint of ``trainer``: the ``train`` loader's position
    and random streams (a :class:`~resdepth.data.DeviceLoader`, or the augmentation
    stream of a user's batches; ``None`` for other batches), the torch generators, the
    lookahead's slow copy where there is one (under DDP its BatchNorm statistics differ
    between ranks) and, under DDP, the model's buffers and the epoch's running sums."""
    device = trainer.device
    cuda = torch.cuda.get_rng_state(device) if device.type == "cuda" else None
    state = {
        "loader": train.state_dict() if isinstance(train, (DeviceLoader, RecipeBatches)) else None,
        "rng": {"torch": torch.get_rng_state(), "cuda": cuda},
    }
    if trainer.lookahead is not None:
        lookahead = trainer.lookahead.state_dict()
        lookahead["slow"] = [t.cpu() for t in lookahead["slow"]]  # see the CPU note below
        state["lookahead"] = lookahead
    if dist.is_distributed():
        # Within an epoch DDP's ranks hold different buffers (each updates BatchNorm's
        # running statistics with its own batch, and DDP under Join broadcasts the
        # highest rank's before each forward) and different sums of their own batches'
        # losses; they agree only at the epoch's end. A mid-epoch stop keeps each.
        # On the CPU: all_gather_object unpickles a CUDA tensor onto the GPU it came
        # from, which on another rank is not its own (or not visible at all).
        model = unwrap_model(trainer.model)
        progress = trainer._progress.state_dict() if trainer._progress is not None else None
        state["buffers"] = {n: b.detach().cpu().clone() for n, b in model.named_buffers()}
        state["progress"] = progress and {
            k: v.cpu() if isinstance(v, torch.Tensor) else v for k, v in progress.items()
        }
    return state


def restore_rank_state(
    trainer: Trainer, state: Mapping[str, Any], train: object
) -> dict[str, Any] | None:
    """Put this rank's loader, generators and buffers back where :func:`rank_state`
    found them, from the checkpoint ``state``; this rank's state of the epoch under
    way (``None`` between epochs)."""
    own = state["ranks"][dist.rank()]
    if isinstance(train, (DeviceLoader, RecipeBatches)) and own["loader"] is not None:
        train.load_state_dict(own["loader"])
    torch.set_rng_state(own["rng"]["torch"].cpu())
    if own["rng"]["cuda"] is not None and trainer.device.type == "cuda":
        torch.cuda.set_rng_state(own["rng"]["cuda"].cpu(), trainer.device)
    if own.get("buffers") is not None:
        with torch.no_grad():
            for name, buffer in unwrap_model(trainer.model).named_buffers():
                if name in own["buffers"]:
                    buffer.copy_(own["buffers"][name])
    if trainer.lookahead is not None and own.get("lookahead") is not None:
        trainer.lookahead.load_state_dict(own["lookahead"])
    # Saved under DDP: this rank's own sums (older checkpoints hold rank 0's only).
    progress: dict[str, Any] | None = own["progress"] if "progress" in own else state["progress"]
    return progress


def change_length(
    recipe: Recipe, optimizer: torch.optim.Optimizer, scheduler: Any, steps_per_epoch: int,
    epochs: int,
) -> tuple[Recipe, Any]:  # fmt: skip
    """The recipe and scheduler of a run whose total length becomes ``epochs``: a schedule
    that follows a metric keeps its state, any other is re-planned
    (:func:`replan_schedule`) from the steps it has taken."""
    recipe = recipe.replace(epochs=epochs)
    if recipe.steps_on_metric:
        return recipe, scheduler
    taken = scheduler.last_epoch if scheduler is not None else 0
    return recipe, replan_schedule(recipe, optimizer, steps_per_epoch, taken)


def trainer_state(t: Trainer, train: object) -> dict[str, Any]:
    """What :meth:`Trainer.state_dict <resdepth.training.Trainer.state_dict>` returns,
    gathered from the parts that own it; the weight average and the time budget only
    when the run has them, so that runs without them save what they saved before."""
    state = {
        "epoch": t.epoch,
        "progress": t._progress.state_dict() if t._progress is not None else None,
        "steps_run": t._steps_run,
        "model": unwrap_model(t.model).state_dict(),
        "optimizer": t.optimizer.state_dict(),
        "scheduler": t.scheduler.state_dict() if t.scheduler is not None else None,
        "scaler": t.scaler.state_dict(),
        "history": t.history.state_dict(),
        "recipe": t.recipe.to_dict(),
        "run": t._run_description(train),
        "ranks": dist.all_gather_objects(rank_state(t, train)),
        "precision": t.precision,
        "channels_last": t.channels_last,
        "metadata": t.metadata.to_dict(),
    }
    if t._averaging is not None:
        t._averaging.sync()  # every rank calls state_dict together
        state["averaged_model"] = t._averaging.state_dict()
    if t._budget is not None:
        state["time_budget"] = t._budget.state_dict()
    return state
