"""Draw the pictures of the documentation into docs/_static/.

    python docs/make_figures.py --data ../shared/data/cifar10-jpeg.tar.gz \
        --paper-log ../shared/paper/experiments/experiment_v7/ResNet40_v3_training_history.csv

Needs matplotlib.  The grid shows the same eight real CIFAR-10 test images after each
transform of the ResNet40-FT stack and after CutMix; the curve is a training log drawn
with resdepth.plots.plot_history.
"""

from __future__ import annotations

import argparse
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import torch  # noqa: E402

from resdepth import transforms as T  # noqa: E402
from resdepth.data import load_image_folder  # noqa: E402
from resdepth.plots import plot_history  # noqa: E402

STATIC = Path(__file__).resolve().parent / "_static"


def transform_grid(archive: str, out: Path, n: int = 8) -> None:
    images, labels, classes = load_image_folder(archive, split="test")
    pick = torch.arange(0, len(labels), len(labels) // n)[:n]
    x = T.ToFloat()(images[pick])
    g = torch.Generator().manual_seed(3)
    rows = {"original": x}
    rows["flip"] = T.RandomHorizontalFlip()(x, generator=g)
    rows["crop, padding 4"] = T.RandomCrop(32, padding=4)(x, generator=g)
    affine = T.RandomAffine(10, translate=(0.1, 0.1), scale=(0.9, 1.1), shear=10)
    rows["affine"] = affine(x, generator=g)
    stack = T.Compose([T.RandomHorizontalFlip(), T.RandomCrop(32, padding=4), affine])
    rows["flip + crop + affine"] = stacked = stack(x, generator=g)
    mixed, soft = T.CutMix(alpha=1.0, p=1.0, num_classes=10)(stacked, labels[pick], generator=g)
    rows["all + CutMix"] = mixed
    fig, axes = plt.subplots(len(rows), n, figsize=(1.5 + n * 1.15, len(rows) * 1.3))
    for r, (name, batch) in enumerate(rows.items()):
        for c in range(n):
            ax = axes[r, c]
            ax.imshow(batch[c].permute(1, 2, 0).clamp(0, 1).numpy(), interpolation="nearest")
            ax.set_xticks([])
            ax.set_yticks([])
            if c == 0:
                ax.set_ylabel(name, rotation=0, ha="right", va="center", fontsize=9)
            if r == 0:
                ax.set_title(classes[int(labels[pick][c])], fontsize=8)
            if r == len(rows) - 1:
                top = soft[c].topk(2)
                mass = [f"{classes[i][:5]} {v:.2f}" for v, i in zip(*top, strict=True)]
                ax.set_xlabel("\n".join(mass), fontsize=7)
    fig.subplots_adjust(left=0.14, right=0.99, top=0.95, bottom=0.08, wspace=0.08, hspace=0.12)
    fig.savefig(out, dpi=90)
    print(f"wrote {out}")


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--data", required=True, help="the CIFAR-10 JPEG archive")
    p.add_argument("--paper-log", required=True, help="a history CSV to draw")
    args = p.parse_args()
    STATIC.mkdir(exist_ok=True)
    transform_grid(args.data, STATIC / "transforms_grid.png")
    plot_history(args.paper_log, path=STATIC / "resnet40_ft_curve.png", label="paper",
                 title="ResNet40-FT as logged by the paper")  # fmt: skip
    print(f"wrote {STATIC / 'resnet40_ft_curve.png'}")


if __name__ == "__main__":
    main()
