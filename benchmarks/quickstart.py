"""The README's Quick start, measured: its training command as written, timed, with the
accuracy it reaches, so that the README's figures are copied from one run.

It runs ``resdepth train --model resnet10 --recipe as1 --data cifar10-sample --epochs
10 --out DIR`` in a subprocess (the command a new user types after
the install), and reports the wall time, the training throughput, the final and best
test accuracy, the machine, its load before and after, and the date.  Measure on a
quiet machine: the load average is printed so a reader can tell.

    python benchmarks/quickstart.py --json quickstart.json
"""

from __future__ import annotations

import argparse
import datetime
import os
import subprocess
import sys
import tempfile
import time
from collections.abc import Sequence
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _common import add_record_option, add_run_options, machine_info, record, write_json  # noqa: E402

from resdepth import History  # noqa: E402
from resdepth.artifacts import RunDir  # noqa: E402


def command(out: Path, epochs: int, subset: int | None, device: str | None) -> list[str]:
    """The Quick start's training command (``--subset`` and ``--device`` only when given)."""
    args = ["train", "--model", "resnet10", "--recipe", "as1", "--data", "cifar10-sample",
            "--epochs", str(epochs), "--out", str(out)]  # fmt: skip
    if subset is not None:
        args += ["--subset", str(subset)]
    if device is not None:
        args += ["--device", device]
    return [sys.executable, "-m", "resdepth", *args]


def main(argv: Sequence[str] | None = None) -> dict:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--epochs", type=int, default=10, help="the README's 10 (default)")
    args = add_record_option(add_run_options(parser)).parse_args(argv)

    with tempfile.TemporaryDirectory() as scratch:
        out = Path(args.out) if args.out else Path(scratch) / "quickstart"
        load_before = os.getloadavg()
        started = datetime.datetime.now(datetime.timezone.utc)
        t0 = time.perf_counter()
        run = subprocess.run(
            command(out, args.epochs, args.subset, args.device), capture_output=True, text=True
        )
        seconds = time.perf_counter() - t0
        load_after = os.getloadavg()
        if run.returncode != 0:
            raise SystemExit(f"the Quick start command failed:\n{run.stderr[-2000:]}")
        history = History.from_csv(RunDir(out).history)
    device = torch.device(args.device or ("cuda" if torch.cuda.is_available() else "cpu"))
    best = history.best()
    assert best is not None  # a finished run with test data has a best epoch
    payload = {
        "benchmark": "quickstart",
        "machine": machine_info(device),
        "date": started.isoformat(timespec="seconds"),
        "command": "resdepth "
        + " ".join(command(Path("OUT"), args.epochs, args.subset, args.device)[3:]),
        "load_average_before": round(load_before[0], 2),
        "load_average_after": round(load_after[0], 2),
        "epochs": len(history),
        "wall_seconds": round(seconds, 1),
        "train_seconds": round(sum(history.column("epoch_seconds")), 1),
        "images_per_second": round(sum(history.column("images_per_second")) / len(history), 1),
        "final_test_accuracy": history[-1]["test_accuracy"],
        "best_test_accuracy": best["test_accuracy"],
        "best_epoch": best["epoch"],
        # The line where the run says which precision and memory format it chose.
        "settings": next(
            (line for line in run.stdout.splitlines() if line.startswith("precision ")), None
        ),  # fmt: skip
    }
    minutes, rest = divmod(payload["wall_seconds"], 60)
    print(f"{payload['command']}")
    machine = payload["machine"]
    print(f"on {machine['cpu_model']}, {machine['cpu_count']} cores, torch {machine['torch']}, "
          f"{payload['date']}; load average {payload['load_average_before']} before, "
          f"{payload['load_average_after']} after")  # fmt: skip
    print(f"{payload['epochs']} epochs in {int(minutes)} min {rest:.0f} s (training "
          f"{payload['train_seconds']:.0f} s, about {payload['images_per_second']:.0f} "
          f"images/s); test accuracy {payload['final_test_accuracy']:.2f}% at the end, "
          f"best {payload['best_test_accuracy']:.2f}% at epoch "
          f"{payload['best_epoch']}")  # fmt: skip
    print(f"settings: {payload['settings']}")
    write_json(args.json, payload)
    if args.subset is None:  # only the command as the README writes it is its figure
        record(args.record, payload, recipe="as1",
               what="Quick start: ResNet10, as1, the bundled sample, 10 epochs",
               results=[("test accuracy", payload["final_test_accuracy"], "%"),
                        ("wall time", payload["wall_seconds"] / 60, "min"),
                        ("training", payload["images_per_second"], "images/s")],
               note=payload["settings"])  # fmt: skip
    return payload


if __name__ == "__main__":
    main()
