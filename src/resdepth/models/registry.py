"""The model registry: names to factory functions that return ``nn.Module``."""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable
from typing import Any, TypeVar, overload

from torch import nn

from .._registry import Patterns, Registry, bare_or_called, close_matches

__all__ = [
    "get_model",
    "get_model_builder",
    "list_models",
    "register_model",
    "unknown_arguments_error",
    "unregister_model",
]

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


def list_models(filter: Patterns = "*", exclude_filters: Patterns = ()) -> list[str]:  # noqa: A002
    """Sorted names of the registered models that match ``filter`` and none of
    ``exclude_filters``, as timm's ``list_models`` (each one fnmatch pattern, or a list).

    Args:
        filter: the names to list: any that matches one of these patterns.
        exclude_filters: names matching any of these patterns are left out.

    Raises:
        TypeError: if a pattern is not a string.

    Examples:
        >>> from resdepth import list_models
        >>> list_models("resnet1*")
        ['resnet10', 'resnet102', 'resnet18']
        >>> list_models(["wrn_*", "preact_*"])
        ['preact_resnet18', 'wrn_16_8', 'wrn_28_10']
        >>> list_models("resnet*", exclude_filters="resnet1*")
        ['resnet40']
    """
    excluded = set(_MODELS.names(exclude_filters))
    return [name for name in _MODELS.names(filter) if name not in excluded]


def get_model_builder(name: str) -> ModelBuilder:
    """The builder function registered as ``name``.

    Raises:
        ValueError: for an unknown name, suggesting close matches.
    """
    return _MODELS.get(name)


def unknown_arguments_error(model: str, unknown: Iterable[str], known: Iterable[str]) -> ValueError:
    """The one-line error for keyword arguments that the model ``model`` does not take,
    naming them, a close match for each, and the arguments it does take.

    Examples:
        >>> print(unknown_arguments_error("resnet40", ["widht"], ["widths", "layers"]))
        model 'resnet40' takes no argument 'widht' (did you mean 'widths'?); it takes layers, widths
    """
    bad, good = sorted(unknown), sorted(known)
    close = [m for u in bad for m in close_matches(u, good, n=1)]
    hint = f" (did you mean {', '.join(map(repr, close))}?)" if close else ""
    takes = f"; it takes {', '.join(good)}" if good else ""
    noun = "argument" if len(bad) == 1 else "arguments"
    return ValueError(f"model {model!r} takes no {noun} {', '.join(map(repr, bad))}{hint}{takes}")


_NO_WEIGHTS = (
    "resdepth ships no downloadable weights, so get_model({name!r}, pretrained=True) has "
    "nothing to load: build it with pretrained=False, then load the paper's own files with "
    "resdepth.models.load_paper_checkpoint(path), or a run of your own with "
    "resdepth.load_model(path)"
)
_UNEXPECTED = re.compile(r"unexpected keyword argument '(\w+)'")


def get_model(name: str, pretrained: bool = False, **overrides: Any) -> nn.Module:
    """Build the model registered as ``name``, passing ``overrides`` to its builder.

    The call shape of timm's ``create_model``: ``pretrained`` is there so that code
    written for timm and torch.hub runs, but resdepth ships no weights to download.

    Args:
        name: the registered name (see :func:`list_models`).
        pretrained: must stay ``False``: resdepth ships no downloadable weights (see
            "Raises").
        **overrides: keyword arguments for the builder (``num_classes=100``).

    Raises:
        ValueError: for an unknown name (with close matches); for an argument the
            model does not take (one line naming the model and the argument); and
            for ``pretrained=True``, pointing to
            :func:`resdepth.models.load_paper_checkpoint` for the paper's files and
            :func:`resdepth.load_model` for your own runs.

    Examples:
        >>> from resdepth import get_model
        >>> get_model("resnet40", num_classes=100).fc.out_features
        100
        >>> get_model("resnet40").pretrained_cfg["input_size"]
        (3, 32, 32)
    """
    builder = get_model_builder(name)
    if pretrained:
        raise ValueError(_NO_WEIGHTS.format(name=name))
    try:
        return builder(**overrides)
    except TypeError as err:
        # A builder without **overrides, or one that hands them on: name the argument
        # here rather than in a traceback from deep inside.
        found = _UNEXPECTED.search(str(err))
        if found is None or found.group(1) not in overrides:
            raise
        raise unknown_arguments_error(name, [found.group(1)], ()) from None
