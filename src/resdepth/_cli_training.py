"""The training commands of the ``resdepth`` command line: train, eval and predict.

Each turns what can go wrong with the user's input into one :class:`CommandError`
line; a failure while a run is under way is a :class:`RunFailed`.
"""

from __future__ import annotations

import argparse
import contextlib
import pickle
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import torch

from ._run_dir import RunDirectory
from .checkpoint import CheckpointError, load_checkpoint, save_checkpoint
from .data import CIFAR10_CLASSES, Dataset, load_dataset, load_unlabeled, write_predictions_csv
from .models import (
    BLOCKS,
    PaperCheckpointError,
    ResNet,
    count_parameters,
    depth,
    get_model,
    load_paper_checkpoint,
)
from .recipes import Recipe, get_recipe
from .seeding import seed_everything
from .trainer import ResumeMismatchError, Trainer

__all__ = [
    "CommandError",
    "RunFailed",
    "convert_command",
    "eval_command",
    "paper_checkpoint",
    "predict_command",
    "train_command",
]


class CommandError(Exception):
    """A user error: printed as one line, exit status 2, no traceback."""


class RunFailed(Exception):
    """A failure while a run is under way (a full disk, say): one line, exit status 1."""


@contextlib.contextmanager
def user_input(what: str) -> Iterator[None]:
    """Report what the user's input made fail as one line naming ``what``."""
    try:
        yield
    except (ValueError, TypeError, OSError, pickle.UnpicklingError) as err:
        raise CommandError(f"{what}: {err}") from None


def _device(text: str | None) -> torch.device | None:
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


def _load_data(
    args: argparse.Namespace, train: bool, subset: int | None = None, seed: int = 0,
    classes: Any = None, allow_unsplit: bool = False,
) -> Dataset:  # fmt: skip
    with user_input(f"--data {args.data}"):
        ds = load_dataset(
            args.data, train=train, root=args.root, download=not args.no_download,
            cache_dir=args.cache_dir, synthetic_size=subset or 10_000, classes=classes,
            allow_unsplit=allow_unsplit,
        )  # fmt: skip
    return ds.subset(subset, seed=seed) if subset else ds


def _resumed_settings(args: argparse.Namespace, out: Path) -> dict[str, Any]:
    """The run's own settings, from its checkpoint, where the command leaves them out."""
    state = load_checkpoint(out / "last.pt")
    meta = state.get("metadata") or {}
    recipe = Recipe.from_dict(state["recipe"])
    if args.recipe is not None and args.recipe != recipe.name:
        with user_input("--recipe"):
            recipe = get_recipe(args.recipe)  # the resume check then names every difference
    if args.seed is not None and args.seed != meta.get("seed", args.seed):
        raise CommandError(
            f"--seed {args.seed}: the run in {out} used seed {meta['seed']}; leave --seed out"
        )
    return {
        "model": args.model or meta.get("model", "resnet40"),
        "recipe": recipe,
        "precision": args.precision or state.get("precision", "fp32"),
        "seed": meta.get("seed", 0) if args.seed is None else args.seed,
        "subset": args.subset if args.subset is not None else meta.get("subset"),
        "test_on_train": args.test_on_train or bool(meta.get("test_on_train")),
    }


def _settings(args: argparse.Namespace, out: Path) -> dict[str, Any]:
    if args.resume:
        return _resumed_settings(args, out)
    with user_input("--recipe"):
        recipe = get_recipe(args.recipe or "as1")
    return {
        "model": args.model or "resnet40", "recipe": recipe,
        "precision": args.precision or "fp32", "seed": 0 if args.seed is None else args.seed,
        "subset": args.subset, "test_on_train": args.test_on_train,
    }  # fmt: skip


