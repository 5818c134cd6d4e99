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
        assert err.startswith(f"resdepth {argv[0]}: error: "), err


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (["--model", "resnet01"], "did you mean 'resnet10', "),  # a swap: one edit
        (["--recipe", "asl"], "did you mean 'as1', 'as2'"),
        (["--data", "cifar01"], "did you mean 'cifar10'"),
        (["--epochs", "0"], "argument --epochs"),
        (["--batch-size", "0"], "argument --batch-size"),
        (["--time-budget", "soon"], "argument --time-budget"),
    ],
)
def test_every_error_of_a_subcommand_names_it_once_and_suggests_the_nearest_names(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], argv: list[str], message: str
) -> None:
    """argparse's errors and the library's speak with one prefix, and suggestions are
    ranked by edits (a swap of two letters is one), ties alphabetically."""
    base = {"--data": "synthetic", "--out": str(tmp_path / "run")}
    base.update(dict(zip(argv[::2], argv[1::2], strict=True)))
    try:
        code = main(["train", *(x for pair in base.items() for x in pair)])
    except SystemExit as exit_:  # argparse's own errors
        code = int(exit_.code or 0)
    err = capsys.readouterr().err
    assert code == 2 and err.count("\n") == 1, err
    assert err.startswith("resdepth train: error: ") and message in err, err
    assert not (tmp_path / "run").exists()


def test_recipes_command(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["recipes", "-v"]) == 0
    out = capsys.readouterr().out
    for name in ("as1", "as2", "resnet40-ft", "fast", "as1-linear"):
        assert name in out
    assert "source:" in out
    # Each measured figure, one line each; "unmeasured" only where nothing was measured.
    from resdepth.recipes import list_recipes, recipe_measurements

    for name in list_recipes():
        for line in recipe_measurements(name):
            assert f"measured: {line}\n" in out
    unmeasured = [n for n in list_recipes() if not recipe_measurements(n)]
    assert out.count("  unmeasured\n") == len(unmeasured) >= 1


@pytest.mark.slow
def test_precision_and_memory_format_options(
    archive: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    from resdepth.artifacts import load_checkpoint

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


def test_train_help_names_every_file_of_a_run_and_drop_previous_deletes_one(
    archive: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    with pytest.raises(SystemExit):
        main(["train", "--help"])
    text = capsys.readouterr().out
    for name in ("history.csv", "last.pt", "best.pt", "previous.pt", "--drop-previous"):
        assert name in text, name
    out = tmp_path / "run"
    assert _train(archive, out, "--epochs", "2") == 0  # (the later --epochs wins)
    assert (out / "previous.pt").exists()  # epoch 1's checkpoint, kept by epoch 2's
    assert _train(archive, out, "--resume", "--epochs", "3", "--drop-previous") == 0
    assert "deleted previous.pt" in capsys.readouterr().out
    assert not (out / "previous.pt").exists() and (out / "last.pt").exists()


def test_predict_help_says_what_an_id_is_for_each_input(
    capsys: pytest.CaptureFixture[str],
) -> None:
    with pytest.raises(SystemExit):
        main(["predict", "--help"])
    text = " ".join(capsys.readouterr().out.split())
    assert "row numbers" in text and "b'ids'" in text and "cat/0001.jpg" in text
