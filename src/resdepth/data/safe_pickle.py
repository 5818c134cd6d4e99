"""Reading pickles safely: an unpickler that builds numpy arrays and plain containers,
and nothing else (no code runs), with allocations bounded by the file's size.

CIFAR-10's official batches and the unlabeled-image pickles are read through it.

Before anything is built, the opcodes are read once: a global outside a short
allow-list, or a memo slot far past the number of opcodes (which makes the C
unpickler allocate gigabytes), refuses the file.  While loading, every array, codec
result and buffer is checked against the file's size and a total budget (twice the
file's size) before it is allocated; dtypes are plain numbers only (never objects,
records or subarrays), and numpy's own ``__setstate__`` only ever sees a state whose
sizes were checked.
"""

from __future__ import annotations

import io
import math
import pickle
import pickletools
from typing import IO, Any

import numpy as np

from ..errors import RefusedPickleError

__all__ = ["RestrictedUnpickler", "restricted_load"]

# Everything a pickled numpy array (and its dtype) needs, and nothing that can run code.
# ``_codecs.encode`` is how protocol 2 stores bytes: it is admitted for latin-1 only.
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
        ("__builtin__", "bytearray"),
        ("builtins", "bytes"),  # protocol 2 stores b"" as bytes()
        ("__builtin__", "bytes"),
        ("_codecs", "encode"),
    }
)
_KINDS = "biufcSU"  # bool, integers, floats, complex, fixed-size text: no pointers
_ORDERS = ("<", ">", "|", "=")
_MEMO_OPS = frozenset({"PUT", "BINPUT", "LONG_BINPUT", "GET", "BINGET", "LONG_BINGET"})
_MAX_DIMS = 32


def _refuse(message: str) -> RefusedPickleError:
    return RefusedPickleError(message)


def _scan(data: bytes) -> None:
    """Refuse a pickle whose opcodes name a global outside the allow-list or a memo slot
    past the number of opcodes; nothing is built."""
    ops = 0
    try:
        for op, arg, _ in pickletools.genops(data):
            ops += 1
            if op.name == "GLOBAL":
                module, _, name = str(arg).partition(" ")
                _check_global(module, name)
            elif op.name in _MEMO_OPS and isinstance(arg, int) and arg > ops:
                raise _refuse(f"a memo slot {arg:,} past the pickle's {ops:,} opcodes")
    except RefusedPickleError:
        raise
    except Exception as err:  # a truncated or garbled opcode stream
        raise _refuse(f"not a readable pickle ({type(err).__name__}: {err})") from None


def _check_global(module: str, name: str) -> None:
    if (module, name) not in _ALLOWED:
        raise _refuse(
            f"refusing to load {module}.{name}: only numpy arrays and plain containers are allowed"
        )


def _shape(value: Any) -> tuple[int, ...]:
    """A declared shape: a short tuple of non-negative ints, else refused."""
    if isinstance(value, int):
        value = (value,)
    if not (isinstance(value, tuple | list) and len(value) <= _MAX_DIMS) or not all(
        type(n) is int and n >= 0 for n in value
    ):
        raise _refuse(f"an array shape must be a few non-negative integers, got {value!r}")
    return tuple(value)


class _DtypeStandIn:
    """``numpy.dtype`` as a pickle builds it: a plain number type only, whose state may
    set its byte order and nothing else (never flags, fields or subarrays)."""

    def __init__(self, spec: Any, align: Any = False, copy: Any = False, *rest: Any) -> None:
        if isinstance(spec, bytes):
            spec = spec.decode("latin-1")
        if not (isinstance(spec, str) and len(spec) <= 8):
            raise _refuse(f"a dtype must be named by a short string, got {spec!r:.80}")
        try:
            dtype = np.dtype(spec)
        except Exception:  # numpy's words for a name that is no dtype vary
            raise _refuse(f"{spec!r} is not a numpy dtype") from None
        if dtype.kind not in _KINDS or dtype.hasobject or dtype.fields or dtype.subdtype:
            raise _refuse(f"refusing dtype {spec!r}: only numbers (not objects) are allowed")
        self.dtype = dtype

    def __setstate__(self, state: Any) -> None:
        if not (isinstance(state, tuple) and len(state) in (8, 9) and state[1] in _ORDERS):
            raise _refuse(f"refusing a dtype state {state!r:.120}")
        if any(part is not None for part in state[2:5] + state[8:]):
            raise _refuse("refusing a dtype with fields, a subarray or metadata")
        self.dtype = self.dtype.newbyteorder(state[1]) if state[1] != "|" else self.dtype


