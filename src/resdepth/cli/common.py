"""What every ``resdepth`` command shares: turning the user's input into library
arguments, and what goes wrong with that input into one :class:`CommandError` line."""

from __future__ import annotations

import argparse
import contextlib
import os
import pickle
from collections.abc import Iterator
from pathlib import Path
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


_LOGGER_HELP = {
    "jsonl": "jsonl (OUT/log.jsonl)",
    "tensorboard": "tensorboard (OUT/tensorboard; the tensorboard extra)",
    "mlflow": "mlflow (--mlflow-uri; the mlflow extra)",
}


def add_logger_options(
    p: argparse.ArgumentParser, experiment: str, kinds: tuple[str, ...] = tuple(_LOGGER_HELP)
) -> None:
    """``--logger`` (one of ``kinds``), ``--mlflow-uri`` and ``--mlflow-experiment``."""
    p.add_argument(
        "--logger", action="append", choices=kinds, default=None,
        help="also log the run: " + ", ".join(_LOGGER_HELP[k] for k in kinds)
        + ("; repeat for several" if len(kinds) > 1 else ""),
    )  # fmt: skip
    p.add_argument(
        "--mlflow-uri", default=None, metavar="URI",
        help="the MLflow tracking store, such as sqlite:///mlruns.db (default: "
        "$MLFLOW_TRACKING_URI); artifacts go to mlartifacts/ beside a SQLite file",
    )  # fmt: skip
    p.add_argument("--mlflow-experiment", default=None, metavar="NAME",
                   help=f"the MLflow experiment (default: {experiment})")  # fmt: skip
    p.add_argument(
        "--mlflow-artifacts", default=None, metavar="DIR",
        help="where a new MLflow experiment keeps its artifacts (default: mlartifacts/ "
        "beside a SQLite store; the server's choice for a remote one)",
    )  # fmt: skip


def build_loggers(args: argparse.Namespace, out: Path, experiment: str) -> list[Any]:
    """The callbacks that ``--logger`` asks for, writing under the run folder ``out``."""
    from ..tracking import JsonLinesLogger, MlflowLogger, TensorBoardLogger

    loggers: list[Any] = []
    for kind in dict.fromkeys(args.logger or ()):
        if kind == "jsonl":
            loggers.append(JsonLinesLogger(out / "log.jsonl"))
        elif kind == "tensorboard":
            loggers.append(_optional(TensorBoardLogger, out / "tensorboard"))
        else:
            uri = args.mlflow_uri or os.environ.get("MLFLOW_TRACKING_URI")
            if not uri:
                raise CommandError("--logger mlflow: give --mlflow-uri (sqlite:///mlruns.db, "
                                   "http://host:5000) or set MLFLOW_TRACKING_URI")  # fmt: skip
            name = args.mlflow_experiment or experiment
            loggers.append(_optional(MlflowLogger, uri, experiment=name,
                                     artifact_location=args.mlflow_artifacts))  # fmt: skip
    for given in ("mlflow_uri", "mlflow_experiment", "mlflow_artifacts"):
        if getattr(args, given) and "mlflow" not in (args.logger or ()):
            raise CommandError(f"--{given.replace('_', '-')}: add --logger mlflow")
    return loggers


def _optional(logger: Any, *args: Any, **kwargs: Any) -> Any:
    """A logger whose extra may be missing: the error names the pip command."""
    try:
        return logger(*args, **kwargs)
    except ImportError as err:
        raise CommandError(str(err)) from None
