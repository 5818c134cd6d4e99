"""A recipe: a frozen description of how to train, and the builders that carry it out."""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

import torch
from torch import nn

from ..transforms import (
    CIFAR10_MEAN,
    CIFAR10_STD,
    BatchTransform,
    Compose,
    CutMix,
    MixUp,
    Normalize,
    RandomAffine,
    RandomCrop,
    RandomHorizontalFlip,
    ToFloat,
)

__all__ = ["Recipe", "TransformSpec", "WarmupLinearDecay"]

#: ``(transform class name, keyword arguments)``; the classes of :mod:`resdepth.transforms`.
TransformSpec = tuple[str, Mapping[str, Any]]

_TRANSFORMS: dict[str, type[BatchTransform]] = {
    "RandomHorizontalFlip": RandomHorizontalFlip,
    "RandomCrop": RandomCrop,
    "RandomAffine": RandomAffine,
}
_OPTIMIZERS = ("sgd", "adam", "adamw")
_SCHEDULERS = ("cosine", "linear", "plateau", "warmup_linear", "constant")
# Overrides that reach into optimizer_kwargs rather than replacing a field.
_OPTIMIZER_SHORTCUTS = ("lr", "momentum", "weight_decay", "nesterov", "betas")


class WarmupLinearDecay:
    """Learning-rate factor: linear warm-up from ``start`` to 1, then linear decay to 0.

    A callable object rather than a lambda, so ``LambdaLR`` can save and restore it.
    """

    def __init__(self, warmup_steps: int, total_steps: int, start: float = 0.1) -> None:
        self.warmup_steps = max(0, int(warmup_steps))
        self.total_steps = max(1, int(total_steps))
        self.start = float(start)

    def __call__(self, step: int) -> float:
        if step < self.warmup_steps:
            return self.start + (1.0 - self.start) * step / self.warmup_steps
        remaining = self.total_steps - self.warmup_steps
        return max(0.0, 1.0 - (step - self.warmup_steps) / max(1, remaining))


