"""Time to accuracy: one model, data set, recipe and epoch count, trained four ways.

(a) a plain PyTorch loop as users write it: fp32, a ``DataLoader`` over PIL images with
torchvision's per-image transforms; (b) the same loop tuned by hand: bf16 autocast
where the device computes bf16 natively (CUDA; a CPU with AVX512-BF16 or AMX), else
fp32, channels_last, the data held on the device as uint8 and augmented per batch with
tensor ops, no DataLoader; (c) resdepth's ``Trainer`` with its defaults, twice per
seed: its autotune cache cold (``RESDEPTH_AUTOTUNE_CACHE`` naming a file not yet
there), then warm (the same file); (d) PyTorch Lightning with
``precision="bf16-mixed"`` (``"32-true"`` on a CPU without native bf16) over (a)'s
DataLoaders, when Lightning is installed.

Every way uses the recipe's optimiser, cosine schedule, batch sizes and flip + crop
augmentation (the plain ways spell them out in plain PyTorch), starts from the same
initial weights for a seed (``torch.manual_seed(seed)`` before the model is built),
and evaluates on the whole test split after every epoch, as the Trainer does; the
accuracy reported is the last epoch's.  A way's wall time runs from the model's move
to the device to the last evaluation: loaders, the autotune trial, training and every
evaluation; the data set is read and decoded once before any clock starts (into
uint8 tensors, and PIL images for the DataLoaders).  Images/s is epochs x training
images / wall time.  Runs interleave the ways (seed 0: a, b, c, d; seed 1: ...);
medians and the accuracy spread over the seeds are reported.  Measure on a quiet
machine: the load average is printed.

    python benchmarks/time_to_accuracy.py --json time_to_accuracy.json
    python benchmarks/time_to_accuracy.py --ways a b --epochs 2 --subset 1000 --runs 1
"""

from __future__ import annotations

import argparse
import contextlib
import datetime
import importlib
import logging
import math
import os
import platform
import statistics
import sys
import tempfile
import time
import warnings
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path
from types import ModuleType
from typing import Any

import torch
import torch.nn.functional as F
from torch import Tensor, nn
from torch.utils.data import DataLoader
from torchvision import transforms as T
from torchvision.transforms.functional import to_pil_image

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _common import add_common_options, machine_info, setup, synchronize, write_json  # noqa: E402

from resdepth import ResNet, Trainer, get_model  # noqa: E402
from resdepth.data import Dataset, load_dataset  # noqa: E402
from resdepth.recipes import Recipe, get_recipe  # noqa: E402

WAYS = ("a", "b", "c", "d")
LABELS = {
    "a": "(a) plain loop, DataLoader",
    "b": "(b) hand-tuned loop",
    "c_cold": "(c) Trainer defaults, cache cold",
    "c_warm": "(c) Trainer defaults, cache warm",
    "d": "(d) Lightning (bf16-mixed where native)",
}
#: --smoke: a check that the script runs, not a measurement.
SMOKE = {"train": 48, "test": 100, "epochs": 1, "batch_size": 16, "runs": 1}
AUTOTUNE_CACHE = "RESDEPTH_AUTOTUNE_CACHE"


