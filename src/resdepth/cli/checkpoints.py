"""``resdepth eval``, ``predict``, ``convert`` and ``export``: what a trained model does
with data, the paper's model files as resdepth checkpoints, and a run's model as a
safetensors folder."""

from __future__ import annotations

import argparse
import json
from pathlib import Path

import torch
from torch import nn

from .._validate import check_unit_range, image_batch
from ..artifacts import (
    RunMetadata,
    checkpoint_from_paper,
    export_model,
    open_model_file,
    save_checkpoint,
)
from ..artifacts.model_folder import CONFIG_NAME, WEIGHTS_NAME
from ..data import load_unlabeled, write_predictions_csv
from ..errors import CheckpointError, CommandError, ExportExistsError, RunFailed
from ..recipes import Recipe
from ..recipes.components import DRY_BUILDS
from ..training import evaluate_batches, predict_images
from ..training.batches import recipe_loader
from ..training.devices import model_num_classes
from ..transforms import ViewAverage
from .common import describe_os_error, load_data, parse_device, user_input

__all__ = ["convert_command", "eval_command", "export_command", "predict_command"]


def _model_from_file(
    args: argparse.Namespace,
) -> tuple[nn.Module, Recipe, RunMetadata, torch.device, tuple[str, bool]]:
    """The model of ``args.checkpoint`` (a resdepth checkpoint or one of the paper's
    model files) in eval mode on ``args.device``, its recipe, what it records, the
    device, and the precision and memory format to run it in: the run's recorded ones,
    or ``--precision`` in the plain format (fp32 there gives the exact figures).

    No :class:`~resdepth.Trainer` and no optimizer: evaluating and predicting need
    none, and the first optimizer a process builds imports torch._dynamo, which was
    over a second of these commands' start on a 2-core CPU machine.  For the same
    reason the stored recipes skip the dry build of their optimizers.
    """
    device = parse_device(args.device)
    if device is None:
        device = torch.device("cuda" if torch.cuda.is_available() else "cpu")
    with DRY_BUILDS.skipped():
        try:
            saved = open_model_file(args.checkpoint)
        except CheckpointError:
            raise  # it names the file, and the command's error line reports it
        except (ValueError, TypeError) as err:  # a model the file describes badly
            raise CommandError(f"{args.checkpoint}: {err}") from None
    model, recipe = saved.model, saved.recipe
    if args.precision is not None:
        settings = (str(args.precision), False)
        print(f"precision {args.precision}, plain memory format (--precision)")
    else:  # the paper's files and older checkpoints record fp32 in the plain format
        settings = (saved.precision, saved.channels_last)
        layout = "channels_last" if settings[1] else "plain memory format"
        print(f"precision {settings[0]}, {layout} (as the run trained; --precision fp32 "
              "for the exact figures)")  # fmt: skip
    if saved.exported:
        summary = saved.exported
        print(f"weights: exported, epoch {summary.get('weights_epoch')} of "
              f"{summary.get('epochs')} ({summary.get('weights')})")  # fmt: skip
    elif saved.averaged:
        print(f"weights: the run's moving average of its weights (ema_decay {recipe.ema_decay})")
    if settings[1]:
        model = model.to(memory_format=torch.channels_last)
    return model.to(device).eval(), recipe, saved.metadata, device, settings


def _with_views(model: nn.Module, recipe: Recipe) -> nn.Module:
    """``model`` over the recipe's test-time views, as the Trainer evaluates it."""
    if recipe.test_views is None:
        return model
    print(f"test-time views: {recipe.test_views} (the recipe's)")
    return ViewAverage(model, recipe.test_views)


def convert_command(args: argparse.Namespace) -> int:
    out = Path(args.output)
    if out.exists():
        raise CommandError(f"{out} exists; choose another name")
    with user_input(args.paper_file):
        state = checkpoint_from_paper(args.paper_file)
    try:
        save_checkpoint(out, state)
    except OSError as err:
        raise RunFailed(f"cannot write {out}: {describe_os_error(err)}") from None
    meta = RunMetadata.from_dict(state["metadata"])
    from_name = meta.extra.get("recipe_from_file_name")
    recipe = state["recipe"]["name"] if from_name else "as1 (assumed)"
    params = sum(t.numel() for k, t in state["model"].items() if not k.endswith("_tracked"))
    print(f"wrote {out}: {meta.model_name} from {meta.source}, {params:,} values; recipe {recipe}")
    return 0


def eval_command(args: argparse.Namespace) -> int:
    model, recipe, meta, device, settings = _model_from_file(args)
    seed = 0 if args.seed is None else args.seed
    data = load_data(args, args.split == "train", args.subset, seed, allow_unsplit=True)
    if meta.classes:
        # Labels are names: the data's classes are matched to the checkpoint's by name.
        with user_input(f"--data {args.data} for {args.checkpoint}"):
            data = data.with_classes(meta.classes)
    loader = recipe_loader(data, recipe, model_num_classes(model, None, recipe), device,
                           train=False)  # fmt: skip
    result = evaluate_batches(_with_views(model, recipe), loader, device, *settings)
    print(f"{data.name}: loss {result['loss']:.4f}, accuracy {result['accuracy']:.2f}% "
          f"({len(data)} images)")  # fmt: skip
    return 0


def predict_command(args: argparse.Namespace) -> int:
    output = Path(args.output)
    if output.is_dir():
        raise CommandError(f"--output {output}: a folder; give the CSV's file name")
    model, recipe, meta, device, settings = _model_from_file(args)
    source = Path(args.input)
    if not source.exists():
        raise CommandError(f"--input {source}: no such file or folder")
    with user_input(f"--input {source}"):
        images, ids = load_unlabeled(source, split=args.split)
        check_unit_range(image_batch(images))
        labels = predict_images(_with_views(model, recipe), images, recipe.build_eval_transform(),
                                recipe.test_batch_size, device, *settings,
                                tta=args.tta)  # fmt: skip
    try:
        path = write_predictions_csv(output, labels, ids)
    except OSError as err:
        raise RunFailed(f"--output {output}: {describe_os_error(err)}") from None
    classes = meta.classes or ()
    counts = labels.bincount(minlength=len(classes) or 1).tolist()
    print(f"wrote {len(labels)} predictions to {path}")
    if classes:
        print("per class: " + ", ".join(f"{c} {n}" for c, n in zip(classes, counts, strict=False)))
    return 0


def export_command(args: argparse.Namespace) -> int:
    try:
        out = export_model(args.checkpoint, args.out_dir, overwrite=args.overwrite)
    except OSError as err:
        if isinstance(err, ExportExistsError):
            raise
        raise RunFailed(f"cannot write {args.out_dir}: {describe_os_error(err)}") from None
    config = json.loads((out / CONFIG_NAME).read_text())
    summary = config["resdepth"]["summary"]
    size = (out / WEIGHTS_NAME).stat().st_size
    print(f"wrote {out}: {WEIGHTS_NAME} ({size / 1e6:.1f} MB, {summary.get('weights')} weights "
          f"of epoch {summary.get('weights_epoch')}), {CONFIG_NAME} ({config['architecture']}, "
          f"{config['num_classes']} classes), README.md")  # fmt: skip
    print(f'load it with resdepth.load_model("{out}"); upload it with: '
          f"hf upload OWNER/NAME {out} .")  # fmt: skip
    return 0
