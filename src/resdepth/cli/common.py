"""What every ``resdepth`` command shares: turning the user's input into library
arguments, and what goes wrong with that input into one :class:`CommandError` line."""

from __future__ import annotations

import argparse
import contextlib
import pickle
from collections.abc import Iterator
from typing import Any

import torch

from ..data import Dataset, load_dataset
from ..errors import CommandError

__all__ = ["describe_os_error", "load_data", "parse_device", "user_input"]


@contextlib.contextmanager
def user_input(what: str) -> Iterator[None]:
    """Report what the user's input made fail as one line naming ``what``."""
    try:
        yield
    except (ValueError, TypeError, OSError, pickle.UnpicklingError) as err:
        raise CommandError(f"{what}: {err}") from None


def describe_os_error(err: OSError) -> str:
    """``err`` for a one-line message: its words and file, without Python's
    ``[Errno N]`` prefix (resdepth's own write errors already name their file)."""
    if not err.strerror:
        return str(err)
    files = " -> ".join(str(f) for f in (err.filename, err.filename2) if f is not None)
    return f"{err.strerror}: {files}" if files else err.strerror


def parse_device(text: str | None) -> torch.device | None:
    """The ``--device`` argument as a device that exists here (``None``: the default)."""
    if text is None:
        return None
    try:
        device = torch.device(text)
    except RuntimeError:
        raise CommandError(
            f"--device {text}: not a device; use cpu, cuda, cuda:1, mps (default: CUDA if present)"
        ) from None
    if device.type == "cuda" and not torch.cuda.is_available():
        raise CommandError(f"--device {text}: there is no CUDA GPU here; use --device cpu")
    if device.type == "cuda" and (device.index or 0) >= torch.cuda.device_count():
        raise CommandError(f"--device {text}: there are {torch.cuda.device_count()} CUDA GPU(s)")
    if device.type == "mps" and not torch.backends.mps.is_available():
        raise CommandError(f"--device {text}: MPS is not available here; use --device cpu")
    return device


def load_data(
    args: argparse.Namespace, train: bool, subset: int | None = None, seed: int = 0,
    classes: Any = None, allow_unsplit: bool = False,
) -> Dataset:  # fmt: skip
    """The ``--data`` split (with ``--root``, ``--no-download``, ``--cache-dir``), cut to
    ``subset`` random images when given.  A training split smaller than ``subset`` is an
    error; a test split smaller than it is used whole, and the command says so."""
    with user_input(f"--data {args.data}"):
        ds = load_dataset(
            args.data, train=train, root=args.root, download=not args.no_download,
            cache_dir=args.cache_dir, synthetic_size=subset or 10_000, classes=classes,
            allow_unsplit=allow_unsplit,
        )  # fmt: skip
    if subset and not train and subset > len(ds):
        print(f"--subset {subset}: {ds.name} has {len(ds)} images; testing on all of them")
        return ds
    with user_input(f"--subset {subset}"):
        return ds.subset(subset, seed=seed) if subset else ds
