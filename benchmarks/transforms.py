"""Throughput of augmentation: per-sample torchvision, kornia, resdepth.

``--stack paper`` (the default) times the ResNet40-FT stack: horizontal flip,
RandomCrop(32, padding=4), RandomAffine(10, (0.1, 0.1), (0.9, 1.1), 10), to float,
normalise, then CutMix (alpha 1, p 0.5 per batch).  Images are random uint8
CIFAR-sized tensors (PIL images for the per-sample pipeline, made before timing:
decoding is not measured).

``--stack policies`` times AutoAugment (CIFAR-10), RandAugment(2, 9),
TrivialAugmentWide, ColorJitter(0.4, 0.4, 0.4, 0.1) and RandomErasing on float
images in [0, 1]: resdepth (per-sample choices), kornia's ``augmentation.auto`` on
the batch (kornia draws one sub-policy per batch) and on one image at a time (which
gives per-sample choices), and torchvision v2 on one uint8 image at a time.

    python benchmarks/transforms.py --threads 1 --batch-sizes 128 512 --json out.json
    python benchmarks/transforms.py --stack policies --threads 1 --batch-sizes 128 512
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Callable, Sequence
from pathlib import Path

import numpy as np
import torch

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _common import add_common_options, machine_info, print_table, setup, throughput, write_json  # noqa: E402

from resdepth import transforms as T  # noqa: E402


def per_sample_pipeline(batch: int) -> Callable[[], object]:
    """The paper's pipeline: torchvision transforms on one PIL image at a time, then CutMix."""
    from PIL import Image
    from torchvision import transforms as tv

    rng = np.random.default_rng(0)
    images = [
        Image.fromarray(rng.integers(0, 256, (32, 32, 3), dtype=np.uint8)) for _ in range(batch)
    ]
    labels = torch.randint(0, 10, (batch,))
    pipeline = tv.Compose(
        [
            tv.RandomHorizontalFlip(),
            tv.RandomCrop(32, padding=4),
            tv.RandomAffine(degrees=10, translate=(0.1, 0.1), scale=(0.9, 1.1), shear=10),
            tv.ToTensor(),
            tv.Normalize(T.CIFAR10_MEAN, T.CIFAR10_STD),
        ]
    )

    def run() -> object:
        x = torch.stack([pipeline(img) for img in images])
        y = labels
        if np.random.rand() < 0.5:  # the paper's CutMix, as written in its training loop
            lam = np.random.beta(1.0, 1.0)
            index = torch.randperm(x.size(0))
            h, w = x.shape[2:]
            cut = np.sqrt(1.0 - lam)
            cw, ch = int(w * cut), int(h * cut)
            cx, cy = np.random.randint(w), np.random.randint(h)
            x1, x2 = np.clip(cx - cw // 2, 0, w), np.clip(cx + cw // 2, 0, w)
            y1, y2 = np.clip(cy - ch // 2, 0, h), np.clip(cy + ch // 2, 0, h)
            x[:, :, y1:y2, x1:x2] = x[index, :, y1:y2, x1:x2]
            y = (labels, labels[index], 1 - ((x2 - x1) * (y2 - y1) / (w * h)))
        return x, y

    return run


def kornia_pipeline(batch: int, device: torch.device) -> Callable[[], object] | None:
    try:
        import kornia.augmentation as K
    except ImportError:
        return None
    x = torch.randint(0, 256, (batch, 3, 32, 32), dtype=torch.uint8, device=device)
    labels = torch.randint(0, 10, (batch,), device=device)
    mean = torch.tensor(T.CIFAR10_MEAN, device=device)
    std = torch.tensor(T.CIFAR10_STD, device=device)
    aug = torch.nn.Sequential(
        K.RandomHorizontalFlip(),
        K.RandomCrop((32, 32), padding=4),
        K.RandomAffine(degrees=10, translate=(0.1, 0.1), scale=(0.9, 1.1), shear=10),
        K.Normalize(mean, std),
    ).to(device)
    try:  # kornia >= 0.8 can compute lambda as the CutMix paper does
        cutmix = K.RandomCutMixV2(num_mix=1, p=0.5, use_correct_lambda=True).to(device)
    except TypeError:
        cutmix = K.RandomCutMixV2(num_mix=1, p=0.5).to(device)

    def run() -> object:
        out = aug(x.float().div_(255))
        return cutmix(out, labels)

    return run


def resdepth_pipeline(
    batch: int, device: torch.device, compiled: bool = False
) -> Callable[[], object]:
    """The stack and CutMix; ``compiled`` draws parameters eagerly and applies them through
    ``torch.compile`` (fusing the per-sample arithmetic into few kernels on a GPU)."""
    x = torch.randint(0, 256, (batch, 3, 32, 32), dtype=torch.uint8, device=device)
    labels = torch.randint(0, 10, (batch,), device=device)
    pipeline = T.Compose(
        [
            T.ToFloat(),
            T.RandomHorizontalFlip(),
            T.RandomCrop(32, padding=4),
            T.RandomAffine(10, translate=(0.1, 0.1), scale=(0.9, 1.1), shear=10),
            T.Normalize(T.CIFAR10_MEAN, T.CIFAR10_STD),
        ]
    ).to(device)
    cutmix = T.CutMix(alpha=1.0, p=0.5, num_classes=10)
    if not compiled:

        def run() -> object:
            return cutmix(pipeline(x), labels)

        return run
    apply = torch.compile(pipeline.apply_transform, dynamic=False)
    mix = torch.compile(cutmix.apply_transform, dynamic=False)
    soft = T.to_soft_targets(labels, 10)

    def run_compiled() -> object:
        out = apply(x, pipeline.generate_parameters(x.shape, device))
        return mix(out, soft, cutmix.generate_parameters(out.shape, device))

    return run_compiled


POLICIES = ("AutoAugment", "RandAugment", "TrivialAugmentWide", "ColorJitter", "RandomErasing")


def resdepth_policy(name: str) -> T.BatchTransform:
    return {
        "AutoAugment": lambda: T.AutoAugment("cifar10"),
        "RandAugment": lambda: T.RandAugment(num_ops=2, magnitude=9),
        "TrivialAugmentWide": T.TrivialAugmentWide,
        "ColorJitter": lambda: T.ColorJitter(0.4, 0.4, 0.4, 0.1),
        "RandomErasing": lambda: T.RandomErasing(p=0.5),
    }[name]()


def policy_runners(
    name: str, batch: int, device: torch.device, compile_apply: bool
) -> dict[str, Callable[[], object] | None]:
    """Each library's ``name`` on one batch of random CIFAR-sized images."""
    g = torch.Generator(device=device).manual_seed(0)
    x = torch.rand(batch, 3, 32, 32, device=device, generator=g)
    ours = resdepth_policy(name)
    runners: dict[str, Callable[[], object] | None] = {"resdepth": lambda: ours(x)}
    runners["resdepth_compiled"] = None
    if compile_apply:
        fused = resdepth_policy(name).compile_apply()
        runners["resdepth_compiled"] = lambda: fused(x)
    if name == "ColorJitter":
        # For the cost of the per-sample order: the four operations once, in one order.
        from resdepth.transforms import _color as C

        def fixed_order() -> object:
            f = ours.generate_parameters(x.shape, device)["factors"]
            out = C.adjust_saturation(
                C.adjust_contrast(C.adjust_brightness(x, f[:, 0]), f[:, 1]), f[:, 2]
            )
            return C.adjust_hue(out, f[:, 3])

        runners["resdepth_fixed_order"] = fixed_order
    runners["kornia_batch"] = runners["kornia_per_image"] = None
    try:
        import kornia.augmentation as K
        import kornia.augmentation.auto as KA
    except ImportError:
        pass
    else:
        theirs = {
            "AutoAugment": lambda: KA.AutoAugment("cifar10"),
            "RandAugment": lambda: KA.RandAugment(n=2, m=9),
            "TrivialAugmentWide": lambda: KA.TrivialAugment(),
            "ColorJitter": lambda: K.ColorJitter(0.4, 0.4, 0.4, 0.1, p=1.0),
            "RandomErasing": lambda: K.RandomErasing(p=0.5),
        }[name]().to(device)
        singles = list(x.split(1))
        runners["kornia_batch"] = lambda: theirs(x)
        runners["kornia_per_image"] = lambda: torch.cat([theirs(one) for one in singles])
    runners["torchvision_per_image"] = None
    if device.type == "cpu":
        from torchvision.transforms import v2

        tv = {
            "AutoAugment": lambda: v2.AutoAugment(v2.AutoAugmentPolicy.CIFAR10),
            "RandAugment": lambda: v2.RandAugment(num_ops=2, magnitude=9),
            "TrivialAugmentWide": v2.TrivialAugmentWide,
            "ColorJitter": lambda: v2.ColorJitter(0.4, 0.4, 0.4, 0.1),
            "RandomErasing": lambda: v2.RandomErasing(p=0.5),
        }[name]()
        images = list((x * 255).round().to(torch.uint8))
        runners["torchvision_per_image"] = lambda: torch.stack([tv(img) for img in images])
    return runners


def policy_rows(args: argparse.Namespace, device: torch.device) -> tuple[list, list]:
    rows, results = [], []
    for name in args.policies:
        for batch in args.batch_sizes:
            runners = policy_runners(name, batch, device, not args.no_compile)
            if args.skip_per_sample:
                runners["torchvision_per_image"] = runners["kornia_per_image"] = None
            entry: dict[str, object] = {"transform": name, "batch": batch}
            for pipeline, run in runners.items():
                entry[pipeline] = throughput(run, batch, device, args.seconds) if run else None
            results.append(entry)
            best = max(v for k, v in entry.items() if k.startswith("resdepth") and v)
            for pipeline in runners:
                value = entry[pipeline]
                ratio = f"{best / value:.1f}x" if isinstance(value, float) else "-"
                rows.append([name, batch, pipeline, value if value else "not run", ratio])
    return rows, results


def main(argv: Sequence[str] | None = None) -> dict:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    add_common_options(parser, threads=1)
    parser.add_argument("--stack", choices=["paper", "policies"], default="paper")
    parser.add_argument("--policies", nargs="+", choices=POLICIES, default=list(POLICIES))
    parser.add_argument("--batch-sizes", type=int, nargs="+", default=[128, 512])
    parser.add_argument("--seconds", type=float, default=2.0, help="timing per measurement")
    parser.add_argument("--skip-per-sample", action="store_true")
    parser.add_argument("--no-compile", action="store_true", help="skip the compiled row")
    args = parser.parse_args(argv)

    device = setup(args)
    if args.stack == "policies":
        rows, policy_results = policy_rows(args, device)
        print(f"device={device} threads={torch.get_num_threads()} torch={torch.__version__}")
        headers = ["transform", "batch", "pipeline", "images/s", "best resdepth is"]
        print_table(headers, rows)
        payload = {"benchmark": "transforms", "stack": "policies",
                   "machine": machine_info(device), "results": policy_results}  # fmt: skip
        write_json(args.json, payload)
        return payload
    rows, results = [], []
    for batch in args.batch_sizes:
        entry: dict[str, float | int | None] = {"batch": batch}
        entry["resdepth"] = throughput(
            resdepth_pipeline(batch, device), batch, device, args.seconds
        )
        entry["resdepth_compiled"] = None
        if not args.no_compile:
            compiled = resdepth_pipeline(batch, device, compiled=True)
            entry["resdepth_compiled"] = throughput(compiled, batch, device, args.seconds)
        kornia = kornia_pipeline(batch, device)
        entry["kornia"] = throughput(kornia, batch, device, args.seconds) if kornia else None
        per_sample = None
        if not args.skip_per_sample and device.type == "cpu":
            per_sample = throughput(per_sample_pipeline(batch), batch, device, args.seconds)
        entry["torchvision_per_sample"] = per_sample
        results.append(entry)

        ours, fast = entry["resdepth"], entry["resdepth_compiled"]
        names = ("resdepth", "resdepth_compiled", "kornia", "torchvision_per_sample")
        for name in names:
            value = entry[name]
            ratios = [f"{v / value:.1f}x" if v and value else "-" for v in (ours, fast)]
            if name.startswith("resdepth"):
                ratios = ["", ""]
            rows.append([batch, name, value if value is not None else "not run", *ratios])
    print(f"device={device} threads={torch.get_num_threads()} torch={torch.__version__}")
    print_table(["batch", "pipeline", "images/s", "resdepth is", "compiled is"], rows)
    payload = {"benchmark": "transforms", "stack": "paper", "machine": machine_info(device),
               "results": results}  # fmt: skip
    write_json(args.json, payload)
    return payload


if __name__ == "__main__":
    main()