class _CheckedArray(np.ndarray):
    """An array whose state a pickle may set once, after its sizes were checked."""

    pending = False
    owner: RestrictedUnpickler | None = None

    def __setstate__(self, state: Any) -> None:
        owner = self.owner
        if owner is None or not self.pending:
            raise _refuse("refusing to set an array's state twice")
        self.pending = False
        if isinstance(state, tuple) and len(state) == 4:
            state = (1, *state)
        if not (isinstance(state, tuple) and len(state) == 5):
            raise _refuse("refusing an array state that is not numpy's")
        _, shape, dtype, fortran, raw = state
        shape, dtype = _shape(shape), owner.dtype_of(dtype)
        nbytes = math.prod(shape) * dtype.itemsize
        if not isinstance(raw, bytes | bytearray) or len(raw) != nbytes:
            raise _refuse(f"an array of shape {shape} needs {nbytes:,} bytes of data")
        owner.spend("an array", nbytes)
        super().__setstate__((1, shape, dtype, fortran is True, bytes(raw)))  # type: ignore[arg-type]


class RestrictedUnpickler(pickle.Unpickler):
    """An unpickler that admits numpy arrays, their dtypes and plain containers only.

    Any other global a pickle asks for (``os.system``, ``subprocess.Popen``,
    ``builtins.eval`` ...) is refused before it is looked up, so nothing runs.  What
    the allowed constructors may allocate is bounded by ``max_bytes`` (the file's
    size, when read with :func:`restricted_load`) each, and by twice that in all: a
    pickle stores the bytes of its arrays, so a few bytes that ask for a gigabyte are
    refused.
    """

    def __init__(self, file: IO[bytes], *, max_bytes: int, **kwargs: Any) -> None:
        super().__init__(file, **kwargs)
        self.max_bytes = max_bytes
        self.budget = 2 * max_bytes + 4096
        self.spent = 0

    def spend(self, what: str, nbytes: int) -> None:
        """Count ``nbytes`` about to be allocated for ``what``; refuse past the budget."""
        if nbytes > self.max_bytes or self.spent + nbytes > self.budget:
            raise _refuse(
                f"refusing to allocate {nbytes:,} bytes for {what}: the pickle holds only "
                f"{self.max_bytes:,}"
            )
        self.spent += nbytes

    def dtype_of(self, value: Any) -> np.dtype[Any]:
        """The real dtype of a dtype the pickle built (never a name or anything else)."""
        if not isinstance(value, _DtypeStandIn):
            raise _refuse(f"an array's dtype must be a numpy dtype, got {type(value).__name__}")
        return value.dtype

    def find_class(self, module: str, name: str) -> Any:
        _check_global(module, name)
        return {
            "ndarray": _NDARRAY,
            "dtype": _dtype,
            "_reconstruct": self._reconstruct,
            "scalar": self._scalar,
            "_frombuffer": self._frombuffer,
            "bytearray": self._bytearray,
            "encode": self._encode,
            "bytes": _empty_bytes,
        }[name]

    def _reconstruct(self, cls: Any, shape: Any, dtype: Any) -> np.ndarray:
        if cls is not _NDARRAY or not isinstance(dtype, bytes | str) or len(dtype) > 8:
            raise _refuse("refusing _reconstruct of anything but a numpy array")
        self.spend("an array", math.prod(_shape(shape)))  # numpy always declares (0,)
        array = np.empty(0, np.uint8).view(_CheckedArray)
        array.owner, array.pending = self, True
        return array

    def _frombuffer(self, buffer: Any, dtype: Any, shape: Any, order: Any) -> np.ndarray:
        real, shape = self.dtype_of(dtype), _shape(shape)
        nbytes = math.prod(shape) * real.itemsize
        if not isinstance(buffer, bytes | bytearray) or len(buffer) != nbytes:
            raise _refuse(f"an array of shape {shape} needs {nbytes:,} bytes of data")
        if order not in ("C", "F"):
            raise _refuse(f"an array's order must be 'C' or 'F', got {order!r:.20}")
        self.spend("an array", nbytes)
        flat = np.frombuffer(buffer, dtype=real)  # a bytearray stays writable, as in numpy
        return flat.reshape(shape, order=order).view(_CheckedArray)

    def _scalar(self, dtype: Any, raw: Any = None) -> Any:
        real = self.dtype_of(dtype)
        if not isinstance(raw, bytes) or len(raw) != real.itemsize:
            raise _refuse(f"a {real} scalar needs {real.itemsize} bytes")
        self.spend("a scalar", real.itemsize)
        return np.frombuffer(raw, dtype=real)[0]

    def _bytearray(self, source: Any = b"", encoding: Any = None) -> bytearray:
        if isinstance(source, str):
            source = self._encode(source, encoding)
        elif encoding is not None:
            raise _refuse("refusing a bytearray of encoded bytes")
        if type(source) is int and source >= 0:
            self.spend("a bytearray", source)
            return bytearray(source)
        if not isinstance(source, bytes | bytearray):
            raise _refuse("refusing a bytearray of anything but bytes or a size")
        self.spend("a bytearray", len(source))
        return bytearray(source)

    def _encode(self, text: Any, encoding: Any = "utf-8", *rest: Any) -> bytes:
        if not (isinstance(text, str) and encoding in ("latin1", "latin-1") and not rest):
            raise _refuse(f"refusing _codecs.encode with {encoding!r:.40}: only latin-1 text")
        self.spend("encoded bytes", len(text))
        try:
            return text.encode("latin-1")
        except UnicodeEncodeError:
            raise _refuse("text that is not latin-1 given as bytes") from None


