"""The measurements file: every entry reads back, bad entries are refused naming the
field, and the tables render each kind of machine in a column of its own."""

from __future__ import annotations

import copy
import json
from pathlib import Path
from typing import Any

import pytest

from resdepth.recipes import (
    MEASUREMENTS_FILE,
    Measurement,
    comparison_table,
    format_measurement,
    get_recipe,
    list_recipes,
    load_measurements,
    measurements_table,
    recipe_measurements,
)

ENTRY: dict[str, Any] = {
    "benchmark": "time_budget",
    "what": "ResNet10, fast, --time-budget 45min, CIFAR-10",
    "recipe": "fast",
    "results": [
        {"name": "test accuracy", "value": 88.5, "unit": "%", "spread": 0.2},
        {"name": "wall time", "value": 44.0, "unit": "min"},
    ],
    "command": "python benchmarks/time_budget.py --budget 45min",
    "date": "2026-01-02",
    "load_before": 0.5,
    "load_after": 1.5,
    "machine": {"cpu": "Some CPU", "cores": 2, "threads": 2, "avx2": True,
                "avx512_bf16": False, "amx": False, "torch": "2.14.1"},
}  # fmt: skip


def _entry(**changes: Any) -> dict[str, Any]:
    entry = copy.deepcopy(ENTRY)
    for key, value in changes.items():
        target, _, field = key.rpartition(".")
        (entry[target] if target else entry)[field] = value
    return entry


def test_the_package_file_reads_and_every_entry_round_trips() -> None:
    entries = load_measurements()
    assert entries and MEASUREMENTS_FILE.is_file()
    lines = [ln for ln in MEASUREMENTS_FILE.read_text().splitlines() if ln.strip()]
    assert len(lines) == len(entries)
    for line, m in zip(lines, entries, strict=True):
        assert m.to_dict() == json.loads(line)
        assert Measurement.from_dict(m.to_dict()) == m
        assert m.recipe is None or m.recipe in list_recipes()


def test_recipe_measurements_are_the_file_entries_of_that_recipe() -> None:
    for name in list_recipes():
        expected = [format_measurement(m) for m in load_measurements() if m.recipe == name]
        assert list(recipe_measurements(name)) == expected
        get_recipe(name)
    line = next(line for line in recipe_measurements("airbench94"))
    assert "load" in line and "benchmarks/speedrun.py" in line


@pytest.mark.parametrize(
    ("changes", "field"),
    [
        ({"what": ""}, "what"),
        ({"date": "7 Dec 2026"}, "date"),
        ({"results": []}, "results"),
        ({"load_before": "high"}, "load_before"),
        ({"machine.amx": "yes"}, "machine.amx"),
        ({"machine.cores": float("nan")}, "machine.cores"),
        ({"machine": None}, "machine"),
        ({"command": 3}, "command"),
    ],
)
def test_a_bad_entry_is_refused_naming_its_field(changes: dict[str, Any], field: str) -> None:
    with pytest.raises(ValueError, match=field.replace(".", r"\.")):
        Measurement.from_dict(_entry(**changes))


def test_a_bad_line_names_the_file_and_line(tmp_path: Path) -> None:
    path = tmp_path / "m.jsonl"
    path.write_text(json.dumps(ENTRY) + "\n\n{not json\n")
    with pytest.raises(ValueError, match="m.jsonl, line 3"):
        load_measurements(path)
    path.write_text(json.dumps(ENTRY) + "\n" + json.dumps(_entry(date="2026/01/02")) + "\n")
    with pytest.raises(ValueError, match="line 2.*date"):
        load_measurements(path)


def test_results_print_with_units_and_spreads() -> None:
    m = Measurement.from_dict(ENTRY)
    assert m.headline == "88.50 +- 0.2% in 44 min"
    assert m.load == "load 0.5 before, 1.5 after"
    assert "2-core CPU with AVX2, no native bf16" in format_measurement(m)
    assert Measurement.from_dict(_entry(load_after=None)).load == "load 0.5 before"


def test_the_comparison_has_a_column_for_each_kind_and_the_newest_entry() -> None:
    amx = _entry(**{"machine.amx": True, "machine.avx512_bf16": True})
    newer = _entry(**{"date": "2026-02-03"})
    newer["results"][0]["value"] = 90.0
    other = _entry(what="Something else")
    entries = [Measurement.from_dict(e) for e in (ENTRY, amx, newer, other)]
    table = comparison_table(entries).splitlines()
    header = [cell.strip() for cell in table[0].strip("|").split("|")]
    kinds = ["2-core CPU with AVX2, no native bf16", "2-core CPU with AMX (native bf16)"]
    assert header == ["", *kinds]
    assert len(table) == 4  # header, rule, and one row for each `what`
    assert "90.00 +- 0.2%" in table[2] and "88.50 +- 0.2%" in table[2]  # newest AVX2; AMX
    assert table[3].endswith("| - |")  # Something else: not measured with AMX
    rst = comparison_table(entries, style="rst")
    assert rst.startswith(".. list-table::") and rst.count("   * - ") == 3


def test_runs_of_one_thing_share_a_row_whatever_their_count() -> None:
    """A run count closing ``what`` ("3 seeds", "1 run") moves into the cell, so that one
    seed on one machine and three on another line up in one row."""
    three = _entry(what="Speedrun: net and recipe, CIFAR-10, 3 seeds")
    one = _entry(**{"what": "Speedrun: net and recipe, CIFAR-10, 1 seed",
                    "machine.amx": True, "machine.avx512_bf16": True})  # fmt: skip
    peer = _entry(what="Peer's script, CIFAR-10, 1 run")
    entries = [Measurement.from_dict(e) for e in (three, one, peer)]
    table = comparison_table(entries).splitlines()
    assert len(table) == 4, table  # header, rule, the speedrun, the peer
    cells = [cell.strip() for cell in table[2].strip("|").split("|")]
    assert cells == ["Speedrun: net and recipe, CIFAR-10", "88.50 +- 0.2% in 44 min (3 seeds)",
                     "88.50 +- 0.2% in 44 min (1 seed)"]  # fmt: skip
    assert table[3].startswith("| Peer's script, CIFAR-10 | 88.50 +- 0.2% in 44 min (1 run) |")


def test_tables_refuse_an_unknown_style_or_column() -> None:
    entries = load_measurements()
    with pytest.raises(ValueError, match="style"):
        measurements_table(entries, style="html")
    with pytest.raises(ValueError, match="columns"):
        measurements_table(entries, columns=("what", "colour"))
    with pytest.raises(ValueError, match="style"):
        comparison_table(entries, style="latex")
