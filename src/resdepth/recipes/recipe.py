"""A recipe: an immutable, validated description of how to train, and its builders."""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

import torch
from torch import nn

from .._validate import (
    choice,
    flag,
    float_in_range,
    non_empty_string,
    non_negative_float,
    positive_float,
    positive_int,
)
from ..transforms import (
    CIFAR10_MEAN,
    CIFAR10_STD,
    TEST_VIEWS,
    BatchTransform,
    Compose,
    Normalize,
    ToFloat,
)
from ._checks import (
    _DECAY_FIELDS,
    METRICS,
    check_augment,
    check_mixing,
    check_optimizer,
    check_schedule,
)
from ._frozen import freeze as _freeze
from ._frozen import thaw as _thaw
from .components import (
    ScheduleLength,
    get_augmentation,
    get_mixing,
    get_optimizer,
    get_schedule,
)
from .weight_decay import norm_bias_group, optimizer_defaults, weight_decay_groups

__all__ = ["METRICS", "Recipe", "TransformSpec"]

#: ``(transform name, keyword arguments)``; names from :func:`register_augmentation`.
TransformSpec = tuple[str, Mapping[str, Any]]


# Overrides that reach into optimizer_kwargs rather than replacing a field.
_OPTIMIZER_SHORTCUTS = ("lr", "momentum", "weight_decay", "nesterov", "betas")
# Fields that describe a recipe without changing what training does.
DESCRIPTIVE_FIELDS = ("source", "description")
#: The lookahead's decay at the end of a run: airbench's 0.95 per step over 5 steps.
LOOKAHEAD_DECAY = 0.95**5
# Left out of to_dict while at these values (off), so older checkpoints still resume.
_OPTIONAL_FIELDS: dict[str, Any] = {
    name: None
    for name in (
        *_DECAY_FIELDS,
        "ema_decay",
        "clip_grad_norm",
        "norm_bias_lr_scale",
        "lookahead_every",
        "test_views",
    )  # fmt: skip
}
_OPTIONAL_FIELDS.update(eval_every=1, lookahead_decay=LOOKAHEAD_DECAY, alternating_flip=False)
_KEPT = object()  # what no field equals