def train_command(args: argparse.Namespace) -> int:
    out = Path(args.out)
    with user_input("--out"):
        RunDirectory(out).check_can_start(resume=args.resume)
    device = _device(args.device)
    settings = _settings(args, out)
    recipe = settings["recipe"]
    with user_input("--batch-size / --epochs"):
        if args.batch_size is not None:
            recipe = recipe.replace(batch_size=args.batch_size)
        if args.epochs is not None and not args.resume:
            recipe = recipe.replace(epochs=args.epochs)
    seed, subset = settings["seed"], settings["subset"]
    train = _load_data(args, True, subset, seed)
    test = _load_data(args, False, subset, seed, train.classes, settings["test_on_train"])
    # Seeded before the model is built: the same command gives the same initial weights.
    seed_everything(seed, deterministic=args.deterministic)
    overrides = {"num_classes": len(train.classes)}
    with user_input("--model"):
        model = get_model(settings["model"], **overrides)
    metadata = {"model": settings["model"], "model_kwargs": overrides,
                "classes": list(train.classes), "seed": seed, "subset": subset,
                "test_on_train": settings["test_on_train"]}  # fmt: skip
    with user_input("train"):
        trainer = Trainer(
            model, recipe=recipe, device=device, precision=settings["precision"],
            channels_last=args.channels_last, compile=args.compile, out_dir=out, seed=seed,
            progress=not args.quiet, progress_every=args.progress_every, metadata=metadata,
            checkpoint_every=args.checkpoint_every,
        )  # fmt: skip
    if trainer.is_main:
        print(f"data: {train.name}, {len(train)} images; {test.name}, {len(test)} images")
        print(f"model: {settings['model']} ({count_parameters(model):,} parameters, "
              f"depth {depth(model)})")  # fmt: skip
        print(f"recipe: {recipe.name}: {recipe.summary()}")
        print(f"device: {trainer.device}, precision {trainer.precision}; writing to {out}",
              flush=True)  # fmt: skip
        if trainer.device.type == "cpu" and trainer.precision == "fp16":
            print("resdepth: warning: fp16 on a CPU is far slower than bf16 there; consider "
                  "--precision bf16", file=sys.stderr)  # fmt: skip
    loaders = trainer.build_loaders(train, test)
    try:
        history = trainer.fit(*loaders, epochs=args.epochs, resume=args.resume)
    except ResumeMismatchError as err:
        raise CommandError(f"--resume: {err}") from None
    except OSError as err:
        raise RunFailed(f"the run stopped: {err}") from None
    best = history.best()
    if trainer.is_main and best is not None:
        print(f"best test accuracy {best['test_accuracy']:.2f}% at epoch {best['epoch']}; "
              f"final {history[-1]['test_accuracy']:.2f}%; files in {out}")  # fmt: skip
    return 0


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


def paper_checkpoint(path: str | Path) -> dict[str, Any]:
    """A resdepth checkpoint's contents for one of the paper's model files: the weights,
    the model (a preset's name, or its configuration), CIFAR-10's class names, and the
    recipe the file's name implies (``as1`` when it implies none)."""
    path = Path(path)
    model = load_paper_checkpoint(path)
    config = {k: getattr(model, k) for k in ("layers", "widths", "num_classes", "kernel_size",
                                             "skip_kernel_size")}  # fmt: skip
    run = next((r for r in _PAPER_RUNS if path.name.startswith(r + "_")), None)
    name, overrides = _PAPER_RUNS.get(run, ("as1", {})) if run else ("as1", {})
    classes = list(CIFAR10_CLASSES) if model.num_classes == 10 else None
    return {
        "epoch": 0,
        "model": model.state_dict(),
        "recipe": get_recipe(name, **overrides).to_dict(),
        "metadata": {
            "model": model.preset, "model_config": {**config, "block": "BasicBlock"},
            "model_kwargs": {"num_classes": model.num_classes}, "classes": classes,
            "source": f"the paper's {path.name}", "recipe_from_file_name": run is not None,
        },
    }  # fmt: skip