@dataclass(frozen=True)
class Plain:
    """The recipe in plain PyTorch terms: what ways (a), (b) and (d) reproduce."""

    lr: float
    momentum: float
    weight_decay: float
    nesterov: bool
    label_smoothing: float
    padding: int
    flip_p: float
    mean: tuple[float, ...]
    std: tuple[float, ...]

    @classmethod
    def of(cls, recipe: Recipe) -> Plain:
        aug = {name: dict(kwargs) for name, kwargs in recipe.augment}
        schedule = (recipe.scheduler, recipe.scheduler_interval, dict(recipe.scheduler_kwargs))
        groups = (recipe.norm_weight_decay, recipe.bias_weight_decay)
        checks = {
            f"optimizer {recipe.optimizer}": recipe.optimizer == "sgd",
            f"schedule {schedule}": schedule == ("cosine", "epoch", {}),
            f"augment {list(aug)}": set(aug) == {"RandomHorizontalFlip", "RandomCrop"}
            and aug["RandomCrop"].get("size") is None,
            f"mixing {recipe.mixing}": recipe.mixing is None,
            f"weight-decay groups {groups}": groups == (None, None),
        }
        problems = [what for what, ok in checks.items() if not ok]
        if problems:
            raise SystemExit(
                "error: ways a, b and d spell out SGD, a per-epoch cosine and flip + crop "
                f"(recipes such as as1); recipe {recipe.name!r} has {', '.join(problems)}: "
                "choose another recipe, or --ways c"
            )
        opt = recipe.optimizer_kwargs
        return cls(lr=float(opt["lr"]), momentum=float(opt.get("momentum", 0.0)),
                   weight_decay=float(opt.get("weight_decay", 0.0)),
                   nesterov=bool(opt.get("nesterov", False)),
                   label_smoothing=recipe.label_smoothing,
                   padding=int(aug["RandomCrop"].get("padding") or 0),
                   flip_p=float(aug["RandomHorizontalFlip"].get("p", 0.5)),
                   mean=tuple(recipe.mean), std=tuple(recipe.std))  # fmt: skip

    def optimizer(self, params: Iterable[nn.Parameter]) -> torch.optim.SGD:
        return torch.optim.SGD(params, lr=self.lr, momentum=self.momentum,
                               weight_decay=self.weight_decay, nesterov=self.nesterov)  # fmt: skip

    def describe(self, epochs: int) -> str:
        return (f"SGD(lr={self.lr}, momentum={self.momentum}, weight_decay={self.weight_decay}, "
                f"nesterov={self.nesterov}), CosineAnnealingLR(T_max={epochs}) stepped per epoch, "
                f"label smoothing {self.label_smoothing}, RandomCrop(padding={self.padding}) + "
                f"RandomHorizontalFlip(p={self.flip_p})")  # fmt: skip


@dataclass
class Setup:
    """What every way shares: device, data, model, recipe, epochs."""

    device: torch.device
    train: Dataset
    test: Dataset
    recipe: Recipe  # the named recipe, at --batch-size
    plain: Plain | None  # None when only (c) runs
    epochs: int
    workers: int
    build: Callable[[], nn.Module]
    pil_train: list[Any]
    pil_test: list[Any]

    def model(self, seed: int) -> nn.Module:
        torch.manual_seed(seed)  # the same initial weights in every way
        return self.build()


@dataclass
class Result:
    wall_seconds: float
    test_accuracy: float
    precision: str

    def as_dict(self, images: int) -> dict[str, Any]:
        return {"wall_seconds": self.wall_seconds, "images_per_second": images / self.wall_seconds,
                "test_accuracy": self.test_accuracy, "precision": self.precision}  # fmt: skip


def native_bf16(device: torch.device) -> bool:
    """Whether ``device`` computes bf16 in hardware (else autocast to bf16 only emulates it)."""
    if device.type == "cuda":
        return torch.cuda.is_bf16_supported()
    if device.type != "cpu":
        return False
    if platform.machine().lower() in ("aarch64", "arm64"):
        with contextlib.suppress(AttributeError, RuntimeError):
            return bool(torch.ops.mkldnn._is_mkldnn_bf16_supported())
        return False
    checks = ("_is_avx512_bf16_supported", "_is_amx_tile_supported")
    return any(getattr(torch.cpu, name, lambda: False)() for name in checks)


class PerImage(torch.utils.data.Dataset):  # type: ignore[type-arg]
    """PIL images and labels through a torchvision transform, one image at a time."""

    def __init__(self, images: list[Any], labels: Tensor, transform: Callable[[Any], Tensor]):
        self.images, self.labels, self.transform = images, labels.tolist(), transform

    def __len__(self) -> int:
        return len(self.images)

    def __getitem__(self, i: int) -> tuple[Tensor, int]:
        return self.transform(self.images[i]), self.labels[i]