@dataclass(frozen=True)
class Recipe:
    """How to train: optimiser, schedule, epochs, batches, augmentation, mixing.

    A recipe only describes; :class:`resdepth.Trainer` carries it out with
    :meth:`build_optimizer`, :meth:`build_scheduler`, :meth:`build_train_transform`,
    :meth:`build_eval_transform` and :meth:`build_mixing`.  Use :meth:`replace` (or
    :func:`resdepth.recipes.get_recipe` with overrides) for variants: anything that
    depends on ``epochs``, such as the cosine period, is derived when built.

    Attributes:
        name: registry name.
        optimizer: ``"sgd"``, ``"adam"`` or ``"adamw"``.
        optimizer_kwargs: keyword arguments of the optimiser (``lr`` included).
        scheduler: ``"cosine"`` (``T_max`` = the schedule's length), ``"linear"``
            (decay to 0), ``"plateau"`` (ReduceLROnPlateau), ``"warmup_linear"`` or
            ``"constant"``.
        scheduler_kwargs: extra keyword arguments of the scheduler.
        scheduler_interval: ``"epoch"`` or ``"batch"``: when the scheduler steps.
        monitor: the history metric a plateau scheduler watches (``"test_accuracy"``).
        epochs: training epochs.
        batch_size: training batch size.
        test_batch_size: evaluation batch size.
        augment: train-time image transforms, as ``(name, kwargs)`` pairs.
        mixing: ``"cutmix"``, ``"mixup"`` or ``None``.
        mixing_kwargs: keyword arguments of the mixing transform (``alpha``, ``p``, ``mode``).
        label_smoothing: label smoothing of the loss.
        mean: normalisation means.
        std: normalisation standard deviations.
        source: where the recipe comes from (paper section or URL).
        description: one line for ``resdepth recipes``.
    """

    name: str
    optimizer: str
    optimizer_kwargs: Mapping[str, Any]
    scheduler: str
    scheduler_kwargs: Mapping[str, Any] = field(default_factory=dict)
    scheduler_interval: str = "epoch"
    monitor: str | None = None
    epochs: int = 200
    batch_size: int = 128
    test_batch_size: int = 100
    augment: tuple[TransformSpec, ...] = ()
    mixing: str | None = None
    mixing_kwargs: Mapping[str, Any] = field(default_factory=dict)
    label_smoothing: float = 0.0
    mean: tuple[float, ...] = CIFAR10_MEAN
    std: tuple[float, ...] = CIFAR10_STD
    source: str = ""
    description: str = ""

    def __post_init__(self) -> None:
        if self.optimizer not in _OPTIMIZERS:
            raise ValueError(f"optimizer must be one of {_OPTIMIZERS}, got {self.optimizer!r}")
        if self.scheduler not in _SCHEDULERS:
            raise ValueError(f"scheduler must be one of {_SCHEDULERS}, got {self.scheduler!r}")
        if self.scheduler_interval not in ("epoch", "batch"):
            raise ValueError(
                f"scheduler_interval must be 'epoch' or 'batch', got {self.scheduler_interval!r}"
            )
        if self.scheduler == "plateau" and self.scheduler_interval != "epoch":
            raise ValueError("a plateau scheduler steps per epoch on its monitored metric")
        if self.scheduler == "plateau" and not self.monitor:
            raise ValueError("a plateau scheduler needs monitor= (for example 'test_accuracy')")
        for name in ("epochs", "batch_size", "test_batch_size"):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, int) or value < 1:
                raise ValueError(f"{name} must be a positive integer, got {value!r}")
        if "lr" not in self.optimizer_kwargs or not self.optimizer_kwargs["lr"] > 0:
            raise ValueError(
                f"optimizer_kwargs must hold a positive lr, got {dict(self.optimizer_kwargs)}"
            )
        if self.mixing not in (None, "cutmix", "mixup"):
            raise ValueError(f"mixing must be 'cutmix', 'mixup' or None, got {self.mixing!r}")
        if not 0.0 <= self.label_smoothing < 1.0:
            raise ValueError(f"label_smoothing must be in [0, 1), got {self.label_smoothing!r}")
        for spec_name, _ in self.augment:
            if spec_name not in _TRANSFORMS:
                raise ValueError(
                    f"augment names an unknown transform {spec_name!r}; "
                    f"known: {sorted(_TRANSFORMS)}"
                )

    @property
    def lr(self) -> float:
        return float(self.optimizer_kwargs["lr"])

    def replace(self, **overrides: Any) -> Recipe:
        """A copy with fields replaced; ``lr``, ``momentum``, ``weight_decay``,
        ``nesterov`` and ``betas`` go into ``optimizer_kwargs``.

        Raises:
            ValueError: for a name that is neither a field nor a shortcut.
        """
        fields = {f.name for f in dataclasses.fields(self)}
        unknown = sorted(set(overrides) - fields - set(_OPTIMIZER_SHORTCUTS))
        if unknown:
            raise ValueError(
                f"unknown recipe override(s) {', '.join(unknown)}; expected fields "
                f"{', '.join(sorted(fields))} or {', '.join(_OPTIMIZER_SHORTCUTS)}"
            )
        opt = dict(overrides.pop("optimizer_kwargs", self.optimizer_kwargs))
        for key in _OPTIMIZER_SHORTCUTS:
            if key in overrides:
                opt[key] = overrides.pop(key)
        return dataclasses.replace(self, optimizer_kwargs=opt, **overrides)

    def build_optimizer(self, model: nn.Module | list[Any]) -> torch.optim.Optimizer:
        """The optimiser over ``model``'s parameters (or a list of parameters/groups)."""
        params = model.parameters() if isinstance(model, nn.Module) else model
        kwargs = dict(self.optimizer_kwargs)
        if self.optimizer == "sgd":
            return torch.optim.SGD(params, **kwargs)
        if self.optimizer == "adam":
            return torch.optim.Adam(params, **kwargs)
        return torch.optim.AdamW(params, **kwargs)

    def build_scheduler(
        self, optimizer: torch.optim.Optimizer, steps_per_epoch: int = 1
    ) -> torch.optim.lr_scheduler.LRScheduler | torch.optim.lr_scheduler.ReduceLROnPlateau | None:
        """The scheduler; its length is ``epochs`` steps, or ``epochs * steps_per_epoch``
        when it steps per batch.  ``None`` for ``"constant"``."""
        if (
            isinstance(steps_per_epoch, bool)
            or not isinstance(steps_per_epoch, int)
            or steps_per_epoch < 1
        ):
            raise ValueError(f"steps_per_epoch must be a positive integer, got {steps_per_epoch!r}")
        total = self.epochs * (steps_per_epoch if self.scheduler_interval == "batch" else 1)
        kwargs = dict(self.scheduler_kwargs)
        sched = torch.optim.lr_scheduler
        if self.scheduler == "cosine":
            return sched.CosineAnnealingLR(optimizer, T_max=total, **kwargs)
        if self.scheduler == "linear":
            return sched.LinearLR(
                optimizer, start_factor=1.0, end_factor=0.0, total_iters=total, **kwargs
            )
        if self.scheduler == "plateau":
            return sched.ReduceLROnPlateau(optimizer, **kwargs)
        if self.scheduler == "warmup_linear":
            warmup = kwargs.pop("warmup_epochs", 1)
            warmup_steps = math.ceil(
                warmup * (steps_per_epoch if self.scheduler_interval == "batch" else 1)
            )
            factor = WarmupLinearDecay(warmup_steps, total, start=kwargs.pop("start_factor", 0.1))
            return sched.LambdaLR(optimizer, factor, **kwargs)
        return None

    def build_train_transform(self, compile: bool = False) -> Compose:
        """uint8 batches to augmented, normalised float batches.

        With ``compile=True`` the application runs through ``torch.compile``
        (:meth:`~resdepth.transforms.BatchTransform.compile_apply`).
        """
        steps: list[BatchTransform] = [ToFloat()]
        steps += [_TRANSFORMS[name](**dict(kwargs)) for name, kwargs in self.augment]
        steps.append(Normalize(self.mean, self.std))
        pipeline = Compose(steps)
        return pipeline.compile_apply() if compile else pipeline

    def build_eval_transform(self) -> Compose:
        """uint8 batches to normalised float batches, no augmentation."""
        return Compose([ToFloat(), Normalize(self.mean, self.std)])

    def build_mixing(self, num_classes: int, compile: bool = False) -> CutMix | MixUp | None:
        """The batch-mixing transform (applied through ``torch.compile`` if asked), or ``None``."""
        if self.mixing is None:
            return None
        cls = CutMix if self.mixing == "cutmix" else MixUp
        mix = cls(num_classes=num_classes, **dict(self.mixing_kwargs))
        return mix.compile_apply() if compile else mix

    def summary(self) -> str:
        """One line: optimiser, schedule, epochs, augmentation."""
        opt = ", ".join(f"{k}={v}" for k, v in self.optimizer_kwargs.items())
        aug = ", ".join(name for name, _ in self.augment) or "none"
        mix = f" + {self.mixing}" if self.mixing else ""
        schedule = f"{self.scheduler}/{self.scheduler_interval}"
        return f"{self.optimizer}({opt}); {schedule}; {self.epochs} epochs; {aug}{mix}"
