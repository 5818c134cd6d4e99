"""Per-epoch training history, in the columns of the paper's CSV files."""

from __future__ import annotations

import csv
import math
import os
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from .._atomic import atomic_write

__all__ = ["History", "COLUMNS", "PAPER_COLUMNS"]

#: The paper's CSV columns; accuracies are in percent.
PAPER_COLUMNS = (
    "epoch",
    "train_accuracy",
    "test_accuracy",
    "train_loss",
    "test_loss",
    "learning_rate",
)
#: What resdepth records: the paper's columns plus wall time, throughput, and a note
#: where something about the run changed at that epoch (a resume, a longer schedule).
COLUMNS = (*PAPER_COLUMNS, "epoch_seconds", "images_per_second", "note")
_TEXT_COLUMNS = ("note",)


class History:
    """Rows of per-epoch metrics; accuracies in percent, ``nan`` where not measured.

    Examples:
        >>> from resdepth import History
        >>> h = History([{"epoch": 1, "test_accuracy": 50.0}, {"epoch": 2, "test_accuracy": 60.0}])
        >>> h.best("test_accuracy")["epoch"], h.column("test_accuracy")
        (2, [50.0, 60.0])
    """

    def __init__(self, rows: list[dict[str, Any]] | None = None) -> None:
        self.rows: list[dict[str, Any]] = [dict(r) for r in rows or []]

    def append(self, row: dict[str, Any]) -> None:
        self.rows.append(dict(row))

    def __len__(self) -> int:
        return len(self.rows)

    def __iter__(self) -> Iterator[dict[str, Any]]:
        return iter(self.rows)

    def __getitem__(self, index: int) -> dict[str, Any]:
        return self.rows[index]

    def state_dict(self) -> dict[str, Any]:
        """The rows, for a checkpoint."""
        return {"rows": [dict(r) for r in self.rows]}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        """Replace the rows with those of a :meth:`state_dict`."""
        self.rows = [dict(r) for r in state["rows"]]

    def column(self, name: str) -> list[float]:
        return [float(r.get(name, math.nan)) for r in self.rows]

    def best(self, metric: str = "test_accuracy") -> dict[str, Any] | None:
        """The row with the highest finite ``metric``, or ``None``."""
        rows = [r for r in self.rows if math.isfinite(float(r.get(metric, math.nan)))]
        return max(rows, key=lambda r: float(r[metric])) if rows else None

    def to_csv(self, path: str | os.PathLike[str]) -> Path:
        """Write every row (all of :data:`COLUMNS`) to ``path``, atomically."""
        path = Path(path)
        with atomic_write(path, "w", newline="") as f:
            writer = csv.DictWriter(f, fieldnames=COLUMNS, extrasaction="ignore")
            writer.writeheader()
            writer.writerows(self.rows)
        return path

    @classmethod
    def from_csv(cls, path: str | os.PathLike[str]) -> History:
        """Read a history CSV: resdepth's, or one of the paper's own training logs."""
        path = Path(path)
        if not path.is_file():
            raise FileNotFoundError(f"no history CSV at {path}")
        with path.open(newline="") as f:
            reader = csv.DictReader(f)
            missing = {"epoch"} - set(reader.fieldnames or ())
            if missing:
                raise ValueError(f"{path} has no 'epoch' column; columns: {reader.fieldnames}")
            rows = [
                {
                    k: (
                        int(v)
                        if k == "epoch"
                        else (v or "")
                        if k in _TEXT_COLUMNS
                        else float(v)
                        if v not in ("", None)
                        else math.nan
                    )
                    for k, v in row.items()
                    if k
                }  # fmt: skip
                for row in reader
            ]
        return cls(rows)

    def __repr__(self) -> str:
        best = self.best()
        tail = (
            f", best test_accuracy {best['test_accuracy']:.2f} at epoch {best['epoch']}"
            if best
            else ""
        )
        return f"History({len(self)} epochs{tail})"