_NDARRAY = object()  # ``numpy.ndarray`` as a pickle sees it: only passed to _reconstruct


def _empty_bytes(*args: Any) -> bytes:
    if args:
        raise _refuse("refusing bytes() of anything: protocol 2 only stores b'' so")
    return b""


def _dtype(*args: Any) -> _DtypeStandIn:
    """``numpy.dtype`` as a pickle calls it (a function, so ``NEWOBJ`` cannot skip the
    checks of ``__init__``)."""
    return _DtypeStandIn(*args)


def _plain(obj: Any) -> Any:
    """The loaded object with its arrays (a dict's values, or the items of a list or
    tuple at the top) as plain ``numpy.ndarray``."""
    if isinstance(obj, _CheckedArray):
        return obj.view(np.ndarray)
    if isinstance(obj, dict):
        for key, value in obj.items():
            if isinstance(value, _CheckedArray):
                obj[key] = value.view(np.ndarray)
    return obj


def restricted_load(file: IO[bytes], max_bytes: int) -> Any:
    """Unpickle ``file`` with :class:`RestrictedUnpickler` (Python 2 pickles as bytes).

    The file is read whole (at most ``max_bytes + 1`` bytes: more is refused) and its
    opcodes checked before anything is built.
    """
    data = file.read(max_bytes + 1)
    if len(data) > max_bytes:
        raise _refuse(f"the pickle holds more than the {max_bytes:,} bytes it declares")
    _scan(data)
    unpickler = RestrictedUnpickler(io.BytesIO(data), max_bytes=max_bytes, encoding="bytes")
    return _plain(unpickler.load())
