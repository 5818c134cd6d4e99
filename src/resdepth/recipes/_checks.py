"""The checks a :class:`~resdepth.recipes.Recipe` runs on its optimizer, schedule,
augmentation and mixing when it is made: each names the recipe and the field."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, Protocol

import torch
from torch import nn

from .._validate import choice, positive_float
from ._frozen import thaw as _thaw
from .components import (
    DRY_BUILDS,
    get_augmentation,
    get_mixing,
    get_optimizer,
    get_schedule,
    keyword_names,
)


class Recipe(Protocol):
    """What the checks read of a :class:`~resdepth.recipes.Recipe` (a protocol, so that
    this module and the recipe's need not import each other)."""

    @property
    def name(self) -> Any: ...

    @property
    def optimizer(self) -> Any: ...

    @property
    def optimizer_kwargs(self) -> Any: ...

    @property
    def scheduler(self) -> Any: ...

    @property
    def scheduler_kwargs(self) -> Any: ...

    @property
    def scheduler_interval(self) -> Any: ...

    @property
    def monitor(self) -> Any: ...

    @property
    def eval_every(self) -> Any: ...

    @property
    def augment(self) -> Any: ...

    @property
    def mixing(self) -> Any: ...

    @property
    def mixing_kwargs(self) -> Any: ...

    def build_scheduler(self, optimizer: torch.optim.Optimizer, steps_per_epoch: int) -> Any: ...

    def build_mixing(self, num_classes: int) -> Any: ...


__all__ = ["METRICS", "check_augment", "check_mixing", "check_optimizer", "check_schedule"]

#: The history metrics a recipe can monitor (columns of ``history.csv``).
METRICS = ("train_accuracy", "test_accuracy", "train_loss", "test_loss")
# Weight-decay groups: None means the optimizer's own weight_decay.
_DECAY_FIELDS = ("norm_weight_decay", "bias_weight_decay")


def check_kwargs(recipe: Recipe, field_name: str, kwargs: Mapping[str, Any], fn: Any, skip: int,
                  what: str, reserved: tuple[str, ...] = ()) -> None:  # fmt: skip
    allowed, open_ended = keyword_names(fn, skip=skip)
    allowed -= set(reserved)
    unknown = (
        sorted(set(kwargs) - allowed) if not open_ended else sorted(set(kwargs) & set(reserved))
    )
    if unknown:
        raise ValueError(
            f"recipe {recipe.name!r}: {field_name} has {', '.join(map(repr, unknown))}, "
            f"which {what} does not take; it takes {', '.join(sorted(allowed)) or 'nothing'}"
        )


def check_optimizer(recipe: Recipe) -> None:
    cls = get_optimizer(recipe.optimizer)
    lr = recipe.optimizer_kwargs.get("lr")
    try:
        positive_float("lr", lr)
    except ValueError:
        raise ValueError(
            f"recipe {recipe.name!r}: optimizer_kwargs must hold a finite, positive lr, got {lr!r}"
        ) from None
    what = f"{recipe.optimizer} ({cls.__module__}.{cls.__name__})"
    check_kwargs(recipe, "optimizer_kwargs", recipe.optimizer_kwargs, cls, 1, what)
    allowed, open_ended = keyword_names(cls, skip=1)
    for name in (*_DECAY_FIELDS, "norm_bias_lr_scale"):
        if getattr(recipe, name) is not None and not (open_ended or "weight_decay" in allowed):
            raise ValueError(
                f"recipe {recipe.name!r}: {name} needs an optimizer that takes weight_decay, "
                f"which {what} does not"
            )
    if not DRY_BUILDS.enabled:
        return
    try:  # values: the optimizer's own checks, on a throw-away parameter
        cls([nn.Parameter(torch.zeros(1))], **_thaw(recipe.optimizer_kwargs))
    except (ValueError, TypeError) as err:
        raise ValueError(f"recipe {recipe.name!r}: optimizer_kwargs: {err}") from None


def check_schedule(recipe: Recipe) -> None:
    schedule = get_schedule(recipe.scheduler)
    choice("scheduler_interval", recipe.scheduler_interval, ("epoch", "batch"))
    if schedule.on_metric and recipe.scheduler_interval != "epoch":
        raise ValueError(f"a {recipe.scheduler} scheduler steps per epoch on its monitored metric")
    choice("monitor", recipe.monitor, (*METRICS, None))
    if schedule.on_metric and not recipe.monitor:
        raise ValueError(
            f"a {recipe.scheduler} scheduler needs monitor= (for example 'test_accuracy')"
        )
    if schedule.on_metric and (recipe.monitor or "").startswith("test") and recipe.eval_every > 1:
        raise ValueError(
            f"recipe {recipe.name!r}: a {recipe.scheduler} scheduler on {recipe.monitor} needs "
            f"a test figure every epoch, so eval_every must be 1, got {recipe.eval_every}"
        )
    check_kwargs(recipe, "scheduler_kwargs", recipe.scheduler_kwargs, schedule.build, 2,
                       f"the {recipe.scheduler!r} schedule")  # fmt: skip
    if not DRY_BUILDS.enabled:
        return
    try:
        probe = torch.optim.SGD([nn.Parameter(torch.zeros(1))], lr=0.1)
        recipe.build_scheduler(probe, steps_per_epoch=100)  # room for a fractional warm-up
    except (ValueError, TypeError) as err:
        raise ValueError(f"recipe {recipe.name!r}: scheduler_kwargs: {err}") from None


def check_augment(recipe: Recipe) -> None:
    for spec in recipe.augment:
        if not (isinstance(spec, tuple) and len(spec) == 2 and isinstance(spec[1], Mapping)):
            raise ValueError(f"augment entries must be (name, kwargs) pairs, got {spec!r}")
        try:
            cls = get_augmentation(spec[0])
        except ValueError as err:
            raise ValueError(f"augment names an {err}") from None
        check_kwargs(recipe, f"augment {spec[0]!r}", spec[1], cls, 0, spec[0])
        try:
            cls(**_thaw(spec[1]))
        except (ValueError, TypeError) as err:
            raise ValueError(f"recipe {recipe.name!r}: augment {spec[0]!r}: {err}") from None


def check_mixing(recipe: Recipe) -> None:
    if recipe.mixing is None:
        if recipe.mixing_kwargs:
            raise ValueError(f"recipe {recipe.name!r}: mixing_kwargs given without mixing")
        return
    cls = get_mixing(recipe.mixing)
    check_kwargs(recipe, "mixing_kwargs", recipe.mixing_kwargs, cls, 0, recipe.mixing,
                       reserved=("num_classes",))  # fmt: skip
    try:
        recipe.build_mixing(num_classes=2)
    except (ValueError, TypeError) as err:
        raise ValueError(f"recipe {recipe.name!r}: mixing_kwargs: {err}") from None
