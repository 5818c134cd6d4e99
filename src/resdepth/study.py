"""The paper's question as a tool: under one budget, how should depth and width trade?

A study trains a family of network shapes, each fitted to the same parameter (and
optionally MAC) budget, with one recipe, and reports their accuracy side by side.
Every shape's run is an ordinary Trainer run directory (``out/<shape>/`` with its
``history.csv``, ``last.pt`` and ``best.pt``), so a study resumes, splits over
machines and is read with the same tools as any run:

* running the same study again skips finished shapes and resumes an interrupted one
  exactly;
* ``shard=(i, n)`` runs every n-th shape from the i-th, so n processes, GPUs or
  machines split a study with no coordinator;
* :func:`study_report` merges whatever has finished into ``study.csv`` and
  ``study.md``.
"""

from __future__ import annotations

import csv
import json
import math
import os
from collections.abc import Sequence
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from ._atomic import atomic_write
from ._resume import mapping_differences
from ._validate import is_int
from .data import Dataset
from .history import History
from .models import (
    BLOCKS,
    BasicBlock,
    Bottleneck,
    PreActBasicBlock,
    PreActBottleneck,
    ResidualBlock,
    ResNet,
    WideBasicBlock,
    count_macs,
    count_parameters,
    depth,
    fit_widths,
    get_model,
)
from .recipes import Recipe, get_recipe
from .seeding import seed_everything
from .trainer import Trainer

__all__ = [
    "FAMILIES",
    "StudyShape",
    "StudySettingsError",
    "plan_study",
    "run_study",
    "spread_blocks",
    "study_report",
]

#: The paper's networks and its Table 1 accuracies (AS1, 200 epochs).
PAPER_RESULTS = {"resnet10": 94.41, "resnet40": 95.20, "resnet102": 94.23}
REPORT_COLUMNS = (
    "shape", "block", "depth", "layers", "widths", "parameters", "macs", "recipe",
    "best_test_accuracy", "final_test_accuracy", "epochs", "planned_epochs",
    "train_seconds", "images_per_second", "device",
)  # fmt: skip


class StudySettingsError(ValueError):
    """A study folder that holds a study with other settings; the message names each."""


#: Block families a shape can name (``"preact:26"``), by their short names.
FAMILIES = {
    "basic": BasicBlock, "bottleneck": Bottleneck, "preact": PreActBasicBlock,
    "preact-bottleneck": PreActBottleneck, "wide": WideBasicBlock,
}  # fmt: skip


@dataclass(frozen=True)
class StudyShape:
    """One network of a study: its block, blocks per stage, fitted widths, its depth (as
    its family counts it) and what it costs."""

    name: str
    layers: tuple[int, ...]
    widths: tuple[int, ...]
    parameters: int
    macs: int
    depth: int
    block: str = "BasicBlock"
    preset: str | None = None
    stem_width: int | None = None


def spread_blocks(
    depth: int, stages: int = 4, block: type[ResidualBlock] = BasicBlock
) -> tuple[int, ...]:
    """Blocks per stage of a network of ``depth`` layers, spread evenly (earlier stages
    take the remainder).

    Depth counts as the block's family counts it: stem, main-path convolutions and
    head for He et al.'s blocks (``2 + 2 x blocks`` for BasicBlocks); ``6n + 4`` over
    three stages for Wide ResNets.

    Examples:
        >>> from resdepth.models import WideBasicBlock
        >>> from resdepth.study import spread_blocks
        >>> spread_blocks(10), spread_blocks(40), spread_blocks(28, block=WideBasicBlock)
        ((1, 1, 1, 1), (5, 5, 5, 4), (4, 4, 4))
    """
    if block.depth_counts_shortcuts:  # Wide ResNets: 6n + 4, three stages of n blocks
        per_stage, rest = divmod(depth - 4, 6) if is_int(depth) else (0, 1)
        if rest or per_stage < 1:
            raise ValueError(f"depth of a Wide ResNet must be 6n + 4 (10, 16, 22, 28, ...), "
                             f"got {depth!r}")  # fmt: skip
        return (per_stage,) * 3
    step = block.main_path_convs
    blocks, rest = divmod(depth - 2, step) if is_int(depth) else (0, 1)
    if rest or blocks < stages:
        raise ValueError(
            f"depth must be 2 + {step} x blocks, at least {2 + step * stages}, got {depth!r}"
        )
    base, extra = divmod(blocks, stages)
    return tuple(base + (1 if i < extra else 0) for i in range(stages))


