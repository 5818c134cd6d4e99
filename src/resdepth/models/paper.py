"""The paper's own trained models, read without running anything from the file.

The paper's authors saved whole models with ``torch.save(model)``: a pickle of their
``resnet.ResNetBasicBlock`` (an ``input_layer`` of convolution and norm, stages of
``BasicBlock`` under ``residual_layers``, each with ``conv1``/``conv2``/``shortcut``
as small ``Sequential`` modules, and an ``output_layer`` ending in a linear layer).
Loading such a pickle normally imports their ``resnet`` module and runs whatever the
file names.  Here a restricted unpickler admits only the tensor-rebuilding
functions, plain containers and the module classes such a file holds, maps every
module class to an inert stand-in that only keeps its state, and reads the weights
out of those stand-ins.  Nothing named in the file is imported or called.
"""

from __future__ import annotations

import collections
import os
import pickle
import re
import zipfile
from pathlib import Path
from typing import Any

import torch
from torch import Tensor

from ..errors import PaperCheckpointError
from .blocks import BasicBlock
from .registry import get_model, list_models
from .resnet import ResNet

__all__ = [
    "PaperCheckpointError",
    "load_paper_checkpoint",
    "paper_model_config",
    "read_paper_state_dict",
]

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


class _Unpickler(pickle.Unpickler):
    """Reads ``data.pkl`` of a torch zip file with the allowlist above."""

    def __init__(self, file: Any, archive: zipfile.ZipFile, prefix: str) -> None:
        super().__init__(file)
        self.archive, self.prefix = archive, prefix
        self.stand_ins: dict[str, type[_Inert]] = {}

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
            raise PaperCheckpointError(f"unexpected persistent id {pid!r}")
        _, storage_type, key, _location, numel = pid
        if not isinstance(storage_type, _StorageType) or not isinstance(key, str):
            raise PaperCheckpointError(f"unexpected storage {pid!r}")
        raw = bytearray(self.archive.read(f"{self.prefix}/data/{key}"))
        flat = (
            torch.frombuffer(raw, dtype=storage_type.dtype)
            if raw
            else torch.empty(0, dtype=storage_type.dtype)
        )
        if flat.numel() != numel:
            raise PaperCheckpointError(f"storage {key} holds {flat.numel()} values, not {numel}")
        return flat

    @staticmethod
    def _rebuild_tensor(storage: Tensor, offset: int, size: Any, stride: Any, *rest: Any) -> Tensor:
        needed = offset + sum((s - 1) * st for s, st in zip(size, stride, strict=True)) + 1
        if any(s == 0 for s in size):
            return torch.empty(tuple(size), dtype=storage.dtype)
        if needed > storage.numel():
            raise PaperCheckpointError("a tensor reaches past the end of its storage")
        return storage.as_strided(tuple(size), tuple(stride), offset).clone()


def _rebuild_parameter(data: Tensor, requires_grad: bool, hooks: Any, *rest: Any) -> Tensor:
    return data


def _flatten(obj: Any, prefix: str, out: dict[str, Tensor]) -> None:
    """Parameters and persistent buffers of a stand-in module tree, by dotted name."""
    state = obj.__dict__.get("state")
    if not isinstance(state, dict):
        raise PaperCheckpointError(f"a {obj.kind} without a module's state")
    skip = state.get("_non_persistent_buffers_set") or set()
    for group in ("_parameters", "_buffers"):
        for name, value in (state.get(group) or {}).items():
            if isinstance(value, Tensor) and name not in skip:
                out[prefix + name] = value
    for name, child in (state.get("_modules") or {}).items():
        if child is not None:
            _flatten(child, f"{prefix}{name}.", out)


def read_paper_state_dict(path: str | os.PathLike[str]) -> dict[str, Tensor]:
    """The weights of a paper model file, under the paper's own names.

    Takes a whole model saved with ``torch.save(model)`` by the paper's code, or its
    ``state_dict()``.  Nothing in the file is imported or run.

    Raises:
        PaperCheckpointError: for a file that is no torch zip file, or that holds or
            asks for anything else (the message names what it asked for).
    """
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"no file at {path}")
    try:
        archive = zipfile.ZipFile(path)
    except zipfile.BadZipFile:
        raise PaperCheckpointError(f"{path} is not a PyTorch (zip) file") from None
    with archive:
        pickles = [n for n in archive.namelist() if n.endswith("/data.pkl")]
        if len(pickles) != 1:
            raise PaperCheckpointError(f"{path} holds no single data.pkl")
        prefix = pickles[0][: -len("/data.pkl")]
        with archive.open(pickles[0]) as f:
            try:
                obj = _Unpickler(f, archive, prefix).load()
            except PaperCheckpointError:
                raise
            except Exception as err:  # a broken stream, whatever broke: not loadable
                raise PaperCheckpointError(f"cannot read {path}: {err}") from None
    if isinstance(obj, _Inert):
        if obj.kind != "ResNetBasicBlock":
            raise PaperCheckpointError(f"{path} holds a {obj.kind}, not a ResNetBasicBlock")
        weights: dict[str, Tensor] = {}
        _flatten(obj, "", weights)
        return weights
    if isinstance(obj, dict) and obj and all(isinstance(v, Tensor) for v in obj.values()):
        return dict(obj)
    raise PaperCheckpointError(f"{path} holds neither a paper model nor its state dict")


