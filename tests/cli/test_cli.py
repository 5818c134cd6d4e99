from __future__ import annotations

import subprocess
import sys

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


def test_there_is_no_bench_command(capsys: pytest.CaptureFixture[str]) -> None:
    # The benchmark scripts live in the repository (benchmarks/), not in the package.
    with pytest.raises(SystemExit):
        main(["bench"])
    assert "invalid choice: 'bench'" in capsys.readouterr().err


def test_train_help_names_every_data_set_with_what_it_is(
    capsys: pytest.CaptureFixture[str],
) -> None:
    from resdepth.data import NAMED_DATASETS

    with pytest.raises(SystemExit):
        main(["train", "--help"])
    text = " ".join(capsys.readouterr().out.split())
    for name in NAMED_DATASETS:
        assert f"{name} (" in text, name
    assert "synthetic (random images" in text
