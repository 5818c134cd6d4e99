"""A recipe trained to a time budget from the command line, timed from outside: the
headline figure of ``fast`` (what a user gets from ``--time-budget``).

It runs ``resdepth train --model MODEL --recipe RECIPE --data DATA --time-budget
BUDGET --out DIR`` in a subprocess and reports its wall time (the budget covers the
training: the precision trial, the batches and every evaluation; the command's wall
time also includes starting Python and reading the data), the planned
epochs, the test accuracy of the last evaluation (inside the budget), then, outside
the budget and timed on its own, the accuracy with test-time flips
(``Trainer.from_checkpoint(...).predict(tta=True)``).  Measure on a quiet machine:
the load average is printed.

    python benchmarks/time_budget.py --data ../shared/data/cifar10-jpeg.tar.gz \\
        --recipe fast --budget 45min --json time_budget.json
"""

from __future__ import annotations

import argparse
import datetime
import math
import os
import subprocess
import sys
import tempfile
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _common import add_record_option, add_run_options, machine_info, record, write_json  # noqa: E402

from resdepth import History, Trainer  # noqa: E402
from resdepth.artifacts import RunDir, load_checkpoint  # noqa: E402
from resdepth.data import load_dataset  # noqa: E402


def command(out: Path, args: argparse.Namespace) -> list[str]:
    """The training command (``--subset`` and ``--device`` only when given)."""
    argv = [sys.executable, "-m", "resdepth", "train", "--model", args.model, "--recipe",
            args.recipe, "--data", args.data, "--time-budget", args.budget, "--seed",
            str(args.seed), "--out", str(out)]  # fmt: skip
    if args.subset is not None:
        argv += ["--subset", str(args.subset)]
    if args.device is not None:
        argv += ["--device", args.device]
    return argv


def _line(text: str, start: str) -> str | None:
    """The first line of ``text`` that begins with ``start``."""
    return next((line for line in text.splitlines() if line.startswith(start)), None)


def main(argv: Sequence[str] | None = None) -> dict[str, Any]:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", default="cifar10-sample", help="as resdepth train --data")
    parser.add_argument("--model", default="resnet10")
    parser.add_argument("--recipe", default="fast")
    parser.add_argument("--budget", default="45min", help="as resdepth train --time-budget")
    parser.add_argument("--seed", type=int, default=0)
    args = add_record_option(add_run_options(parser)).parse_args(argv)

    with tempfile.TemporaryDirectory() as scratch:
        out = Path(args.out) if args.out else Path(scratch) / "run"
        load_before = os.getloadavg()[0]
        started = datetime.datetime.now(datetime.timezone.utc)
        t0 = time.perf_counter()
        run = subprocess.run(command(out, args), capture_output=True, text=True)
        seconds = time.perf_counter() - t0
        if run.returncode != 0:
            raise SystemExit(f"the training command failed:\n{run.stderr[-2000:]}")
        history = History.from_csv(RunDir(out).history)
        plan = load_checkpoint(out / "last.pt")["time_budget"]
        t1 = time.perf_counter()
        trainer = Trainer.from_checkpoint(out / "last.pt", device=args.device)
        test = load_dataset(args.data, train=False, classes=trainer.metadata.classes)
        if args.subset:  # the test images --subset gave the run
            test = test.subset(min(args.subset, len(test)), seed=args.seed)
        predicted = trainer.predict(test.images, tta=True).cpu()
        flips = 100.0 * float((predicted == test.labels.cpu()).float().mean())
        flip_seconds = time.perf_counter() - t1
        load_after = os.getloadavg()[0]
    payload = {
        "benchmark": "time_budget",
        "machine": machine_info(trainer.device),
        "date": started.isoformat(timespec="seconds"),
        "command": "resdepth " + " ".join(command(Path("OUT"), args)[3:]),
        "load_average_before": round(load_before, 2),
        "load_average_after": round(load_after, 2),
        "planned_epochs": plan["planned_epochs"],
        "wall_seconds": round(seconds, 1),
        "train_seconds": round(sum(history.column("epoch_seconds")), 1),
        "test_accuracy": history[-1]["test_accuracy"],
        "test_accuracy_with_flips": round(flips, 2),
        "flips_seconds": round(flip_seconds, 1),
        "plan": _line(run.stdout, "time budget"),
        "settings": _line(run.stdout, "precision "),
    }
    print(payload["command"])
    print(f"{payload['plan']}\n{payload['settings']}")
    print(f"{payload['planned_epochs']} epochs in {seconds / 60:.1f} min (budget {args.budget}); "
          f"test accuracy {payload['test_accuracy']:.2f}%, with flips {flips:.2f}% "
          f"(+{flip_seconds:.0f} s); load {payload['load_average_before']} before, "
          f"{payload['load_average_after']} after")  # fmt: skip
    write_json(args.json, payload)
    scale = "the sample" if args.data == "cifar10-sample" else "CIFAR-10"
    record(args.record, payload, recipe=args.recipe,
           what=f"{args.model}, {args.recipe}, --time-budget {args.budget}, {scale}"
           .replace("resnet10", "ResNet10"),
           results=[("test accuracy", payload["test_accuracy"], "%"),
                    ("with test-time flips", flips, "%"),
                    ("wall time", seconds / 60, "min"),
                    ("training", _images_per_second(history), "images/s")],
           note=f"{payload['planned_epochs']} epochs planned; {payload['settings']}")  # fmt: skip
    return payload


def _images_per_second(history: History) -> float:
    rates = [r["images_per_second"] for r in history if math.isfinite(r["images_per_second"] or 0)]
    rates = [rate for rate in rates if rate]
    return sorted(rates)[len(rates) // 2] if rates else 0.0


if __name__ == "__main__":
    main()
