"""Choosing how a run computes: its precision (fp32, bf16 or fp16 autocast) and memory
format (channels_last or not), for the machine it runs on.

``"auto"`` (the :class:`~resdepth.training.Trainer`'s default for both) resolves once,
when training starts, on the real device, model and batch size:

- CUDA: bf16 autocast where the GPU supports it, else fp16 with the gradient scaler;
  channels_last on.
- CPU: bf16 only where the CPU has native bf16 instructions (AVX512-BF16 or AMX, as
  the installed torch reports them; a torch that cannot tell means fp32), and only if
  a short timed trial of the model at the batch size finds it faster; the same trial
  decides channels_last (:mod:`~resdepth.training.autotune`), which is only tried
  where every convolution has at least 8 output channels.  Without a trial
  (``autotune=False``) a CPU with native bf16 gets bf16 + channels_last, any other
  fp32 in the plain memory format.
- Any other device: fp32, plain memory format.

Emulated bf16 (a CPU without the instructions) runs many times slower than fp32, which
is why the choice is measured and never assumed.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Mapping, Sequence
from typing import Any

import torch
from torch import nn

from .._validate import choice, flag
from ..data import DeviceLoader
from . import autotune
from . import distributed as dist

__all__ = [
    "CHANNELS_LAST_CHOICES",
    "PRECISION_CHOICES",
    "ComputeSettings",
    "DeviceCapabilities",
    "ComputeChoice",
    "check_requested",
    "resolve_settings",
    "training_batch_shape",
]

PRECISION_CHOICES = ("auto", "fp32", "bf16", "fp16")
CHANNELS_LAST_CHOICES = ("auto", True, False)

# The fastest candidate must beat fp32 in the plain format by this much to be chosen:
# on a busy machine two nearly equal candidates swap places from run to run.
_MARGIN = 1.05


def check_requested(precision: object, channels_last: object) -> tuple[str, bool | str]:
    """``(precision, channels_last)`` if they are valid requests, else a clear error."""
    if not isinstance(precision, str):
        raise TypeError(f"precision must be one of {PRECISION_CHOICES}, got {precision!r}")
    choice("precision", precision, PRECISION_CHOICES)
    return precision, flag("channels_last", channels_last, also=("auto",))


def _cpu_has_native_bf16() -> bool:
    """Whether the installed torch reports native bf16 instructions on this CPU."""
    checks = ("_is_avx512_bf16_supported", "_is_amx_tile_supported")
    found = [getattr(torch.cpu, name, None) for name in checks]
    try:
        return any(bool(check()) for check in found if callable(check))
    except RuntimeError:  # pragma: no cover - a torch build without the query compiled in
        return False


def _cpu_name() -> str:
    try:
        with open("/proc/cpuinfo") as f:
            for line in f:
                if line.startswith("model name"):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    import platform

    return platform.processor() or platform.machine()


@dataclasses.dataclass(frozen=True)
class DeviceCapabilities:
    """What a device offers that the choice depends on.

    Tests and users on unusual hardware can state it instead of having it detected:
    ``resolve_settings(..., capabilities=DeviceCapabilities("cpu", "my CPU", False))``.

    Args:
        kind: ``"cpu"``, ``"cuda"`` or another device type.
        name: the CPU model or GPU name (part of the trial cache's key).
        native_bf16: bf16 arithmetic in hardware (a CPU with AVX512-BF16 or AMX, a GPU
            with bf16 support).
    """

    kind: str
    name: str
    native_bf16: bool

    @classmethod
    def detect(cls, device: torch.device) -> DeviceCapabilities:
        """What ``device`` offers, from torch's own queries."""
        if device.type == "cuda":
            name = torch.cuda.get_device_name(device)
            return cls("cuda", name, bool(torch.cuda.is_bf16_supported()))
        if device.type == "cpu":
            return cls("cpu", _cpu_name(), _cpu_has_native_bf16())
        return cls(device.type, device.type, False)

    def precisions(self) -> tuple[str, ...]:
        """The precisions worth trying, the plain one first."""
        if self.kind == "cuda":
            return ("bf16",) if self.native_bf16 else ("fp16",)
        if self.kind == "cpu" and self.native_bf16:
            return ("fp32", "bf16")
        return ("fp32",)

    def describe(self) -> str:
        if self.kind == "cpu":
            return "this CPU" + ("" if self.native_bf16 else " (no native bf16)")
        return f"this {self.kind.upper()} device"


@dataclasses.dataclass(frozen=True)
class ComputeSettings:
    """A resolved choice: the precision, the memory format, and why.

    Examples:
        >>> s = ComputeSettings("bf16", True, "auto: 2.90x fp32 on this CPU")
        >>> s.describe()
        'precision bf16, channels_last (auto: 2.90x fp32 on this CPU)'
        >>> ComputeSettings.from_dict(s.to_dict()) == s
        True
    """

    precision: str
    channels_last: bool
    reason: str = "given"

    def describe(self) -> str:
        """One line: ``precision bf16, channels_last (why)``."""
        layout = "channels_last" if self.channels_last else "plain memory format"
        return f"precision {self.precision}, {layout} ({self.reason})"

    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)

    @classmethod
    def from_dict(cls, state: Mapping[str, Any]) -> ComputeSettings:
        return cls(str(state["precision"]), bool(state["channels_last"]),
                   str(state.get("reason", "recorded")))  # fmt: skip


