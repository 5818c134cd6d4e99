"""The ``resdepth`` command line."""

from __future__ import annotations

import argparse
import os
import pickle
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import torch

from .models import count_parameters, depth, get_model, list_models, summary

__all__ = ["main", "build_parser"]


class CommandError(Exception):
    """A user error: printed as one line, exit status 2, no traceback."""


def _cmd_models(args: argparse.Namespace) -> int:
    names = list_models(args.pattern)
    if not names:
        raise CommandError(f"no model matches {args.pattern!r}")
    rows = []
    for name in names:
        # The meta device sizes a network without allocating or initialising weights.
        with torch.device("meta"):
            net = get_model(name)
        rows.append((name, depth(net), count_parameters(net)))
    width = max(len(r[0]) for r in rows)
    print(f"{'model':<{width}}  {'depth':>5}  {'parameters':>12}")
    for name, d, n in rows:
        print(f"{name:<{width}}  {d:>5}  {n:>12,}")
    return 0


def _cmd_summary(args: argparse.Namespace) -> int:
    try:
        net = get_model(args.name, num_classes=args.num_classes)
        print(summary(net, input_size=tuple(args.input_size)))
    except ValueError as err:
        raise CommandError(str(err)) from None
    return 0


def _load_data(args: argparse.Namespace, train: bool, subset: int | None = None,
               seed: int = 0) -> Any:  # fmt: skip
    from .data import load_dataset

    ds = load_dataset(
        args.data, train=train, root=args.root, download=not args.no_download,
        cache_dir=args.cache_dir, synthetic_size=subset or 10_000,
    )  # fmt: skip
    return ds.subset(subset, seed=seed) if subset else ds


def _resumed_settings(args: argparse.Namespace, out: Path) -> dict[str, Any]:
    """The run's own settings, from its checkpoint, where the command leaves them out."""
    from .checkpoint import load_checkpoint
    from .recipes import Recipe, get_recipe

    state = load_checkpoint(out / "last.pt")
    meta = state.get("metadata") or {}
    recipe = Recipe.from_dict(state["recipe"])
    if args.recipe is not None and args.recipe != recipe.name:
        recipe = get_recipe(args.recipe)  # the resume check then names every difference
    if args.seed is not None and args.seed != meta.get("seed", args.seed):
        raise CommandError(
            f"--seed {args.seed}: the run in {out} used seed {meta['seed']}; "
            "leave --seed out to keep it"
        )
    subset = args.subset if args.subset is not None else meta.get("subset")
    return {
        "model": args.model or meta.get("model", "resnet40"),
        "recipe": recipe,
        "precision": args.precision or state.get("precision", "fp32"),
        "seed": meta.get("seed", 0) if args.seed is None else args.seed,
        "subset": subset,
    }


def _cmd_train(args: argparse.Namespace) -> int:
    from ._run_dir import RunDirectory
    from .recipes import get_recipe
    from .seeding import seed_everything
    from .trainer import Trainer

    out = Path(args.out)
    RunDirectory(out).check_can_start(resume=args.resume)
    if args.resume:
        settings = _resumed_settings(args, out)
    else:
        settings = {
            "model": args.model or "resnet40", "recipe": get_recipe(args.recipe or "as1"),
            "precision": args.precision or "fp32",
            "seed": args.seed if args.seed is not None else 0, "subset": args.subset,
        }  # fmt: skip
    recipe = settings["recipe"]
    if args.batch_size is not None:
        recipe = recipe.replace(batch_size=args.batch_size)
    seed, subset = settings["seed"], settings["subset"]
    train = _load_data(args, True, subset, seed)
    test = _load_data(args, False, subset, seed)
    # Seeded before the model is built: the same command gives the same initial weights.
    seed_everything(seed, deterministic=args.deterministic)
    overrides = {"num_classes": len(train.classes)}
    model = get_model(settings["model"], **overrides)
    metadata = {"model": settings["model"], "model_kwargs": overrides,
                "classes": list(train.classes), "seed": seed, "subset": subset}  # fmt: skip
    trainer = Trainer(
        model, recipe=recipe, device=args.device, precision=settings["precision"],
        channels_last=args.channels_last, compile=args.compile, out_dir=out, seed=seed,
        progress=not args.quiet, metadata=metadata, checkpoint_every=args.checkpoint_every,
    )  # fmt: skip
    if trainer.is_main:
        print(f"data: {train.name}, {len(train)} images; {test.name}, {len(test)} images")
        print(
            f"model: {settings['model']} ({count_parameters(model):,} parameters, "
            f"depth {depth(model)})"
        )
        print(f"recipe: {recipe.name}: {recipe.summary()}")
        print(f"device: {trainer.device}, precision {trainer.precision}; writing to {out}")
    train_loader, test_loader = trainer.build_loaders(train, test)
    history = trainer.fit(train_loader, test_loader, epochs=args.epochs, resume=args.resume)
    best = history.best()
    if trainer.is_main and best is not None:
        print(
            f"best test accuracy {best['test_accuracy']:.2f}% at epoch {best['epoch']}; "
            f"final {history[-1]['test_accuracy']:.2f}%; files in {out}"
        )
    return 0


