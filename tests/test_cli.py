from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from resdepth.cli import main


def test_models_lists_depth_and_parameters(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["models"]) == 0
    out = capsys.readouterr().out
    assert "resnet40" in out and "4,994,730" in out
    line = next(line for line in out.splitlines() if line.startswith("resnet102 "))
    assert line.split()[1:] == ["102", "4,997,658"]


def test_summary_prints_figure8(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["summary", "resnet40"]) == 0
    out = capsys.readouterr().out
    assert "Linear-106" in out and "Total params: 4,994,730" in out


def test_unknown_model_is_one_clear_line(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["summary", "resnet04"]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "did you mean 'resnet40'" in err
    assert main(["models", "zzz*"]) == 2


@pytest.mark.slow
def test_console_entry_point_runs_without_traceback() -> None:
    proc = subprocess.run(
        [sys.executable, "-m", "resdepth", "summary", "nope"], capture_output=True, text=True
    )
    assert proc.returncode == 2
    assert "Traceback" not in proc.stderr and "unknown model" in proc.stderr


def test_bench_lists_and_runs_the_benchmarks(
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    assert main(["bench"]) == 0
    listed = capsys.readouterr().out
    for name in ("transforms", "train_step", "loader", "trainer_overhead", "gpu_check"):
        assert name in listed
    out = tmp_path / "t.json"
    argv = ["bench", "transforms", "--batch-sizes", "4", "--seconds", "0.02",
            "--skip-per-sample", "--no-compile", "--device", "cpu", "--json", str(out)]  # fmt: skip
    assert main(argv) == 0
    assert out.exists()


def test_bench_outside_a_checkout(
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    import resdepth.cli as cli

    monkeypatch.setattr(cli, "_benchmarks_folder", lambda: None)
    assert main(["bench"]) == 2
    assert "source repository" in capsys.readouterr().err
