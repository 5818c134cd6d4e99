"""A small name -> factory registry shared by the model and recipe registries.

Both registries follow one pattern: a decorator that refuses duplicate names,
``list`` with fnmatch patterns, and ``get`` that suggests close matches for an
unknown name.  The class is private; each part exposes its own typed functions.
"""

from __future__ import annotations

import difflib
import fnmatch
from typing import Generic, TypeVar

T = TypeVar("T")


class Registry(Generic[T]):
    """An ordered mapping from names to entries that refuses duplicates."""

    def __init__(self, kind: str) -> None:
        self._kind = kind
        self._entries: dict[str, T] = {}

    def add(self, name: str, entry: T) -> None:
        if not isinstance(name, str) or not name:
            raise ValueError(f"{self._kind} name must be a non-empty string, got {name!r}")
        if name in self._entries:
            raise ValueError(f"a {self._kind} named {name!r} is already registered")
        self._entries[name] = entry

    def names(self, pattern: str = "*") -> list[str]:
        if not isinstance(pattern, str):
            raise TypeError(f"pattern must be a string, got {type(pattern).__name__}")
        return sorted(n for n in self._entries if fnmatch.fnmatchcase(n, pattern))

    def get(self, name: str) -> T:
        try:
            return self._entries[name]
        except (KeyError, TypeError):
            close = difflib.get_close_matches(str(name), list(self._entries), n=3, cutoff=0.5)
            hint = f"; did you mean {', '.join(map(repr, close))}?" if close else ""
            known = ", ".join(sorted(self._entries))
            raise ValueError(f"unknown {self._kind} {name!r}{hint} (known: {known})") from None
