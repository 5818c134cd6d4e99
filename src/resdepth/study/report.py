"""Reporting a depth-vs-width study: whatever shapes have finished, merged into
``study.csv`` and ``study.md`` (and, through :func:`~resdepth.study.plot_study`, a
figure)."""

from __future__ import annotations

import csv
import math
import os
from typing import Any

from .._atomic import atomic_write
from ..artifacts import History, RunMetadata, load_checkpoint
from ..errors import StudySettingsError
from .folder import StudyDir

__all__ = ["REPORT_COLUMNS", "study_report"]

REPORT_COLUMNS = (
    "shape", "block", "depth", "layers", "widths", "parameters", "macs", "recipe",
    "best_test_accuracy", "final_test_accuracy", "epochs", "planned_epochs",
    "train_seconds", "images_per_second", "device",
)  # fmt: skip


def _planned(settings: dict[str, Any]) -> int:
    return int(settings["epochs"] or settings["recipe"]["epochs"])


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
    study = StudyDir(out_dir)
    settings = study.read_settings()
    if settings is None:
        raise FileNotFoundError(f"{study.path} holds no study (no {study.settings.name})")
    try:
        return _report(study, settings)
    except (KeyError, TypeError, ValueError) as err:
        raise StudySettingsError(
            f"{study.settings} is not a complete study record ({type(err).__name__}: {err})"
        ) from None


def _report(study: StudyDir, settings: dict[str, Any]) -> list[dict[str, Any]]:
    planned = _planned(settings)
    rows, pending = [], []
    for shape in settings["shapes"]:
        run = study.run(shape["name"])
        history = History.from_csv(run.history) if run.history.exists() else History()
        if len(history) < planned:
            pending.append(f"{shape['name']} ({len(history)}/{planned} epochs)")
            continue
        best = history.best()
        device = ""
        if run.has_run():
            device = RunMetadata.from_dict(load_checkpoint(run.last).get("metadata")).device or ""
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
    with atomic_write(study.table, "w", newline="") as f:
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
    with atomic_write(study.summary, "w") as f:
        f.write("\n".join(lines) + "\n")
    return rows
