"""The example scripts: the budget table's paper rows are the presets, and smoke runs
never land in (or resume) a real run's folder."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

EXAMPLES = Path(__file__).resolve().parents[1] / "examples"


@pytest.mark.slow
def test_budget_search_trains_the_papers_presets_and_spread_depths(tmp_path: Path) -> None:
    script = str(EXAMPLES / "budget_search.py")
    proc = subprocess.run([sys.executable, script, "--data", "cifar10-sample", "--smoke",
                           "--device", "cpu", "--out", str(tmp_path)],
                          capture_output=True, text=True, timeout=600)  # fmt: skip
    assert proc.returncode == 0, proc.stderr
    rows = {line.split("|")[1].strip(): line for line in proc.stdout.splitlines()
            if line.startswith("| ")}  # fmt: skip
    assert "4,903,242" in rows["resnet10"] and "4,994,730" in rows["resnet40"]
    assert "4,997,658" in rows["resnet102"] and "d26-3.3.3.3" in rows
    assert (tmp_path / "resnet40" / "history.csv").exists() and (tmp_path / "study.png").exists()
    ignored = subprocess.run([sys.executable, script, "--base-widths", "8"],
                             capture_output=True, text=True, timeout=300)  # fmt: skip
    assert ignored.returncode == 2 and "unrecognized arguments: --base-widths" in ignored.stderr


def test_smoke_runs_write_to_their_own_folder(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.syspath_prepend(str(EXAMPLES))
    import _shared

    for argv, out in ((["x", "--smoke"], "runs/smoke/table1"), (["x"], "runs/table1"),
                      (["x", "--smoke", "--out", "mine"], "mine")):  # fmt: skip
        monkeypatch.setattr(sys, "argv", argv)
        assert _shared.parse(_shared.parser("t", "runs/table1")).out == out


@pytest.mark.slow
def test_lightning_example_trains_with_the_recipes_parts(tmp_path: Path) -> None:
    pytest.importorskip("lightning")
    proc = subprocess.run([sys.executable, str(EXAMPLES / "lightning.py"), "--data",
                           "cifar10-sample", "--smoke", "--device", "cpu", "--out", str(tmp_path)],
                          capture_output=True, text=True, timeout=600)  # fmt: skip
    assert proc.returncode == 0, proc.stderr
    assert "resnet10 with resnet40-ft" in proc.stdout and "cutmix" in proc.stdout
    (metrics,) = tmp_path.glob("*/metrics.csv")
    header = metrics.read_text().splitlines()[0].split(",")
    for column in ("train_loss", "train_accuracy", "test_loss", "test_accuracy"):
        assert column in header, header


@pytest.mark.slow
def test_lightning_example_says_in_one_line_that_lightning_is_missing() -> None:
    # Both packages made unimportable, as on a machine that has neither.
    code = (
        "import runpy, sys\n"
        "sys.modules['lightning'] = sys.modules['pytorch_lightning'] = None\n"
        f"sys.path.insert(0, {str(EXAMPLES)!r})\n"
        "sys.argv = ['lightning.py', '--smoke']\n"
        f"runpy.run_path({str(EXAMPLES / 'lightning.py')!r}, run_name='__main__')\n"
    )
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                          timeout=300)  # fmt: skip
    assert proc.returncode == 1
    assert proc.stderr.strip().splitlines() == [
        "error: this example needs Lightning: python -m pip install lightning"
    ]
