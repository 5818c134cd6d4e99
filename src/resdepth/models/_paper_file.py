"""Reading a paper model file (a torch zip of ``data.pkl`` and storages) with bounded
memory: the inert unpickler of :mod:`resdepth.models.paper` and its checks.

Every zip member's declared size is checked against a budget before it is read, and
read with a cap; every storage must be exactly as large as it declares; every tensor
must fit its storage, and all tensors together the budget, before one is built.
"""

from __future__ import annotations

import collections
import io
import math
import pickle
import pickletools
import zipfile
from pathlib import Path
from typing import Any

import torch
from torch import Tensor

from ..errors import PaperCheckpointError

# The module classes a saved paper model holds: their own two, under the module name
# their code had (``resnet``, or ``__main__`` from a notebook), and torch's layers.
_PAPER_CLASSES = {"ResNetBasicBlock", "BasicBlock"}
_PAPER_MODULES = {"resnet", "__main__"}
_TORCH_MODULES = {
    ("torch.nn.modules.conv", "Conv2d"),
    ("torch.nn.modules.batchnorm", "BatchNorm2d"),
    ("torch.nn.modules.container", "Sequential"),
    ("torch.nn.modules.pooling", "AdaptiveAvgPool2d"),
    ("torch.nn.modules.flatten", "Flatten"),
    ("torch.nn.modules.linear", "Linear"),
    ("torch.nn.modules.activation", "ReLU"),
}
_STORAGES = {
    "FloatStorage": torch.float32, "DoubleStorage": torch.float64,
    "HalfStorage": torch.float16, "BFloat16Storage": torch.bfloat16,
    "LongStorage": torch.int64, "IntStorage": torch.int32, "ShortStorage": torch.int16,
    "CharStorage": torch.int8, "ByteStorage": torch.uint8, "BoolStorage": torch.bool,
}  # fmt: skip
_MEMO_OPS = frozenset({"PUT", "BINPUT", "LONG_BINPUT", "GET", "BINGET", "LONG_BINGET"})
_MAX_DEPTH = 16  # the paper's model nests five deep


def _budget(file_size: int) -> int:
    """What a file of ``file_size`` bytes may unpack to: torch stores its members
    uncompressed, so a few times its size (and 16 MiB for small files) is plenty."""
    return 4 * file_size + (16 << 20)


class _Inert:
    """Stands in for a module class: keeps the state the pickle gives it, nothing else."""

    kind = "module"

    def __setstate__(self, state: Any) -> None:
        self.__dict__["state"] = state


def _stand_in(name: str) -> type[_Inert]:
    return type(f"Inert{name}", (_Inert,), {"kind": name})


class _StorageType:
    def __init__(self, dtype: torch.dtype) -> None:
        self.dtype = dtype


class _Reader:
    """One paper file's zip: members read once each, within the budget."""

    def __init__(self, archive: zipfile.ZipFile, budget: int) -> None:
        self.archive, self.budget = archive, budget
        declared = sum(info.file_size for info in archive.infolist())
        if declared > budget:
            raise PaperCheckpointError(
                f"its members declare {declared:,} bytes unpacked, more than the "
                f"{budget:,} a file of its size may hold"
            )

    def spend(self, what: str, nbytes: int) -> None:
        if nbytes > self.budget:
            raise PaperCheckpointError(
                f"{what} needs {nbytes:,} bytes, more than the {self.budget:,} left for the file"
            )
        self.budget -= nbytes

    def read(self, name: str, size: int | None = None) -> bytes:
        """Member ``name``, which must declare ``size`` bytes when given; read with a cap."""
        try:
            info = self.archive.getinfo(name)
        except KeyError:
            raise PaperCheckpointError(f"no member {name}") from None
        if size is not None and info.file_size != size:
            raise PaperCheckpointError(f"{name} holds {info.file_size:,} bytes, not {size:,}")
        self.spend(name, info.file_size)
        with self.archive.open(info) as f:
            data = f.read(info.file_size + 1)
        if len(data) != info.file_size:
            raise PaperCheckpointError(f"{name} does not hold the {info.file_size:,} bytes it says")
        return data


