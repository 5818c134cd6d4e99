"""The timed trial behind ``precision="auto"`` and ``channels_last="auto"`` on a CPU,
and the cache that lets the next run skip it.

The trial trains a copy of the model per candidate (precision, memory format) on
random images of the run's batch shape, a warm-up step and then two rounds that take
turns between the candidates (a burst of load from elsewhere then slows all of them,
not one), and keeps each candidate's fastest step.  It works on copies, under
:func:`torch.random.fork_rng`, so the model, its BatchNorm statistics, the optimizer
and every random stream are afterwards exactly as if it had not run.

The cache is a JSON file, by default ``~/.cache/resdepth/autotune.json``; the
environment variable ``RESDEPTH_AUTOTUNE_CACHE`` names another file, or turns the
cache off with ``off``.  An entry's key is the CPU (or GPU) name, the number of
threads, the torch version, the model's class and tensor shapes, the batch shape, the
optimizer and the candidates: a change in any of them runs the trial again.
"""

from __future__ import annotations

import copy
import datetime
import hashlib
import json
import math
import os
import time
import warnings
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import torch
from torch import nn

from .._atomic import atomic_write
from .devices import autocast

__all__ = ["CACHE_ENV", "cache_key", "cache_path", "step_times"]

CACHE_ENV = "RESDEPTH_AUTOTUNE_CACHE"
_OFF = ("off", "0", "no", "false", "none", "")
# A candidate whose warm-up step is this much slower than the plain one's is dropped
# there: emulated bf16 on a CPU without the instructions can be 20x slower, and timing
# it further would cost more than the trial saves.
_HOPELESS = 3.0

Candidate = tuple[str, bool]  # (precision, channels_last)


def cache_path() -> Path | None:
    """The trial cache's file, or ``None`` when ``RESDEPTH_AUTOTUNE_CACHE=off``."""
    value = os.environ.get(CACHE_ENV)
    if value is None:
        return Path.home() / ".cache" / "resdepth" / "autotune.json"
    if value.strip().lower() in _OFF:
        return None
    return Path(value).expanduser()


def cache_key(
    model: nn.Module,
    device_name: str,
    batch_shape: Sequence[int],
    candidates: Sequence[Candidate],
    optimizer_name: str,
) -> str:
    """What a cached trial result depends on, as one string."""
    shapes = [(k, tuple(v.shape), str(v.dtype)) for k, v in model.state_dict().items()]
    structure = hashlib.sha256(repr(shapes).encode()).hexdigest()[:16]
    tried = ",".join(f"{p}{'+cl' if c else ''}" for p, c in candidates)
    return " | ".join([
        device_name, f"{torch.get_num_threads()} threads", f"torch {torch.__version__}",
        f"{type(model).__name__} {structure}", "batch " + "x".join(map(str, batch_shape)),
        optimizer_name, tried,
    ])  # fmt: skip


def _read(path: Path) -> dict[str, Any]:
    try:
        entries = json.loads(path.read_text())
    except (OSError, ValueError):
        return {}  # no cache yet, or a damaged one: the trial runs and rewrites it
    return entries if isinstance(entries, dict) else {}


def _cached(
    path: Path | None, key: str, candidates: Sequence[Candidate]
) -> dict[Candidate, float] | None:
    entry = _read(path).get(key) if path is not None else None
    try:
        times = {(str(p), bool(c)): float(t) for p, c, t in entry["times"]}  # type: ignore[index]
    except (TypeError, KeyError, ValueError):
        return None
    return times if set(times) == set(candidates) else None


def _store(path: Path, key: str, times: dict[Candidate, float]) -> None:
    entries = _read(path)
    entries[key] = {
        "times": [[p, c, t] for (p, c), t in times.items()],
        "measured": datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds"),
    }
    try:
        with atomic_write(path, "w") as f:
            json.dump(entries, f, indent=1)
    except OSError as err:  # a read-only home must not stop a run
        warnings.warn(f"could not cache the precision trial: {err}", stacklevel=3)