def _read_model_file(path: str | Path) -> dict[str, Any]:
    """A resdepth checkpoint, or one of the paper's model files read as one."""
    try:
        return load_checkpoint(path)
    except CheckpointError as err:
        if not Path(path).is_file():
            raise
        try:
            return paper_checkpoint(path)
        except PaperCheckpointError as paper_err:
            raise CommandError(
                f"{err}; nor is it a model of the paper's code ({paper_err})"
            ) from None


def _model_from(meta: dict[str, Any], source: object) -> torch.nn.Module:
    if meta.get("model"):
        return get_model(meta["model"], **meta.get("model_kwargs", {}))
    config = dict(meta.get("model_config") or {})
    block = BLOCKS.get(str(config.pop("block", "")))
    if block is None:
        raise CommandError(f"{source} does not record its model; load it from Python")
    return ResNet(block, **config)


def _trainer_from_checkpoint(args: argparse.Namespace) -> tuple[Trainer, dict[str, Any]]:
    device = _device(args.device)
    state = _read_model_file(args.checkpoint)
    meta = state.get("metadata") or {}
    with user_input(f"{args.checkpoint}"):
        model = _model_from(meta, args.checkpoint)
        try:
            model.load_state_dict(state["model"])
        except RuntimeError as err:  # a size mismatch: not this model's weights
            first = str(err).splitlines()[1].strip() if "\n" in str(err) else str(err)
            raise ValueError(f"its weights do not fit a {meta['model']} ({first})") from None
        # The recipe as trained, stored whole: a custom recipe needs no registering here.
        recipe = Recipe.from_dict(state["recipe"])
    trainer = Trainer(model, recipe=recipe, device=device, progress=False, checkpoint_every=None)
    return trainer, meta


def convert_command(args: argparse.Namespace) -> int:
    out = Path(args.output)
    if out.exists():
        raise CommandError(f"{out} exists; choose another name")
    with user_input(args.paper_file):
        state = paper_checkpoint(args.paper_file)
    try:
        save_checkpoint(out, state)
    except OSError as err:
        raise RunFailed(f"cannot write {out}: {err}") from None
    meta = state["metadata"]
    recipe = state["recipe"]["name"] if meta["recipe_from_file_name"] else "as1 (assumed)"
    shape = meta["model"] or f"ResNet{tuple(meta['model_config']['layers'])}"
    params = sum(t.numel() for k, t in state["model"].items() if not k.endswith("_tracked"))
    print(f"wrote {out}: {shape} from {meta['source']}, {params:,} values; recipe {recipe}")
    return 0


def eval_command(args: argparse.Namespace) -> int:
    trainer, meta = _trainer_from_checkpoint(args)
    data = _load_data(args, train=args.split == "train", allow_unsplit=True)
    classes = meta.get("classes")
    if classes:
        # Labels are names: the data's classes are matched to the checkpoint's by name.
        with user_input(f"--data {args.data} for {args.checkpoint}"):
            data = data.with_classes(classes)
    result = trainer.evaluate(data)
    print(f"{data.name}: loss {result['loss']:.4f}, accuracy {result['accuracy']:.2f}% "
          f"({len(data)} images)")  # fmt: skip
    return 0


def predict_command(args: argparse.Namespace) -> int:
    output = Path(args.output)
    if output.is_dir():
        raise CommandError(f"--output {output}: a folder; give the CSV's file name")
    trainer, meta = _trainer_from_checkpoint(args)
    source = Path(args.input)
    if not source.exists():
        raise CommandError(f"--input {source}: no such file or folder")
    with user_input(f"--input {source}"):
        images, ids = load_unlabeled(source, split=args.split)
        labels = trainer.predict(images, tta=args.tta)
    try:
        path = write_predictions_csv(output, labels, ids)
    except OSError as err:
        raise RunFailed(f"--output {output}: {err}") from None
    classes = meta.get("classes") or []
    counts = labels.bincount(minlength=len(classes) or 1).tolist()
    print(f"wrote {len(labels)} predictions to {path}")
    if classes:
        print("per class: " + ", ".join(f"{c} {n}" for c, n in zip(classes, counts, strict=False)))
    return 0
