from __future__ import annotations

import math
from pathlib import Path

from resdepth.artifacts import COLUMNS, History


def test_rows_with_notes_round_trip_through_the_csv(tmp_path: Path) -> None:
    rows = [
        {"epoch": 1, "train_loss": 1.5, "test_accuracy": 40.0, "note": ""},
        {"epoch": 2, "train_loss": 1.2, "test_accuracy": 45.0, "note": "length 2 -> 4 epochs"},
    ]
    history = History(rows)
    history.to_csv(tmp_path / "h.csv")
    back = History.from_csv(tmp_path / "h.csv")
    assert [r["note"] for r in back] == ["", "length 2 -> 4 epochs"]
    assert back.column("train_loss") == [1.5, 1.2] and math.isnan(back[0]["test_loss"])
    assert (tmp_path / "h.csv").read_text().splitlines()[0] == ",".join(COLUMNS)
    assert [p.name for p in tmp_path.iterdir()] == ["h.csv"]  # no temporary left behind


def test_state_dict_round_trip() -> None:
    history = History([{"epoch": 1, "test_accuracy": 50.0}])
    other = History()
    other.load_state_dict(history.state_dict())
    assert other.rows == history.rows and other.rows is not history.rows
