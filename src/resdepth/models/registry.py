"""The model registry: names to factory functions that return ``nn.Module``."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, TypeVar, overload

from torch import nn

from .._registry import Patterns, Registry, bare_or_called

__all__ = ["register_model", "unregister_model", "list_models", "get_model", "get_model_builder"]

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

    return bare_or_called(fn, register)


def unregister_model(name: str, *, missing_ok: bool = False) -> ModelBuilder | None:
    """Remove the model registered as ``name``, so that the name can be registered again
    (a notebook cell that registers a model, run twice).

    Args:
        name: the registered name.
        missing_ok: return ``None`` for a name that is not registered, instead of
            raising.

    Returns:
        The builder that was registered, or ``None``.

    Raises:
        ValueError: for an unknown name (suggesting close matches), unless ``missing_ok``.

    Examples:
        >>> from resdepth.models import ResNet, list_models, register_model, unregister_model
        >>> @register_model
        ... def doc_net(**overrides):
        ...     return ResNet(layers=(1,), widths=(8,), **overrides)
        >>> unregister_model("doc_net") is doc_net, list_models("doc_*")
        (True, [])
    """
    return _MODELS.remove(name, missing_ok)


def list_models(pattern: Patterns = "*") -> list[str]:
    """Sorted names of the registered models that match an fnmatch ``pattern``, or any
    of a list of patterns.

    Examples:
        >>> from resdepth import list_models
        >>> list_models("resnet1*")
        ['resnet10', 'resnet102', 'resnet18']
        >>> list_models(["wrn_*", "preact_*"])
        ['preact_resnet18', 'wrn_16_8', 'wrn_28_10']
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