def torchvision_loaders(s: Setup, seed: int) -> tuple[DataLoader, DataLoader]:  # type: ignore[type-arg]
    """Ways (a) and (d): DataLoaders with per-image torchvision transforms, as users write them."""
    assert s.plain is not None
    p, size = s.plain, tuple(s.train.images.shape[-2:])
    train_tf = T.Compose([T.RandomCrop(size, padding=p.padding), T.RandomHorizontalFlip(p.flip_p),
                          T.ToTensor(), T.Normalize(p.mean, p.std)])  # fmt: skip
    test_tf = T.Compose([T.ToTensor(), T.Normalize(p.mean, p.std)])
    shuffle = torch.Generator().manual_seed(seed)
    train = DataLoader(PerImage(s.pil_train, s.train.labels, train_tf), s.recipe.batch_size,
                       shuffle=True, num_workers=s.workers, generator=shuffle)  # fmt: skip
    test = DataLoader(PerImage(s.pil_test, s.test.labels, test_tf), s.recipe.test_batch_size,
                      num_workers=s.workers)  # fmt: skip
    return train, test


def way_a(s: Setup, seed: int) -> Result:
    """fp32, contiguous, a DataLoader of per-image transforms; evaluation every epoch."""
    assert s.plain is not None
    model = s.model(seed)
    start = time.perf_counter()
    model = model.to(s.device)
    train, test = torchvision_loaders(s, seed)
    opt = s.plain.optimizer(model.parameters())
    sched = torch.optim.lr_scheduler.CosineAnnealingLR(opt, T_max=s.epochs)
    accuracy = math.nan
    for _ in range(s.epochs):
        model.train()
        for x, y in train:
            x, y = x.to(s.device), y.to(s.device)
            loss = F.cross_entropy(model(x), y, label_smoothing=s.plain.label_smoothing)
            opt.zero_grad()
            loss.backward()
            opt.step()
        sched.step()
        model.eval()
        correct = seen = 0
        with torch.no_grad():
            for x, y in test:
                x, y = x.to(s.device), y.to(s.device)
                correct += (model(x).argmax(1) == y).sum().item()
                seen += len(y)
        accuracy = 100.0 * correct / seen
    synchronize(s.device)
    return Result(time.perf_counter() - start, accuracy, "fp32, contiguous")


def random_crop_flip(padded: Tensor, pad: int, flip_p: float, g: torch.Generator) -> Tensor:
    """Way (b)'s augmentation of a padded uint8 batch ``(B, C, H + 2 pad, W + 2 pad)``: a
    random ``H x W`` window per sample, by one gather, then a horizontal flip with
    probability ``flip_p`` per sample, by ``torch.where``."""
    b, c, hp, wp = padded.shape
    h, w, dev = hp - 2 * pad, wp - 2 * pad, padded.device
    dy = torch.randint(0, 2 * pad + 1, (b, 1, 1, 1), device=dev, generator=g)
    dx = torch.randint(0, 2 * pad + 1, (b, 1, 1, 1), device=dev, generator=g)
    x = padded[torch.arange(b, device=dev).view(b, 1, 1, 1),
               torch.arange(c, device=dev).view(1, c, 1, 1),
               dy + torch.arange(h, device=dev).view(1, 1, h, 1),
               dx + torch.arange(w, device=dev).view(1, 1, 1, w)]  # fmt: skip
    flip = torch.rand(b, device=dev, generator=g) < flip_p
    return torch.where(flip.view(b, 1, 1, 1), x.flip(3), x)


