"""One-command GPU check: correctness on CUDA, throughput, and a short real training run.

    mkdir -p .data && cp ../shared/data/cifar10-jpeg.tar.gz .data/   # .data/ is git-ignored
    python benchmarks/gpu_check.py --data .data/cifar10-jpeg.tar.gz --json gpu_check.json

Sized to finish in well under 8 minutes on one H100.  It checks that the transforms
give the same output on CUDA as on CPU for the same parameters; measures the
ResNet40-FT transform stack at batch 512 (and kornia's, if installed) and the
per-sample policies (and compares them with the CPU's); measures
ResNet40 training images/s in fp32, bf16 + channels_last, and bf16 + channels_last +
torch.compile; trains ResNet40 with the `fast` recipe for a few epochs on real
CIFAR-10, printing seconds per epoch and test accuracy; and runs one seed of the
speedrun (`benchmarks/speedrun.py`: airbench94 on the full data, wall time and
accuracy).  It ends with one summary table.
"""

from __future__ import annotations

import argparse
import sys
import time
from collections.abc import Sequence
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).resolve().parent))
import speedrun  # noqa: E402
from _common import add_common_options, machine_info, setup, synchronize, throughput, write_json  # noqa: E402
from train_step import make_step, time_steps  # noqa: E402

from resdepth import Trainer, get_model  # noqa: E402
from resdepth import transforms as T  # noqa: E402
from resdepth.data import load_dataset  # noqa: E402
from resdepth.recipes import get_recipe  # noqa: E402
from transforms import kornia_pipeline, resdepth_pipeline  # noqa: E402


def check_cpu_gpu_agreement(device: torch.device) -> float:
    """Largest absolute difference between CPU and device outputs for the same parameters."""
    x = torch.randint(0, 256, (256, 3, 32, 32), dtype=torch.uint8)
    y = torch.randint(0, 10, (256,))
    worst = 0.0
    stacks = {
        "flip": T.RandomHorizontalFlip(),
        "crop": T.RandomCrop(32, padding=4),
        "affine": T.RandomAffine(10, (0.1, 0.1), (0.9, 1.1), 10),
        "fused stack": get_recipe("resnet40-ft").build_train_transform(),
    }
    for name, t in stacks.items():
        xf = T.ToFloat()(x)
        params = t.generate_parameters(xf.shape)
        cpu = t(xf, params=params)
        dev = t.to(device)(xf.to(device), params={k: v.to(device) for k, v in params.items()})
        diff = (cpu - dev.cpu()).abs().max().item()
        worst = max(worst, diff)
        print(f"  {name:12s} max |cpu - {device.type}| = {diff:.2e}")
    cutmix = T.CutMix(num_classes=10, mode="sample")
    params = cutmix.generate_parameters(x.shape)
    cx, cy = cutmix(x.float(), y, params=params)
    dx, dy = cutmix(
        x.float().to(device), y.to(device), params={k: v.to(device) for k, v in params.items()}
    )
    diff = max((cx - dx.cpu()).abs().max().item(), (cy - dy.cpu()).abs().max().item())
    print(f"  {'cutmix':12s} max |cpu - {device.type}| = {diff:.2e}")
    return max(worst, diff)


