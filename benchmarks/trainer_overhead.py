"""What Trainer.fit costs beyond a bare training loop over the same model and loader.

Both train the same network from the same initial weights on the same synthetic
DeviceLoader with the same optimiser and schedule; the bare loop does nothing else.
Runs alternate (bare, Trainer, bare, Trainer, ...) and the medians are compared.

    python benchmarks/trainer_overhead.py --model resnet10 --images 2048 --json out.json
"""

from __future__ import annotations

import argparse
import copy
import statistics
import sys
import time
from collections.abc import Sequence
from pathlib import Path

import torch
import torch.nn.functional as F

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _common import add_common_options, machine_info, print_table, setup, synchronize, write_json  # noqa: E402

from resdepth import Trainer, get_model  # noqa: E402
from resdepth.data import DeviceLoader, make_synthetic  # noqa: E402
from resdepth.recipes import get_recipe  # noqa: E402


def bare_epoch(model: torch.nn.Module, loader: DeviceLoader, recipe, device: torch.device) -> float:  # noqa: ANN001
    opt = recipe.build_optimizer(model)
    sched = recipe.build_scheduler(opt, len(loader))
    model.train()
    synchronize(device)
    start = time.perf_counter()
    for x, y in loader:
        loss = F.cross_entropy(model(x), y)
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()
    sched.step()
    synchronize(device)
    return time.perf_counter() - start


def trainer_epoch(
    model: torch.nn.Module, loader: DeviceLoader, recipe, device: torch.device
) -> float:  # noqa: ANN001
    trainer = Trainer(model, recipe=recipe, device=device, progress=False)
    synchronize(device)
    start = time.perf_counter()
    trainer.fit(loader, epochs=1)
    synchronize(device)
    return time.perf_counter() - start


def main(argv: Sequence[str] | None = None) -> dict:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    add_common_options(parser)
    parser.add_argument("--model", default="resnet10")
    parser.add_argument("--images", type=int, default=2048)
    parser.add_argument("--batch", type=int, default=128)
    parser.add_argument("--rounds", type=int, default=5)
    args = parser.parse_args(argv)
    device = setup(args)
    recipe = get_recipe("as1", batch_size=args.batch, epochs=1)
    images, labels = make_synthetic(args.images, 10, 32)
    transform = recipe.build_train_transform()
    base = get_model(args.model).to(device)
    bare, ours = [], []
    for r in range(args.rounds + 1):
        # Same weights, same batches (same loader seed) for both.
        loader_a = DeviceLoader(
            images, labels, args.batch, transform=transform, device=device, generator=r
        )
        loader_b = DeviceLoader(
            images, labels, args.batch, transform=transform, device=device, generator=r
        )
        t_bare = bare_epoch(copy.deepcopy(base), loader_a, recipe, device)
        t_ours = trainer_epoch(copy.deepcopy(base), loader_b, recipe, device)
        if r > 0:  # round 0 warms up
            bare.append(t_bare)
            ours.append(t_ours)
    overhead = statistics.median(ours) / statistics.median(bare) - 1.0
    t_bare, t_ours = statistics.median(bare), statistics.median(ours)
    rows = [
        ["bare loop", f"{t_bare:.3f}", args.images / t_bare],
        ["Trainer.fit", f"{t_ours:.3f}", args.images / t_ours],
    ]
    print(
        f"device={device} threads={torch.get_num_threads()} model={args.model} batch={args.batch}"
    )
    print_table(["loop", "seconds/epoch", "images/s"], rows)
    print(f"Trainer overhead: {100 * overhead:+.1f}% (target: at most +3%)")
    payload = {
        "benchmark": "trainer_overhead",
        "machine": machine_info(device),
        "model": args.model,
        "batch": args.batch,
        "images": args.images,
        "bare_seconds": bare,
        "trainer_seconds": ours,
        "overhead": overhead,
    }
    write_json(args.json, payload)
    return payload


if __name__ == "__main__":
    main()
