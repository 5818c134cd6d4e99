"""Reading a model folder: ``model.safetensors`` with its ``config.json``, the layout
timm uses on the Hugging Face Hub (:func:`~resdepth.artifacts.export_model` writes it).

A folder may come from anyone, so nothing in it runs and nothing is allocated before
it is checked: the config is read with a size limit and its model description checked
against bounds, the model is first built on the ``meta`` device (no memory), and its
tensors' names, shapes and dtypes are compared with the safetensors header (whose
offsets the safetensors reader checks against the file's length) before one weight
is read.  Every refusal is a :class:`~resdepth.errors.CheckpointError` of one line
that names the file.
"""

from __future__ import annotations

import json
import os
import re
import stat
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import torch

from .._validate import is_real
from ..errors import CheckpointError
from ..recipes import Recipe
from .metadata import RunMetadata
from .run_dir import RunDir

__all__ = [
    "CONFIG_NAME",
    "FORMAT_VERSION",
    "HUB_PREFIX",
    "WEIGHTS_NAME",
    "check_model_bounds",
    "is_model_folder",
    "read_model_folder",
    "resolve_hub",
]

#: The weights file of a model folder (the name timm and transformers use).
WEIGHTS_NAME = "model.safetensors"
#: The description of a model folder.
CONFIG_NAME = "config.json"
#: The version of the ``"resdepth"`` part of ``config.json`` this code writes and reads.
FORMAT_VERSION = 1
#: What a Hugging Face Hub repository's name starts with: ``hf-hub:owner/name[@revision]``.
HUB_PREFIX = "hf-hub:"

_MAX_CONFIG_BYTES = 4_000_000  # a config with 100,000 class names is about 2 MB
_MAX_INT = 100_000  # classes, widths, ...: beyond any network of small images
_MAX_BLOCKS = 1_000  # residual blocks in all (ResNet102 has 50)
_MAX_LIST = 64
_DTYPES = {torch.float32: "F32", torch.float16: "F16", torch.bfloat16: "BF16",
           torch.float64: "F64", torch.int64: "I64", torch.int32: "I32", torch.int16: "I16",
           torch.int8: "I8", torch.uint8: "U8", torch.bool: "BOOL"}  # fmt: skip
_HUB_NAME = re.compile(r"^[A-Za-z0-9][\w.-]*/[\w.-]+(@[\w./-]+)?$")


def is_model_folder(path: str | os.PathLike[str]) -> bool:
    """Whether ``path`` names a model folder, its ``model.safetensors``, or a Hub
    repository (``hf-hub:owner/name``), rather than a checkpoint file."""
    text = os.fspath(path)
    if text.startswith(HUB_PREFIX):
        return True
    p = Path(text)
    return p.is_dir() or p.suffix == ".safetensors"


def resolve_hub(name: str) -> Path:
    """The local folder of ``hf-hub:owner/name[@revision]``: its ``config.json`` and
    ``model.safetensors`` downloaded to (or found in) the Hugging Face cache.

    ``HF_HUB_OFFLINE=1`` reads the cache only; ``HF_HUB_CACHE`` moves it.

    Raises:
        ImportError: without ``huggingface_hub`` (``pip install "resdepth[hub]"``).
        CheckpointError: the repository or one of its two files cannot be had.
    """
    repo = name[len(HUB_PREFIX) :]
    if not _HUB_NAME.match(repo):
        raise CheckpointError(f"{name}: not a Hub repository; give hf-hub:owner/name[@revision]")
    try:
        from huggingface_hub import snapshot_download
    except ImportError as err:
        raise ImportError(
            f"{name}: loading from the Hugging Face Hub needs huggingface_hub: pip install "
            '"resdepth[hub]"'
        ) from err
    repo_id, _, revision = repo.partition("@")
    try:
        # One snapshot: both files of the same commit, even if a push comes in between.
        folder = Path(snapshot_download(repo_id, revision=revision or None,
                                        allow_patterns=[CONFIG_NAME, WEIGHTS_NAME]))  # fmt: skip
    except Exception as err:  # the Hub's errors: offline, missing, no access, ...
        first = str(err).strip().splitlines()[0] if str(err).strip() else ""
        raise CheckpointError(
            f"{name}: cannot get it ({type(err).__name__}: {first[:200]})"
        ) from None
    for filename in (CONFIG_NAME, WEIGHTS_NAME):
        if not (folder / filename).is_file():
            raise CheckpointError(f"{name}: the repository has no {filename}")
    return folder