def way_b(s: Setup, seed: int) -> Result:
    """bf16 autocast (where native) + channels_last, uint8 data on the device, batch
    augmentation by tensor ops, no DataLoader; evaluation every epoch."""
    assert s.plain is not None
    p, dev, bs = s.plain, s.device, s.recipe.batch_size
    bf16 = native_bf16(dev)
    cl = torch.channels_last
    model = s.model(seed)
    start = time.perf_counter()
    model = model.to(dev, memory_format=cl)
    opt = p.optimizer(model.parameters())
    sched = torch.optim.lr_scheduler.CosineAnnealingLR(opt, T_max=s.epochs)
    g = torch.Generator(device=dev).manual_seed(seed)
    pad = p.padding
    padded = F.pad(s.train.images.to(dev), (pad, pad, pad, pad))  # uint8, padded once
    labels = s.train.labels.to(dev)
    test_x, test_y = s.test.images.to(dev), s.test.labels.to(dev)
    mean = 255 * torch.tensor(p.mean, device=dev).view(1, -1, 1, 1)
    std = 255 * torch.tensor(p.std, device=dev).view(1, -1, 1, 1)

    def normalize(x: Tensor) -> Tensor:
        return ((x.float() - mean) / std).contiguous(memory_format=cl)

    accuracy = math.nan
    for _ in range(s.epochs):
        model.train()
        order = torch.randperm(len(labels), device=dev, generator=g)
        for i in range(0, len(labels), bs):
            idx = order[i : i + bs]
            x = normalize(random_crop_flip(padded[idx], pad, p.flip_p, g))
            with torch.autocast(dev.type, dtype=torch.bfloat16, enabled=bf16):
                logits = model(x)
            loss = F.cross_entropy(logits.float(), labels[idx], label_smoothing=p.label_smoothing)
            opt.zero_grad(set_to_none=True)
            loss.backward()
            opt.step()
        sched.step()
        model.eval()
        correct = torch.zeros((), dtype=torch.long, device=dev)
        with torch.no_grad(), torch.autocast(dev.type, dtype=torch.bfloat16, enabled=bf16):
            for i in range(0, len(test_y), s.recipe.test_batch_size):
                x = normalize(test_x[i : i + s.recipe.test_batch_size])
                y = test_y[i : i + s.recipe.test_batch_size]
                correct += (model(x).argmax(1) == y).sum()
        accuracy = 100.0 * correct.item() / len(test_y)
    synchronize(dev)
    return Result(time.perf_counter() - start, accuracy,
                  "bf16 autocast, channels_last" if bf16 else
                  "fp32, channels_last (no native bf16 here)")  # fmt: skip


def way_c(s: Setup, seed: int, cache: Path) -> Result:
    """``Trainer(model, recipe, out_dir=None, progress=False)``: precision and memory
    format left to its defaults; build_loaders and fit (evaluation every epoch)."""
    before = os.environ.get(AUTOTUNE_CACHE)
    os.environ[AUTOTUNE_CACHE] = str(cache)  # set before the Trainer is made
    try:
        model = s.model(seed)
        start = time.perf_counter()
        trainer = Trainer(model, recipe=s.recipe, device=s.device, out_dir=None, progress=False,
                          seed=seed)  # fmt: skip
        history = trainer.fit(*trainer.build_loaders(s.train, s.test), epochs=s.epochs)
        synchronize(s.device)
        seconds = time.perf_counter() - start
    finally:
        os.environ.pop(AUTOTUNE_CACHE)
        if before is not None:
            os.environ[AUTOTUNE_CACHE] = before
    # What the defaults resolved to, where the Trainer says.
    precision = getattr(trainer, "precision", None)
    channels_last = getattr(trainer, "channels_last", None)
    fmt = {True: "channels_last", False: "contiguous"}.get(channels_last, str(channels_last))
    said = f"{precision}, {fmt}" if (precision, channels_last) != (None, None) else "not exposed"
    return Result(seconds, float(history[-1]["test_accuracy"]), said)


def import_lightning() -> ModuleType | None:
    for name in ("lightning.pytorch", "pytorch_lightning"):
        try:
            return importlib.import_module(name)
        except ImportError:
            continue
    return None


