"""``resdepth train``: a run from the command line, or its exact continuation."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import Any

from ..artifacts import RunDir, RunMetadata, load_checkpoint
from ..errors import CommandError, ResumeMismatchError, RunFailed
from ..models import count_parameters, depth, get_model
from ..recipes import Recipe, get_recipe
from ..seeding import seed_everything
from ..training import Trainer
from .common import build_loggers, describe_os_error, load_data, parse_device, user_input

__all__ = ["train_command"]


def _resumed_settings(args: argparse.Namespace, out: Path) -> dict[str, Any]:
    """The run's own settings, from its checkpoint, where the command leaves them out."""
    state = load_checkpoint(RunDir(out).last)
    meta = RunMetadata.from_dict(state.get("metadata"))
    recipe = Recipe.from_dict(state["recipe"])
    if args.recipe is not None and args.recipe != recipe.name:
        with user_input("--recipe"):
            recipe = get_recipe(args.recipe)  # the resume check then names every difference
    trained = len(state["history"]["rows"])
    if args.epochs is not None and args.epochs < trained:
        raise CommandError(
            f"--epochs {args.epochs}: the run in {out} has trained {trained} epochs already; "
            f"give --epochs {trained} or more, or leave it out to keep the run's length"
        )
    if args.seed is not None and meta.seed is not None and args.seed != meta.seed:
        raise CommandError(
            f"--seed {args.seed}: the run in {out} used seed {meta.seed}; leave --seed out"
        )
    return {
        "model": args.model or meta.model or "resnet40",
        "recipe": recipe,
        # "auto" takes what the checkpoint recorded; another value must match it.
        "precision": _precision(args),
        "seed": (meta.seed or 0) if args.seed is None else args.seed,
        "subset": args.subset if args.subset is not None else meta.data.get("subset"),
        "test_on_train": args.test_on_train or bool(meta.data.get("test_on_train")),
    }


def _precision(args: argparse.Namespace) -> str:
    """``--precision``, with ``--deterministic`` meaning fp32."""
    if args.deterministic:
        if args.precision not in (None, "auto", "fp32"):
            raise CommandError(
                f"--deterministic trains in fp32; leave out --precision {args.precision}"
            )
        return "fp32"
    return str(args.precision or "auto")


def _channels_last(args: argparse.Namespace) -> bool | str:
    return {"on": True, "off": False}.get(args.channels_last or "auto", "auto")


def _settings(args: argparse.Namespace, out: Path) -> dict[str, Any]:
    if args.resume:
        return _resumed_settings(args, out)
    with user_input("--recipe"):
        recipe = get_recipe(args.recipe or "as1")
    return {
        "model": args.model or "resnet40", "recipe": recipe,
        "precision": _precision(args), "seed": 0 if args.seed is None else args.seed,
        "subset": args.subset, "test_on_train": args.test_on_train,
    }  # fmt: skip


def train_command(args: argparse.Namespace) -> int:
    out = Path(args.out)
    with user_input("--out"):
        RunDir(out).check_can_start(resume=args.resume)
    device = parse_device(args.device)
    settings = _settings(args, out)
    recipe = settings["recipe"]
    with user_input("--batch-size / --epochs"):
        if args.batch_size is not None:
            recipe = recipe.replace(batch_size=args.batch_size)
        if args.epochs is not None and not args.resume:
            recipe = recipe.replace(epochs=args.epochs)
    seed, subset = settings["seed"], settings["subset"]
    train = load_data(args, True, subset, seed)
    test = load_data(args, False, subset, seed, train.classes, settings["test_on_train"])
    # Seeded before the model is built: the same command gives the same initial weights.
    seed_everything(seed, deterministic=args.deterministic)
    overrides: dict[str, Any] = {"num_classes": len(train.classes)}
    with user_input("--model"):
        model = get_model(settings["model"], **overrides)
    data = {"name": str(args.data), "subset": subset, "test_on_train": settings["test_on_train"]}
    metadata = RunMetadata.for_model(model, settings["model"], overrides, classes=train.classes,
                                     data=data)  # fmt: skip
    with user_input("train"):
        trainer = Trainer(
            model, recipe=recipe, device=device, precision=settings["precision"],
            channels_last=_channels_last(args), autotune=not args.no_autotune,
            compile=args.compile, out_dir=out, seed=seed,
            progress=not args.quiet, progress_every=args.progress_every, metadata=metadata,
            checkpoint_every=args.checkpoint_every,
            callbacks=build_loggers(args, out, "resdepth"),
        )  # fmt: skip
    if trainer.is_main:
        print(f"data: {train.name}, {len(train)} images; {test.name}, {len(test)} images")
        print(f"model: {settings['model']} ({count_parameters(model):,} parameters, "
              f"depth {depth(model)})")  # fmt: skip
        print(f"recipe: {recipe.name}: {recipe.summary()}")
        # The precision and memory format follow when training starts ("auto" is chosen
        # on the real model and batch then, or read from the checkpoint on resume).
        print(f"device: {trainer.device}; writing to {out}", flush=True)
        if trainer.device.type == "cpu" and trainer.precision == "fp16":
            print("resdepth: warning: fp16 on a CPU is far slower than bf16 there; consider "
                  "--precision bf16", file=sys.stderr)  # fmt: skip
    loaders = trainer.build_loaders(train, test)
    try:
        history = trainer.fit(*loaders, epochs=args.epochs, resume=args.resume,
                              allow_other_data=args.allow_other_data,
                              time_budget=args.time_budget)  # fmt: skip
    except ResumeMismatchError as err:
        raise CommandError(f"--resume: {err}") from None
    except OSError as err:
        raise RunFailed(f"the run stopped: {describe_os_error(err)}") from None
    if args.drop_previous and trainer.is_main:
        freed = RunDir(out).drop_previous()
        print(f"deleted previous.pt ({freed / 1e6:.0f} MB)" if freed else "no previous.pt")
    best = history.best()
    if trainer.is_main and best is not None:
        print(f"best test accuracy {best['test_accuracy']:.2f}% at epoch {best['epoch']}; "
              f"final {history[-1]['test_accuracy']:.2f}%; files in {out}")  # fmt: skip
    return 0
