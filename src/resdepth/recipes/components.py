"""What a recipe names: optimizers, schedules, augmentations and batch mixing, by name.

Each kind has a small registry (the one pattern of the model and recipe registries:
duplicates refused, unknown names answered with close matches), so a recipe can
name a component that a user registered.  The keyword arguments a component takes
are read from its signature; a recipe checks its own against them when it is built.
"""

from __future__ import annotations

import contextlib
import inspect
import math
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any, Literal

import torch
from torch.optim import lr_scheduler

from .. import transforms as T
from .._registry import Patterns, Registry
from ..transforms import BatchTransform, CutMix, MixUp
from .muon import MuonSGD

__all__ = [
    "Schedule",
    "ScheduleLength",
    "WarmupLinearDecay",
    "get_augmentation",
    "get_mixing",
    "get_optimizer",
    "get_schedule",
    "keyword_names",
    "list_augmentations",
    "list_mixings",
    "list_optimizers",
    "list_schedules",
    "register_augmentation",
    "register_mixing",
    "register_optimizer",
    "register_schedule",
    "unregister_augmentation",
    "unregister_mixing",
    "unregister_optimizer",
    "unregister_schedule",
]


@dataclass(frozen=True)
class ScheduleLength:
    """How long a schedule runs: ``epochs`` of ``steps_per_epoch`` batches, stepped per
    ``interval`` (``"epoch"`` or ``"batch"``)."""

    epochs: int
    steps_per_epoch: int
    interval: str

    @property
    def total(self) -> int:
        """Scheduler steps over the whole run."""
        return self.epochs * (self.steps_per_epoch if self.interval == "batch" else 1)

    def steps(self, epochs: float) -> int:
        """Scheduler steps in ``epochs`` epochs (rounded up)."""
        return math.ceil(epochs * (self.steps_per_epoch if self.interval == "batch" else 1))


ScheduleBuilder = Callable[..., Any]


@dataclass(frozen=True)
class Schedule:
    """A named learning-rate schedule.

    Attributes:
        build: ``build(optimizer, length, **options)``: the scheduler for a
            :class:`ScheduleLength` (or ``None`` for a constant rate).  Its keyword
            parameters after ``length`` are the options a recipe may set.
        on_metric: the scheduler steps once per epoch on a monitored metric
            (``ReduceLROnPlateau``) rather than on its own.
    """

    build: ScheduleBuilder
    on_metric: bool = False


class WarmupLinearDecay:
    """Learning-rate factor: linear warm-up from ``start`` to 1, then linear decay to
    ``end`` (0 by default).

    A callable object rather than a lambda, so ``LambdaLR`` can save and restore it.
    """

    def __init__(
        self, warmup_steps: int, total_steps: int, start: float = 0.1, end: float = 0.0
    ) -> None:
        self.warmup_steps = max(0, int(warmup_steps))
        self.total_steps = max(1, int(total_steps))
        if self.warmup_steps >= self.total_steps:
            raise ValueError(
                f"the warm-up ({self.warmup_steps} steps) must be shorter than the schedule "
                f"({self.total_steps} steps)"
            )
        self.start, self.end = float(start), float(end)

    def __call__(self, step: int) -> float:
        if step < self.warmup_steps:
            return self.start + (1.0 - self.start) * step / self.warmup_steps
        remaining = self.total_steps - self.warmup_steps
        done = min(1.0, (step - self.warmup_steps) / remaining)
        return max(0.0, 1.0 - (1.0 - self.end) * done)


_OPTIMIZERS: Registry[type[torch.optim.Optimizer]] = Registry("optimizer")
_SCHEDULES: Registry[Schedule] = Registry("schedule")
_AUGMENTATIONS: Registry[type[BatchTransform]] = Registry("augmentation")
_MIXINGS: Registry[type[CutMix | MixUp]] = Registry("mixing")


def register_optimizer(name: str, optimizer: type[torch.optim.Optimizer]) -> None:
    """Make ``optimizer`` (a ``torch.optim.Optimizer`` subclass) nameable in recipes.

    Raises:
        ValueError: if the name is taken.
        TypeError: if ``optimizer`` is not an optimizer class.
    """
    if not (isinstance(optimizer, type) and issubclass(optimizer, torch.optim.Optimizer)):
        raise TypeError(f"optimizer must be a torch.optim.Optimizer subclass, got {optimizer!r}")
    _OPTIMIZERS.add(name, optimizer)


