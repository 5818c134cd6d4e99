"""Figures of runs and studies: training curves in the style of the paper's figures, and a
study's accuracy against depth (needs the ``plot`` extra: matplotlib)."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

from ..artifacts import History
from .folder import StudyDir
from .paper_results import PAPER_RESULTS

__all__ = ["plot_history", "plot_study"]


def _as_history(data: History | str | os.PathLike[str] | list[dict[str, Any]]) -> History:
    if isinstance(data, History):
        return data
    if isinstance(data, (str, os.PathLike)):
        return History.from_csv(data)
    return History(list(data))


def plot_history(
    history: History | str | os.PathLike[str] | list[dict[str, Any]],
    reference: History | str | os.PathLike[str] | None = None,
    path: str | os.PathLike[str] | None = None,
    metric: str = "accuracy",
    title: str | None = None,
    label: str = "resdepth",
    reference_label: str = "paper",
) -> Any:
    """Train and test ``metric`` per epoch with the learning rate on a second axis.

    Args:
        history: a :class:`~resdepth.History`, its rows, or a history CSV (ours or one
            of the paper's own logs, which share the columns).
        reference: another run drawn dashed beside it, such as the paper's CSV.
        path: save the figure here (PNG, PDF, SVG ... by suffix).
        metric: ``"accuracy"`` (percent) or ``"loss"``.
        title: the figure title.
        label: legend name of ``history``.
        reference_label: legend name of ``reference``.

    Returns:
        The matplotlib ``Figure``.

    Raises:
        ImportError: without matplotlib (``pip install "resdepth[plot]"``).
        ValueError: for an unknown ``metric``.
    """
    if metric not in ("accuracy", "loss"):
        raise ValueError(f"metric must be 'accuracy' or 'loss', got {metric!r}")
    try:
        import matplotlib

        matplotlib.use("Agg", force=False)
        import matplotlib.pyplot as plt
    except ImportError as err:  # pragma: no cover - depends on the environment
        raise ImportError('plot_history needs matplotlib: pip install "resdepth[plot]"') from err

    runs = [(label, _as_history(history), "-")]
    if reference is not None:
        runs.append((reference_label, _as_history(reference), "--"))
    fig, ax = plt.subplots(figsize=(8, 4.8), constrained_layout=True)
    lr_ax = ax.twinx()
    colours = {"train": "tab:blue", "test": "tab:orange"}
    for name, run, style in runs:
        epochs = run.column("epoch")
        # A short run (a smoke test's single epoch) is a few points: a line alone would
        # leave the axes looking empty.
        marker = "o" if len(epochs) <= 20 else None
        for split in ("train", "test"):
            values = run.column(f"{split}_{metric}")
            if any(v == v for v in values):  # skip columns that are all NaN
                ax.plot(epochs, values, style, color=colours[split], label=f"{split} ({name})",
                        marker=marker)  # fmt: skip
        lr_ax.plot(epochs, run.column("learning_rate"), style, color="tab:gray", alpha=0.6,
                   linewidth=1, label=f"learning rate ({name})", marker=marker)  # fmt: skip
    ax.set_xlabel("epoch")
    ax.set_ylabel("accuracy (%)" if metric == "accuracy" else "cross-entropy loss")
    lr_ax.set_ylabel("learning rate")
    ax.grid(alpha=0.3)
    handles = ax.get_legend_handles_labels()
    lr_handles = lr_ax.get_legend_handles_labels()
    ax.legend(handles[0] + lr_handles[0], handles[1] + lr_handles[1], loc="best", fontsize="small")
    ax.set_title(title or f"{metric} per epoch")
    if path is not None:
        Path(path).parent.mkdir(parents=True, exist_ok=True)
        fig.savefig(path, dpi=120)
    return fig


def plot_study(
    study: str | os.PathLike[str] | list[dict[str, Any]],
    path: str | os.PathLike[str] | None = None,
    title: str | None = None,
) -> Any:
    """Test accuracy against depth for the shapes of a study, one line per recipe.

    Each point is labelled with its parameters and forward MACs; the paper's three
    networks (the presets ``resnet10``, ``resnet40``, ``resnet102``) are drawn as
    stars and labelled with the accuracy the paper reports for them.

    Args:
        study: a study folder (its ``study.csv``) or the rows of
            :func:`resdepth.study.study_report`.
        path: save the figure here.
        title: the figure title.

    Returns:
        The matplotlib ``Figure``.
    """
    import csv

    if isinstance(study, (str, os.PathLike)):
        with StudyDir(study).table.open(newline="") as f:
            rows: list[dict[str, Any]] = list(csv.DictReader(f))
    else:
        rows = list(study)
    if not rows:
        raise ValueError("the study has no finished shapes to plot yet")
    import matplotlib

    matplotlib.use("Agg", force=False)
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(8, 4.8), constrained_layout=True)
    for recipe in sorted({str(r["recipe"]) for r in rows}):
        mine = sorted(
            (r for r in rows if str(r["recipe"]) == recipe), key=lambda r: int(r["depth"])
        )
        depths = [int(r["depth"]) for r in mine]
        accuracy = [float(r["best_test_accuracy"]) for r in mine]
        ax.plot(depths, accuracy, "o-", label=f"best test accuracy ({recipe})")
        for r, x, y in zip(mine, depths, accuracy, strict=True):
            paper = PAPER_RESULTS.get(str(r["shape"]))
            if paper is not None:
                ax.plot([x], [y], "*", markersize=14, color="tab:red")
            note = f"{int(r['parameters']) / 1e6:.2f}M params, {int(r['macs']) / 1e6:.0f}M MACs"
            if paper is not None:
                note = f"{r['shape']} (paper: {paper:.2f}%)\n{note}"
            ax.annotate(note, (x, y), textcoords="offset points", xytext=(4, 6), fontsize=7)
    ax.plot([], [], "*", markersize=14, color="tab:red", label="the paper's networks")
    ax.margins(x=0.1, y=0.2)  # room for the labels above the points
    ax.set_xlabel("depth (weighted layers)")
    ax.set_ylabel("test accuracy (%)")
    ax.grid(alpha=0.3)
    ax.legend(loc="best", fontsize="small")
    ax.set_title(title or "depth against width under one parameter budget")
    if path is not None:
        Path(path).parent.mkdir(parents=True, exist_ok=True)
        fig.savefig(path, dpi=120)
    return fig
