"""A small name -> factory registry shared by the model and recipe registries.

Every registry follows one pattern: ``add`` refuses duplicate names, ``remove``
takes a name out again, ``names`` lists names by fnmatch patterns, and ``get``
suggests close matches for an unknown name.  The class is private; each part
exposes its own typed functions (``register_X``, ``unregister_X``, ``list_X``,
``get_X``).
"""

from __future__ import annotations

import difflib
import fnmatch
from collections.abc import Callable, Sequence
from typing import Generic, TypeVar, overload

from ._validate import non_empty_string

T = TypeVar("T")
F = TypeVar("F")

#: One fnmatch pattern, or several (a name is listed when it matches any of them).
Patterns = str | Sequence[str]


def bare_or_called(fn: F | None, register: Callable[[F], F]) -> F | Callable[[F], F]:
    """What a decorator usable bare (``@register_x``) or called (``@register_x(name=...)``)
    returns: ``register(fn)`` when it was given the function, else ``register`` itself."""
    return register if fn is None else register(fn)


class Registry(Generic[T]):
    """An ordered mapping from names to entries that refuses duplicates."""

    def __init__(self, kind: str) -> None:
        self._kind = kind
        self._entries: dict[str, T] = {}

    def add(self, name: str, entry: T) -> None:
        """Register ``entry`` as ``name``; a ``ValueError`` if the name is taken."""
        non_empty_string(f"{self._kind} name", name)
        if name in self._entries:
            raise ValueError(f"a {self._kind} named {name!r} is already registered")
        self._entries[name] = entry

    @overload
    def remove(self, name: str) -> T: ...
    @overload
    def remove(self, name: str, missing_ok: bool) -> T | None: ...

    def remove(self, name: str, missing_ok: bool = False) -> T | None:
        """Take ``name`` out and return its entry.

        An unknown name is a ``ValueError`` (with close matches), or returns ``None``
        when ``missing_ok``.
        """
        if missing_ok and name not in self._entries:
            return None
        entry = self.get(name)
        del self._entries[name]
        return entry

    def names(self, patterns: Patterns = "*") -> list[str]:
        """Sorted names that match ``patterns`` (one fnmatch pattern, or a list of them)."""
        wanted = [patterns] if isinstance(patterns, str) else patterns
        if not isinstance(wanted, Sequence) or not all(isinstance(p, str) for p in wanted):
            raise TypeError(
                f"pattern must be a string or a list of strings, got {type(patterns).__name__}"
            )
        return sorted(n for n in self._entries if any(fnmatch.fnmatchcase(n, p) for p in wanted))

    def get(self, name: str) -> T:
        """The entry of ``name``; a ``ValueError`` naming close matches if there is none."""
        try:
            return self._entries[name]
        except (KeyError, TypeError):
            close = difflib.get_close_matches(str(name), list(self._entries), n=3, cutoff=0.5)
            hint = f"; did you mean {', '.join(map(repr, close))}?" if close else ""
            known = ", ".join(sorted(self._entries))
            raise ValueError(f"unknown {self._kind} {name!r}{hint} (known: {known})") from None