def way_d(s: Setup, seed: int, pl: ModuleType) -> Result:
    """A LightningModule around the same model, optimiser and schedule, on (a)'s
    DataLoaders, ``pl.Trainer(precision="bf16-mixed")`` (else "32-true"); validation every epoch."""
    assert s.plain is not None
    p, epochs = s.plain, s.epochs

    class Module(pl.LightningModule):  # type: ignore[misc,name-defined]
        def __init__(self, model: nn.Module) -> None:
            super().__init__()
            self.model, self.correct, self.seen, self.accuracy = model, 0, 0, math.nan

        def training_step(self, batch: tuple[Tensor, Tensor], batch_idx: int) -> Tensor:
            x, y = batch
            return F.cross_entropy(self.model(x), y, label_smoothing=p.label_smoothing)

        def on_validation_epoch_start(self) -> None:
            self.correct = self.seen = 0

        def validation_step(self, batch: tuple[Tensor, Tensor], batch_idx: int) -> None:
            x, y = batch
            self.correct += int((self.model(x).argmax(1) == y).sum())
            self.seen += len(y)

        def on_validation_epoch_end(self) -> None:
            self.accuracy = 100.0 * self.correct / self.seen

        def configure_optimizers(self) -> Any:
            opt = p.optimizer(self.model.parameters())
            sched = torch.optim.lr_scheduler.CosineAnnealingLR(opt, T_max=epochs)
            return {"optimizer": opt, "lr_scheduler": {"scheduler": sched, "interval": "epoch"}}

    # bf16-mixed as a Lightning user would choose it for speed, but not on a CPU without
    # native bf16, where emulated bf16 ran about 20x slower than fp32: there, 32-true.
    precision = "bf16-mixed" if native_bf16(s.device) else "32-true"
    for name in ("lightning.pytorch", "pytorch_lightning", "lightning.fabric", "lightning_fabric"):
        logging.getLogger(name).setLevel(logging.WARNING)  # no banner per run
    accelerator, devices = ("gpu", [s.device.index or 0]) if s.device.type == "cuda" else ("cpu", 1)
    module = Module(s.model(seed))
    with tempfile.TemporaryDirectory() as root, warnings.catch_warnings():
        warnings.simplefilter("ignore")  # Lightning's advice (more workers, ...) aside
        start = time.perf_counter()
        train, test = torchvision_loaders(s, seed)
        # No files (logger, checkpoints) and no sanity pass, as (c) writes and checks none.
        trainer = pl.Trainer(max_epochs=epochs, accelerator=accelerator, devices=devices,
                             precision=precision, logger=False, enable_checkpointing=False,
                             enable_progress_bar=False, enable_model_summary=False,
                             num_sanity_val_steps=0, default_root_dir=root)  # fmt: skip
        trainer.fit(module, train, test)
        synchronize(s.device)
        seconds = time.perf_counter() - start
    return Result(seconds, module.accuracy, f"{precision}, contiguous")


def run_way(key: str, s: Setup, seed: int, cache: Path, pl: ModuleType | None) -> Result:
    if key in ("c_cold", "c_warm"):
        return way_c(s, seed, cache)
    if key == "d":
        assert pl is not None
        return way_d(s, seed, pl)
    return {"a": way_a, "b": way_b}[key](s, seed)


def warm_up(s: Setup) -> None:
    """One untimed training step in each format the ways use, so that the first timed
    run does not pay for the kernels' first use alone."""
    model = s.build().to(s.device)
    x = torch.randn(4, *s.train.images.shape[1:], device=s.device)
    formats = [(torch.contiguous_format, False), (torch.channels_last, native_bf16(s.device))]
    for fmt, bf16 in [*formats, (torch.contiguous_format, True)]:  # the last: (d)
        model = model.to(memory_format=fmt)
        with torch.autocast(s.device.type, dtype=torch.bfloat16, enabled=bf16):
            model(x.contiguous(memory_format=fmt)).float().sum().backward()
    synchronize(s.device)


def summarize(results: list[Result], images: int) -> dict[str, Any]:
    walls = [r.wall_seconds for r in results]
    accs = [r.test_accuracy for r in results]
    precisions = list(dict.fromkeys(r.precision for r in results))
    return {
        "runs": [r.as_dict(images) for r in results],
        "precision": " / ".join(precisions),
        "median_wall_seconds": statistics.median(walls),
        "median_images_per_second": statistics.median(images / w for w in walls),
        "accuracy_mean": statistics.fmean(accs),
        "accuracy_min": min(accs),
        "accuracy_max": max(accs),
    }


def markdown_table(headers: Sequence[str], rows: Sequence[Sequence[object]]) -> str:
    lines = ["| " + " | ".join(headers) + " |", "|" + "---|" * len(headers)]
    return "\n".join(lines + ["| " + " | ".join(str(c) for c in row) + " |" for row in rows])


