"""Draw the pictures of the documentation into docs/_static/.

    python docs/make_figures.py --data ../shared/data/cifar10-jpeg.tar.gz \
        --paper-log ../shared/paper/experiments/experiment_v7/ResNet40_v3_training_history.csv

Needs matplotlib.  The grids show the same eight real CIFAR-10 test images after each
transform of the ResNet40-FT stack and after CutMix, and after each colour, erasing
and policy transform; the curve is a training log drawn
with resdepth.study.plot_history; the JSON-lines picture plots what JsonLinesLogger
wrote during a short real run (a tiny ResNet, the ``fast-v1`` recipe, 2,000 images of
the packaged CIFAR-10 sample, 4 epochs on a CPU).
"""

from __future__ import annotations

import argparse
import json
import tempfile
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import torch  # noqa: E402

from resdepth import ResNet, Trainer, seed_everything  # noqa: E402
from resdepth import transforms as T  # noqa: E402
from resdepth.data import load_dataset, load_image_folder  # noqa: E402
from resdepth.recipes import get_recipe  # noqa: E402
from resdepth.study import plot_history  # noqa: E402
from resdepth.tracking import JsonLinesLogger  # noqa: E402

STATIC = Path(__file__).resolve().parent / "_static"


def _draw_grid(
    rows: dict[str, torch.Tensor],
    captions: dict[str, list[str]],
    titles: list[str],
    out: Path,
) -> None:
    """One row of images per entry of ``rows``; ``captions`` go under a row's images."""
    n = len(titles)
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
                ax.set_title(titles[c], fontsize=8)
            if name in captions:
                ax.set_xlabel(captions[name][c], fontsize=6.5)
    bottom = 0.3 / len(rows) + 0.02
    fig.subplots_adjust(left=0.16, right=0.99, top=1 - 0.3 / len(rows), bottom=bottom,
                        wspace=0.08, hspace=0.35 if captions else 0.12)  # fmt: skip
    fig.savefig(out, dpi=90)
    print(f"wrote {out}")