def _folder_and_weights(path: str | os.PathLike[str]) -> tuple[Path, Path]:
    text = os.fspath(path)
    if text.startswith(HUB_PREFIX):
        folder = resolve_hub(text)
        return folder, folder / WEIGHTS_NAME
    p = Path(text)
    if p.is_dir():
        return p, p / WEIGHTS_NAME
    return p.parent, p


def _read_bounded(path: Path) -> bytes:
    """The bytes of a regular file of at most ``_MAX_CONFIG_BYTES`` (a link to a device
    or a pipe is refused, not read without end)."""
    # Non-blocking: opening a pipe to read would wait for a writer for ever.
    fd = os.open(path, os.O_RDONLY | getattr(os, "O_NONBLOCK", 0))
    with os.fdopen(fd, "rb") as f:
        if not stat.S_ISREG(os.fstat(fd).st_mode):
            raise CheckpointError(f"{path}: not a regular file")
        data = f.read(_MAX_CONFIG_BYTES + 1)
    if len(data) > _MAX_CONFIG_BYTES:
        raise CheckpointError(f"{path}: more than {_MAX_CONFIG_BYTES:,} bytes, more than a "
                              "model config holds")  # fmt: skip
    return data


def _read_config(path: Path) -> dict[str, Any]:
    try:
        config = json.loads(_read_bounded(path))
    except FileNotFoundError:
        hint = f"a model folder holds {CONFIG_NAME} beside {WEIGHTS_NAME}"
        if RunDir(path.parent).has_run() or RunDir(path.parent).best.is_file():
            hint = f"{path.parent} is a run folder: give its best.pt, or resdepth export it"
        raise CheckpointError(f"{path}: no such file; {hint}") from None
    except RecursionError:
        raise CheckpointError(f"{path}: nested too deeply for a model config") from None
    except (OSError, ValueError) as err:  # unreadable, or not JSON (UnicodeError too)
        if isinstance(err, CheckpointError):
            raise
        raise CheckpointError(f"{path}: not a readable JSON model config ({err})") from None
    part = config.get("resdepth") if isinstance(config, dict) else None
    if not isinstance(part, dict):
        raise CheckpointError(
            f'{path}: not a resdepth model config (no "resdepth" object; folders of other '
            "libraries load with those)"
        )
    if not isinstance(part.get("summary", {}), dict):
        raise CheckpointError(f"{path}: its summary is not an object")
    if part.get("format") != FORMAT_VERSION:
        raise CheckpointError(
            f"{path}: format {part.get('format')!r}, this resdepth reads {FORMAT_VERSION}; "
            "a newer resdepth may read it"
        )
    return part


def _check_numbers(where: str, value: Any) -> None:
    if value is None or isinstance(value, str) or value is True or value is False:
        return
    if is_real(value):
        size: Any = abs(value)  # ints of any size compare exactly; NaN fails the test
        if not size <= _MAX_INT:
            raise ValueError(f"{where} = {value} is beyond {_MAX_INT:,}")
    elif isinstance(value, (list, tuple)):
        if len(value) > _MAX_LIST:
            raise ValueError(f"{where} has {len(value)} entries, more than {_MAX_LIST}")
        for i, item in enumerate(value):
            _check_numbers(f"{where}[{i}]", item)
    elif isinstance(value, Mapping):
        if len(value) > _MAX_LIST:
            raise ValueError(f"{where} has {len(value)} entries, more than {_MAX_LIST}")
        for key, item in value.items():
            _check_numbers(f"{where}.{key}", item)
    else:
        raise ValueError(f"{where} is a {type(value).__name__}, not a number, text or list")


def check_model_bounds(metadata: RunMetadata) -> None:
    """Refuse a model description that would take unbounded time or memory to build:
    every number in its keyword arguments or ``ResNet(...)`` arguments at most 100,000
    (classes, widths, ...), lists of at most 64 entries, at most 1,000 residual blocks
    in all, and at most 100,000 class names.

    Raises:
        ValueError: naming the first value out of bounds.

    Examples:
        >>> check_model_bounds(RunMetadata(model="resnet10"))
        >>> check_model_bounds(RunMetadata(model_config={"block": "BasicBlock",
        ...                    "layers": [1], "widths": [10**9]}))
        Traceback (most recent call last):
        ...
        ValueError: model_config.widths[0] = 1000000000 is beyond 100,000
    """
    for name in ("model_kwargs", "model_config"):
        described = getattr(metadata, name)
        if described is None:
            continue
        _check_numbers(name, described)
        layers = described.get("layers")
        if isinstance(layers, (list, tuple)):
            blocks = sum(float(n) for n in layers if is_real(n))  # each bounded already
            if blocks > _MAX_BLOCKS:
                raise ValueError(f"{name}.layers: {blocks:,.0f} blocks, more than {_MAX_BLOCKS:,}")
    if metadata.classes is not None and len(metadata.classes) > _MAX_INT:
        raise ValueError(f"classes: {len(metadata.classes):,} names, more than {_MAX_INT:,}")


