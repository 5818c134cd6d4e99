"""The model registry: names to factory functions that return ``nn.Module``."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, TypeVar, overload

from torch import nn

from .._registry import Registry

__all__ = ["register_model", "list_models", "get_model", "get_model_builder"]

ModelBuilder = Callable[..., nn.Module]
B = TypeVar("B", bound=ModelBuilder)

_MODELS: Registry[ModelBuilder] = Registry("model")


@overload
def register_model(fn: B) -> B: ...
@overload
def register_model(fn: None = None, *, name: str | None = None) -> Callable[[B], B]: ...


def register_model(fn: B | None = None, *, name: str | None = None) -> B | Callable[[B], B]:
    """Register a model builder under ``name`` (default: the function's name).

    Usable bare (``@register_model``) or with a name (``@register_model(name="x")``).

    Raises:
        ValueError: if the name is already registered.

    Examples:
        >>> from resdepth import ResNet, register_model, get_model
        >>> @register_model(name="tiny_doc_net")
        ... def tiny(**overrides):
        ...     return ResNet(layers=(1,), widths=(8,), **overrides)
        >>> get_model("tiny_doc_net", num_classes=4).fc.out_features
        4
    """

    def register(builder: B) -> B:
        if not callable(builder):
            raise TypeError(f"register_model needs a callable, got {builder!r}")
        _MODELS.add(name if name is not None else builder.__name__, builder)
        return builder

    if fn is not None:
        return register(fn)
    return register


def list_models(pattern: str = "*") -> list[str]:
    """Sorted names of the registered models that match an fnmatch ``pattern``.

    Examples:
        >>> from resdepth import list_models
        >>> list_models("resnet1*")
        ['resnet10', 'resnet102', 'resnet18']
    """
    return _MODELS.names(pattern)


def get_model_builder(name: str) -> ModelBuilder:
    """The builder function registered as ``name``.

    Raises:
        ValueError: for an unknown name, suggesting close matches.
    """
    return _MODELS.get(name)


def get_model(name: str, **overrides: Any) -> nn.Module:
    """Build the model registered as ``name``, passing ``overrides`` to its builder.

    Raises:
        ValueError: for an unknown name (with close matches) or an unknown override.

    Examples:
        >>> from resdepth import get_model
        >>> get_model("resnet40", num_classes=100).fc.out_features
        100
    """
    return get_model_builder(name)(**overrides)
