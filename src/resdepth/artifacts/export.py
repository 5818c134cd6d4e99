"""A trained model as the ecosystem shares one: ``model.safetensors`` (the weights, and
nothing that runs code when loaded) with a ``config.json`` beside it, in the folder
layout timm uses on the Hugging Face Hub, and a short ``README.md`` model card."""

from __future__ import annotations

import json
import math
import os
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import torch
from torch import nn

from .._atomic import atomic_write
from ..errors import CheckpointError, ExportExistsError
from ..recipes import Recipe
from .checkpoint import inference_weights, recorded_compute
from .history import History
from .loading import model_from_state, read_model_file, recipe_of
from .metadata import RunMetadata, versions
from .model_folder import CONFIG_NAME, FORMAT_VERSION, WEIGHTS_NAME
from .run_dir import RunDir

__all__ = ["CARD_NAME", "export_model", "plain_weights"]

#: The model card of an exported folder (the Hub shows it on the model's page).
CARD_NAME = "README.md"


def plain_weights(model: nn.Module) -> dict[str, torch.Tensor]:
    """``model``'s state dict on the CPU as safetensors stores it: every tensor
    contiguous (a channels_last weight is not) and with storage of its own (a view
    or a tied weight shares one, which safetensors refuses)."""
    return {
        key: value.detach().to("cpu").contiguous(memory_format=torch.contiguous_format).clone()
        for key, value in model.state_dict().items()
    }


def _finite(value: Any) -> float | None:
    number = float(value) if isinstance(value, (int, float)) else math.nan
    return round(number, 4) if math.isfinite(number) else None


def _history(checkpoint: str | os.PathLike[str], state: Mapping[str, Any]) -> History:
    """The run's whole history: its ``history.csv`` where the checkpoint sits in a run
    folder (``best.pt``'s own history stops at the best epoch), else the checkpoint's."""
    text = os.fspath(checkpoint)
    csv = RunDir(Path(text).parent).history
    if Path(text).is_file() and Path(text).suffix == ".pt" and csv.is_file():
        return History.from_csv(csv)
    if "exported" in state:  # a folder exported before: its summary is the history's
        return History()
    return History(list((state.get("history") or {}).get("rows") or []))


def _summary(state: Mapping[str, Any], history: History, recipe: Recipe,
             meta: RunMetadata, averaged: bool) -> dict[str, Any]:  # fmt: skip
    if "exported" in state:  # re-exporting a folder keeps what it said of its run
        return {**state["exported"], "exported_with": versions()}
    best = history.best()
    return {
        "recipe": recipe.name,
        "epochs": len(history),
        "weights_epoch": int(state.get("epoch", 0) or 0),
        "weights": "moving average (ema_decay)" if averaged else "trained",
        "final_test_accuracy": _finite(history[-1].get("test_accuracy")) if len(history) else None,
        "best_test_accuracy": _finite(best["test_accuracy"]) if best else None,
        "best_epoch": int(best["epoch"]) if best else None,
        "data": meta.to_dict()["data"],
        "seed": meta.seed,
        "trained_with": meta.to_dict()["versions"],
        "exported_with": versions(),
    }


def _config(model: nn.Module, state: Mapping[str, Any], meta: RunMetadata, recipe: Recipe,
            summary: Mapping[str, Any]) -> dict[str, Any]:  # fmt: skip
    name = meta.model or "ResNet"
    # "resdepth.<name>": timm's "hf-hub:" loader must not take it for its own resnet18.
    architecture = f"resdepth.{name}"
    cfg = dict(getattr(model, "pretrained_cfg", None) or {})
    num_classes = int(getattr(model, "num_classes", cfg.get("num_classes", 0)) or 0)
    cfg.update(architecture=architecture, num_classes=num_classes, mean=list(recipe.mean),
               std=list(recipe.std))  # fmt: skip
    image_size = meta.data.get("image_size")  # the training images', where recorded
    if isinstance(image_size, (list, tuple)) and len(image_size) == 3:
        cfg["input_size"] = [int(n) for n in image_size]
    cfg = {k: list(v) if isinstance(v, tuple) else v for k, v in cfg.items()}
    config: dict[str, Any] = {
        "architecture": architecture,
        "num_classes": num_classes,
        "num_features": int(getattr(model, "num_features", 0) or 0),
        "global_pool": str(getattr(model, "global_pool", "avg")),
        "pretrained_cfg": cfg,
    }
    if meta.classes is not None:
        config["label_names"] = list(meta.classes)
    config["resdepth"] = {
        "format": FORMAT_VERSION,
        "metadata": meta.to_dict(),
        "recipe": recipe.to_dict(),
        **dict(zip(("precision", "channels_last"), recorded_compute(state), strict=True)),
        "summary": dict(summary),
    }
    return config


