"""What a checkpoint promises about its run, the check that a resume keeps that promise,
each rank's share of a checkpoint, and the checkpoint gathered from the parts that
own its entries (:class:`~resdepth.artifacts.CheckpointKeys`)."""

from __future__ import annotations

import os
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import torch
from torch import nn

from ..artifacts import CheckpointKeys as Keys
from ..artifacts import History, RunDir, RunMetadata
from ..data import DeviceLoader
from ..errors import ResumeMismatchError
from ..recipes import Recipe
from . import distributed as dist
from .batches import RecipeBatches
from .budget import TimeBudget
from .lookahead import Lookahead
from .prepare import PreparedRun
from .run_state import RunState
from .schedule import Schedule

__all__ = [
    "check_resumable",
    "checkpoint_state",
    "restore_checkpoint",
    "checkpoint_to_resume",
    "describe_run",
    "mapping_differences",
    "rank_state",
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


def rank_state(
    train: object,
    device: torch.device,
    model: nn.Module,
    lookahead: Lookahead | None,
    progress: Mapping[str, Any] | None,
) -> dict[str, Any]:
    """This rank's share of a checkpoint: the ``train`` loader's position and random
    streams (a :class:`~resdepth.data.DeviceLoader`, or the augmentation stream of a
    user's batches; ``None`` for other batches), the torch generators, the lookahead's
    slow copy where there is one (under DDP its BatchNorm statistics differ between
    ranks) and, under DDP, the (unwrapped) ``model``'s buffers and this rank's
    ``progress``, the epoch's running sums."""
    cuda = torch.cuda.get_rng_state(device) if device.type == "cuda" else None
    state: dict[str, Any] = {
        "loader": train.state_dict() if isinstance(train, (DeviceLoader, RecipeBatches)) else None,
        "rng": {"torch": torch.get_rng_state(), "cuda": cuda},
    }
    if lookahead is not None:
        slow = lookahead.state_dict()
        slow["slow"] = [t.cpu() for t in slow["slow"]]  # see the CPU note below
        state["lookahead"] = slow
    if dist.is_distributed():
        # Within an epoch DDP's ranks hold different buffers (each updates BatchNorm's
        # running statistics with its own batch, and DDP under Join broadcasts the
        # highest rank's before each forward) and different sums of their own batches'
        # losses; they agree only at the epoch's end. A mid-epoch stop keeps each.
        # On the CPU: all_gather_object unpickles a CUDA tensor onto the GPU it came
        # from, which on another rank is not its own (or not visible at all).
        state["buffers"] = {n: b.detach().cpu().clone() for n, b in model.named_buffers()}
        state["progress"] = progress and {
            k: v.cpu() if isinstance(v, torch.Tensor) else v for k, v in progress.items()
        }
    return state


def restore_rank_state(
    state: Mapping[str, Any],
    train: object,
    device: torch.device,
    model: nn.Module,
    lookahead: Lookahead | None,
) -> dict[str, Any] | None:
    """Put this rank's loader, generators, buffers (of the unwrapped ``model``) and
    lookahead back where :func:`rank_state` found them, from the checkpoint ``state``;
    this rank's state of the epoch under way (``None`` between epochs)."""
    own = state[Keys.RANKS][dist.rank()]
    if isinstance(train, (DeviceLoader, RecipeBatches)) and own["loader"] is not None:
        train.load_state_dict(own["loader"])
    torch.set_rng_state(own["rng"]["torch"].cpu())
    if own["rng"]["cuda"] is not None and device.type == "cuda":
        torch.cuda.set_rng_state(own["rng"]["cuda"].cpu(), device)
    if own.get("buffers") is not None:
        with torch.no_grad():
            for name, buffer in model.named_buffers():
                if name in own["buffers"]:
                    buffer.copy_(own["buffers"][name])
    if lookahead is not None and own.get("lookahead") is not None:
        lookahead.load_state_dict(own["lookahead"])
    # Saved under DDP: this rank's own sums (older checkpoints hold rank 0's only).
    progress: dict[str, Any] | None = own["progress"] if "progress" in own else state[Keys.PROGRESS]
    return progress


def checkpoint_state(
    train: object,
    *,
    run: RunState,
    model: nn.Module,
    optimizer: torch.optim.Optimizer,
    schedule: Schedule,
    history: History,
    metadata: RunMetadata,
    scaler: torch.amp.GradScaler,
    settings: tuple[str, bool | str],
    prepared: PreparedRun | None,
    budget: TimeBudget | None,
    device: torch.device,
) -> dict[str, Any]:
    """A checkpoint gathered from the parts that own its entries (every rank's share
    from :func:`rank_state`): the weight average and the time budget only where the
    run has them, so that runs without them save what they saved before.  ``model``
    is unwrapped; ``scaler`` and ``settings`` (the precision and memory format) are
    the run's, or before it is ``prepared`` the requested ones and a disabled scaler.
    Under torchrun every rank must call it."""
    progress = run.progress.state_dict() if run.progress is not None else None
    lookahead = prepared.lookahead if prepared is not None else None
    averaging = prepared.averaging if prepared is not None else None
    mine = rank_state(train, device, model, lookahead, progress)
    precision, channels_last = settings
    state = {
        **run.state_dict(),
        Keys.MODEL: model.state_dict(),
        Keys.OPTIMIZER: optimizer.state_dict(),
        Keys.SCHEDULER: schedule.state_dict(),
        Keys.SCALER: scaler.state_dict(),
        Keys.HISTORY: history.state_dict(),
        Keys.RECIPE: schedule.recipe.to_dict(),
        Keys.RUN: describe_run(
            model, schedule.recipe, train, precision, dist.world_size(), channels_last
        ),  # fmt: skip
        Keys.RANKS: dist.all_gather_objects(mine),
        Keys.PRECISION: precision,
        Keys.CHANNELS_LAST: channels_last,
        Keys.METADATA: metadata.to_dict(),
    }
    if averaging is not None:
        averaging.sync()  # every rank calls state_dict together
        state[Keys.AVERAGED_MODEL] = averaging.state_dict()
    if budget is not None:
        state[Keys.TIME_BUDGET] = budget.state_dict()
    return state


def restore_checkpoint(
    state: Mapping[str, Any],
    train: object,
    source: object,
    allow_other_data: bool,
    *,
    run: RunState,
    model: nn.Module,
    optimizer: torch.optim.Optimizer,
    schedule: Schedule,
    history: History,
    prepared: PreparedRun,
    device: torch.device,
) -> tuple[list[str], TimeBudget | None]:
    """Put each part back where :func:`checkpoint_state` found it, after checking that
    the run keeps the checkpoint's settings; the data differences ``allow_other_data``
    let through, and the time budget the checkpoint recorded (or ``None``).

    Raises:
        ResumeMismatchError: as :func:`check_resumable`.
    """
    settings = prepared.settings
    current = describe_run(model, schedule.recipe, train, settings.precision,
                           dist.world_size(), settings.channels_last)  # fmt: skip
    allowed = check_resumable(state, current, train, source, allow_other_data)
    model.load_state_dict(state[Keys.MODEL])
    optimizer.load_state_dict(state[Keys.OPTIMIZER])
    schedule.load_state_dict(state[Keys.SCHEDULER])
    prepared.step.scaler.load_state_dict(state[Keys.SCALER])
    history.load_state_dict(state[Keys.HISTORY])
    if prepared.averaging is not None:
        prepared.averaging.load_state_dict(state[Keys.AVERAGED_MODEL])
    progress = restore_rank_state(state, train, device, model, prepared.lookahead)
    run.load_state_dict(state, device, progress)
    return allowed, TimeBudget.from_state(state.get(Keys.TIME_BUDGET))