def table(ways: dict[str, dict[str, Any]]) -> str:
    base = ways.get("a", {}).get("median_wall_seconds")
    rows = []
    for w in ways.values():
        if "skipped" in w:
            rows.append([w["label"], w["skipped"], "-", "-", "-", "-"])
            continue
        wall = w["median_wall_seconds"]
        rows.append([
            w["label"], w["precision"], f"{w['median_images_per_second']:,.0f}", f"{wall:.1f} s",
            f"{w['accuracy_mean']:.2f} ({w['accuracy_min']:.2f}..{w['accuracy_max']:.2f})",
            f"{base / wall:.2f}x" if base else "-",
        ])  # fmt: skip
    headers = ["way", "precision/format", "images/s (median)", "wall time (median)",
               "test accuracy % mean (min..max)", "speed-up vs (a) in wall time"]  # fmt: skip
    return markdown_table(headers, rows)


def load_data(args: argparse.Namespace) -> tuple[Dataset, Dataset]:
    train = load_dataset(args.data, train=True)
    test = load_dataset(args.data, train=False)
    if args.smoke:  # the whole test split otherwise
        test = test.subset(min(SMOKE["test"], len(test)))
    subset = args.subset or (min(SMOKE["train"], len(train)) if args.smoke else None)
    return train.subset(subset), test