def _trainer_from_checkpoint(args: argparse.Namespace) -> Any:
    from .checkpoint import load_checkpoint
    from .recipes import Recipe
    from .trainer import Trainer

    state = load_checkpoint(args.checkpoint)
    meta = state.get("metadata") or {}
    if "model" not in meta:
        raise CommandError(f"{args.checkpoint} does not record its model; load it from Python")
    model = get_model(meta["model"], **meta.get("model_kwargs", {}))
    model.load_state_dict(state["model"])
    # The recipe as trained, stored whole: a custom recipe needs no registering here.
    recipe = Recipe.from_dict(state["recipe"])
    trainer = Trainer(model, recipe=recipe, device=args.device, progress=False)
    return trainer, meta


def _cmd_eval(args: argparse.Namespace) -> int:
    trainer, _ = _trainer_from_checkpoint(args)
    data = _load_data(args, train=args.split == "train")
    result = trainer.evaluate(data)
    print(
        f"{data.name}: loss {result['loss']:.4f}, accuracy {result['accuracy']:.2f}% "
        f"({len(data)} images)"
    )
    return 0


def _cmd_predict(args: argparse.Namespace) -> int:
    from .data import load_image_folder, load_unlabeled_pickle, write_predictions_csv

    trainer, meta = _trainer_from_checkpoint(args)
    source = Path(args.input)
    if not source.exists():
        raise CommandError(f"no input at {source}")
    if source.suffix.lower() in (".pkl", ".pickle"):
        images = load_unlabeled_pickle(source)
    else:
        images, _, _ = load_image_folder(source, split=args.split)
    labels = trainer.predict(images, tta=args.tta)
    path = write_predictions_csv(args.output, labels)
    classes = meta.get("classes") or []
    counts = labels.bincount(minlength=len(classes) or 1).tolist()
    print(f"wrote {len(labels)} predictions to {path}")
    if classes:
        print("per class: " + ", ".join(f"{c} {n}" for c, n in zip(classes, counts, strict=False)))
    return 0


def _cmd_recipes(args: argparse.Namespace) -> int:
    from .recipes import get_recipe, list_recipes

    names = list_recipes(args.pattern)
    if not names:
        raise CommandError(f"no recipe matches {args.pattern!r}")
    width = max(map(len, names))
    for name in names:
        r = get_recipe(name)
        print(f"{name:<{width}}  {r.description}")
        if args.verbose:
            print(f"{'':<{width}}  {r.summary()}\n{'':<{width}}  source: {r.source}")
    return 0


BENCHMARKS = ("transforms", "train_step", "loader", "trainer_overhead", "gpu_check")


def _benchmarks_folder() -> Path | None:
    # The scripts live in the source repository (benchmarks/), not in the wheel.
    for candidate in (
        Path.cwd() / "benchmarks",
        Path(__file__).resolve().parents[2] / "benchmarks",
    ):
        if (candidate / "_common.py").is_file():
            return candidate
    return None


def _cmd_bench(args: argparse.Namespace) -> int:
    import runpy

    folder = _benchmarks_folder()
    if folder is None:
        raise CommandError(
            "the benchmark scripts are in the resdepth source repository (benchmarks/); "
            "run this from a checkout"
        )
    if args.name is None:
        for name in BENCHMARKS:
            doc = (folder / f"{name}.py").read_text().split('"""')[1].splitlines()[0]
            print(f"{name:<17} {doc}")
        return 0
    old_argv = sys.argv
    sys.argv = [str(folder / f"{args.name}.py"), *args.args]
    try:
        runpy.run_path(sys.argv[0], run_name="__main__")
    except SystemExit as exit_:
        return int(exit_.code or 0)
    finally:
        sys.argv = old_argv
    return 0


def _add_data_options(p: argparse.ArgumentParser) -> None:
    p.add_argument(
        "--data", required=True,
        help="'cifar10' (torchvision, downloaded into --root), 'synthetic', "
        "or a folder or .tar/.tar.gz/.zip archive of class subfolders",
    )  # fmt: skip
    p.add_argument(
        "--root", default="data", help="where torchvision keeps CIFAR-10 (default: data)"
    )
    p.add_argument("--no-download", action="store_true", help="never download CIFAR-10")
    p.add_argument("--cache-dir", default=None, help="cache decoded images of an archive here")
    p.add_argument("--subset", type=int, default=None, help="use N random images of each split")
    p.add_argument(
        "--seed", type=int, default=None,
        help="seeds the subset, the model's initial weights, shuffling and augmentation "
        "(default 0; a resumed run keeps its own)",
    )  # fmt: skip
    p.add_argument(
        "--device", default=None, help="cpu, cuda, cuda:1 ... (default: CUDA if present)"
    )


