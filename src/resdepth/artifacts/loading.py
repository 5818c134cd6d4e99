"""A trained model back from its checkpoint, in one call."""

from __future__ import annotations

import dataclasses
import os
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import torch
from torch import nn

from ..data import CIFAR10_CLASSES
from ..errors import CheckpointError, PaperCheckpointError
from ..models import load_paper_checkpoint
from ..recipes import Recipe, get_recipe
from ..transforms import Compose
from .checkpoint import CheckpointKeys, inference_weights, load_checkpoint, recorded_compute
from .metadata import RunMetadata
from .model_folder import is_model_folder, read_model_folder

__all__ = [
    "SavedModel",
    "open_model_file",
    "recipe_of",
    "checkpoint_from_paper",
    "load_eval_transform",
    "load_model",
    "model_from_state",
    "read_model_file",
]

# The paper's runs by the model name its files begin with, and the recipe each used.
_PAPER_RUNS: dict[str, tuple[str, dict[str, Any]]] = {
    "ResNet10_v1": ("as1", {}),
    "ResNet10_v2": ("as2", {"epochs": 150, "scheduler_kwargs": {"mode": "max", "factor": 0.1,
                                                                "patience": 5}}),
    "ResNet40_v0": ("as1", {}),
    "ResNet40_v1": ("as1", {"epochs": 250}),
    "ResNet40_v2": ("as2", {}),
    "ResNet102_v1": ("as1", {}),
    "ResNet40_v3": ("resnet40-ft", {}),
}  # fmt: skip


def checkpoint_from_paper(path: str | os.PathLike[str]) -> dict[str, Any]:
    """A resdepth checkpoint's contents for one of the paper's model files: the weights,
    the model (a preset's name, or its configuration), CIFAR-10's class names, and the
    recipe the file's name implies (``as1`` when it implies none).

    Raises:
        PaperCheckpointError: the file is not a model of the paper's code.
    """
    path = Path(path)
    model = load_paper_checkpoint(path)
    run = next((r for r in _PAPER_RUNS if path.name.startswith(r + "_")), None)
    name, overrides = _PAPER_RUNS[run] if run else ("as1", {})
    classes = CIFAR10_CLASSES if model.num_classes == 10 else None
    preset = getattr(model, "preset", None)  # set by load_paper_checkpoint
    kwargs = {"num_classes": model.num_classes} if preset else None
    metadata = RunMetadata.for_model(
        model, preset, kwargs, classes=classes,
        source=f"the paper's {path.name}", extra={"recipe_from_file_name": run is not None},
    )  # fmt: skip
    return {
        "epoch": 0,
        "model": model.state_dict(),
        "recipe": get_recipe(name, **overrides).to_dict(),
        "metadata": metadata.to_dict(),
    }


def read_model_file(
    path: str | os.PathLike[str], map_location: str | torch.device = "cpu"
) -> dict[str, Any]:
    """A resdepth checkpoint, one of the paper's model files, or a model folder
    (:func:`~resdepth.export_model`'s, its ``model.safetensors``, or
    ``hf-hub:owner/name``), read as a checkpoint.

    Raises:
        CheckpointError: the file is none of these (the message gives the reasons).
    """
    if is_model_folder(path):
        return read_model_folder(path)
    try:
        return load_checkpoint(path, map_location=map_location)
    except CheckpointError as err:
        if not Path(path).is_file():
            raise
        try:
            return checkpoint_from_paper(path)
        except PaperCheckpointError as paper_err:
            raise CheckpointError(
                f"{err}; nor is it a model of the paper's code ({paper_err})"
            ) from None


def model_from_state(state: Mapping[str, Any], source: object = "the checkpoint") -> nn.Module:
    """The model a checkpoint's ``state`` describes, with its weights loaded: the weight
    average when the run kept one (its recipe's ``ema_decay``), else the trained weights.

    Raises:
        CheckpointError: the checkpoint records no way to rebuild its model, or its
            weights do not fit the model it records.
    """
    metadata = RunMetadata.from_dict(state.get("metadata"))
    model = metadata.build_model()
    weights, _ = inference_weights(state)
    try:
        model.load_state_dict(weights)
    except RuntimeError as err:  # a size mismatch: not this model's weights
        first = str(err).splitlines()[1].strip() if "\n" in str(err) else str(err)
        raise CheckpointError(
            f"the weights in {source} do not fit a {metadata.model_name} ({first})"
        ) from None
    return model


def recipe_of(state: Mapping[str, Any]) -> Recipe:
    """The recipe a checkpoint's run trained with, stored whole: a custom recipe needs no
    registering to be read back."""
    return Recipe.from_dict(state[CheckpointKeys.RECIPE])


@dataclasses.dataclass(frozen=True)
class SavedModel:
    """A model read back from a checkpoint, a paper file or a model folder
    (:func:`open_model_file`), with what running it as the run did takes.

    Attributes:
        model: the model on the CPU in fp32, in eval mode, with its inference weights
            (the weight average where the run kept one).
        recipe: the recipe the run trained with (its evaluation transform, test views).
        metadata: what the file records about its run.
        precision: the precision the run trained in (``"fp32"`` when unrecorded).
        channels_last: whether the run trained in channels_last.
        averaged: whether ``model`` holds the weight average.
        exported: a model folder's summary of its run (``None`` for a checkpoint).
    """

    model: nn.Module
    recipe: Recipe
    metadata: RunMetadata
    precision: str
    channels_last: bool
    averaged: bool
    exported: Mapping[str, Any] | None