def _family(spec: object) -> tuple[str, object]:
    """``("preact", 26)`` from ``"preact:26"``; ``("basic", spec)`` for anything else."""
    if isinstance(spec, str) and ":" in spec:
        family, _, rest = spec.partition(":")
        if family not in FAMILIES:
            raise ValueError(f"unknown block family {family!r}; known: {', '.join(FAMILIES)}")
        return family, int(rest) if rest.isdigit() else tuple(int(v) for v in rest.split(","))
    return "basic", spec


def _shape(spec: object, budget: int, base_widths: Sequence[int], max_macs: int | None,
           num_classes: int) -> StudyShape:  # fmt: skip
    if isinstance(spec, str) and ":" not in spec:  # a preset, as it is
        net = get_model(spec, num_classes=num_classes)
        if not isinstance(net, ResNet):
            raise ValueError(f"shape {spec!r} is not a ResNet preset")
        shape = StudyShape(spec, tuple(net.layers), tuple(net.widths), count_parameters(net),
                           count_macs(net), depth(net), net.block.__name__,
                           preset=spec)  # fmt: skip
        if shape.parameters > budget or (max_macs is not None and shape.macs > max_macs):
            raise ValueError(f"the preset {spec!r} is over the budget")
        return shape
    family, spec = _family(spec)
    block = FAMILIES[family]
    layers = spread_blocks(spec, block=block) if isinstance(spec, int) else tuple(spec)  # type: ignore[arg-type]
    base = tuple(base_widths)[: len(layers)]
    if len(base) != len(layers):
        raise ValueError(f"base_widths needs one entry per stage of {layers}")
    stem = 16 if family == "wide" else None  # Wide ResNets keep a 16-channel stem
    fit = fit_widths(layers, budget, base_widths=base, block=block, num_classes=num_classes,
                     max_macs=max_macs, stem_width=stem)  # fmt: skip
    net = ResNet(block, fit.layers, fit.widths, num_classes=num_classes, stem_width=stem)
    prefix = "" if family == "basic" else f"{family}-"
    name = f"{prefix}d{depth(net)}-{'.'.join(map(str, layers))}"
    return StudyShape(name, fit.layers, fit.widths, fit.num_parameters, count_macs(net),
                      depth(net), block.__name__, stem_width=stem)  # fmt: skip


def plan_study(
    shapes: Sequence[str | int | Sequence[int]],
    budget: int = 5_000_000,
    base_widths: Sequence[int] = (16, 32, 64, 128),
    max_macs: int | None = None,
    num_classes: int = 10,
) -> list[StudyShape]:
    """The shapes of a study, each as wide as the budget allows.

    Args:
        shapes: preset names (``"resnet40"``: the preset as it is), depths (``26``:
            blocks spread over four stages with :func:`spread_blocks`), or blocks
            per stage (``(5, 7, 4, 3)``); the last two are widened with
            :func:`~resdepth.fit_widths`.  ``"family:depth"`` or
            ``"family:5,7,4,3"`` picks another block (:data:`FAMILIES`: ``preact``,
            ``wide``, ``bottleneck``, ``preact-bottleneck``), so one study can set
            BasicBlock, pre-activation and wide blocks side by side.
        budget: trainable parameters, at most.
        base_widths: the width ratios between stages of fitted shapes.
        max_macs: forward multiply-accumulates on one 32x32 image, at most.
        num_classes: outputs of the head.

    Raises:
        ValueError: for a shape that cannot be built or does not fit, or two shapes
            with one name.
    """
    plan = [_shape(s, budget, base_widths, max_macs, num_classes) for s in shapes]
    names = [s.name for s in plan]
    if len(set(names)) != len(names):
        raise ValueError(f"shapes must be distinct, got {names}")
    return plan