def build_parser() -> argparse.ArgumentParser:
    """The argument parser of the ``resdepth`` command."""
    parser = argparse.ArgumentParser(
        prog="resdepth", description="Residual networks for small images."
    )
    from . import __version__

    parser.add_argument("--version", action="version", version=f"resdepth {__version__}")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", required=True)

    p = sub.add_parser("models", help="list registered models with depth and parameters")
    p.add_argument("pattern", nargs="?", default="*", help="fnmatch pattern (default: *)")
    p.set_defaults(func=_cmd_models)

    p = sub.add_parser("summary", help="print a layer-by-layer summary of a model")
    p.add_argument("name", help="a registered model name (see `resdepth models`)")
    p.add_argument("--input-size", type=int, nargs=3, default=(3, 32, 32), metavar=("C", "H", "W"))
    p.add_argument("--num-classes", type=int, default=10)
    p.set_defaults(func=_cmd_summary)

    p = sub.add_parser("train", help="train a model with a recipe")
    p.add_argument(
        "--model", default=None,
        help="a registered model (default: resnet40; a resumed run keeps its own)",
    )  # fmt: skip
    p.add_argument(
        "--recipe", default=None,
        help="a registered recipe (default: as1; a resumed run keeps its own)",
    )  # fmt: skip
    _add_data_options(p)
    p.add_argument(
        "--epochs", type=int, default=None,
        help="epochs (default: the recipe's; with --resume, the run's own, and another "
        "number re-plans the schedule for that length)",
    )  # fmt: skip
    p.add_argument("--batch-size", type=int, default=None, help="override the recipe's")
    p.add_argument("--out", required=True, help="run folder: history.csv, last.pt, best.pt")
    p.add_argument(
        "--precision", choices=("fp32", "bf16", "fp16"), default=None,
        help="default fp32; a resumed run keeps its own",
    )  # fmt: skip
    p.add_argument("--channels-last", action="store_true")
    p.add_argument("--compile", action="store_true", help="torch.compile the model")
    p.add_argument("--resume", action="store_true", help="continue the run in --out")
    p.add_argument(
        "--checkpoint-every", default="5min", metavar="WHEN",
        help="also save last.pt during an epoch: '5min' (default), '300s', '1000steps', 'off'",
    )  # fmt: skip
    p.add_argument(
        "--deterministic", action="store_true",
        help="deterministic algorithms (repeatable GPU runs, somewhat slower)",
    )  # fmt: skip
    p.add_argument("--quiet", action="store_true", help="no progress bar or epoch lines")
    p.set_defaults(func=_cmd_train)

    p = sub.add_parser("eval", help="evaluate a checkpoint on a data set")
    p.add_argument("checkpoint")
    _add_data_options(p)
    p.add_argument("--split", choices=("train", "test"), default="test")
    p.set_defaults(func=_cmd_eval)

    p = sub.add_parser("predict", help="write ID,Label predictions for unlabeled images")
    p.add_argument("checkpoint")
    p.add_argument("--input", required=True, help="an unlabeled .pkl, or an image folder/archive")
    p.add_argument("--output", required=True, help="the CSV to write")
    p.add_argument("--split", default=None, help="split folder inside --input, if any")
    p.add_argument("--tta", action="store_true", help="average with horizontally flipped images")
    p.add_argument("--device", default=None)
    p.set_defaults(func=_cmd_predict)

    p = sub.add_parser("bench", help="run a benchmark script from benchmarks/ (in a checkout)")
    p.add_argument("name", nargs="?", choices=BENCHMARKS, help="omit to list them")
    p.add_argument("args", nargs=argparse.REMAINDER, help="passed to the benchmark")
    p.set_defaults(func=_cmd_bench)

    p = sub.add_parser("recipes", help="list registered training recipes")
    p.add_argument("pattern", nargs="?", default="*")
    p.add_argument("-v", "--verbose", action="store_true", help="hyperparameters and sources")
    p.set_defaults(func=_cmd_recipes)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Run the command line; returns the exit status."""
    parser = build_parser()
    args = parser.parse_args(argv)
    from .checkpoint import CheckpointError
    from .data import DatasetNotFoundError
    from .trainer import NonFiniteLossError, RunExistsError, RunInterrupted, RunLockedError

    user_errors = (
        CommandError, CheckpointError, DatasetNotFoundError, RunExistsError,
        RunLockedError, NonFiniteLossError, ValueError, FileNotFoundError,
        pickle.UnpicklingError,
    )  # fmt: skip
    try:
        return int(args.func(args))
    except user_errors as err:
        if os.environ.get("RESDEPTH_DEBUG"):
            raise
        print(f"resdepth: error: {err}", file=sys.stderr)
        return 2
    except RunInterrupted as stopped:
        print(f"resdepth: {stopped}", file=sys.stderr)
        return 128 + stopped.signal
    except KeyboardInterrupt:
        print("\nresdepth: interrupted", file=sys.stderr)
        return 130


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