def open_model_file(
    path: str | os.PathLike[str], map_location: str | torch.device = "cpu"
) -> SavedModel:
    """Open anything :func:`read_model_file` reads for inference: the one place a saved
    model is opened, behind :func:`load_model`, :meth:`Trainer.from_checkpoint
    <resdepth.training.Trainer.from_checkpoint>`, ``resdepth eval`` and ``predict``.

    Raises:
        CheckpointError: the file is none of those, or its model cannot be rebuilt.
    """
    state = read_model_file(path, map_location)
    precision, channels_last = recorded_compute(state)
    return SavedModel(
        model=model_from_state(state, path).eval(),
        recipe=recipe_of(state),
        metadata=RunMetadata.from_dict(state.get(CheckpointKeys.METADATA)),
        precision=precision,
        channels_last=channels_last,
        averaged=inference_weights(state)[1],
        exported=state.get("exported"),
    )


def load_model(
    path: str | os.PathLike[str],
    device: torch.device | str | None = None,
    map_location: str | torch.device = "cpu",
) -> nn.Module:
    """The trained model in a resdepth checkpoint, in eval mode: the weight average when
    the run kept one (a recipe with ``ema_decay``), as evaluation used.

    It takes float images normalised as the run's recipe normalised them, ``(x / 255 -
    mean) / std`` for uint8 ``x``, not raw images: :func:`load_eval_transform` gives
    that transform from the same file, ``model(load_eval_transform(path)(images))``.
    The model is a plain module in fp32.  To run it as the run trained it, read the
    choice from the checkpoint: ``state = load_checkpoint(path)``, then call it under
    ``torch.autocast(device.type, dtype=torch.bfloat16)`` where ``state["precision"]``
    is ``"bf16"`` (``torch.float16`` for ``"fp16"``), with the model and its inputs in
    ``torch.channels_last`` where ``state["channels_last"]`` is true.  fp32 gives the
    exact figures; :meth:`Trainer.from_checkpoint <resdepth.training.Trainer.from_checkpoint>`
    evaluates in the recorded settings.

    Args:
        path: a ``last.pt`` or ``best.pt`` (or any file :meth:`Trainer.state_dict
            <resdepth.training.Trainer.state_dict>` was saved to), or a model folder
            that :func:`~resdepth.export_model` wrote: the folder, its
            ``model.safetensors``, or ``"hf-hub:owner/name"`` once uploaded to the
            Hugging Face Hub (``pip install "resdepth[hub]"``; read through its cache,
            and from the cache alone with ``HF_HUB_OFFLINE=1``).
        device: where to put the model (default: where ``map_location`` loads it).
        map_location: where to load the checkpoint's tensors.

    Raises:
        CheckpointError: the file is not a resdepth checkpoint (nor a model folder
            whose config and weights agree), or its model is neither
            registered nor a ``ResNet`` (then build it yourself and call
            ``load_state_dict(load_checkpoint(path)["model"])``).

    Examples:
        >>> import tempfile, torch
        >>> from resdepth import ResNet, Trainer, load_model
        >>> from resdepth.data import make_synthetic
        >>> net = ResNet(layers=(1,), widths=(4,), num_classes=3)
        >>> out = tempfile.mkdtemp()
        >>> trainer = Trainer(net, device="cpu", progress=False, out_dir=out)
        >>> _ = trainer.fit(trainer.build_loaders(make_synthetic(16, 3, 8))[0], epochs=1)
        >>> model = load_model(f"{out}/last.pt")
        >>> torch.equal(model.fc.weight, net.fc.weight), model.training
        (True, False)
    """
    model = open_model_file(path, map_location).model
    if device is not None:
        model = model.to(device)
    return model.eval()


def load_eval_transform(path: str | os.PathLike[str]) -> Compose:
    """The evaluation transform of a checkpoint's run: uint8 (or [0, 1] float) images
    ``(N, C, H, W)`` to what :func:`load_model`'s model takes, with the mean and std of
    the recipe the run trained with (as timm's ``create_transform`` and torchvision's
    ``weights.transforms()`` give a model's preprocessing).

    Raises:
        CheckpointError: the file is not a resdepth checkpoint nor a paper model.

    Examples:
        >>> import tempfile, torch
        >>> from resdepth import ResNet, Trainer, load_eval_transform, load_model
        >>> from resdepth.data import make_synthetic
        >>> images, labels = make_synthetic(16, 3, 8)
        >>> trainer = Trainer(ResNet(layers=(1,), widths=(4,), num_classes=3), device="cpu",
        ...                   precision="fp32", progress=False, out_dir=tempfile.mkdtemp())
        >>> _ = trainer.fit(trainer.build_loaders((images, labels))[0], epochs=1)
        >>> path = f"{trainer.out_dir}/last.pt"
        >>> model, transform = load_model(path), load_eval_transform(path)
        >>> predicted = model(transform(images)).argmax(1)   # raw uint8 images in
        >>> torch.equal(predicted, trainer.predict(images))
        True
    """
    return recipe_of(read_model_file(path)).build_eval_transform()