def main(argv: Sequence[str] | None = None) -> dict:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    add_common_options(parser)
    parser.add_argument("--data", default="cifar10-sample",
                        help="cifar10-sample (inside the package), cifar10, or a path "
                             "(as resdepth.data.load_dataset takes)")  # fmt: skip
    parser.add_argument("--model", default="resnet10", help="a registered model")
    parser.add_argument("--recipe", default="as1", help="a registered recipe")
    parser.add_argument("--epochs", type=int, default=None, help="default 10 (1 with --smoke)")
    parser.add_argument("--batch-size", type=int, default=None, help="default: the recipe's")
    runs_help = "runs per way, seeds 0..runs-1 (default 3; 1 with --smoke)"
    parser.add_argument("--runs", type=int, default=None, help=runs_help)
    parser.add_argument("--ways", nargs="+", choices=WAYS, default=list(WAYS))
    parser.add_argument("--subset", type=int, default=None, help="train on N images")
    workers_help = "DataLoader workers of (a) and (d) (default 0 on CPU, 4 on CUDA)"
    parser.add_argument("--workers", type=int, default=None, help=workers_help)
    parser.add_argument("--smoke", action="store_true",
                        help=f"a check: {SMOKE['train']} training and {SMOKE['test']} test "
                             "images, 1 epoch, a tiny ResNet")  # fmt: skip
    args = parser.parse_args(argv)
    device = setup(args)
    threads = torch.get_num_threads()
    epochs = args.epochs or (SMOKE["epochs"] if args.smoke else 10)
    runs = args.runs or (SMOKE["runs"] if args.smoke else 3)
    ways = [w for w in WAYS if w in args.ways]
    smoke_batch = SMOKE["batch_size"] if args.smoke else None
    recipe = get_recipe(args.recipe)
    recipe = recipe.replace(batch_size=args.batch_size or smoke_batch or recipe.batch_size)
    plain = Plain.of(recipe) if set(ways) - {"c"} else None
    pl = import_lightning() if "d" in ways else None  # imported before any clock starts

    # Read and decode once, before any timing, for every way: the uint8 tensors of
    # (b) and (c), and the PIL images of (a) and (d)'s torchvision Datasets.
    train, test = load_data(args)
    num_classes = len(train.classes)
    if args.smoke:
        model_name = "tiny ResNet(layers=(1,), widths=(8,))"

        def build() -> nn.Module:
            return ResNet(layers=(1,), widths=(8,), num_classes=num_classes)
    else:
        model_name = args.model

        def build() -> nn.Module:
            return get_model(args.model, num_classes=num_classes)

    pil: tuple[list[Any], list[Any]] = ([], [])
    if "a" in ways or ("d" in ways and pl is not None):
        pil = ([to_pil_image(x) for x in train.images], [to_pil_image(x) for x in test.images])
    workers = args.workers if args.workers is not None else (4 if device.type == "cuda" else 0)
    s = Setup(device, train, test, recipe, plain, epochs, workers, build, *pil)
    images = epochs * len(train)

    print(f"{model_name} on {train.name} ({len(train)} training, {len(test)} test images), "
          f"recipe {recipe.name}, batch {recipe.batch_size}, epochs {epochs}, {runs} run(s) "
          f"per way; device {device}, {threads} threads, DataLoader workers {s.workers}",
          flush=True)  # fmt: skip
    if plain is not None:
        print(f"plain ways: {plain.describe(epochs)}", flush=True)
    warm_up(s)
    load_before = os.getloadavg()
    started = datetime.datetime.now(datetime.timezone.utc)
    results: dict[str, list[Result]] = {}
    cache_written = []
    with tempfile.TemporaryDirectory() as scratch:
        for seed in range(runs):
            cache = Path(scratch) / f"autotune-{seed}.json"  # not there yet: cold, then warm
            for key in [k for w in ways for k in (("c_cold", "c_warm") if w == "c" else (w,))]:
                if key == "d" and pl is None:
                    continue
                result = run_way(key, s, seed, cache, pl)
                if torch.get_num_threads() != threads:  # a framework changed it
                    torch.set_num_threads(threads)
                results.setdefault(key, []).append(result)
                if key == "c_cold":
                    cache_written.append(cache.exists())
                print(f"seed {seed}: {LABELS[key]}: {result.wall_seconds:.1f} s, "
                      f"{images / result.wall_seconds:,.0f} images/s, test accuracy "
                      f"{result.test_accuracy:.2f}% ({result.precision})", flush=True)  # fmt: skip
    load_after = os.getloadavg()

    summary = {k: {"label": LABELS[k], **summarize(v, images)} for k, v in results.items()}
    if "d" in ways and pl is None:
        summary["d"] = {"label": LABELS["d"], "skipped": "not run: Lightning is not installed"}
    summary = {k: summary[k] for k in LABELS if k in summary}
    base = summary.get("a", {}).get("median_wall_seconds")
    for w in summary.values():
        if "median_wall_seconds" in w:
            w["speedup_vs_a"] = base / w["median_wall_seconds"] if base else None
    ratio = {
        cache: summary[f"c_{cache}"]["median_wall_seconds"] / summary["b"]["median_wall_seconds"]
        for cache in ("cold", "warm")
        if "b" in summary and f"c_{cache}" in summary
    }
    payload = {
        "benchmark": "time_to_accuracy",
        "machine": machine_info(device),
        "date": started.isoformat(timespec="seconds"),
        "load_average_before": round(load_before[0], 2),
        "load_average_after": round(load_after[0], 2),
        "data": train.name, "train_images": len(train), "test_images": len(test),
        "model": model_name, "recipe": recipe.name, "recipe_summary": recipe.summary(),
        "epochs": epochs, "batch_size": recipe.batch_size,
        "test_batch_size": recipe.test_batch_size, "runs": runs, "seeds": list(range(runs)),
        "workers": s.workers, "native_bf16": native_bf16(device),
        "evaluation": "whole test split after every epoch; accuracy: the last epoch's",
        "images_per_second_is": "epochs x training images / wall time (evaluation included)",
        "autotune_cache_written_when_cold": cache_written,
        "ways": summary,
        "wall_ratio_c_over_b": ratio,
    }  # fmt: skip
    machine = payload["machine"]
    gpu = f" ({machine['gpu']})" if "gpu" in machine else ""
    print(f"\n{machine['cpu_model']}, {machine['cpu_count']} cores, {threads} torch threads, "
          f"torch {machine['torch']}, device {device}{gpu}; "
          f"{started:%Y-%m-%d %H:%M} UTC; load average {payload['load_average_before']} before, "
          f"{payload['load_average_after']} after\n")  # fmt: skip
    print(table(summary))
    if "d" in summary and "skipped" in summary["d"]:
        print("\n(d) not run: neither lightning nor pytorch_lightning is importable "
              "(python -m pip install lightning)")  # fmt: skip
    for cache, value in ratio.items():
        print(f"(c)/(b) wall time, cache {cache}: {value:.2f}")
    if cache_written:
        print(f"autotune cache file written by the cold runs: {cache_written}")
    write_json(args.json, payload)
    return payload


if __name__ == "__main__":
    main()