def _card(config: Mapping[str, Any], meta: RunMetadata) -> str:
    summary = config["resdepth"]["summary"]
    data = (summary.get("data") or {}).get("name") or "its data"
    if summary.get("final_test_accuracy") is None:
        scores = "no test accuracy recorded"
    else:
        scores = (f"final test accuracy {summary['final_test_accuracy']}%, best "
                  f"{summary['best_test_accuracy']}% at epoch {summary['best_epoch']}")  # fmt: skip
    cfg = config["pretrained_cfg"]
    lines = [
        "---", "library_name: resdepth", "pipeline_tag: image-classification",
        "tags: [image-classification, resdepth, safetensors]", "---", "",
        f"# {meta.model_name}", "",
        f"A {meta.model_name} trained with resdepth's `{summary.get('recipe')}` recipe on "
        f"{data}: {summary.get('epochs')} epochs, {scores}. These are the weights of epoch "
        f"{summary.get('weights_epoch')} ({summary.get('weights')}).", "",
        "```python", "import resdepth", "", 'model = resdepth.load_model("hf-hub:OWNER/NAME")',
        'transform = resdepth.load_eval_transform("hf-hub:OWNER/NAME")  # uint8 images in',
        "logits = model(transform(images))", "```", "",
        f"Inputs: images of {cfg['input_size'][1]}x{cfg['input_size'][2]} with "
        f"{cfg['input_size'][0]} channels, uint8 through the transform, or floats in [0, 1] "
        f"normalised with mean {cfg['mean']} and std {cfg['std']}.", "",
    ]  # fmt: skip
    return "\n".join(lines)


def export_model(
    checkpoint: str | os.PathLike[str],
    out_dir: str | os.PathLike[str],
    *,
    overwrite: bool = False,
) -> Path:
    """Write a checkpoint's trained model to ``out_dir`` as ``model.safetensors``,
    ``config.json`` and a ``README.md`` model card: the Hub layout timm uses, which
    :func:`~resdepth.load_model` (``load_model(out_dir)``, ``load_model(f"{out_dir}/
    model.safetensors")`` or, once uploaded, ``load_model("hf-hub:owner/name")``) reads.

    ``model.safetensors`` holds the weights only: the weight average when the run kept
    one (as :func:`~resdepth.load_model` uses), contiguous and each with its own storage.
    ``config.json`` holds timm's keys (``architecture`` as ``resdepth.<name>``, so
    that timm does not take it for a network of its own, ``num_classes``,
    ``label_names`` and ``pretrained_cfg`` with the input size and the recipe's mean
    and std) and a ``"resdepth"`` object: how to rebuild the model, the recipe, the
    precision it trained in, and a summary of the run (epochs, final and best test
    accuracy from the run's ``history.csv`` where the checkpoint lies in a run folder,
    the data, the versions).

    Args:
        checkpoint: a ``best.pt`` or ``last.pt``, one of the paper's model files, or a
            model folder exported before.
        out_dir: the folder to write (created if missing).
        overwrite: replace a model folder already there.

    Returns:
        ``out_dir`` as a :class:`~pathlib.Path`.

    Raises:
        CheckpointError: ``checkpoint`` is not one, or records no way to rebuild its model.
        ExportExistsError: ``out_dir`` holds a model already and ``overwrite`` is false.

    Examples:
        >>> import tempfile, torch
        >>> from resdepth import ResNet, Trainer, export_model, load_model
        >>> from resdepth.data import make_synthetic
        >>> run = tempfile.mkdtemp()
        >>> trainer = Trainer(ResNet(layers=(1,), widths=(4,), num_classes=3), device="cpu",
        ...                   progress=False, out_dir=run)
        >>> _ = trainer.fit(trainer.build_loaders(make_synthetic(16, 3, 8))[0], epochs=1)
        >>> folder = export_model(f"{run}/last.pt", f"{run}/export")
        >>> sorted(p.name for p in folder.iterdir())
        ['README.md', 'config.json', 'model.safetensors']
        >>> torch.equal(load_model(folder).fc.weight, load_model(f"{run}/last.pt").fc.weight)
        True
    """
    from safetensors.torch import save

    out = Path(out_dir)
    taken = [n for n in (WEIGHTS_NAME, CONFIG_NAME, CARD_NAME) if (out / n).exists()]
    if taken and not overwrite:
        raise ExportExistsError(f"{out} holds {', '.join(taken)} already; give overwrite=True "
                                "(--overwrite) or another folder")  # fmt: skip
    state = read_model_file(checkpoint)
    meta = RunMetadata.from_dict(state.get("metadata"))
    if not meta.rebuildable:
        raise CheckpointError(
            f"{checkpoint}: its model is neither registered nor a ResNet, so a config cannot "
            "describe it; save its state_dict with safetensors yourself"
        )
    model = model_from_state(state, checkpoint)
    recipe = recipe_of(state)
    averaged = inference_weights(state)[1]
    summary = _summary(state, _history(checkpoint, state), recipe, meta, averaged)
    config = _config(model, state, meta, recipe, summary)
    out.mkdir(parents=True, exist_ok=True)
    # Weights first: a folder whose config is written describes weights that are whole.
    with atomic_write(out / WEIGHTS_NAME, "wb") as f:
        f.write(save(plain_weights(model), metadata={"format": "pt"}))
    with atomic_write(out / CONFIG_NAME, "w") as f:
        f.write(json.dumps(config, indent=2) + "\n")
    with atomic_write(out / CARD_NAME, "w") as f:
        f.write(_card(config, meta))
    return out
