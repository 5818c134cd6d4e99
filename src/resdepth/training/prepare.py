"""What training runs through, built once the precision and memory format are known:
the wrapped network (memory format, DDP, ``torch.compile``), the optimisation step, the
weight average and the lookahead.  :func:`prepare` returns them as one object, which the
:class:`~resdepth.training.Trainer` holds; nothing here keeps or changes the trainer."""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping
from typing import Any, cast

import torch
from torch import nn

from ..artifacts import RunMetadata, recorded_compute
from ..data import DeviceLoader
from ..recipes import Recipe
from . import distributed as dist
from .averaging import WeightAveraging
from .data_init import has_epoch_hooks
from .devices import unwrap_model
from .lookahead import Lookahead
from .settings import ComputeChoice, ComputeSettings, training_batch_shape
from .step import TrainStep

__all__ = ["PreparedRun", "prepare", "wrap_model"]


def wrap_model(
    model: nn.Module, device: torch.device, channels_last: bool, compile: bool
) -> tuple[nn.Module, nn.parallel.DistributedDataParallel | None]:
    """``model`` in its memory format, wrapped in DDP under torchrun and in
    ``torch.compile`` if asked: the module to call, and the DDP wrapper (or ``None``).
    The parameters stay the same objects, so an optimizer built on them still holds."""
    if channels_last:
        model.to(memory_format=torch.channels_last)
    net: nn.Module = model
    ddp = None
    if dist.is_distributed():
        ids = [device.index] if device.type == "cuda" else None
        # A module whose parameters freeze in some epochs (set_epoch) leaves them unused.
        unused = has_epoch_hooks(model)
        net = ddp = nn.parallel.DistributedDataParallel(net, device_ids=ids,
                                                        find_unused_parameters=unused)  # fmt: skip
    # torch.compile returns a module that forwards to the compiled one.
    return (cast(nn.Module, torch.compile(net)) if compile else net), ddp


@dataclasses.dataclass
class PreparedRun:
    """The parts of a run that depend on its precision and memory format.

    Attributes:
        settings: the resolved precision and memory format.
        net: the module training calls (in its memory format; DDP, compile).
        ddp: the DDP wrapper under torchrun, else ``None``.
        step: the optimisation step.
        averaging: the weight average (the recipe's ``ema_decay``), or ``None``.
    """

    settings: ComputeSettings
    net: nn.Module
    ddp: nn.parallel.DistributedDataParallel | None
    step: TrainStep
    averaging: WeightAveraging | None

    @property
    def lookahead(self) -> Lookahead | None:
        return self.step.lookahead

    def describe(self, metadata: RunMetadata, train: object) -> RunMetadata:
        """``metadata`` recording the settings and, for a
        :class:`~resdepth.data.DeviceLoader`, the image size the model takes (what an
        exported model's config says)."""
        metadata = metadata.replace(compute=self.settings.to_dict())
        if isinstance(train, DeviceLoader):
            image_size = [int(n) for n in train.images.shape[1:]]
            metadata = metadata.replace(data={**metadata.data, "image_size": image_size})
        return metadata


def prepare(
    model: nn.Module,
    optimizer: torch.optim.Optimizer,
    recipe: Recipe,
    device: torch.device,
    compute: ComputeChoice,
    *,
    compile: bool,
    num_classes: int,
    train: object,
    state: Mapping[str, Any] | None = None,
) -> PreparedRun:
    """Resolve the precision and memory format (a resumed run's from its checkpoint
    ``state``), then wrap ``model`` and build the step for them."""
    plain = unwrap_model(model)
    shape = training_batch_shape(train, plain, recipe.batch_size)
    recorded = None
    if state is not None:
        precision, channels_last = recorded_compute(state)
        recorded = {"precision": precision, "channels_last": channels_last}
    settings = compute.resolve(plain, device, shape, recipe.build_optimizer, recorded)
    net, ddp = wrap_model(model, device, settings.channels_last, compile)
    decay = recipe.ema_decay  # the copy is made in the chosen memory format
    averaging = WeightAveraging(plain, decay) if decay is not None else None
    every = recipe.lookahead_every
    lookahead = Lookahead(plain, every, recipe.lookahead_decay) if every is not None else None
    step = TrainStep(net, optimizer, device, settings.precision, settings.channels_last,
                     recipe.label_smoothing, num_classes, recipe.clip_grad_norm, averaging,
                     lookahead)  # fmt: skip
    return PreparedRun(settings, net, ddp, step, averaging)
