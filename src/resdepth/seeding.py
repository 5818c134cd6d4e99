"""One call that seeds every random number generator a training run touches."""

from __future__ import annotations

import os
import random

import torch

from ._validate import int_in_range

__all__ = ["seed_everything"]


def seed_everything(seed: int, deterministic: bool = False) -> int:
    """Seed Python's ``random``, NumPy (when installed) and torch on every device.

    Call it before building the model, so that its initial weights follow from the
    seed: the same script with the same seed then gives the same run on the same
    machine and software.  The :class:`~resdepth.Trainer` seeds its own loaders and
    augmentations from its ``seed`` argument.

    Args:
        seed: a non-negative integer.
        deterministic: also ask torch for deterministic algorithms
            (``torch.use_deterministic_algorithms(True)``, cuDNN without benchmarking
            and ``CUBLAS_WORKSPACE_CONFIG``), so that GPU runs repeat bit for bit too,
            at some cost in speed; an operation without a deterministic
            implementation then raises an error.

    Returns:
        ``seed``.

    Examples:
        >>> import torch
        >>> from resdepth import seed_everything
        >>> _ = seed_everything(0); a = torch.rand(2)
        >>> _ = seed_everything(0); b = torch.rand(2)
        >>> torch.equal(a, b)
        True
    """
    int_in_range("seed", seed, 0, 2**63)
    random.seed(seed)
    try:
        import numpy as np
    except ImportError:  # pragma: no cover - numpy is a dependency, but optional here
        pass
    else:
        np.random.seed(seed % 2**32)
    torch.manual_seed(seed)  # every device, CUDA included
    if deterministic:
        # cuBLAS needs a fixed workspace to give the same sums every time.
        os.environ.setdefault("CUBLAS_WORKSPACE_CONFIG", ":4096:8")
        torch.use_deterministic_algorithms(True)
        torch.backends.cudnn.benchmark = False
        torch.backends.cudnn.deterministic = True
    return seed
