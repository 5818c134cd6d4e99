"""The paper's unlabeled test set format, read safely, and the predictions CSV."""

from __future__ import annotations

import os
import pickle
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
import torch

__all__ = ["load_unlabeled_pickle", "write_predictions_csv", "RestrictedUnpickler"]

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
    ``builtins.eval`` ...) is refused before it is looked up, so nothing runs.
    """

    def find_class(self, module: str, name: str) -> Any:
        if (module, name) in _ALLOWED:
            return super().find_class(module, name)
        raise pickle.UnpicklingError(
            f"refusing to load {module}.{name}: only numpy arrays and plain containers are allowed"
        )


def load_unlabeled_pickle(path: str | os.PathLike[str]) -> torch.Tensor:
    """Images of an unlabeled pickle: a dict whose ``b'data'`` holds uint8 ``(N, 32, 32, 3)``.

    Rows of 3072 values in CIFAR's channel-major order are accepted too.  Other keys
    are ignored.

    Returns:
        uint8 ``(N, 3, H, W)``.

    Raises:
        pickle.UnpicklingError: if the pickle asks for anything but numpy arrays and
            plain containers (nothing in it is run).
        ValueError: if there is no ``data`` entry or it has the wrong shape.
    """
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"no pickle file at {path}")
    with path.open("rb") as f:
        obj = RestrictedUnpickler(f, encoding="bytes").load()
    if not isinstance(obj, dict):
        raise ValueError(f"{path} holds a {type(obj).__name__}, expected a dict with b'data'")
    data = obj.get(b"data", obj.get("data"))
    if data is None:
        raise ValueError(f"{path} has no b'data' entry (keys: {sorted(map(repr, obj))})")
    array = np.asarray(data)
    if array.ndim == 2 and array.shape[1] == 3 * 32 * 32:
        array = array.reshape(-1, 3, 32, 32).transpose(0, 2, 3, 1)
    if array.ndim != 4 or array.shape[-1] != 3:
        raise ValueError(f"b'data' in {path} must have shape (N, H, W, 3), got {array.shape}")
    return (
        torch.from_numpy(np.ascontiguousarray(array, dtype=np.uint8))
        .permute(0, 3, 1, 2)
        .contiguous()
    )


def write_predictions_csv(
    path: str | os.PathLike[str], predictions: torch.Tensor | np.ndarray | Sequence[int]
) -> Path:
    """Write ``ID,Label`` rows, ``ID`` being the row index, atomically.

    Returns:
        The path written.
    """
    labels = torch.as_tensor(np.asarray(predictions)).flatten()
    if labels.is_floating_point() or labels.dtype == torch.bool:
        raise TypeError(f"predictions must be integer class labels, got {labels.dtype}")
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.tmp{os.getpid()}")
    with tmp.open("w", newline="") as f:
        f.write("ID,Label\n")
        f.writelines(f"{i},{int(v)}\n" for i, v in enumerate(labels.tolist()))
    os.replace(tmp, path)
    return path