def _check_settings(out: Path, settings: dict[str, Any]) -> None:
    """Record the study's settings, or refuse a folder that holds another study."""
    path = out / "study.json"
    if path.exists():
        saved = json.loads(path.read_text())
        differences = mapping_differences("", saved, settings, skip=("source", "description"))
        if differences:
            raise StudySettingsError(
                f"{out} holds a study with other settings ({'; '.join(differences)}): run it "
                "with its own settings, or choose another folder"
            )
        return
    with atomic_write(path, "w") as f:
        json.dump(settings, f, indent=2)


def _planned(settings: dict[str, Any]) -> int:
    return int(settings["epochs"] or settings["recipe"]["epochs"])


def run_study(
    out_dir: str | os.PathLike[str],
    shapes: Sequence[StudyShape],
    train: Dataset,
    test: Dataset,
    recipe: str | Recipe = "as1",
    epochs: int | None = None,
    shard: tuple[int, int] = (0, 1),
    seed: int = 0,
    device: Any = None,
    settings: dict[str, Any] | None = None,
    **trainer_kwargs: Any,
) -> list[dict[str, Any]]:
    """Train this shard's shapes into ``out_dir/<shape>/``, then report the study.

    Args:
        out_dir: the study's folder.
        shapes: from :func:`plan_study`.
        train, test: the data.
        recipe: a registered name or a :class:`~resdepth.recipes.Recipe`.
        epochs: the recipe's epochs, unless given.
        shard: ``(i, n)``: this process trains shapes ``i, i + n, i + 2n, ...``.
        seed: seeds each shape's initial weights and its loaders.
        device: where to train.
        settings: more settings to record and check (the data's name, say).
        trainer_kwargs: passed to :class:`~resdepth.Trainer` (precision, ...).

    Returns:
        The report's rows (:func:`study_report`).

    Raises:
        StudySettingsError: ``out_dir`` holds a study with other settings.
        ValueError: for a bad shard.
    """
    index, count = shard
    if not (isinstance(index, int) and isinstance(count, int) and 0 <= index < count):
        raise ValueError(f"shard must be (i, n) with 0 <= i < n, got {shard!r}")
    recipe = get_recipe(recipe) if isinstance(recipe, str) else recipe
    out = Path(out_dir)
    full = {
        "shapes": [asdict(s) for s in shapes], "recipe": recipe.to_dict(), "epochs": epochs,
        "seed": seed, "classes": list(train.classes), "train_images": len(train),
        "test_images": len(test), **(settings or {}),
    }  # fmt: skip
    _check_settings(out, json.loads(json.dumps(full)))
    planned = epochs or recipe.epochs
    for shape in list(shapes)[index::count]:
        run_dir = out / shape.name
        history = run_dir / "history.csv"
        if history.exists() and len(History.from_csv(history)) >= planned:
            continue  # finished
        seed_everything(seed)
        model = ResNet(BLOCKS[shape.block], shape.layers, shape.widths,
                       num_classes=len(train.classes), stem_width=shape.stem_width)  # fmt: skip
        metadata = {
            "model": shape.preset, "model_kwargs": {"num_classes": len(train.classes)},
            "model_config": {"block": shape.block, "layers": list(shape.layers),
                             "widths": list(shape.widths), "num_classes": len(train.classes),
                             "stem_width": shape.stem_width},
            "classes": list(train.classes), "seed": seed, "study_shape": shape.name,
        }  # fmt: skip
        trainer = Trainer(model, recipe=recipe, device=device, out_dir=run_dir, seed=seed,
                          metadata=metadata, **trainer_kwargs)  # fmt: skip
        trainer.metadata["device"] = str(trainer.device)
        if trainer.is_main and trainer.progress:
            print(f"== {shape.name}: layers {list(shape.layers)}, widths {list(shape.widths)}, "
                  f"{shape.parameters:,} parameters", flush=True)  # fmt: skip
        resume = (run_dir / "last.pt").exists()
        trainer.fit(*trainer.build_loaders(train, test), epochs=epochs, resume=resume)
    return study_report(out)


