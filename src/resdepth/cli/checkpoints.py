"""``resdepth eval``, ``predict`` and ``convert``: what a trained model does with data,
and the paper's model files as resdepth checkpoints."""

from __future__ import annotations

import argparse
from pathlib import Path

from ..data import load_unlabeled, write_predictions_csv
from ..errors import CommandError, RunFailed
from ..recipes import Recipe
from ..training import (
    RunMetadata,
    Trainer,
    checkpoint_from_paper,
    model_from_state,
    read_model_file,
    save_checkpoint,
)
from .common import describe_os_error, load_data, parse_device, user_input

__all__ = ["convert_command", "eval_command", "predict_command"]


def _trainer_from_file(args: argparse.Namespace) -> tuple[Trainer, RunMetadata]:
    """A trainer holding the model of ``args.checkpoint``: a resdepth checkpoint or one
    of the paper's model files."""
    device = parse_device(args.device)
    state = read_model_file(args.checkpoint)
    metadata = RunMetadata.from_dict(state.get("metadata"))
    with user_input(f"{args.checkpoint}"):
        model = model_from_state(state, args.checkpoint)
        # The recipe as trained, stored whole: a custom recipe needs no registering here.
        recipe = Recipe.from_dict(state["recipe"])
    trainer = Trainer(model, recipe=recipe, device=device, progress=False,
                      checkpoint_every=None, metadata=metadata)  # fmt: skip
    return trainer, metadata


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
    trainer, meta = _trainer_from_file(args)
    seed = 0 if args.seed is None else args.seed
    data = load_data(args, args.split == "train", args.subset, seed, allow_unsplit=True)
    if meta.classes:
        # Labels are names: the data's classes are matched to the checkpoint's by name.
        with user_input(f"--data {args.data} for {args.checkpoint}"):
            data = data.with_classes(meta.classes)
    result = trainer.evaluate(data)
    print(f"{data.name}: loss {result['loss']:.4f}, accuracy {result['accuracy']:.2f}% "
          f"({len(data)} images)")  # fmt: skip
    return 0


def predict_command(args: argparse.Namespace) -> int:
    output = Path(args.output)
    if output.is_dir():
        raise CommandError(f"--output {output}: a folder; give the CSV's file name")
    trainer, meta = _trainer_from_file(args)
    source = Path(args.input)
    if not source.exists():
        raise CommandError(f"--input {source}: no such file or folder")
    with user_input(f"--input {source}"):
        images, ids = load_unlabeled(source, split=args.split)
        labels = trainer.predict(images, tta=args.tta)
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