def _header(weights: Path) -> dict[str, tuple[str, tuple[int, ...]]]:
    """Each tensor's dtype and shape, from the header alone (no tensor is read)."""
    from safetensors import safe_open

    if not weights.is_file():
        raise CheckpointError(f"{weights}: no such file")
    try:
        with safe_open(str(weights), framework="pt") as f:
            return {k: (str(f.get_slice(k).get_dtype()), tuple(f.get_slice(k).get_shape()))
                    for k in f.keys()}  # noqa: SIM118 (safe_open is not iterable)  # fmt: skip
    except Exception as err:  # SafetensorError, OSError: damaged, truncated, not safetensors
        raise CheckpointError(
            f"{weights}: not a readable safetensors file ({str(err).splitlines()[0][:200]})"
        ) from None


def _compare(expected: Mapping[str, torch.Tensor], header: Mapping[str, Any], where: str) -> None:
    problems = [f"missing {k}" for k in expected if k not in header]
    problems += [f"unexpected {k}" for k in header if k not in expected]
    for key, tensor in expected.items():
        if key in header:
            dtype, shape = header[key]
            if (_DTYPES.get(tensor.dtype), tuple(tensor.shape)) != (dtype, shape):
                problems.append(f"{key} is {dtype} {list(shape)}, the model's "
                                f"{_DTYPES.get(tensor.dtype)} {list(tensor.shape)}")  # fmt: skip
    if problems:
        more = f" and {len(problems) - 3} more" if len(problems) > 3 else ""
        raise CheckpointError(f"{where}: {'; '.join(problems[:3])}{more}")


def read_model_folder(path: str | os.PathLike[str]) -> dict[str, Any]:
    """A model folder (or its ``model.safetensors``, or ``hf-hub:owner/name``) as the
    contents of a checkpoint: ``model`` (the weights), ``recipe``, ``metadata``,
    ``precision`` and ``channels_last`` as the run trained, and ``exported`` (the
    config's run summary), so that :func:`~resdepth.artifacts.model_from_state`,
    :func:`~resdepth.load_model` and ``resdepth eval`` read it as they read a checkpoint.

    Raises:
        CheckpointError: a missing or malformed config, a model out of bounds, weights
            that are damaged or do not fit the config (one line naming the file).
    """
    if not os.fspath(path).startswith(HUB_PREFIX) and not Path(path).exists():
        raise CheckpointError(f"{path}: no such file or folder")
    folder, weights = _folder_and_weights(path)
    config_path = folder / CONFIG_NAME
    part = _read_config(config_path)
    try:
        metadata = RunMetadata.from_dict(part.get("metadata"))
        if not metadata.rebuildable:
            raise ValueError("it names no model to build")
        check_model_bounds(metadata)
        with torch.device("meta"):  # shapes without memory
            expected = metadata.build_model().state_dict()
    except (CheckpointError, ValueError, TypeError, KeyError, RuntimeError) as err:
        raise CheckpointError(f"{config_path}: a model resdepth cannot build ({err})") from None
    header = _header(weights)
    _compare(expected, header, f"{weights} does not fit {config_path}")
    from safetensors.torch import load_file

    try:
        tensors = load_file(str(weights))
    except Exception as err:  # pragma: no cover - the header was readable a moment ago
        raise CheckpointError(f"{weights}: {str(err).splitlines()[0][:200]}") from None
    try:
        Recipe.from_dict(part.get("recipe"))  # type: ignore[arg-type]
    except (ValueError, TypeError, KeyError, AttributeError) as err:
        raise CheckpointError(f"{config_path}: not a recipe resdepth can use ({err})") from None
    precision = part.get("precision", "fp32")
    if precision not in ("fp32", "bf16", "fp16"):
        raise CheckpointError(f"{config_path}: precision {precision!r} is none of fp32, bf16, fp16")
    return {
        "model": tensors,
        "recipe": part["recipe"],
        "metadata": metadata.to_dict(),
        "precision": precision,
        "channels_last": bool(part.get("channels_last", False)),
        "exported": dict(part.get("summary") or {}),
    }