def _mean(values: list[float]) -> float:
    finite = [v for v in values if math.isfinite(v)]
    return sum(finite) / len(finite) if finite else math.nan


def study_report(out_dir: str | os.PathLike[str]) -> list[dict[str, Any]]:
    """Merge the finished shapes of a study into ``study.csv`` and ``study.md``.

    Shapes still training, or not started, are listed in ``study.md`` as pending.

    Returns:
        One row per finished shape, with the columns of :data:`REPORT_COLUMNS`.

    Raises:
        FileNotFoundError: if ``out_dir`` holds no ``study.json``.
    """
    out = Path(out_dir)
    if not (out / "study.json").is_file():
        raise FileNotFoundError(f"{out} holds no study (no study.json)")
    settings = json.loads((out / "study.json").read_text())
    planned = _planned(settings)
    rows, pending = [], []
    for shape in settings["shapes"]:
        csv_path = out / shape["name"] / "history.csv"
        history = History.from_csv(csv_path) if csv_path.exists() else History()
        if len(history) < planned:
            pending.append(f"{shape['name']} ({len(history)}/{planned} epochs)")
            continue
        best = history.best()
        device = ""
        last = out / shape["name"] / "last.pt"
        if last.exists():
            from .checkpoint import load_checkpoint

            device = str(load_checkpoint(last).get("metadata", {}).get("device", ""))
        rows.append({
            "shape": shape["name"], "depth": shape["depth"], "block": shape["block"],
            "layers": " ".join(map(str, shape["layers"])),
            "widths": " ".join(map(str, shape["widths"])),
            "parameters": shape["parameters"], "macs": shape["macs"],
            "recipe": settings["recipe"]["name"],
            "best_test_accuracy": best["test_accuracy"] if best else math.nan,
            "final_test_accuracy": history[-1]["test_accuracy"], "epochs": len(history),
            "planned_epochs": planned, "train_seconds": sum(history.column("epoch_seconds")),
            "images_per_second": _mean(history.column("images_per_second")), "device": device,
        })  # fmt: skip
    with atomic_write(out / "study.csv", "w", newline="") as f:
        writer = csv.DictWriter(f, fieldnames=REPORT_COLUMNS)
        writer.writeheader()
        writer.writerows(rows)
    lines = [
        f"# Depth against width: {settings['recipe']['name']}, {planned} epochs",
        "",
        f"Budget: shapes fitted to the same number of parameters; {settings['train_images']:,} "
        f"training and {settings['test_images']:,} test images.",
        "",
        "| shape | depth | blocks per stage | widths | parameters | MACs (32x32) | best test % "
        "| final test % | train s |",
        "|---|---|---|---|---|---|---|---|---|",
    ]
    for r in sorted(rows, key=lambda r: r["depth"]):
        lines.append(
            f"| {r['shape']} | {r['depth']} | {r['layers']} | {r['widths']} | "
            f"{r['parameters']:,} | {r['macs'] / 1e6:,.0f}M | {r['best_test_accuracy']:.2f} | "
            f"{r['final_test_accuracy']:.2f} | {r['train_seconds']:.0f} |"
        )
    if pending:
        lines += ["", "Pending: " + ", ".join(pending) + "."]
    with atomic_write(out / "study.md", "w") as f:
        f.write("\n".join(lines) + "\n")
    return rows
