"""Training curves in the style of the paper's figures (needs the ``plot`` extra: matplotlib)."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

from .history import History

__all__ = ["plot_history"]


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
