"""A DeviceLoader epoch with the ResNet40-FT transforms against torchvision's DataLoader.

The DataLoader runs the paper's per-sample pipeline (PIL flip, crop, affine, ToTensor,
Normalize) in worker processes; the DeviceLoader holds the uint8 set on the device and
augments whole batches there.  Both produce normalised float batches of 128.

    python benchmarks/loader.py --images 10000 --workers 2 --json out.json
"""

from __future__ import annotations

import argparse
import sys
import time
from collections.abc import Sequence
from pathlib import Path

import numpy as np
import torch

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _common import add_common_options, machine_info, print_table, setup, synchronize, write_json  # noqa: E402

from resdepth import transforms as T  # noqa: E402
from resdepth.data import DeviceLoader, make_synthetic  # noqa: E402
from resdepth.recipes import get_recipe  # noqa: E402


class PILDataset(torch.utils.data.Dataset):
    def __init__(self, images: np.ndarray, labels: np.ndarray, transform: object) -> None:
        self.images, self.labels, self.transform = images, labels, transform

    def __len__(self) -> int:
        return len(self.labels)

    def __getitem__(self, i: int) -> tuple[torch.Tensor, int]:
        from PIL import Image

        return self.transform(Image.fromarray(self.images[i])), int(self.labels[i])


def epoch_rate(loader: object, device: torch.device) -> float:
    start = time.perf_counter()
    n = 0
    for x, _ in loader:  # type: ignore[attr-defined]
        x = x.to(device, non_blocking=True)
        n += x.shape[0]
    synchronize(device)
    return n / (time.perf_counter() - start)


def main(argv: Sequence[str] | None = None) -> dict:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    add_common_options(parser)
    parser.add_argument("--images", type=int, default=10_000, help="images per epoch")
    parser.add_argument("--batch", type=int, default=128)
    parser.add_argument("--workers", type=int, default=2)
    args = parser.parse_args(argv)
    device = setup(args)
    images, labels = make_synthetic(args.images, 10, 32)
    recipe = get_recipe("resnet40-ft")

    ours = DeviceLoader(images, labels, args.batch, transform=recipe.build_train_transform(),
                        device=device)  # fmt: skip
    epoch_rate(ours, device)  # warm-up epoch
    ours_rate = epoch_rate(ours, device)

    from torchvision import transforms as tv

    per_sample = tv.Compose([
        tv.RandomHorizontalFlip(), tv.RandomCrop(32, padding=4),
        tv.RandomAffine(degrees=10, translate=(0.1, 0.1), scale=(0.9, 1.1), shear=10),
        tv.ToTensor(), tv.Normalize(T.CIFAR10_MEAN, T.CIFAR10_STD),
    ])  # fmt: skip
    dataset = PILDataset(images.permute(0, 2, 3, 1).numpy(), labels.numpy(), per_sample)
    reference = torch.utils.data.DataLoader(
        dataset, batch_size=args.batch, shuffle=True, num_workers=args.workers,
        pin_memory=device.type == "cuda", persistent_workers=args.workers > 0,
    )  # fmt: skip
    epoch_rate(reference, device)  # warm-up epoch (starts the workers)
    reference_rate = epoch_rate(reference, device)

    speedup = f"{ours_rate / reference_rate:.1f}x"
    rows = [
        ["DeviceLoader + resdepth transforms", ours_rate, speedup],
        [f"DataLoader, {args.workers} workers, per-sample", reference_rate, "1.0x"],
    ]
    print(
        f"device={device} threads={torch.get_num_threads()} batch={args.batch} images={args.images}"
    )
    print_table(["loader", "images/s", "speed"], rows)
    payload = {
        "benchmark": "loader",
        "machine": machine_info(device),
        "batch": args.batch,
        "images": args.images,
        "workers": args.workers,
        "results": {"device_loader": ours_rate, "torchvision_dataloader": reference_rate},
    }
    write_json(args.json, payload)
    return payload


if __name__ == "__main__":
    main()
