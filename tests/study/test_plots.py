from __future__ import annotations

from pathlib import Path

import pytest

from resdepth import History
from resdepth.study import plot_history

pytest.importorskip("matplotlib")


def _history(n: int) -> History:
    return History([
        {"epoch": e, "train_accuracy": 10.0 * e, "test_accuracy": 9.0 * e, "train_loss": 2.0 / e,
         "test_loss": 2.1 / e, "learning_rate": 0.1 / e}
        for e in range(1, n + 1)
    ])  # fmt: skip


def test_plot_history_with_a_reference(tmp_path: Path) -> None:
    csv = _history(5).to_csv(tmp_path / "paper.csv")
    out = tmp_path / "fig" / "accuracy.png"
    fig = plot_history(_history(3), reference=csv, path=out, title="test")
    assert out.stat().st_size > 5_000 and out.read_bytes()[:4] == b"\x89PNG"
    labels = [line.get_label() for ax in fig.axes for line in ax.get_lines()]
    assert "train (resdepth)" in labels and "test (paper)" in labels
    assert "learning rate (paper)" in labels


def test_plot_loss_and_errors(tmp_path: Path) -> None:
    fig = plot_history(_history(2).rows, metric="loss")
    assert fig.axes[0].get_ylabel() == "cross-entropy loss"
    with pytest.raises(ValueError, match="metric"):
        plot_history(_history(2), metric="f1")
    with pytest.raises(FileNotFoundError):
        plot_history(tmp_path / "missing.csv")


def test_reads_the_papers_own_logs() -> None:
    paper = Path(__file__).resolve().parents[3] / "shared" / "paper" / "experiments"
    csv = paper / "experiment_v3" / "ResNet40_v0_training_history.csv"
    if not csv.exists():
        pytest.skip("the paper's logs are not beside this checkout")
    history = History.from_csv(csv)
    assert len(history) == 200 and history.best()["test_accuracy"] == pytest.approx(95.20)


def test_a_one_epoch_run_is_drawn_as_points(tmp_path: Path) -> None:
    fig = plot_history(_history(1), path=tmp_path / "one.png")
    lines = [line for ax in fig.axes for line in ax.get_lines()]
    assert lines and all(line.get_marker() == "o" for line in lines)
    long = plot_history(_history(50))
    assert all(
        line.get_marker() in (None, "None", "") for ax in long.axes for line in ax.get_lines()
    )