def register_schedule(name: str, build: ScheduleBuilder, *, on_metric: bool = False) -> None:
    """Make a schedule nameable in recipes; see :class:`Schedule` for ``build``.

    Examples:
        >>> from torch.optim.lr_scheduler import ExponentialLR
        >>> from resdepth.recipes import get_recipe, register_schedule
        >>> def exponential(optimizer, length, gamma=0.95):
        ...     return ExponentialLR(optimizer, gamma=gamma)
        >>> register_schedule("doc-exponential", exponential)
        >>> recipe = get_recipe("as1", scheduler="doc-exponential", scheduler_kwargs={"gamma": 0.9})
        >>> recipe.scheduler, dict(recipe.scheduler_kwargs)
        ('doc-exponential', {'gamma': 0.9})
    """
    if not callable(build):
        raise TypeError(f"build must be callable, got {build!r}")
    _SCHEDULES.add(name, Schedule(build, on_metric=bool(on_metric)))


def register_augmentation(name: str, transform: type[BatchTransform]) -> None:
    """Make a :class:`~resdepth.transforms.BatchTransform` class nameable in a recipe's
    ``augment`` list."""
    if not (isinstance(transform, type) and issubclass(transform, BatchTransform)):
        raise TypeError(f"transform must be a BatchTransform subclass, got {transform!r}")
    _AUGMENTATIONS.add(name, transform)


def register_mixing(name: str, mixing: type[CutMix | MixUp]) -> None:
    """Make a batch-mixing class (called ``mix(x, y, generator=)``, built with
    ``num_classes=``) nameable as a recipe's ``mixing``."""
    if not callable(mixing):
        raise TypeError(f"mixing must be a class, got {mixing!r}")
    _MIXINGS.add(name, mixing)


def unregister_optimizer(
    name: str, *, missing_ok: bool = False
) -> type[torch.optim.Optimizer] | None:
    """Remove the optimizer registered as ``name`` and return it (see
    :func:`~resdepth.recipes.unregister_recipe` for ``missing_ok``)."""
    return _OPTIMIZERS.remove(name, missing_ok)


def unregister_schedule(name: str, *, missing_ok: bool = False) -> Schedule | None:
    """Remove the schedule registered as ``name`` and return it (see
    :func:`~resdepth.recipes.unregister_recipe` for ``missing_ok``)."""
    return _SCHEDULES.remove(name, missing_ok)


def unregister_augmentation(name: str, *, missing_ok: bool = False) -> type[BatchTransform] | None:
    """Remove the transform class registered as ``name`` and return it (see
    :func:`~resdepth.recipes.unregister_recipe` for ``missing_ok``)."""
    return _AUGMENTATIONS.remove(name, missing_ok)


def unregister_mixing(name: str, *, missing_ok: bool = False) -> type[CutMix | MixUp] | None:
    """Remove the mixing class registered as ``name`` and return it (see
    :func:`~resdepth.recipes.unregister_recipe` for ``missing_ok``)."""
    return _MIXINGS.remove(name, missing_ok)


def get_optimizer(name: str) -> type[torch.optim.Optimizer]:
    """The optimizer class registered as ``name``."""
    return _OPTIMIZERS.get(name)


def get_schedule(name: str) -> Schedule:
    """The :class:`Schedule` registered as ``name``."""
    return _SCHEDULES.get(name)


def get_augmentation(name: str) -> type[BatchTransform]:
    """The transform class registered as ``name``."""
    return _AUGMENTATIONS.get(name)


def get_mixing(name: str) -> type[CutMix | MixUp]:
    """The mixing class registered as ``name``."""
    return _MIXINGS.get(name)


def list_optimizers(pattern: Patterns = "*") -> list[str]:
    """Sorted names of the registered optimizers that match ``pattern`` (one fnmatch
    pattern or a list of them)."""
    return _OPTIMIZERS.names(pattern)


def list_schedules(pattern: Patterns = "*") -> list[str]:
    """Sorted names of the registered schedules that match ``pattern``."""
    return _SCHEDULES.names(pattern)


def list_augmentations(pattern: Patterns = "*") -> list[str]:
    """Sorted names of the registered augmentations that match ``pattern``."""
    return _AUGMENTATIONS.names(pattern)


def list_mixings(pattern: Patterns = "*") -> list[str]:
    """Sorted names of the registered mixings that match ``pattern``."""
    return _MIXINGS.names(pattern)


def keyword_names(fn: Callable[..., Any], skip: int = 0) -> tuple[set[str], bool]:
    """The keyword parameters ``fn`` takes after its first ``skip`` positional ones, and
    whether it also takes ``**kwargs``."""
    params = list(inspect.signature(fn).parameters.values())[skip:]
    names = {p.name for p in params if p.kind in (p.POSITIONAL_OR_KEYWORD, p.KEYWORD_ONLY)}
    return names, any(p.kind is p.VAR_KEYWORD for p in params)


