"""What a checkpoint says about its run: how to rebuild the model, the class names, the
data, the seed and the software versions.  :class:`RunMetadata` is the only code that
writes or reads this part of a checkpoint."""

from __future__ import annotations

import dataclasses
import platform
from collections.abc import Mapping, Sequence
from types import MappingProxyType
from typing import Any

import torch
from torch import nn

from ..errors import CheckpointError
from ..models import BLOCKS, ResNet, get_model

__all__ = ["RunMetadata", "resnet_config", "versions"]

# The arguments of ResNet(...) that a checkpoint records to rebuild one (norm_layer and
# block_kwargs are code, not data: a model built with other values records no config).
_RESNET_FIELDS = ("layers", "widths", "num_classes", "kernel_size", "skip_kernel_size",
                  "stem_width")  # fmt: skip


def _frozen(value: Any) -> Any:
    """A read-only copy of nested mappings and sequences (lists become tuples)."""
    if isinstance(value, Mapping):
        return MappingProxyType({str(k): _frozen(v) for k, v in value.items()})
    if isinstance(value, (list, tuple)):
        return tuple(_frozen(v) for v in value)
    return value


def _plain(value: Any) -> Any:
    """The nested value as plain dicts and lists, for a checkpoint or JSON."""
    if isinstance(value, Mapping):
        return {k: _plain(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_plain(v) for v in value]
    return value


def resnet_config(model: nn.Module) -> dict[str, Any] | None:
    """The ``ResNet(...)`` arguments that rebuild ``model``, or ``None`` for another model.

    Examples:
        >>> from resdepth import ResNet
        >>> resnet_config(ResNet(layers=(1,), widths=(8,), num_classes=4))["layers"]
        [1]
    """
    if not isinstance(model, ResNet) or model.block.__name__ not in BLOCKS:
        return None
    config: dict[str, Any] = {"block": model.block.__name__}
    for name in _RESNET_FIELDS:
        value = getattr(model, name)
        config[name] = list(value) if isinstance(value, (list, tuple)) else value
    return config


def versions() -> dict[str, str]:
    """The versions of resdepth, torch and Python running now."""
    from importlib.metadata import PackageNotFoundError, version

    try:
        mine = version("resdepth")
    except PackageNotFoundError:  # pragma: no cover - a source tree without install
        mine = "unknown"
    return {"resdepth": mine, "torch": str(torch.__version__), "python": platform.python_version()}


@dataclasses.dataclass(frozen=True)
class RunMetadata:
    """What a checkpoint records about its run, besides the weights and the recipe.

    Args:
        model: the registry name the model was built with (:func:`resdepth.get_model`).
        model_kwargs: the keyword arguments given to that name.
        model_config: for a model built as ``ResNet(...)``, its arguments, with the
            block by name (:func:`resnet_config`).
        classes: the class names, in label order.
        seed: the seed of the model's initial weights and the loaders.
        data: a description of the data (its name, a subset, ...).
        versions: the software the run was made with.
        device: where the run trained.
        source: where the weights came from, if not from training here.
        compute: the precision and memory format the run trained in, and why
            (``{"precision": "bf16", "channels_last": True, "reason": ...}``), as
            ``precision="auto"`` resolved them.
        extra: anything else a caller records (a study's shape name, ...).

    Examples:
        >>> meta = RunMetadata(model="resnet10", classes=("cat", "dog"), seed=0)
        >>> RunMetadata.from_dict(meta.to_dict()) == meta
        True
        >>> meta.build_model().num_classes
        2
    """

    model: str | None = None
    model_kwargs: Mapping[str, Any] = dataclasses.field(default_factory=dict)
    model_config: Mapping[str, Any] | None = None
    classes: tuple[str, ...] | None = None
    seed: int | None = None
    data: Mapping[str, Any] = dataclasses.field(default_factory=dict)
    versions: Mapping[str, str] = dataclasses.field(default_factory=dict)
    device: str | None = None
    source: str | None = None
    compute: Mapping[str, Any] | None = None
    extra: Mapping[str, Any] = dataclasses.field(default_factory=dict)

    def __post_init__(self) -> None:
        if self.model is not None and not isinstance(self.model, str):
            raise TypeError(f"model must be a registered name, got {self.model!r}")
        if self.classes is not None:
            if isinstance(self.classes, str) or not all(isinstance(c, str) for c in self.classes):
                raise TypeError(f"classes must be a sequence of names, got {self.classes!r}")
            object.__setattr__(self, "classes", tuple(self.classes))
        for name in ("model_kwargs", "model_config", "data", "versions", "compute", "extra"):
            value = getattr(self, name)
            if value is not None:
                if not isinstance(value, Mapping):
                    raise TypeError(f"{name} must be a mapping, got {value!r}")
                object.__setattr__(self, name, _frozen(value))

    @classmethod
    def for_model(
        cls,
        model: nn.Module,
        name: str | None = None,
        model_kwargs: Mapping[str, Any] | None = None,
        **fields: Any,
    ) -> RunMetadata:
        """Metadata that rebuilds ``model``: by registry ``name`` and ``model_kwargs``,
        else by its ``ResNet(...)`` arguments; with this software's versions."""
        return cls(model=name, model_kwargs=dict(model_kwargs or {}), **fields).describing(model)

    def describing(self, model: nn.Module) -> RunMetadata:
        """A copy that records how to rebuild ``model`` (its ``ResNet(...)`` arguments)
        unless it records a way already, and this software's versions."""
        changes: dict[str, Any] = {} if self.versions else {"versions": versions()}
        if not self.rebuildable:
            changes["model_config"] = resnet_config(model)
        return self.replace(**changes) if changes else self

    def replace(self, **changes: Any) -> RunMetadata:
        """A copy with ``changes``."""
        return dataclasses.replace(self, **changes)

    def to_dict(self) -> dict[str, Any]:
        """Plain dicts, lists and scalars: what a checkpoint stores."""
        return {f.name: _plain(getattr(self, f.name)) for f in dataclasses.fields(self)}

    @classmethod
    def from_dict(cls, state: Mapping[str, Any] | None) -> RunMetadata:
        """Read :meth:`to_dict`'s output; keys it does not know go to :attr:`extra`."""
        state = dict(state or {})
        known = {f.name for f in dataclasses.fields(cls)}
        extra = dict(state.pop("extra", None) or {})
        extra.update({k: state.pop(k) for k in list(state) if k not in known})
        try:
            return cls(**state, extra=extra)
        except TypeError as err:
            raise CheckpointError(f"the checkpoint's metadata is damaged: {err}") from None

    @property
    def rebuildable(self) -> bool:
        """Whether :meth:`build_model` can rebuild the model."""
        return self.model is not None or self.model_config is not None

    def build_model(self) -> nn.Module:
        """A new model of the recorded kind, with fresh weights.

        Raises:
            CheckpointError: the run recorded no way to rebuild its model (a model
                that is neither registered nor a ``ResNet``): build it yourself and
                call ``load_state_dict``.
        """
        kwargs = dict(self.model_kwargs)
        if self.classes is not None and self.model is not None:
            kwargs.setdefault("num_classes", len(self.classes))
        if self.model is not None:
            return get_model(self.model, **kwargs)
        config = dict(self.model_config or {})
        block = BLOCKS.get(str(config.pop("block", "")))
        if block is None:
            raise CheckpointError(
                "the checkpoint holds weights only (its model is neither registered nor a "
                "ResNet): build the model yourself and call model.load_state_dict(state['model'])"
            )
        return ResNet(block, **_plain(config))

    @property
    def model_name(self) -> str:
        """The model in words: its registry name or its ResNet shape."""
        if self.model is not None:
            return self.model
        if self.model_config is not None:
            config = self.model_config
            return f"ResNet({config.get('block')}, layers={list(config.get('layers', ()))})"
        return "a model of the caller's own"

    def with_classes(self, classes: Sequence[str] | None) -> RunMetadata:
        """A copy recording ``classes``, unless it records some already."""
        if self.classes is not None or classes is None:
            return self
        return self.replace(classes=tuple(classes))
