"""A small name -> factory registry shared by the model and recipe registries.

Every registry follows one pattern: ``add`` refuses duplicate names, ``remove``
takes a name out again, ``names`` lists names by fnmatch patterns, and ``get``
suggests close matches for an unknown name.  The class is private; each part
exposes its own typed functions (``register_X``, ``unregister_X``, ``list_X``,
``get_X``).
"""

from __future__ import annotations

import fnmatch
from collections.abc import Callable, Sequence
from typing import Generic, TypeVar, overload

from ._validate import non_empty_string

T = TypeVar("T")
F = TypeVar("F")

#: One fnmatch pattern, or several (a name is listed when it matches any of them).
Patterns = str | Sequence[str]


def edit_distance(a: str, b: str) -> int:
    """Edits that turn ``a`` into ``b``: inserting, deleting or replacing a letter, or
    swapping two neighbouring ones (the optimal string alignment distance), so that
    ``resnet01`` is one edit from ``resnet10`` and ``asl`` one from ``as1``."""
    previous2: list[int] = []
    previous = list(range(len(b) + 1))
    for i in range(1, len(a) + 1):
        current = [i] + [0] * len(b)
        for j in range(1, len(b) + 1):
            cost = a[i - 1] != b[j - 1]
            current[j] = min(previous[j] + 1, current[j - 1] + 1, previous[j - 1] + cost)
            if i > 1 and j > 1 and a[i - 1] == b[j - 2] and a[i - 2] == b[j - 1]:
                current[j] = min(current[j], previous2[j - 2] + 1)
        previous2, previous = previous, current
    return previous[len(b)]


def close_matches(name: str, candidates: Sequence[str], n: int = 3) -> list[str]:
    """Up to ``n`` of ``candidates`` nearest to ``name`` by :func:`edit_distance` (ties in
    alphabetical order), among those within half the longer name's letters (at least 2
    edits): what every "did you mean" of the library suggests.

    Examples:
        >>> close_matches("asl", ["fast", "as2", "as1", "resnet40-ft"])
        ['as1', 'as2', 'fast']
        >>> close_matches("resnet01", ["resnet40", "resnet18", "resnet10"])
        ['resnet10', 'resnet18', 'resnet40']
    """
    ranked = sorted((edit_distance(name, c), c) for c in set(candidates))
    return [c for d, c in ranked if d <= max(2, max(len(name), len(c)) // 2)][:n]


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
            close = close_matches(str(name), list(self._entries))
            hint = f"; did you mean {', '.join(map(repr, close))}?" if close else ""
            known = ", ".join(sorted(self._entries))
            raise ValueError(f"unknown {self._kind} {name!r}{hint} (known: {known})") from None
