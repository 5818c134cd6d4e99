"""Test accuracy against wall-clock time: recipes trained for the same number of epochs
on the same images, one after the other, with an evaluation after every epoch.

Each recipe trains one model (the same initial weights: ``seed_everything(seed)``
before the model is built) with the Trainer's defaults (precision and memory format
chosen for the machine), planned for ``--epochs`` epochs, on ``--subset`` training
images; its test accuracy is recorded after every epoch with the wall time since the
run began (the precision trial, training and every evaluation included), and, after
the last epoch, also with test-time flips (``Trainer.predict(tta=True)``).  Recipes
that evaluate less often (``fast``'s ``eval_every``) are evaluated every epoch here,
so that each has a curve.  Measure on a quiet machine: the load average is printed.

    python benchmarks/accuracy_vs_time.py --data ../shared/data/cifar10-jpeg.tar.gz \\
        --subset 10000 --epochs 3 --recipes fast as1 cifar-strong \\
        --json accuracy_vs_time.json --plot docs/_static/accuracy_vs_time.png
"""

from __future__ import annotations

import argparse
import datetime
import os
import sys
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import torch

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _common import machine_info, pick_device, write_json  # noqa: E402

from resdepth import Callback, Trainer, get_model, seed_everything  # noqa: E402
from resdepth.data import Dataset, load_dataset  # noqa: E402
from resdepth.recipes import get_recipe  # noqa: E402


class _Clock(Callback):
    """The wall time since ``fit`` began and the test accuracy, after every epoch."""

    def __init__(self) -> None:
        self.points: list[dict[str, float]] = []
        self.start = time.perf_counter()

    def on_epoch_end(self, trainer: Trainer, row: dict[str, Any]) -> None:
        self.points.append({
            "epoch": int(row["epoch"]),
            "seconds": time.perf_counter() - self.start,
            "train_seconds": float(row["epoch_seconds"]),
            "test_accuracy": float(row["test_accuracy"]),
        })  # fmt: skip


def run_recipe(name: str, model: str, train: Dataset, test: Dataset, epochs: int, seed: int,
               device: torch.device) -> dict[str, Any]:  # fmt: skip
    """One recipe's curve: a point per epoch, and the last accuracy with flips."""
    recipe = get_recipe(name, epochs=epochs, eval_every=1)
    seed_everything(seed)
    net = get_model(model, num_classes=len(train.classes))
    clock = _Clock()
    trainer = Trainer(net, recipe=recipe, device=device, seed=seed, callbacks=[clock],
                      progress_every=60)  # fmt: skip
    begin = clock.start = time.perf_counter()  # the precision trial is part of fit
    trainer.fit(*trainer.build_loaders(train, test))
    seconds = sum(p["train_seconds"] for p in clock.points)
    predicted = trainer.predict(test.images, tta=True).cpu()
    flips = 100.0 * float((predicted == test.labels.cpu()).float().mean())
    return {
        "recipe": name,
        "summary": recipe.summary(),
        "settings": f"{trainer.precision}, channels_last {trainer.channels_last}",
        "points": clock.points,
        "final_accuracy": clock.points[-1]["test_accuracy"],
        "final_accuracy_with_flips": flips,
        "wall_seconds": time.perf_counter() - begin,
        "train_images_per_second": epochs * len(train) / seconds,
    }


def plot(results: list[dict[str, Any]], path: str, title: str) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(6.4, 4.0), dpi=120)
    for result in results:
        minutes = [p["seconds"] / 60 for p in result["points"]]
        accuracy = [p["test_accuracy"] for p in result["points"]]
        ax.plot(minutes, accuracy, marker="o", label=result["recipe"])
    ax.set_xlabel("wall-clock minutes (trial, training and evaluations)")
    ax.set_ylabel("test accuracy (%)")
    ax.set_title(title, fontsize=9)
    ax.grid(alpha=0.3)
    ax.legend()
    fig.tight_layout()
    Path(path).parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path)
    print(f"wrote {path}")


def main(argv: Sequence[str] | None = None) -> dict[str, Any]:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--data", default="cifar10-sample", help="as resdepth train --data")
    parser.add_argument("--subset", type=int, default=None, help="training images")
    parser.add_argument("--test-subset", type=int, default=None, help="test images")
    parser.add_argument("--epochs", type=int, default=3)
    parser.add_argument("--model", default="resnet10")
    parser.add_argument("--recipes", nargs="+", default=["fast", "as1"])
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--device", default=None)
    parser.add_argument("--json", default=None, help="write the results here")
    parser.add_argument("--plot", default=None, help="write the curves here (PNG)")
    args = parser.parse_args(argv)
    device = pick_device(args.device)
    train = load_dataset(args.data, train=True).subset(args.subset, seed=args.seed)
    test = load_dataset(args.data, train=False, classes=train.classes)
    test = test.subset(args.test_subset, seed=args.seed)
    load_before = os.getloadavg()[0]
    results = [run_recipe(name, args.model, train, test, args.epochs, args.seed, device)
               for name in args.recipes]  # fmt: skip
    scale = (f"{args.model}, {len(train):,} training and {len(test):,} test images, "
             f"{args.epochs} epochs")  # fmt: skip
    for r in results:
        print(f"{r['recipe']}: {r['final_accuracy']:.2f}% ({r['final_accuracy_with_flips']:.2f}% "
              f"with flips) in {r['wall_seconds'] / 60:.1f} min, "
              f"{r['train_images_per_second']:.0f} img/s training; {r['settings']}")  # fmt: skip
    payload = {
        "benchmark": "accuracy_vs_time",
        "date": datetime.date.today().isoformat(),
        "scale": scale,
        "machine": machine_info(device),
        "load_average_before": load_before,
        "load_average_after": os.getloadavg()[0],
        "results": results,
    }
    write_json(args.json, payload)
    if args.plot:
        plot(results, args.plot, f"{scale}; {payload['machine']['cpu_model']}")
    return payload


if __name__ == "__main__":
    main()