# ----------------------------------------------------------------------------- built in
for _name, _cls in (
    ("sgd", torch.optim.SGD),
    ("adam", torch.optim.Adam),
    ("adamw", torch.optim.AdamW),
    ("muon_sgd", MuonSGD),
):
    register_optimizer(_name, _cls)


def _cosine(
    optimizer: torch.optim.Optimizer, length: ScheduleLength, eta_min: float = 0.0
) -> lr_scheduler.CosineAnnealingLR:
    # The paper's runs used CosineAnnealingLR(T_max=epochs); stepping it from the start is
    # what makes a resumed, re-planned schedule equal an uninterrupted one.
    return lr_scheduler.CosineAnnealingLR(optimizer, T_max=length.total, eta_min=eta_min)


def _linear(optimizer: torch.optim.Optimizer, length: ScheduleLength) -> lr_scheduler.LinearLR:
    return lr_scheduler.LinearLR(
        optimizer, start_factor=1.0, end_factor=0.0, total_iters=length.total
    )


def _plateau(
    optimizer: torch.optim.Optimizer,
    length: ScheduleLength,
    mode: Literal["min", "max"] = "min",
    factor: float = 0.1,
    patience: int = 10,
    threshold: float = 1e-4,
    threshold_mode: Literal["rel", "abs"] = "rel",
    cooldown: int = 0,
    min_lr: float = 0.0,
    eps: float = 1e-8,
) -> lr_scheduler.ReduceLROnPlateau:
    return lr_scheduler.ReduceLROnPlateau(
        optimizer, mode=mode, factor=factor, patience=patience, threshold=threshold,
        threshold_mode=threshold_mode, cooldown=cooldown, min_lr=min_lr, eps=eps,
    )  # fmt: skip


def _warmup_linear(
    optimizer: torch.optim.Optimizer,
    length: ScheduleLength,
    warmup_epochs: float = 1,
    start_factor: float = 0.1,
    end_factor: float = 0.0,
    warmup_fraction: float | None = None,
) -> lr_scheduler.LambdaLR:
    if not 0.0 <= end_factor <= 1.0:
        raise ValueError(f"end_factor must be in [0, 1], got {end_factor!r}")
    if warmup_fraction is not None:  # a share of the run, whatever its length
        if not 0.0 <= warmup_fraction < 1.0:
            raise ValueError(f"warmup_fraction must be in [0, 1), got {warmup_fraction!r}")
        warmup = int(warmup_fraction * length.total)
    elif not warmup_epochs < length.epochs:
        raise ValueError(
            f"the warm-up ({warmup_epochs} epochs) must be shorter than the run "
            f"({length.epochs} epochs): lower scheduler_kwargs['warmup_epochs'] or train longer"
        )
    else:
        warmup = length.steps(warmup_epochs)
    factor = WarmupLinearDecay(warmup, length.total, start_factor, end_factor)
    return lr_scheduler.LambdaLR(optimizer, factor)


def _constant(optimizer: torch.optim.Optimizer, length: ScheduleLength) -> None:
    return None


register_schedule("cosine", _cosine)
register_schedule("linear", _linear)
register_schedule("plateau", _plateau, on_metric=True)
register_schedule("warmup_linear", _warmup_linear)
register_schedule("constant", _constant)

for _transform in (
    T.RandomHorizontalFlip,
    T.RandomCrop,
    T.RandomAffine,
    T.ColorJitter,
    T.RandomGrayscale,
    T.RandomInvert,
    T.RandomAutocontrast,
    T.RandomEqualize,
    T.RandomSolarize,
    T.RandomPosterize,
    T.RandomSharpness,
    T.RandomErasing,
    T.Cutout,
    T.AutoAugment,
    T.RandAugment,
    T.TrivialAugmentWide,
):
    register_augmentation(_transform.__name__, _transform)
register_mixing("cutmix", CutMix)
register_mixing("mixup", MixUp)


class _DryBuilds:
    """Whether a new recipe's optimizer and schedule values are checked by building them
    on a throw-away parameter.  Building an optimizer imports torch._dynamo (about a
    third of ``import resdepth``), so the built-in recipes, defined at import and each
    built in the tests, skip it; every other check still runs for them."""

    enabled = True

    @contextlib.contextmanager
    def skipped(self) -> Iterator[None]:
        """Within the block, recipes skip the dry build."""
        self.enabled = False
        try:
            yield
        finally:
            self.enabled = True


DRY_BUILDS = _DryBuilds()
