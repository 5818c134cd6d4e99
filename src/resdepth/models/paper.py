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

import os
import re
import zipfile
from pathlib import Path
from typing import Any

import torch
from torch import Tensor

from ..errors import PaperCheckpointError
from ._paper_file import flatten, is_module, kind_of, read_zip
from .blocks import BasicBlock
from .registry import get_model, list_models
from .resnet import ResNet

__all__ = [
    "PaperCheckpointError",
    "load_paper_checkpoint",
    "paper_model_config",
    "read_paper_state_dict",
]


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
        obj = read_zip(path)
        weights: dict[str, Tensor] = {}
        if is_module(obj):
            if kind_of(obj) != "ResNetBasicBlock":
                raise PaperCheckpointError(f"it holds a {kind_of(obj)}, not a ResNetBasicBlock")
            flatten(obj, "", weights, set())
        elif (
            isinstance(obj, dict)
            and obj
            and all(isinstance(k, str) and isinstance(v, Tensor) for k, v in obj.items())
        ):
            weights = dict(obj)
        else:
            raise PaperCheckpointError("it holds neither a paper model nor its state dict")
    except PaperCheckpointError as err:
        raise PaperCheckpointError(f"{path}: {err}") from None
    except zipfile.BadZipFile:
        raise PaperCheckpointError(f"{path} is not a PyTorch (zip) file") from None
    except MemoryError:
        raise
    except Exception as err:  # a broken zip or stream, whatever broke: not loadable
        raise PaperCheckpointError(f"cannot read {path}: {type(err).__name__}: {err}") from None
    _check_weights(weights, path)
    return weights


def _check_weights(weights: dict[str, Tensor], path: Path) -> None:
    """Refuse weights that are not finite floats (a step counter may be an integer)."""
    for key, value in weights.items():
        if key.endswith("num_batches_tracked"):
            continue
        if not value.is_floating_point():
            raise PaperCheckpointError(
                f"{path}: {key} holds {value.dtype} values; a paper model's weights are floats"
            )
        if not bool(torch.isfinite(value).all()):
            raise PaperCheckpointError(f"{path}: {key} holds NaN or infinite values")


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
    if stem.ndim != 4 or head.ndim != 2:
        raise PaperCheckpointError(
            f"input_layer.0.weight has {stem.ndim} dimensions and output_layer.2.weight "
            f"{head.ndim}: not a convolution (4) and a linear layer (2)"
        )
    blocks: dict[int, set[int]] = {}
    kernels: set[int] = {int(stem.shape[-1])}
    skips: set[int] = set()
    for key, value in weights.items():
        match = _KEY.match(key)
        if match and match["stage"] is not None:
            blocks.setdefault(int(match["stage"]), set()).add(int(match["block"]))
            if match["tensor"] == "weight" and match["index"] == "0":
                if value.ndim != 4:
                    raise PaperCheckpointError(f"{key} has {value.ndim} dimensions, not 4")
                (skips if match["part"] == "shortcut" else kernels).add(int(value.shape[-1]))
    stages = sorted(blocks)
    if not stages or stages != list(range(len(stages))):
        raise PaperCheckpointError("the residual stages are not numbered 0, 1, ...")
    firsts = [f"residual_layers.{s}.0.conv1.0.weight" for s in stages]
    missing = [key for key in firsts if key not in weights]
    if missing:
        raise PaperCheckpointError(f"no {missing[0]}: a stage without its first block")
    if len(kernels) != 1 or len(skips) > 1:
        raise PaperCheckpointError(
            f"kernel sizes {sorted(kernels)} and shortcut kernel sizes {sorted(skips)}: "
            "resdepth's ResNet uses one of each"
        )
    return {
        "block": BasicBlock,
        "layers": tuple(len(blocks[s]) for s in stages),
        "widths": tuple(int(weights[key].shape[0]) for key in firsts),
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


def _build(preset: str | None, config: dict[str, Any], state: dict[str, Tensor]) -> ResNet:
    """The network ``config`` describes, built for real only once its weights' names and
    shapes were checked on the meta device (so a file cannot ask for a huge network)."""

    def build() -> ResNet:
        net = get_model(preset, num_classes=config["num_classes"]) if preset else ResNet(**config)
        assert isinstance(net, ResNet)  # every preset that matched is one
        return net

    try:
        with torch.device("meta"):
            shell = build()
    except (ValueError, TypeError) as err:
        raise PaperCheckpointError(f"the weights describe no resdepth ResNet ({err})") from None
    want = {k: tuple(v.shape) for k, v in shell.state_dict().items()}
    have = {k: tuple(v.shape) for k, v in state.items()}
    for key in sorted(want.keys() | have.keys()):
        if want.get(key) != have.get(key):
            raise PaperCheckpointError(
                f"the weights do not fit: {key} is {have.get(key, 'missing')}, the network "
                f"{'it describes' if key in want else 'has no such weight'}"
                + (f" needs {want[key]}" if key in want else "")
            )
    return build()


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
    try:
        config = paper_model_config(weights)
        state = {_resdepth_key(k): v for k, v in weights.items()}
        preset = _matching_preset(config)
        model = _build(preset, config, state)
    except PaperCheckpointError as err:
        raise PaperCheckpointError(f"{path}: {err}") from None
    try:
        model.load_state_dict(state)
    except RuntimeError as err:
        raise PaperCheckpointError(f"{path}: the weights do not fit ({err})") from None
    model.preset = preset  # type: ignore[assignment]
    model.to(map_location)  # in place
    return model
