"""Reading pickles safely: an unpickler that builds numpy arrays and plain containers,
and nothing else (no code runs), with allocations bounded by the file's size.

CIFAR-10's official batches and the unlabeled-image pickles are read through it.
"""

from __future__ import annotations

import pickle
from collections.abc import Callable
from typing import IO, Any

import numpy as np

from ..errors import RefusedPickleError

__all__ = ["RestrictedUnpickler", "restricted_load"]

# Everything a pickled numpy array (and its dtype) needs, and nothing that can run code.
_ALLOWED = frozenset(
    {
        ("numpy", "ndarray"),
        ("numpy", "dtype"),
        ("numpy.core.multiarray", "_reconstruct"),
        ("numpy._core.multiarray", "_reconstruct"),
        ("numpy.core.multiarray", "scalar"),
        ("numpy._core.multiarray", "scalar"),
        ("numpy.core.numeric", "_frombuffer"),
        ("numpy._core.numeric", "_frombuffer"),
        ("builtins", "bytearray"),
        ("_codecs", "encode"),
    }
)


class RestrictedUnpickler(pickle.Unpickler):
    """An unpickler that admits numpy arrays, their dtypes and plain containers only.

    Any other global a pickle asks for (``os.system``, ``subprocess.Popen``,
    ``builtins.eval`` ...) is refused before it is looked up, so nothing runs.  What
    the allowed constructors may allocate is bounded by ``max_bytes`` (the file's
    size, when read with :func:`restricted_load`): a pickle stores the bytes of its
    arrays, so a few bytes that ask for a gigabyte are refused.
    """

    def __init__(self, file: IO[bytes], *, max_bytes: int, **kwargs: Any) -> None:
        super().__init__(file, **kwargs)
        self.max_bytes = max_bytes

    def _bounded(self, what: str, nbytes: int) -> None:
        if nbytes > self.max_bytes:
            raise RefusedPickleError(
                f"refusing to allocate {nbytes:,} bytes for {what}: the pickle holds only "
                f"{self.max_bytes:,}"
            )

    def find_class(self, module: str, name: str) -> Any:
        if (module, name) not in _ALLOWED:
            raise RefusedPickleError(
                f"refusing to load {module}.{name}: only numpy arrays and plain containers "
                "are allowed"
            )
        found = super().find_class(module, name)
        if name == "bytearray":
            return self._bytearray
        if name == "_reconstruct":
            return self._reconstruct_with(found)
        if name == "ndarray":
            return _NdarrayStandIn(self)
        return found

    def _bytearray(self, *args: Any) -> bytearray:
        if args and isinstance(args[0], int):
            self._bounded("a bytearray", args[0])
        return bytearray(*args)

    def _reconstruct_with(self, reconstruct: Callable[..., Any]) -> Callable[..., Any]:
        def bounded(cls: Any, shape: Any, dtype: Any) -> Any:
            size = int(np.prod(shape, dtype=np.float64)) * np.dtype(dtype).itemsize
            self._bounded("an array", size)
            return reconstruct(np.ndarray if isinstance(cls, _NdarrayStandIn) else cls, shape,
                               dtype)  # fmt: skip

        return bounded


class _NdarrayStandIn:
    """``numpy.ndarray`` as a pickle sees it: passed to ``_reconstruct`` (which gets the
    real class), and bounded if a pickle calls it to allocate directly."""

    def __init__(self, owner: RestrictedUnpickler) -> None:
        self.owner = owner

    def __call__(self, shape: Any, dtype: Any = float, *args: Any) -> np.ndarray:
        size = int(np.prod(shape, dtype=np.float64)) * np.dtype(dtype).itemsize
        self.owner._bounded("an array", size)
        return np.ndarray(shape, dtype, *args)


def restricted_load(file: IO[bytes], max_bytes: int) -> Any:
    """Unpickle ``file`` with :class:`RestrictedUnpickler` (Python 2 pickles as bytes)."""
    return RestrictedUnpickler(file, max_bytes=max_bytes, encoding="bytes").load()
