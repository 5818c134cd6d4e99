"""The command line end to end on a small archive the test makes."""

from __future__ import annotations

import pickle
from pathlib import Path

import numpy as np
import pytest

from resdepth.cli import main


def _train(archive: Path, out: Path, *extra: str) -> int:
    argv = ["train", "--model", "resnet10", "--recipe", "as1", "--data", str(archive),
            "--epochs", "1", "--batch-size", "24", "--out", str(out), "--quiet"]  # fmt: skip
    argv += extra
    return main(argv)


def test_train_eval_predict_end_to_end(
    archive: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    out = tmp_path / "run"
    assert _train(archive, out) == 0
    assert {"last.pt", "best.pt", "history.csv"} <= {p.name for p in out.iterdir()}
    printed = capsys.readouterr().out
    assert "tiny.tar.gz train" in printed and "best test accuracy" in printed

    assert main(["eval", str(out / "best.pt"), "--data", str(archive)]) == 0
    assert "accuracy" in capsys.readouterr().out

    hidden = tmp_path / "hidden.pkl"
    images = np.random.default_rng(1).integers(0, 256, (5, 16, 16, 3), dtype=np.uint8)
    hidden.write_bytes(pickle.dumps({b"data": images}))
    csv = tmp_path / "pred.csv"
    assert main(["predict", str(out / "best.pt"), "--input", str(hidden), "--output", str(csv),
                 "--tta"]) == 0  # fmt: skip
    lines = csv.read_text().splitlines()
    assert lines[0] == "ID,Label" and len(lines) == 6
    assert all(0 <= int(line.split(",")[1]) < 3 for line in lines[1:])

    folder_csv = tmp_path / "folder.csv"
    assert main(["predict", str(out / "best.pt"), "--input", str(archive), "--split", "test",
                 "--output", str(folder_csv)]) == 0  # fmt: skip
    assert len(folder_csv.read_text().splitlines()) == 1 + 24

    # Resume to a longer run; the history gains the new epoch.
    assert _train(archive, out, "--resume", "--epochs", "2") == 0
    assert len((out / "history.csv").read_text().splitlines()) == 3


def test_user_errors_are_one_line(
    archive: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    out = tmp_path / "run"
    assert _train(archive, out) == 0
    capsys.readouterr()
    cases = [
        (["train", "--data", str(archive), "--out", str(out)], "already holds a run"),
        (["train", "--data", str(tmp_path / "none"), "--out", str(tmp_path / "x")], "no data at"),
        (["train", "--model", "resnet4", "--data", "synthetic", "--out", str(tmp_path / "y")],
         "unknown model"),
        (["train", "--recipe", "as9", "--data", "synthetic", "--out", str(tmp_path / "z")],
         "unknown recipe"),
        (["train", "--data", "cifar10", "--root", str(tmp_path), "--no-download",
          "--out", str(tmp_path / "c")], "CIFAR-10 is not in"),
        (["train", "--data", "synthetic", "--out", str(tmp_path / "r"), "--resume"],
         "no run to resume"),
        (["eval", str(tmp_path / "missing.pt"), "--data", "synthetic"], "no checkpoint"),
    ]  # fmt: skip
    data = (out / "last.pt").read_bytes()
    (tmp_path / "cut.pt").write_bytes(data[:1000])
    cases.append((["eval", str(tmp_path / "cut.pt"), "--data", "synthetic"], "truncated"))
    for argv, message in cases:
        assert main(argv) == 2, argv
        err = capsys.readouterr().err
        assert message in err and err.count("\n") == 1 and "Traceback" not in err, (argv, err)


def test_recipes_command(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["recipes", "-v"]) == 0
    out = capsys.readouterr().out
    for name in ("as1", "as2", "resnet40-ft", "fast", "as1-linear"):
        assert name in out
    assert "source:" in out


@pytest.mark.slow
def test_precision_and_memory_format_options(
    archive: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    from resdepth.training import load_checkpoint

    out = tmp_path / "run"
    assert _train(archive, out, "--precision", "fp32", "--channels-last") == 0  # bare: on
    state = load_checkpoint(out / "last.pt")
    assert (state["precision"], state["channels_last"]) == ("fp32", True)
    # A resume keeps the recorded choice; another value is refused, naming it.
    assert _train(archive, out, "--resume", "--epochs", "2") == 0
    assert load_checkpoint(out / "last.pt")["channels_last"] is True
    capsys.readouterr()
    assert _train(archive, out, "--resume", "--epochs", "3", "--channels-last", "off") == 2
    assert "channels_last: True -> False" in capsys.readouterr().err
    assert main(["eval", str(out / "last.pt"), "--data", str(archive)]) == 0
    assert "precision fp32, channels_last" in capsys.readouterr().out
    # --no-autotune: the capability rule alone; --deterministic means fp32.
    assert _train(archive, tmp_path / "rule", "--no-autotune") == 0
    assert load_checkpoint(tmp_path / "rule" / "last.pt")["precision"] in ("fp32", "bf16")
    assert _train(archive, tmp_path / "det", "--deterministic", "--precision", "bf16") == 2
    assert "--deterministic trains in fp32" in capsys.readouterr().err