_KEY = re.compile(
    r"^(?:input_layer\.(?P<stem>[01])|residual_layers\.(?P<stage>\d+)\.(?P<block>\d+)\."
    r"(?P<part>conv1|conv2|shortcut)\.(?P<index>[01])|output_layer\.2)\.(?P<tensor>\w+)$"
)
_STEM = {"0": "conv1", "1": "bn1"}
_PARTS = {("conv1", "0"): "conv1", ("conv1", "1"): "bn1", ("conv2", "0"): "conv2",
          ("conv2", "1"): "bn2"}  # fmt: skip


def _resdepth_key(key: str) -> str:
    match = _KEY.match(key)
    if match is None:
        raise PaperCheckpointError(f"{key!r} is not a weight of the paper's ResNetBasicBlock")
    m = match.groupdict()
    if m["stem"] is not None:
        return f"{_STEM[m['stem']]}.{m['tensor']}"
    if m["stage"] is None:
        return f"fc.{m['tensor']}"
    stage, block = int(m["stage"]) + 1, int(m["block"])
    part = f"shortcut.{m['index']}" if m["part"] == "shortcut" else _PARTS[(m["part"], m["index"])]
    return f"layer{stage}.{block}.{part}.{m['tensor']}"


def paper_model_config(weights: dict[str, Tensor]) -> dict[str, Any]:
    """The :class:`~resdepth.ResNet` arguments that rebuild a paper model, read from the
    shapes of its weights (paper names).

    Raises:
        PaperCheckpointError: for weights that are not a paper model's, or use more
            than one kernel size (resdepth's ResNet has one for every stage).
    """
    try:
        stem = weights["input_layer.0.weight"]
        head = weights["output_layer.2.weight"]
    except KeyError as err:
        raise PaperCheckpointError(f"no {err.args[0]}: not the paper's ResNetBasicBlock") from None
    blocks: dict[int, set[int]] = {}
    kernels: set[int] = {int(stem.shape[-1])}
    skips: set[int] = set()
    for key, value in weights.items():
        match = _KEY.match(key)
        if match and match["stage"] is not None:
            blocks.setdefault(int(match["stage"]), set()).add(int(match["block"]))
            if match["tensor"] == "weight" and match["index"] == "0":
                (skips if match["part"] == "shortcut" else kernels).add(int(value.shape[-1]))
    stages = sorted(blocks)
    if not stages or stages != list(range(len(stages))):
        raise PaperCheckpointError("the residual stages are not numbered 0, 1, ...")
    if len(kernels) != 1 or len(skips) > 1:
        raise PaperCheckpointError(
            f"kernel sizes {sorted(kernels)} and shortcut kernel sizes {sorted(skips)}: "
            "resdepth's ResNet uses one of each"
        )
    return {
        "block": BasicBlock,
        "layers": tuple(len(blocks[s]) for s in stages),
        "widths": tuple(
            int(weights[f"residual_layers.{s}.0.conv1.0.weight"].shape[0]) for s in stages
        ),  # fmt: skip
        "num_classes": int(head.shape[0]),
        "in_channels": int(stem.shape[1]),
        "kernel_size": kernels.pop(),
        "skip_kernel_size": skips.pop() if skips else 1,
    }


def _matching_preset(config: dict[str, Any]) -> str | None:
    for name in list_models():
        with torch.device("meta"):
            net = get_model(name, num_classes=config["num_classes"])
        if isinstance(net, ResNet) and all(
            getattr(net, k) == config[k]
            for k in ("block", "layers", "widths", "kernel_size", "skip_kernel_size")
        ):
            return name
    return None


def load_paper_checkpoint(
    path: str | os.PathLike[str], map_location: str | torch.device = "cpu"
) -> ResNet:
    """A resdepth :class:`~resdepth.ResNet` with the weights of one of the paper's files.

    Reads a whole-model pickle written by the paper's code (``torch.save(model)`` of
    its ``ResNetBasicBlock``), or its ``state_dict()``, without its ``resnet`` module
    and without running anything in the file.  The network's shape (blocks per stage,
    widths, kernel sizes, classes) comes from the weights; when it is a preset's
    (``resnet10``, ``resnet40``, ``resnet102``), that preset is built.  Its outputs
    equal the paper model's for the same input.  ``model.preset`` names the preset,
    or is ``None``.

    Raises:
        PaperCheckpointError: for a file that holds or asks for anything else; the
            message names what it tried to load.

    Examples:
        >>> from resdepth.models import load_paper_checkpoint
        >>> net = load_paper_checkpoint("ResNet40_v3_epoch305_acc96.pth")  # doctest: +SKIP
        >>> net.preset  # doctest: +SKIP
        'resnet40'
    """
    weights = read_paper_state_dict(path)
    config = paper_model_config(weights)
    preset = _matching_preset(config)
    model = get_model(preset, num_classes=config["num_classes"]) if preset else ResNet(**config)
    assert isinstance(model, ResNet)  # every preset that matched is one
    state = {_resdepth_key(k): v for k, v in weights.items()}
    try:
        model.load_state_dict(state)
    except RuntimeError as err:
        raise PaperCheckpointError(f"{path}: the weights do not fit ({err})") from None
    model.preset = preset  # type: ignore[assignment]
    model.to(map_location)  # in place
    return model