class _Copy:
    """A copy of the model in one candidate's precision and memory format, with its
    own optimizer, that times one training step at a time."""

    def __init__(self, model: nn.Module, candidate: Candidate, images: torch.Tensor,
                 optimizer: Callable[[nn.Module], torch.optim.Optimizer]) -> None:  # fmt: skip
        self.precision, channels_last = candidate
        fmt = torch.channels_last if channels_last else torch.preserve_format
        self.model = copy.deepcopy(model).to(memory_format=fmt).train()
        self.optimizer = optimizer(self.model)
        self.images = images.contiguous(memory_format=fmt)

    def step(self) -> float:
        device = self.images.device
        start = time.perf_counter()
        with autocast(device, self.precision):
            logits = self.model(self.images)
        loss = logits.float().logsumexp(dim=1).mean()
        self.optimizer.zero_grad(set_to_none=True)
        loss.backward()
        self.optimizer.step()
        if device.type == "cuda":
            torch.cuda.synchronize(device)
        return time.perf_counter() - start


def _sgd(model: nn.Module) -> torch.optim.Optimizer:
    return torch.optim.SGD(model.parameters(), lr=1e-3, momentum=0.9)


def _optimizer_name(optimizer: Callable[[nn.Module], torch.optim.Optimizer]) -> str:
    """The class of optimizer that ``optimizer`` builds (part of the cache key)."""
    probe = nn.Module()
    probe.weight = nn.Parameter(torch.zeros(1))
    try:
        return type(optimizer(probe)).__name__
    except Exception:  # a builder that needs a real model: its name will do
        return str(getattr(optimizer, "__qualname__", "optimizer"))


def _trial(model: nn.Module, device: torch.device, batch_shape: tuple[int, ...],
           candidates: Sequence[Candidate], optimizer: Callable[[nn.Module], torch.optim.Optimizer],
           rounds: int) -> dict[Candidate, float]:  # fmt: skip
    devices = [device] if device.type == "cuda" else []
    with torch.random.fork_rng(devices=devices):
        generator = torch.Generator(device=device).manual_seed(0)
        images = torch.rand(batch_shape, generator=generator, device=device)
        copies = {c: _Copy(model, c, images, optimizer) for c in candidates}
        times = {c: copies[c].step() for c in candidates}  # warm-up
        live = [c for c in candidates if times[c] <= _HOPELESS * times[candidates[0]]]
        for c in candidates:
            if c not in live:
                copies.pop(c)
                times[c] = math.inf if len(candidates) > 1 else times[c]
        for _ in range(rounds):
            for c in live:
                times[c] = min(times[c], copies[c].step())
    return times


def step_times(
    model: nn.Module,
    device: torch.device,
    batch_shape: tuple[int, ...],
    candidates: Sequence[Candidate],
    device_name: str,
    optimizer: Callable[[nn.Module], torch.optim.Optimizer] | None = None,
    rounds: int = 2,
) -> dict[Candidate, float] | None:
    """Seconds per training step of each candidate (``inf`` for one dropped as far
    slower), from the cache or a new trial; ``None`` if ``model`` cannot be copied
    (then no trial can leave it untouched) or fails on random images of the shape."""
    optimizer = optimizer or _sgd
    path = cache_path()
    key = cache_key(model, device_name, batch_shape, candidates, _optimizer_name(optimizer))
    cached = _cached(path, key, candidates)
    if cached is not None:
        return cached
    try:
        times = _trial(model, device, batch_shape, candidates, optimizer, rounds)
    except (copy.Error, TypeError, RuntimeError):
        # A model that cannot be copied, or fails on these images: the run itself will
        # say what is wrong with its first batch; the choice follows the capabilities.
        return None
    if path is not None:
        _store(path, key, {c: t for c, t in times.items()})
    return times
