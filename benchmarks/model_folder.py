"""Size and load time of a run's ``best.pt`` against its exported model folder
(``model.safetensors`` + ``config.json``), for the presets asked.

Each preset trains one epoch with the ``fast`` recipe (its weight average and SGD
momentum make ``best.pt`` hold three copies of the weights) on a few random images,
so that both files come from a real run; then ``resdepth.load_model`` reads each file
``--rounds`` times, alternating, and the median counts.

    python benchmarks/model_folder.py --models resnet10 resnet40 --rounds 5
"""

from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _common import add_common_options, machine_info, print_table, setup, write_json  # noqa: E402

from resdepth import Trainer, export_model, get_model, load_model  # noqa: E402
from resdepth.data import make_synthetic  # noqa: E402
from resdepth.recipes import get_recipe  # noqa: E402


def _load_seconds(path: Path) -> float:
    start = time.perf_counter()
    load_model(path)
    return time.perf_counter() - start


def measure(name: str, folder: Path, rounds: int, device: Any) -> dict[str, Any]:
    run = folder / f"run-{name}"
    trainer = Trainer(get_model(name), recipe=get_recipe("fast", batch_size=16), device=device,
                      out_dir=run, progress=False, precision="fp32")  # fmt: skip
    trainer.fit(trainer.build_loaders(make_synthetic(32, 10, 32))[0], epochs=1)
    exported = export_model(run / "best.pt", folder / f"export-{name}")
    checkpoint_times, folder_times = [], []
    for _ in range(rounds):  # alternating: a drift of a shared machine hits both alike
        checkpoint_times.append(_load_seconds(run / "best.pt"))
        folder_times.append(_load_seconds(exported))
    return {
        "model": name,
        "checkpoint_mb": (run / "best.pt").stat().st_size / 1e6,
        "safetensors_mb": (exported / "model.safetensors").stat().st_size / 1e6,
        "checkpoint_load_s": statistics.median(checkpoint_times),
        "folder_load_s": statistics.median(folder_times),
    }


def main(argv: Sequence[str] | None = None) -> dict[str, Any]:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--models", nargs="+", default=["resnet10", "resnet40"])
    parser.add_argument("--rounds", type=int, default=5, help="loads of each file (median)")
    args = add_common_options(parser).parse_args(argv)
    device = setup(args)
    with tempfile.TemporaryDirectory(prefix="resdepth-model-folder-") as tmp:
        results = [measure(name, Path(tmp), args.rounds, device) for name in args.models]
    print_table(
        ["model", "best.pt MB", "best.pt load s", "safetensors MB", "folder load s", "smaller"],
        [[r["model"], f"{r['checkpoint_mb']:.1f}", f"{r['checkpoint_load_s']:.3f}",
          f"{r['safetensors_mb']:.1f}", f"{r['folder_load_s']:.3f}",
          f"{r['checkpoint_mb'] / r['safetensors_mb']:.1f}x"] for r in results],
    )  # fmt: skip
    payload = {"benchmark": "model_folder", "machine": machine_info(device),
               "rounds": args.rounds, "results": results}  # fmt: skip
    write_json(args.json, payload)
    return payload


if __name__ == "__main__":
    main()