class _Unpickler(pickle.Unpickler):
    """Reads ``data.pkl`` of a torch zip file with the allowlist above."""

    def __init__(self, data: bytes, reader: _Reader, prefix: str) -> None:
        super().__init__(io.BytesIO(data))
        self.reader, self.prefix = reader, prefix
        self.stand_ins: dict[str, type[_Inert]] = {}
        self.storages: dict[str, Tensor] = {}

    def find_class(self, module: str, name: str) -> Any:
        if (module, name) == ("collections", "OrderedDict"):
            return collections.OrderedDict
        if module in ("builtins", "__builtin__") and name == "set":  # protocol 2 says __builtin__
            return set
        if (module, name) == ("torch._utils", "_rebuild_tensor_v2"):
            return self._rebuild_tensor
        if (module, name) == ("torch._utils", "_rebuild_parameter"):
            return _rebuild_parameter
        if module == "torch" and name in _STORAGES:
            return _StorageType(_STORAGES[name])
        if (module, name) in _TORCH_MODULES or (
            module in _PAPER_MODULES and name in _PAPER_CLASSES
        ):
            return self.stand_ins.setdefault(name, _stand_in(name))
        raise PaperCheckpointError(
            f"refusing to load {module}.{name}: a saved model of the paper's code holds only "
            "tensors, containers and its layers' classes"
        )

    def persistent_load(self, pid: Any) -> Any:
        if not (isinstance(pid, tuple) and len(pid) == 5 and pid[0] == "storage"):
            raise PaperCheckpointError(f"unexpected persistent id {pid!r:.200}")
        _, storage_type, key, _location, numel = pid
        if not (isinstance(storage_type, _StorageType) and isinstance(key, str)) or not (
            type(numel) is int and numel >= 0
        ):
            raise PaperCheckpointError(f"unexpected storage {pid!r:.200}")
        if key not in self.storages:  # read once, however many tensors share it
            size = numel * storage_type.dtype.itemsize
            raw = bytearray(self.reader.read(f"{self.prefix}/data/{key}", size))
            self.storages[key] = (
                torch.frombuffer(raw, dtype=storage_type.dtype)
                if raw
                else torch.empty(0, dtype=storage_type.dtype)
            )
        flat = self.storages[key]
        if flat.numel() != numel or flat.dtype != storage_type.dtype:
            raise PaperCheckpointError(f"storage {key} holds {flat.numel()} values, not {numel}")
        return flat

    def _rebuild_tensor(self, storage: Any, offset: Any, size: Any, stride: Any,
                        *rest: Any) -> Tensor:  # fmt: skip
        if (
            not isinstance(storage, Tensor)
            or not all(
                isinstance(v, tuple) and len(v) <= 8 and all(type(n) is int and n >= 0 for n in v)
                for v in (size, stride, (offset,))
            )
            or len(size) != len(stride)
        ):
            raise PaperCheckpointError("a tensor with a malformed offset, size or stride")
        numel = math.prod(size)
        self.reader.spend("a tensor", numel * storage.element_size())
        if numel == 0:
            return torch.empty(size, dtype=storage.dtype)
        needed = offset + sum((s - 1) * st for s, st in zip(size, stride, strict=True)) + 1
        if needed > storage.numel():
            raise PaperCheckpointError("a tensor reaches past the end of its storage")
        return storage.as_strided(size, stride, offset).clone()


def _rebuild_parameter(data: Tensor, requires_grad: bool, hooks: Any, *rest: Any) -> Tensor:
    return data


def _check_opcodes(data: bytes) -> None:
    """Refuse a ``data.pkl`` whose memo slots run far past its opcodes: the unpickler
    would allocate a table that large before anything else."""
    for count, (op, arg, _) in enumerate(pickletools.genops(data), 1):
        if op.name in _MEMO_OPS and isinstance(arg, int) and arg > count:
            raise PaperCheckpointError(f"a memo slot {arg:,} past its {count:,} opcodes")


def read_zip(path: Path) -> Any:
    """The object ``data.pkl`` of the torch zip file at ``path`` holds (inert)."""
    with zipfile.ZipFile(path) as archive:
        reader = _Reader(archive, _budget(path.stat().st_size))
        pickles = [n for n in archive.namelist() if n.endswith("/data.pkl")]
        if len(pickles) != 1:
            raise PaperCheckpointError("it holds no single data.pkl")
        data = reader.read(pickles[0])
        _check_opcodes(data)
        return _Unpickler(data, reader, pickles[0][: -len("/data.pkl")]).load()


def flatten(obj: Any, prefix: str, out: dict[str, Tensor], seen: set[int]) -> None:
    """Parameters and persistent buffers of a stand-in module tree, by dotted name."""
    state = obj.__dict__.get("state") if isinstance(obj, _Inert) else None
    if not isinstance(state, dict):
        raise PaperCheckpointError(f"{prefix or 'the model'} is not a module with a state")
    if id(obj) in seen or prefix.count(".") > _MAX_DEPTH:
        raise PaperCheckpointError(f"{prefix.rstrip('.')} contains itself: a module cycle")
    seen.add(id(obj))
    skip = state.get("_non_persistent_buffers_set") or set()
    for group in ("_parameters", "_buffers", "_modules"):
        values = state.get(group) or {}
        if not isinstance(values, dict) or not all(isinstance(k, str) for k in values):
            raise PaperCheckpointError(f"{prefix}{group} is a {type(values).__name__}, not a dict")
        for name, value in values.items():
            if group == "_modules" and value is not None:
                flatten(value, f"{prefix}{name}.", out, seen)
            elif isinstance(value, Tensor) and name not in skip:
                out[prefix + name] = value
            elif value is not None:
                raise PaperCheckpointError(f"{prefix}{name} is a {type(value).__name__}")


def is_module(obj: Any) -> bool:
    return isinstance(obj, _Inert)


def kind_of(obj: Any) -> str:
    return str(getattr(obj, "kind", type(obj).__name__))