# oneDNN's AVX2 kernel for the weight gradient of a 1x1 convolution in channels_last
# ran without end (two threads spinning for over 20 minutes) on narrow convolutions of 4
# and 8 channels; convolutions narrower than a vector of 8 floats gain nothing from the
# format anyway.  On a CPU, channels_last is only tried where every one is this wide.
_NARROWEST_FOR_CHANNELS_LAST = 8


def _wide_enough_for_channels_last(model: nn.Module) -> bool:
    convs = [m for m in model.modules() if isinstance(m, nn.Conv2d)]
    return all(m.out_channels >= _NARROWEST_FOR_CHANNELS_LAST for m in convs)


def _rule(
    caps: DeviceCapabilities, precisions: Sequence[str], layouts: Sequence[bool]
) -> tuple[str, bool]:
    """The choice without a trial: the device's best precision and channels_last where
    it has fast low-precision arithmetic."""
    precision = precisions[-1]
    fast = caps.kind == "cuda" or precision != "fp32"
    layout = True if fast and True in layouts else layouts[0]
    return precision, layout


def resolve_settings(
    model: nn.Module,
    device: torch.device | str,
    batch_shape: Sequence[int],
    precision: str = "auto",
    channels_last: bool | str = "auto",
    *,
    autotune_trial: bool = True,
    capabilities: DeviceCapabilities | None = None,
    optimizer: Callable[[nn.Module], torch.optim.Optimizer] | None = None,
) -> ComputeSettings:
    """The precision and memory format to train ``model`` in on ``device``.

    Explicit values are kept; each ``"auto"`` is chosen as the module's description
    says.  The trial, where one runs, trains copies of ``model`` on random images of
    ``batch_shape`` and leaves ``model``, its buffers and every random stream as they
    were; its result is cached (:func:`~resdepth.training.autotune.cache_path`).

    Args:
        model: the network to train (its structure keys the cache).
        device: where it trains.
        batch_shape: ``(batch, channels, height, width)`` of a training batch.
        precision: ``"auto"``, ``"fp32"``, ``"bf16"`` or ``"fp16"``.
        channels_last: ``"auto"``, ``True`` or ``False``.
        autotune_trial: run the timed trial on a CPU; ``False`` follows the
            capability rule alone.
        capabilities: what the device offers (default: detected).
        optimizer: builds the trial's optimizer for a model copy (default: SGD with
            momentum); the recipe's, to time the step the run will take.

    Raises:
        ValueError: for an unknown ``precision`` or ``channels_last``.

    Examples:
        >>> from resdepth import ResNet
        >>> net = ResNet(layers=(1,), widths=(8,), num_classes=4)
        >>> plain_cpu = DeviceCapabilities("cpu", "a CPU without bf16", native_bf16=False)
        >>> resolve_settings(net, "cpu", (8, 3, 16, 16), capabilities=plain_cpu,
        ...                  autotune_trial=False).describe()
        'precision fp32, plain memory format (auto, no trial: fp32 on this CPU (no native bf16))'
    """
    precision, channels_last = check_requested(precision, channels_last)
    device = torch.device(device)
    if precision != "auto" and channels_last != "auto":
        return ComputeSettings(precision, bool(channels_last), "given")
    caps = capabilities if capabilities is not None else DeviceCapabilities.detect(device)
    precisions = caps.precisions() if precision == "auto" else (precision,)
    layouts: tuple[bool, ...] = (False, True) if channels_last == "auto" else (bool(channels_last),)
    if channels_last == "auto" and caps.kind == "cpu" and not _wide_enough_for_channels_last(model):
        layouts = (False,)
    if caps.kind != "cpu" or len(precisions) * len(layouts) == 1 or not autotune_trial:
        chosen = _rule(caps, precisions, layouts)
        how = "auto" if caps.kind == "cuda" else "auto, no trial"
        return ComputeSettings(*chosen, f"{how}: {chosen[0]} on {caps.describe()}")
    candidates = [(p, c) for p in precisions for c in layouts]
    times = autotune.step_times(model, device, tuple(batch_shape), candidates, caps.name,
                                optimizer)  # fmt: skip
    if times is None:  # the model cannot be copied: no trial can leave it untouched
        chosen = _rule(caps, precisions, layouts)
        return ComputeSettings(*chosen, f"auto, no trial: {chosen[0]} on {caps.describe()}")
    base = candidates[0]
    best = min(times, key=lambda c: times[c])
    if times[best] * _MARGIN > times[base]:
        best = base
    what = f"{base[0]} in the plain format" if base[1] is False else base[0]
    if best == base:
        return ComputeSettings(
            *best, f"auto: nothing beat {what} in a timed trial on {caps.describe()}"
        )
    speedup = times[base] / times[best]
    return ComputeSettings(*best, f"auto: {speedup:.2f}x {what} on {caps.describe()}")