def check_policies(device: torch.device, batch: int, seconds: float) -> dict[str, object]:
    """The per-sample policies on the device (masks) against the CPU (index groups), and
    their throughput on the device.  Nearest sampling may pick the other neighbour
    where a source point lies half-way between pixels (a 45-degree turn of an even-sized
    image), so the share of differing values is reported beside the largest difference."""
    x = torch.rand(256, 3, 32, 32)
    results: dict[str, object] = {}
    makers = {
        "AutoAugment": T.AutoAugment,
        "RandAugment": T.RandAugment,
        "TrivialAugmentWide": T.TrivialAugmentWide,
        "ColorJitter": lambda: T.ColorJitter(0.4, 0.4, 0.4, 0.1),
    }
    for name, make in makers.items():
        t = make()
        params = t.generate_parameters(x.shape)
        cpu = t(x, params=params)
        dev = t(x.to(device), params={k: v.to(device) for k, v in params.items()}).cpu()
        diff = (cpu - dev).abs()
        share = (diff > 1e-4).float().mean().item()
        xb = torch.rand(batch, 3, 32, 32, device=device)
        rate = throughput(lambda t=t, xb=xb: t(xb), batch, device, seconds)
        results[name] = {"max_difference": diff.max().item(), "share_differing": share,
                         "images_per_s": rate}  # fmt: skip
        print(f"  {name:20s} max |cpu - {device.type}| = {diff.max().item():.2e} "
              f"({share:.2e} of values > 1e-4); {rate:,.0f} images/s")  # fmt: skip
    return results


def training_throughput(
    device: torch.device, batch: int, seconds: float, compile: bool = True
) -> dict[str, float]:
    results = {}
    labels = ["fp32", "bf16_channels_last"] + (["bf16_channels_last_compile"] if compile else [])
    for label in labels:
        step = make_step(get_model("resnet40"), label, batch, device)
        for _ in range(5):
            step()
        n, elapsed = 0, 0.0
        while elapsed < seconds:
            elapsed += time_steps(step, 10, device)
            n += 10
        results[label] = batch * n / elapsed
        print(f"  ResNet40 {label:28s} {results[label]:>10,.0f} images/s (batch {batch})")
    return results


def short_training(
    device: torch.device, data: str, epochs: int, subset: int | None = None
) -> dict[str, float]:
    train = load_dataset(data, train=True).subset(subset)
    test = load_dataset(data, train=False).subset(subset)
    recipe = get_recipe("fast", epochs=epochs, eval_every=1)  # a test figure every epoch
    trainer = Trainer(get_model("resnet40"), recipe=recipe, device=device, precision="bf16",
                      channels_last=True, progress=False)  # fmt: skip
    train_loader, test_loader = trainer.build_loaders(train, test)
    history = trainer.fit(train_loader, test_loader)
    for row in history:
        print(f"  epoch {row['epoch']}: {row['epoch_seconds']:.2f} s, "
              f"{row['images_per_second']:,.0f} img/s, "
              f"test acc {row['test_accuracy']:.2f}%")  # fmt: skip
    epoch_seconds = [r["epoch_seconds"] for r in history][1:] or [history[0]["epoch_seconds"]]
    start = time.perf_counter()
    trainer.evaluate(test_loader)
    synchronize(device)
    eval_seconds = time.perf_counter() - start
    return {"epochs": epochs, "train_seconds_per_epoch": sum(epoch_seconds) / len(epoch_seconds),
            "eval_seconds": eval_seconds, "final_test_accuracy": history[-1]["test_accuracy"],
            "best_test_accuracy": max(r["test_accuracy"] for r in history)}  # fmt: skip


