"""The speedrun: seeded runs of ``resdepth train --model airbench94 --recipe airbench94``
on the full CIFAR-10, each timed from outside as a user would time the command.

For each seed it runs the command in a subprocess (data loading, the whitening fit,
the precision choice, training and the final evaluation all count in the wall time),
then reads the run's history for the test accuracy with the recipe's six test-time
views and the training seconds, and evaluates the saved model once more without the
views.  It prints each run, the mean and spread, the machine (CPU model, whether it
has native bf16 / AMX, threads, torch) and the load average before and after.  Run it
alone: two runs on the same cores slow each other by far more than 2x.

    python benchmarks/speedrun.py --data ../shared/data/cifar10-jpeg.tar.gz \\
        --seeds 0 1 2 --json speedrun.json
    python benchmarks/speedrun.py --data ... --seeds 0 --precision fp32   # the same in fp32
"""

from __future__ import annotations

import argparse
import datetime
import os
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import torch

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _common import add_record_option, add_run_options, cpu_flags, machine_info, record, write_json  # noqa: E402

from resdepth import History, Trainer  # noqa: E402
from resdepth.artifacts import RunDir  # noqa: E402
from resdepth.data import load_dataset  # noqa: E402


def command(out: Path, seed: int, args: argparse.Namespace) -> list[str]:
    """The training command of one run."""
    argv = [sys.executable, "-m", "resdepth", "train", "--model", args.model, "--recipe",
            args.recipe, "--data", args.data, "--seed", str(seed), "--precision",
            args.precision, "--out", str(out), "--progress-every", "60"]  # fmt: skip
    for option in ("subset", "epochs", "device"):
        if getattr(args, option) is not None:
            argv += [f"--{option}", str(getattr(args, option))]
    return argv + (["--no-autotune"] if args.no_autotune else [])


def one_run(seed: int, args: argparse.Namespace, scratch: Path) -> dict[str, Any]:
    out = Path(args.out) / f"seed{seed}" if args.out else scratch / f"seed{seed}"
    t0 = time.perf_counter()
    run = subprocess.run(command(out, seed, args), capture_output=True, text=True)
    wall = time.perf_counter() - t0
    if run.returncode != 0:
        raise SystemExit(f"the training command failed:\n{run.stderr[-3000:]}")
    history = History.from_csv(RunDir(out).history)
    trainer = Trainer.from_checkpoint(out / "last.pt", device=args.device, progress=False)
    test = load_dataset(args.data, train=False, classes=trainer.metadata.classes)
    if args.subset:
        test = test.subset(min(args.subset, len(test)), seed=seed)
    with_views = float(history[-1]["test_accuracy"])
    trainer.recipe = trainer.recipe.replace(test_views=None)  # the network alone
    without = trainer.evaluate((test.images, test.labels))["accuracy"]
    settings = next((ln for ln in run.stdout.splitlines() if ln.startswith("precision ")), "")
    return {"seed": seed, "test_accuracy": round(with_views, 2),
            "test_accuracy_without_views": round(without, 2), "wall_seconds": round(wall, 1),
            "train_seconds": round(sum(history.column("epoch_seconds")), 1),
            "epochs": len(history), "settings": settings}  # fmt: skip


def _spread(values: list[float]) -> str:
    mean = statistics.fmean(values)
    sd = statistics.stdev(values) if len(values) > 1 else 0.0
    return f"{mean:.2f} +- {sd:.2f} (min {min(values):.2f}, max {max(values):.2f})"


def main(argv: Sequence[str] | None = None) -> dict[str, Any]:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", required=True, help="as resdepth train --data")
    parser.add_argument("--model", default="airbench94")
    parser.add_argument("--recipe", default="airbench94")
    parser.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2])
    parser.add_argument("--precision", default="auto", choices=("auto", "fp32", "bf16", "fp16"))
    parser.add_argument("--epochs", type=int, default=None, help="default: the recipe's")
    parser.add_argument("--no-autotune", action="store_true", help="as resdepth train's")
    args = add_record_option(add_run_options(parser)).parse_args(argv)
    load_before = os.getloadavg()[0]
    started = datetime.datetime.now(datetime.timezone.utc)
    runs = []
    with tempfile.TemporaryDirectory() as scratch:
        for seed in args.seeds:
            runs.append(one_run(seed, args, Path(scratch)))
            r = runs[-1]
            print(f"seed {seed}: {r['test_accuracy']:.2f}% with the test-time views, "
                  f"{r['test_accuracy_without_views']:.2f}% without; {r['wall_seconds']:.0f} s "
                  f"wall ({r['train_seconds']:.0f} s training, {r['epochs']} epochs); "
                  f"{r['settings']}", flush=True)  # fmt: skip
    load_after = os.getloadavg()[0]
    device = torch.device(args.device or ("cuda" if torch.cuda.is_available() else "cpu"))
    payload = {
        "benchmark": "speedrun",
        "machine": {
            **machine_info(device),
            **cpu_flags(),
            "native_bf16": bool(torch.cpu._is_avx512_bf16_supported()),
        },  # fmt: skip
        "date": started.isoformat(timespec="seconds"),
        "command": "resdepth " + " ".join(command(Path("OUT"), args.seeds[0], args)[3:]),
        "load_average_before": round(load_before, 2),
        "load_average_after": round(load_after, 2),
        "runs": runs,
        "data_note": "the shared archive is JPEG (quality 75), not the original CIFAR-10 binaries",
    }
    print(payload["command"])
    for key, what in (("test_accuracy", "with views"), ("test_accuracy_without_views", "without"),
                      ("wall_seconds", "wall s"), ("train_seconds", "train s")):  # fmt: skip
        print(f"{what}: {_spread([r[key] for r in runs])}")
    m = payload["machine"]
    gpu = f", {m['gpu']}" if "gpu" in m else ""
    print(f"machine: {m['cpu_model']}, {m['cpu_count']} CPUs, {m['torch_threads']} threads, "
          f"avx2 {m['avx2']}, avx512_bf16 {m['avx512_bf16']}, amx {m['amx_bf16']}, torch "
          f"{m['torch']}{gpu}; load {payload['load_average_before']} before, "
          f"{payload['load_average_after']} after")  # fmt: skip
    write_json(args.json, payload)
    seeds = len(runs)
    record(args.record, payload, recipe=args.recipe,
           what=(f"Speedrun: {args.model} network and {args.recipe} recipe, CIFAR-10, "
                 f"{seeds} seed{'s' if seeds > 1 else ''}"),
           results=[("test accuracy", [r["test_accuracy"] for r in runs], "%"),
                    ("without the test-time views",
                     [r["test_accuracy_without_views"] for r in runs], "%"),
                    ("wall time", [r["wall_seconds"] / 60 for r in runs], "min")],
           note=f"{runs[0]['settings']}; {payload['data_note']}")  # fmt: skip
    return payload


if __name__ == "__main__":
    main()
