"""Every exception resdepth defines: one module, one base, and the built-in a caller
would catch anyway."""

from __future__ import annotations

import inspect

import pytest

import resdepth
from resdepth import errors


def _classes() -> list[type[BaseException]]:
    return [
        obj
        for _, obj in inspect.getmembers(errors, inspect.isclass)
        if issubclass(obj, BaseException) and obj.__module__ == errors.__name__
    ]


def test_every_exception_is_exported_from_the_package() -> None:
    names = {cls.__name__ for cls in _classes()}
    assert names == set(errors.__all__)
    for name in names:
        assert getattr(resdepth, name) is getattr(errors, name)
        assert name in resdepth.__all__


@pytest.mark.parametrize("cls", _classes(), ids=lambda c: c.__name__)
def test_each_keeps_a_builtin_base(cls: type[BaseException]) -> None:
    builtin = [b for b in cls.__mro__[1:] if b.__module__ in ("builtins", "_pickle", "pickle")]
    assert builtin, cls
    if cls is not resdepth.RunInterrupted:
        assert issubclass(cls, resdepth.ResdepthError)
    else:  # Ctrl-C must not be swallowed by `except Exception`
        assert not issubclass(cls, Exception)


def test_library_errors_are_caught_by_their_builtin_and_by_the_base() -> None:
    with pytest.raises(FileExistsError):
        raise resdepth.RunExistsError("x")
    with pytest.raises(resdepth.ResdepthError):
        resdepth.artifacts.load_checkpoint("/nonexistent/last.pt")