def main(argv: Sequence[str] | None = None) -> dict:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    add_common_options(parser)
    parser.add_argument("--data", default=".data/cifar10-jpeg.tar.gz")
    parser.add_argument("--epochs", type=int, default=5, help="epochs of the short training")
    parser.add_argument("--batch", type=int, default=512)
    parser.add_argument("--seconds", type=float, default=5.0, help="timing per measurement")
    parser.add_argument("--skip-training", action="store_true")
    parser.add_argument("--no-compile", action="store_true", help="skip the torch.compile step")
    parser.add_argument("--subset", type=int, default=None, help="train on N images (a dry run)")
    parser.add_argument("--skip-speedrun", action="store_true", help="skip the speedrun step")
    args = parser.parse_args(argv)
    device = setup(args)
    info = machine_info(device)
    print(f"== {info.get('gpu', device)}; torch {torch.__version__}")
    torch.backends.cudnn.benchmark = True
    summary: dict[str, object] = {}

    print("== transforms: CPU against the device, same parameters")
    summary["max_cpu_device_difference"] = check_cpu_gpu_agreement(device)

    print(f"== transform throughput, batch {args.batch}")
    ours = throughput(resdepth_pipeline(args.batch, device), args.batch, device, args.seconds)
    kornia = kornia_pipeline(args.batch, device)
    summary["transforms_images_per_s"] = ours
    compiled = None
    if not args.no_compile:
        compiled = throughput(resdepth_pipeline(args.batch, device, compiled=True), args.batch,
                              device, args.seconds)  # fmt: skip
        print(f"  resdepth, apply under torch.compile: {compiled:,.0f} images/s")
    summary["transforms_compiled_images_per_s"] = compiled
    kornia_rate = throughput(kornia, args.batch, device, args.seconds) if kornia else None
    summary["kornia_images_per_s"] = kornia_rate
    kornia_text = f"{kornia_rate:,.0f} images/s" if kornia_rate else "not installed"
    print(f"  resdepth {ours:,.0f} images/s; kornia {kornia_text}")

    print(f"== policies: CPU against the device, and throughput at batch {args.batch}")
    summary["policies"] = check_policies(device, args.batch, min(args.seconds, 2.0))

    print("== ResNet40 training step")
    summary["training_images_per_s"] = training_throughput(
        device, args.batch, args.seconds, compile=not args.no_compile
    )

    if not args.skip_training and Path(args.data).exists():
        print(
            f"== short training: ResNet40, recipe fast, {args.epochs} epochs, bf16 + channels_last"
        )
        summary["short_training"] = short_training(device, args.data, args.epochs, args.subset)
    else:
        print(f"== short training skipped (no data at {args.data})")
    if not args.skip_training and not args.skip_speedrun and Path(args.data).exists():
        print("== the speedrun: airbench94, one seed (benchmarks/speedrun.py)")
        argv = ["--data", args.data, "--seeds", "0", "--device", str(device)]
        if args.subset is not None:
            argv += ["--subset", str(args.subset), "--epochs", "1"]
        summary["speedrun"] = speedrun.main(argv)["runs"][0]

    print("\n== summary")
    steps = summary["training_images_per_s"]
    lines = [
        ("device", info.get("gpu", str(device))),
        ("CPU/device max difference", f"{summary['max_cpu_device_difference']:.2e}"),
        (f"transforms, batch {args.batch}", f"{ours:,.0f} img/s (target 1,000,000)"),
        ("transforms, apply compiled", f"{compiled:,.0f} img/s" if compiled else "not run"),
        ("kornia, same stack", kornia_text),
    ]
    lines += [(f"ResNet40 {k}", f"{v:,.0f} img/s") for k, v in steps.items()]  # type: ignore[union-attr]
    if "short_training" in summary:
        s = summary["short_training"]
        epoch_total = s["train_seconds_per_epoch"] + s["eval_seconds"]  # type: ignore[index]
        accuracy = f"{s['final_test_accuracy']:.2f}%"  # type: ignore[index]
        lines += [
            ("seconds per epoch (train + test)", f"{epoch_total:.2f} (target 1.5)"),
            (f"test accuracy after {s['epochs']} epochs", accuracy),  # type: ignore[index]
        ]
    if "speedrun" in summary:
        r = summary["speedrun"]
        lines.append(("speedrun (airbench94, seed 0)",
                      f"{r['test_accuracy']:.2f}% in {r['wall_seconds']:.0f} s"))  # type: ignore[index]  # fmt: skip
    width = max(len(k) for k, _ in lines)
    for k, v in lines:
        print(f"{k:<{width}}  {v}")
    payload = {"benchmark": "gpu_check", "machine": info, "batch": args.batch, **summary}
    write_json(args.json, payload)
    return payload


if __name__ == "__main__":
    main()
