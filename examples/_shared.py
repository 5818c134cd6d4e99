"""Options and helpers every example shares: data, epochs, output folder, device, smoke mode."""

from __future__ import annotations

import argparse
from pathlib import Path

from resdepth import (
    History,
    ResumeMismatchError,
    Trainer,
    count_parameters,
    get_model,
    seed_everything,
)
from resdepth.artifacts import RunDir
from resdepth.data import Dataset, load_dataset
from resdepth.recipes import get_recipe

#: --smoke: a few hundred images, one epoch, small batches; under a minute on a laptop CPU.
SMOKE = {"train": 256, "test": 200, "epochs": 1, "batch_size": 64}


def parser(description: str, default_out: str) -> argparse.ArgumentParser:
    """The shared options; ``--out`` defaults to ``default_out``, or under ``runs/smoke/``
    with ``--smoke``, so that a check never lands in (or resumes) a real run."""
    p = argparse.ArgumentParser(description=description)
    p.add_argument("--data", default="cifar10",
                   help="'cifar10', 'cifar10-sample' (inside the package), 'synthetic', "
                        "or a folder or archive of class subfolders")  # fmt: skip
    p.add_argument("--epochs", type=int, default=None, help="default: the recipe's")
    out_help = f"output folder (default: {default_out}; under runs/smoke/ with --smoke)"
    p.add_argument("--out", default=None, help=out_help)
    p.add_argument("--device", default=None, help="cpu, cuda ... (default: CUDA when present)")
    p.add_argument("--smoke", action="store_true",
                   help="a quick check: a small subset, one epoch")  # fmt: skip
    p.set_defaults(default_out=default_out)
    return p


def parse(p: argparse.ArgumentParser) -> argparse.Namespace:
    """Parse, and fill in ``--out``."""
    args = p.parse_args()
    if args.out is None:
        name = Path(args.default_out).name
        args.out = str(Path("runs/smoke") / name) if args.smoke else args.default_out
    return args


def load_splits(args: argparse.Namespace) -> tuple[Dataset, Dataset]:
    cache = Path(args.out) / ".cache"
    train = load_dataset(args.data, train=True, download=True, cache_dir=cache)
    test = load_dataset(args.data, train=False, download=True, cache_dir=cache)
    if args.smoke:
        train, test = train.subset(SMOKE["train"]), test.subset(SMOKE["test"])
    return train, test


def train_model(
    model_name: str, recipe_name: str, args: argparse.Namespace, train: Dataset, test: Dataset
) -> tuple[History, int]:
    """Train one model into ``args.out/<model>-<recipe>``; returns its history and size."""
    overrides = {"batch_size": SMOKE["batch_size"]} if args.smoke else {}
    recipe = get_recipe(recipe_name, **overrides)
    epochs = SMOKE["epochs"] if args.smoke else (args.epochs or recipe.epochs)
    seed_everything(0)  # the same initial weights on every run of the script
    model = get_model(model_name, num_classes=len(train.classes))
    out = Path(args.out) / f"{model_name}-{recipe_name}"
    trainer = Trainer(model, recipe=recipe, device=args.device, out_dir=out,
                      metadata={"model": model_name, "classes": list(train.classes)})  # fmt: skip
    resume = RunDir(out).has_run()
    print(f"== {model_name} with {recipe_name}, {epochs} epochs on {train.name} -> {out}")
    if resume:
        print(f"   resuming the run in {out} (a run with other settings is refused)")
    try:
        history = trainer.fit(*trainer.build_loaders(train, test), epochs=epochs, resume=resume)
    except ResumeMismatchError as err:
        raise SystemExit(f"error: {err}; or choose another --out") from None
    return history, count_parameters(model)


def markdown_table(headers: list[str], rows: list[list[object]]) -> str:
    lines = ["| " + " | ".join(headers) + " |", "|" + "---|" * len(headers)]
    lines += ["| " + " | ".join(str(c) for c in row) + " |" for row in rows]
    return "\n".join(lines) + "\n"


def result_row(label: str, history: History, params: int, paper: float | None) -> list[object]:
    """One table row: the paper's best test accuracy beside ours (best and final)."""
    best = history.best()
    return [
        label,
        f"{params:,}",
        f"{paper:.2f}" if paper is not None else "-",
        f"{best['test_accuracy']:.2f} (epoch {best['epoch']})" if best else "-",
        f"{history[-1]['test_accuracy']:.2f}",
        len(history),
    ]


def write_report(path: Path, rows: list[list[object]], note: str, smoke: bool) -> None:
    """Write and print the Markdown table of results beside the paper's numbers."""
    headers = ["model", "parameters", "paper best test acc (%)", "ours best (%)",
               "ours final (%)", "epochs"]  # fmt: skip
    text = markdown_table(headers, rows) + f"\n{note}\n"
    if smoke:
        text += (
            "Smoke run (small subset, one epoch): a check that the script works, not a result.\n"
        )
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text)
    print(text + f"wrote {path}")