def _test_images(archive: str, n: int) -> tuple[torch.Tensor, torch.Tensor, list[str]]:
    images, labels, classes = load_image_folder(archive, split="test")
    pick = torch.arange(0, len(labels), len(labels) // n)[:n]
    return T.ToFloat()(images[pick]), labels[pick], classes


def transform_grid(archive: str, out: Path, n: int = 8) -> None:
    x, labels, classes = _test_images(archive, n)
    g = torch.Generator().manual_seed(3)
    rows = {"original": x}
    rows["flip"] = T.RandomHorizontalFlip()(x, generator=g)
    rows["crop, padding 4"] = T.RandomCrop(32, padding=4)(x, generator=g)
    affine = T.RandomAffine(10, translate=(0.1, 0.1), scale=(0.9, 1.1), shear=10)
    rows["affine"] = affine(x, generator=g)
    stack = T.Compose([T.RandomHorizontalFlip(), T.RandomCrop(32, padding=4), affine])
    rows["flip + crop + affine"] = stacked = stack(x, generator=g)
    mixed, soft = T.CutMix(alpha=1.0, p=1.0, num_classes=10)(stacked, labels, generator=g)
    rows["all + CutMix"] = mixed
    mass = []
    for c in range(n):
        top = soft[c].topk(2)
        mass.append("\n".join(f"{classes[i][:5]} {v:.2f}" for v, i in zip(*top, strict=True)))
    _draw_grid(rows, {"all + CutMix": mass}, [classes[int(i)] for i in labels], out)


def colour_and_policy_grid(archive: str, out: Path, n: int = 8) -> None:
    """The colour, erasing and policy transforms on the same images; the policy rows
    name the operation (and magnitude) each image drew."""
    x, labels, classes = _test_images(archive, n)
    g = torch.Generator().manual_seed(5)
    singles: dict[str, T.BatchTransform] = {
        "ColorJitter\n(.4, .4, .4, .1)": T.ColorJitter(0.4, 0.4, 0.4, 0.1),
        "RandomGrayscale\n(p=.5)": T.RandomGrayscale(p=0.5),
        "RandomSolarize\n(.5, p=.5)": T.RandomSolarize(0.5),
        "RandomPosterize\n(3, p=.5)": T.RandomPosterize(3),
        "RandomEqualize\n(p=.5)": T.RandomEqualize(),
        "RandomAutocontrast\n(p=.5)": T.RandomAutocontrast(),
        "RandomSharpness\n(3, p=.5)": T.RandomSharpness(3.0),
        "RandomInvert\n(p=.5)": T.RandomInvert(),
        "RandomErasing\n(p=.5)": T.RandomErasing(),
        "Cutout(16)": T.Cutout(16),
    }
    rows = {"original": x}
    for name, transform in singles.items():
        rows[name] = transform(x, generator=g)
    captions = {}
    policies: dict[str, T.AutoAugment | T.RandAugment | T.TrivialAugmentWide] = {
        "AutoAugment\n(cifar10)": T.AutoAugment(),
        "RandAugment\n(2, 9)": T.RandAugment(num_ops=2, magnitude=9),
        "TrivialAugment\nWide": T.TrivialAugmentWide(),
    }
    for name, policy in policies.items():
        params = policy.generate_parameters(x.shape, generator=g)
        rows[name] = policy(x, params=params)
        steps = []
        for ops, magnitudes in zip(params["op"], params["magnitude"], strict=True):
            named = [(policy.names[k], m) for k, m in zip(ops.tolist(), magnitudes.tolist(),
                                                          strict=True)]  # fmt: skip
            words = [f"{op} {m:.3g}" if m else op for op, m in named if op != "Identity"]
            steps.append("\n".join(words) or "(none)")
        captions[name] = steps
    _draw_grid(rows, captions, [classes[int(i)] for i in labels], out)


def json_lines_picture(out: Path) -> None:
    log = Path(tempfile.mkdtemp()) / "log.jsonl"
    seed_everything(0)
    net = ResNet(layers=(1, 1, 1), widths=(16, 32, 64))
    trainer = Trainer(net, recipe=get_recipe("fast-v1", batch_size=100, epochs=4), device="cpu",
                      progress=False, callbacks=[JsonLinesLogger(log)])  # fmt: skip
    data = [load_dataset("cifar10-sample", train=t).subset(2000) for t in (True, False)]
    trainer.fit(*trainer.build_loaders(*data))
    records = [json.loads(line) for line in log.read_text().splitlines()]
    steps = [r for r in records if r["kind"] == "step"]
    epochs = [r for r in records if r["kind"] == "epoch"]
    fig, (left, right) = plt.subplots(1, 2, figsize=(9, 3.4), constrained_layout=True)
    left.plot([r["step"] for r in steps], [r["learning_rate"] for r in steps], color="tab:gray")
    left.set_xlabel("batch")
    left.set_ylabel("learning rate")
    left.set_title('"kind": "step" lines (fast-v1: warm-up, then linear decay)', fontsize=9)
    for key, label in (("train_accuracy", "train"), ("test_accuracy", "test")):
        right.plot([r["epoch"] for r in epochs], [r[key] for r in epochs], "o-", label=label)
    right.set_xlabel("epoch")
    right.set_ylabel("accuracy (%)")
    right.legend(fontsize="small")
    right.set_title('"kind": "epoch" lines', fontsize=9)
    for ax in (left, right):
        ax.grid(alpha=0.3)
    fig.savefig(out, dpi=100)
    print(f"wrote {out}")


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--data", required=True, help="the CIFAR-10 JPEG archive")
    p.add_argument("--paper-log", required=True, help="a history CSV to draw")
    args = p.parse_args()
    STATIC.mkdir(exist_ok=True)
    transform_grid(args.data, STATIC / "transforms_grid.png")
    colour_and_policy_grid(args.data, STATIC / "colour_policy_grid.png")
    plot_history(args.paper_log, path=STATIC / "resnet40_ft_curve.png", label="paper",
                 title="ResNet40-FT as logged by the paper")  # fmt: skip
    print(f"wrote {STATIC / 'resnet40_ft_curve.png'}")
    json_lines_picture(STATIC / "json_lines_log.png")


if __name__ == "__main__":
    main()