def training_batch_shape(
    train: object, model: nn.Module, batch_size: int
) -> tuple[int, ...] | None:
    """``(batch, channels, height, width)`` of ``train``'s batches, read without drawing
    one: a :class:`~resdepth.data.DeviceLoader` knows its own; for other batches, their
    ``batch_size`` (else ``batch_size``) and the model's ``pretrained_cfg`` input size;
    ``None`` when that is unknown."""
    if isinstance(train, DeviceLoader):
        return (min(train.batch_size, train.images.shape[0]), *train.images.shape[1:])
    inner = getattr(train, "batches", train)  # a user's batches inside RecipeBatches
    size = getattr(inner, "batch_size", None) or batch_size
    cfg = getattr(model, "pretrained_cfg", None)
    if not (isinstance(cfg, Mapping) and "input_size" in cfg):
        return None
    return (int(size), *cfg["input_size"])


class ComputeChoice:
    """The Trainer's concern of choosing its precision and memory format: what was
    asked for, and once resolved, what the run uses.

    Args:
        precision: ``"auto"``, ``"fp32"``, ``"bf16"`` or ``"fp16"``.
        channels_last: ``"auto"``, ``True`` or ``False``.
        autotune: time a trial on a CPU for ``"auto"`` (else the capability rule).
    """

    def __init__(self, precision: str, channels_last: bool | str, autotune: bool) -> None:
        self.precision, self.channels_last = check_requested(precision, channels_last)
        self.autotune: bool = flag("autotune", autotune)
        self.settings: ComputeSettings | None = None
        if self.precision != "auto" and self.channels_last != "auto":
            self.settings = ComputeSettings(self.precision, bool(self.channels_last), "given")

    def resolve(
        self,
        model: nn.Module,
        device: torch.device,
        batch_shape: tuple[int, ...] | None,
        optimizer: Callable[[nn.Module], torch.optim.Optimizer] | None = None,
        recorded: Mapping[str, Any] | None = None,
    ) -> ComputeSettings:
        """Resolve once: ``recorded`` (a checkpoint's choice) fills in each ``"auto"``
        without a trial; otherwise rank 0 chooses and every rank takes its choice (by
        the capability rule alone where the batches' shape is unknown)."""
        if self.settings is not None:
            return self.settings
        if recorded is not None:
            old = ComputeSettings.from_dict(recorded)
            precision = old.precision if self.precision == "auto" else self.precision
            layout = old.channels_last if self.channels_last == "auto" else self.channels_last
            self.settings = ComputeSettings(precision, bool(layout), "as the run recorded")
            return self.settings
        chosen = None
        if dist.rank() == 0:
            trial = self.autotune and batch_shape is not None
            chosen = resolve_settings(model, device, batch_shape or (1, 3, 32, 32),
                                      self.precision, self.channels_last,
                                      autotune_trial=trial, optimizer=optimizer)  # fmt: skip
        shared = dist.all_gather_objects(chosen.to_dict() if chosen is not None else None)[0]
        self.settings = ComputeSettings.from_dict(shared)  # type: ignore[arg-type]
        return self.settings

    def for_inference(self) -> tuple[str, bool]:
        """The precision and memory format to evaluate in: the resolved ones, else fp32
        in the plain format (the exact figures)."""
        if self.settings is None:
            return "fp32", False
        return self.settings.precision, self.settings.channels_last