@dataclass(frozen=True)
class Recipe:
    """How to train: optimiser, schedule, epochs, batches, augmentation, mixing.

    A recipe only describes; :class:`resdepth.Trainer` carries it out with
    :meth:`build_optimizer`, :meth:`build_scheduler`, :meth:`build_train_transform`,
    :meth:`build_eval_transform` and :meth:`build_mixing`.  It is a value: nested
    fields are read-only (mapping proxies and tuples), and a recipe is checked when
    it is made, so a wrong argument fails here rather than an epoch into a run.  Use
    :meth:`replace` (or :func:`resdepth.recipes.get_recipe` with overrides) for
    variants: anything that depends on ``epochs``, such as the cosine period, is
    derived when built.

    Attributes:
        name: registry name.
        optimizer: a registered optimizer: ``"sgd"``, ``"adam"``, ``"adamw"``,
            ``"muon_sgd"`` (:class:`~resdepth.recipes.MuonSGD`), or one
            added with :func:`~resdepth.recipes.register_optimizer`.
        optimizer_kwargs: keyword arguments of the optimiser (``lr`` included).
        scheduler: a registered schedule: ``"cosine"`` (``T_max`` = the schedule's
            length), ``"linear"`` (decay to 0), ``"plateau"`` (ReduceLROnPlateau),
            ``"warmup_linear"``, ``"constant"``, or one added with
            :func:`~resdepth.recipes.register_schedule`.
        scheduler_kwargs: the schedule's options.
        scheduler_interval: ``"epoch"`` or ``"batch"``: when the scheduler steps.
        monitor: the history metric a plateau scheduler watches (one of :data:`METRICS`).
        epochs: training epochs.
        batch_size: training batch size.
        test_batch_size: evaluation batch size.
        augment: train-time image transforms, as ``(name, kwargs)`` pairs.
        mixing: ``"cutmix"``, ``"mixup"`` (or a registered name), or ``None``.
        mixing_kwargs: keyword arguments of the mixing transform (``alpha``, ``p``, ``mode``).
        label_smoothing: label smoothing of the loss.
        mean: normalisation means (``std``: standard deviations), one per channel.
        source: where the recipe comes from; description: one line for ``resdepth recipes``.
        norm_weight_decay: weight decay of the parameters of normalisation layers
            (:data:`~resdepth.recipes.NORM_LAYERS`, their biases included); ``None``:
            the optimiser's ``weight_decay``, in one group with the rest.
        bias_weight_decay: weight decay of the other biases; ``None``: the
            optimiser's ``weight_decay``.  See
            :func:`~resdepth.recipes.weight_decay_groups`.
        ema_decay: keep an exponential moving average of the weights and BatchNorm
            buffers, in fp32, which evaluation and saved models use in place of the
            trained weights; its decay warms up, ``min(ema_decay, (1 + t) / (10 + t))``
            at update ``t``, so short runs benefit.  ``None``: off.
        clip_grad_norm: clip the gradients' total norm to this before each step
            (after unscaling under fp16); ``None``: off.
        eval_every: evaluate every so many epochs (and after the last); others record
            no test figures.
        norm_bias_lr_scale: the learning rate of the normalisation layers' biases is
            the optimiser's times this, and their weight decay divided by it (the
            product, the decay per step, stays); ``None``: off.
        lookahead_every: every so many steps, move the weights toward a slow copy of
            the model's floating-point state, which then replaces them; the run ends
            on the slow copy (:class:`~resdepth.training.Lookahead`); ``None``: off.
        lookahead_decay: the slow copy's decay at the end of the run; it ramps up as
            the cube of the run's progress.
        alternating_flip: flip a random half of the training images in the first
            epoch, then flip each image in every other epoch (by its index, so an
            image is seen both ways in any two epochs in a row); a
            :class:`~resdepth.data.DeviceLoader` does it, before ``augment``.
        test_views: evaluate and predict on the average of the logits of several
            views of each image (:data:`~resdepth.transforms.TEST_VIEWS`): ``"flip"``
            or ``"flip_shift"``; ``None``: the image alone.

    Examples:
        >>> from resdepth.recipes import get_recipe
        >>> recipe = get_recipe("as1")
        >>> recipe.optimizer_kwargs["lr"] = 5
        Traceback (most recent call last):
        ...
        TypeError: 'mappingproxy' object does not support item assignment
        >>> get_recipe("as1", optimizer="adam").optimizer_kwargs   # Adam's defaults plus lr
        mappingproxy({'lr': 0.1})
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
    norm_weight_decay: float | None = None
    bias_weight_decay: float | None = None
    ema_decay: float | None = None
    clip_grad_norm: float | None = None
    eval_every: int = 1
    norm_bias_lr_scale: float | None = None
    lookahead_every: int | None = None
    lookahead_decay: float = LOOKAHEAD_DECAY
    alternating_flip: bool = False
    test_views: str | None = None

    def __post_init__(self) -> None:
        for name in ("optimizer_kwargs", "scheduler_kwargs", "mixing_kwargs"):
            if not isinstance(getattr(self, name), Mapping):
                raise TypeError(f"{name} must be a mapping, got {getattr(self, name)!r}")
        if isinstance(self.augment, (str, bytes)) or not isinstance(self.augment, (list, tuple)):
            raise TypeError(
                f"augment must be a sequence of (name, kwargs) pairs, got {self.augment!r}"
            )
        for name in ("optimizer_kwargs", "scheduler_kwargs", "mixing_kwargs", "augment", "mean",
                     "std"):  # fmt: skip
            object.__setattr__(self, name, _freeze(getattr(self, name)))
        self._check_numbers()
        for check in (check_optimizer, check_schedule, check_augment, check_mixing):
            check(self)

    # ------------------------------------------------------------------ validation
    def _check_numbers(self) -> None:
        non_empty_string("name", self.name)
        for name in ("epochs", "batch_size", "test_batch_size", "eval_every"):
            positive_int(name, getattr(self, name))
        if self.ema_decay is not None:
            float_in_range("ema_decay", self.ema_decay, 0.0, 1.0, include_high=False)
        if self.clip_grad_norm is not None:
            object.__setattr__(self, "clip_grad_norm",
                               positive_float("clip_grad_norm", self.clip_grad_norm))  # fmt: skip
        float_in_range("label_smoothing", self.label_smoothing, 0.0, 1.0, include_high=False)
        if self.norm_bias_lr_scale is not None:
            positive_float("norm_bias_lr_scale", self.norm_bias_lr_scale)
        if self.lookahead_every is not None:
            positive_int("lookahead_every", self.lookahead_every)
        float_in_range("lookahead_decay", self.lookahead_decay, 0.0, 1.0)
        flag("alternating_flip", self.alternating_flip)
        choice("test_views", self.test_views, (None, *TEST_VIEWS))
        for name in _DECAY_FIELDS:
            if getattr(self, name) is not None:
                object.__setattr__(self, name, non_negative_float(name, getattr(self, name)))
        try:  # the checks of the Normalize it builds
            self.build_eval_transform()
        except (ValueError, TypeError) as err:
            raise ValueError(
                f"recipe {self.name!r}: mean must be finite and std finite and positive, one "
                f"of each per channel, got {self.mean} and {self.std} ({err})"
            ) from None

    @property
    def lr(self) -> float:
        return float(self.optimizer_kwargs["lr"])

    @property
    def steps_on_metric(self) -> bool:
        """Whether the scheduler steps on the monitored metric (``ReduceLROnPlateau``)."""
        return get_schedule(self.scheduler).on_metric

    def replace(self, **overrides: Any) -> Recipe:
        """A new recipe with fields replaced; ``lr``, ``momentum``, ``weight_decay``,
        ``nesterov`` and ``betas`` go into ``optimizer_kwargs``.

        Changing ``optimizer``, ``scheduler`` or ``mixing`` without its keyword arguments
        starts from its defaults (plus the current ``lr`` for a new optimizer).

        Raises:
            ValueError: for a name that is neither a field nor a shortcut, or a result
                that is not a valid recipe.
        """
        fields = {f.name for f in dataclasses.fields(self)}
        unknown = sorted(set(overrides) - fields - set(_OPTIMIZER_SHORTCUTS))
        if unknown:
            raise ValueError(
                f"unknown recipe override(s) {', '.join(unknown)}; expected fields "
                f"{', '.join(sorted(fields))} or {', '.join(_OPTIMIZER_SHORTCUTS)}"
            )
        for component in ("optimizer", "scheduler", "mixing"):
            kwargs_field = f"{component}_kwargs"
            if (
                component in overrides
                and overrides[component] != getattr(self, component)
                and kwargs_field not in overrides
            ):
                overrides[kwargs_field] = {"lr": self.lr} if component == "optimizer" else {}
        opt = _thaw(overrides.pop("optimizer_kwargs", self.optimizer_kwargs))
        for key in _OPTIMIZER_SHORTCUTS:
            if key in overrides:
                opt[key] = overrides.pop(key)
        current = {f.name: _thaw(getattr(self, f.name)) for f in dataclasses.fields(self)}
        return Recipe(**{**current, **overrides, "optimizer_kwargs": opt})

    def to_dict(self) -> dict[str, Any]:
        """Every field as plain dicts, tuples and numbers (what a checkpoint stores).

        The weight-decay groups, ``ema_decay`` and ``clip_grad_norm`` are left out while
        ``None``, ``eval_every`` while 1: a recipe that does not set them describes itself
        as before they existed (and resumes checkpoints written then).
        """
        return {
            f.name: _thaw(getattr(self, f.name))
            for f in dataclasses.fields(self)
            if getattr(self, f.name) != _OPTIONAL_FIELDS.get(f.name, _KEPT)
        }

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> Recipe:
        """The recipe :meth:`to_dict` described (validated again).

        Raises:
            ValueError: for unknown fields or an invalid recipe.
        """
        fields = {f.name for f in dataclasses.fields(cls)}
        unknown = sorted(set(data) - fields)
        if unknown:
            raise ValueError(f"unknown recipe field(s) {', '.join(unknown)}")
        return cls(**dict(data))

    # ------------------------------------------------------------------ builders
    def build_optimizer(self, model: nn.Module | list[Any]) -> torch.optim.Optimizer:
        """The optimiser over ``model``'s parameters (or a list of parameters/groups),
        in the groups of :func:`~resdepth.recipes.weight_decay_groups` when
        ``norm_weight_decay`` or ``bias_weight_decay`` is set (else in one group).

        Raises:
            TypeError: if those fields are set and ``model`` is not an ``nn.Module``.
        """
        kwargs = _thaw(self.optimizer_kwargs)
        grouped = (self.norm_weight_decay, self.bias_weight_decay, self.norm_bias_lr_scale)
        if all(value is None for value in grouped):
            params = model.parameters() if isinstance(model, nn.Module) else model
            return get_optimizer(self.optimizer)(params, **kwargs)
        if not isinstance(model, nn.Module):
            raise TypeError(f"recipe {self.name!r} sets norm_weight_decay, bias_weight_decay "
                            "or norm_bias_lr_scale, which needs the model, an nn.Module, not "
                            "parameters")  # fmt: skip
        groups = weight_decay_groups(model, None, self.norm_weight_decay, self.bias_weight_decay)
        if self.norm_bias_lr_scale is not None:
            defaults = {**optimizer_defaults(get_optimizer(self.optimizer)), **kwargs}
            groups = norm_bias_group(model, groups, self.norm_bias_lr_scale, defaults)
        return get_optimizer(self.optimizer)(groups, **kwargs)

    def build_scheduler(self, optimizer: torch.optim.Optimizer, steps_per_epoch: int = 1) -> Any:
        """The scheduler; its length is ``epochs`` steps, or ``epochs * steps_per_epoch``
        when it steps per batch.  ``None`` for ``"constant"``."""
        positive_int("steps_per_epoch", steps_per_epoch)
        length = ScheduleLength(self.epochs, steps_per_epoch, self.scheduler_interval)
        return get_schedule(self.scheduler).build(optimizer, length, **_thaw(self.scheduler_kwargs))

    def build_train_transform(self, compile: bool = False) -> Compose:
        """uint8 batches to augmented, normalised float batches.

        With ``compile=True`` the application runs through ``torch.compile``
        (:meth:`~resdepth.transforms.BatchTransform.compile_apply`).
        """
        steps: list[BatchTransform] = [ToFloat()]
        steps += [get_augmentation(name)(**_thaw(kwargs)) for name, kwargs in self.augment]
        steps.append(Normalize(self.mean, self.std))
        pipeline = Compose(steps)
        return pipeline.compile_apply() if compile else pipeline

    def build_eval_transform(self) -> Compose:
        """uint8 batches to normalised float batches, no augmentation."""
        return Compose([ToFloat(), Normalize(self.mean, self.std)])

    def build_mixing(self, num_classes: int, compile: bool = False) -> Any:
        """The batch-mixing transform (applied through ``torch.compile`` if asked), or ``None``."""
        if self.mixing is None:
            return None
        mix = get_mixing(self.mixing)(num_classes=num_classes, **_thaw(self.mixing_kwargs))
        return mix.compile_apply() if compile else mix

    def summary(self) -> str:
        """One line: optimiser (and weight-decay groups), schedule, epochs, augmentation."""
        groups = {name: getattr(self, name) for name in _DECAY_FIELDS}
        settings = {**self.optimizer_kwargs, **{k: v for k, v in groups.items() if v is not None}}
        opt = ", ".join(f"{k}={v}" for k, v in settings.items())
        aug = ", ".join(name for name, _ in self.augment) or "none"
        mix = f" + {self.mixing}" if self.mixing else ""
        schedule = f"{self.scheduler}/{self.scheduler_interval}"
        extra = "".join(f"; {k} {getattr(self, k)}" for k, off in _OPTIONAL_FIELDS.items()
                        if k not in _DECAY_FIELDS and getattr(self, k) != off)  # fmt: skip
        return f"{self.optimizer}({opt}); {schedule}; {self.epochs} epochs; {aug}{mix}{extra}"
