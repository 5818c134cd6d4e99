"""The command line keeps its promise: a user error is one line and status 2, a failure
during a run one line and status 1, and an internal error still a traceback."""

from __future__ import annotations

import pickle
import shutil
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest
import torch

from resdepth import Trainer
from resdepth.cli import main
from resdepth.data import DeviceLoader, make_synthetic

from ..conftest import TINY_MODEL


def _one_line(capsys: pytest.CaptureFixture[str], argv: list[str], status: int = 2) -> str:
    assert main(argv) == status, argv
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "Traceback" not in err, err
    return err


@pytest.fixture(scope="module")
def run(archive: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("cli") / "run"
    argv = ["train", "--model", TINY_MODEL, "--data", str(archive), "--epochs", "1",
            "--batch-size", "24", "--out", str(out), "--quiet"]  # fmt: skip
    assert main(argv) == 0
    return out


@pytest.mark.parametrize(
    ("flag", "value"),
    [
        ("--batch-size", "0"),
        ("--subset", "0"),
        ("--epochs", "0"),
        ("--epochs", "-3"),
        ("--batch-size", "x"),
    ],  # fmt: skip
)
def test_zero_is_no_default_but_an_error_before_any_data_is_read(
    capsys: pytest.CaptureFixture[str], tmp_path: Path, flag: str, value: str
) -> None:
    with pytest.raises(SystemExit) as stopped:
        main(["train", "--data", str(tmp_path / "not-there"), "--out", str(tmp_path / "o"),
              flag, value])  # fmt: skip
    err = capsys.readouterr().err
    assert stopped.value.code == 2 and err.count("\n") == 1
    assert flag in err and "positive integer" in err and "not-there" not in err


@pytest.mark.parametrize(
    ("device", "message"),
    [("gpu", "--device gpu: not a device"), ("cuda", "--device cuda: there is no CUDA GPU")],
)
def test_a_device_that_is_not_there(
    capsys: pytest.CaptureFixture[str], tmp_path: Path, device: str, message: str
) -> None:
    if device == "cuda" and torch.cuda.is_available():
        pytest.skip("this machine has a GPU")
    err = _one_line(capsys, ["train", "--data", "synthetic", "--subset", "20",
                             "--out", str(tmp_path / "o"), "--device", device])  # fmt: skip
    assert message in err


def test_predict_into_a_folder_is_refused_and_leaves_nothing(
    capsys: pytest.CaptureFixture[str], run: Path, tmp_path: Path
) -> None:
    hidden = tmp_path / "hidden.pkl"
    hidden.write_bytes(pickle.dumps({b"data": np.zeros((2, 16, 16, 3), dtype=np.uint8)}))
    folder = tmp_path / "out"
    folder.mkdir()
    err = _one_line(capsys, ["predict", str(run / "last.pt"), "--input", str(hidden),
                             "--output", str(folder)])  # fmt: skip
    assert "--output" in err and "a folder" in err
    assert list(folder.iterdir()) == []


def test_an_empty_pickle(capsys: pytest.CaptureFixture[str], run: Path, tmp_path: Path) -> None:
    (tmp_path / "empty.pkl").write_bytes(b"")
    argv = ["predict", str(run / "last.pt"), "--input", str(tmp_path / "empty.pkl"),
            "--output", str(tmp_path / "p.csv")]  # fmt: skip
    err = _one_line(capsys, argv)
    assert "empty" in err


def test_predict_writes_the_pickles_ids_and_a_plain_folders_file_names(
    capsys: pytest.CaptureFixture[str], run: Path, tmp_path: Path
) -> None:
    from PIL import Image

    hidden = tmp_path / "hidden.pkl"
    data = np.zeros((3, 16, 16, 3), dtype=np.uint8)
    hidden.write_bytes(pickle.dumps({b"data": data, b"ids": [101, 205, 307]}))
    assert main(["predict", str(run / "last.pt"), "--input", str(hidden),
                 "--output", str(tmp_path / "p.csv")]) == 0  # fmt: skip
    rows = (tmp_path / "p.csv").read_text().splitlines()
    assert rows[0] == "ID,Label" and [r.split(",")[0] for r in rows[1:]] == ["101", "205", "307"]
    (tmp_path / "imgs").mkdir()
    for name in ("dog.png", "cat.png"):
        Image.new("RGB", (16, 16)).save(tmp_path / "imgs" / name)
    assert main(["predict", str(run / "last.pt"), "--input", str(tmp_path / "imgs"),
                 "--output", str(tmp_path / "f.csv")]) == 0  # fmt: skip
    rows = (tmp_path / "f.csv").read_text().splitlines()
    assert [r.split(",")[0] for r in rows[1:]] == ["cat.png", "dog.png"]
    capsys.readouterr()


def test_a_checkpoint_whose_weights_do_not_fit_its_model(
    capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    from resdepth import get_model

    wrong = {"model": "resnet10", "model_kwargs": {"num_classes": 4}}
    trainer = Trainer(get_model(TINY_MODEL, num_classes=4), device="cpu", progress=False,
                      out_dir=tmp_path / "r", metadata=wrong)  # fmt: skip
    trainer.fit(trainer.build_loaders(make_synthetic(8, 4, 16))[0], epochs=1)
    err = _one_line(capsys, ["eval", str(tmp_path / "r" / "last.pt"), "--data", "synthetic"])
    assert "do not fit a resnet10" in err


def test_eval_matches_classes_by_name_and_refuses_other_classes(
    capsys: pytest.CaptureFixture[str], run: Path, archive: Path, tmp_path: Path
) -> None:
    import tarfile

    from resdepth import get_model
    from resdepth.artifacts import load_checkpoint
    from resdepth.data import load_dataset
    from resdepth.recipes import Recipe

    # A test folder without "ant": positions would call bee 0 and cow 1.
    root = tmp_path / "x"
    with tarfile.open(archive) as tf:
        tf.extractall(root, filter="data")
    shutil.rmtree(root / "tiny" / "test" / "ant")
    shutil.rmtree(root / "tiny" / "train")
    assert main(["eval", str(run / "last.pt"), "--data", str(root / "tiny")]) == 0
    printed = capsys.readouterr().out
    # The same images, labelled by name through the Python API, give the same accuracy.
    state = load_checkpoint(run / "last.pt")
    model = get_model(TINY_MODEL, num_classes=3)
    model.load_state_dict(state["model"])
    trainer = Trainer(model, recipe=Recipe.from_dict(state["recipe"]), device="cpu",
                      progress=False)  # fmt: skip
    full = load_dataset(archive, train=False)
    keep = full.labels != full.classes.index("ant")
    subset = type(full)(full.name, full.images[keep], full.labels[keep], full.classes)
    expected = trainer.evaluate(subset)["accuracy"]
    assert f"accuracy {expected:.2f}%" in printed and state["metadata"]["classes"] == [
        "ant", "bee", "cow",
    ]  # fmt: skip
    err = _one_line(capsys, ["eval", str(run / "last.pt"), "--data", "synthetic"])
    assert "'class0'" in err and "lacks" in err


def test_a_run_that_cannot_write_its_files_fails_in_one_line(
    capsys: pytest.CaptureFixture[str], archive: Path, tmp_path: Path
) -> None:
    out = tmp_path / "run"
    (out / "history.csv").mkdir(parents=True)  # where a file must go, a folder is
    err = _one_line(capsys, ["train", "--model", TINY_MODEL, "--data", str(archive),
                             "--epochs", "1", "--out", str(out), "--quiet"], status=1)  # fmt: skip
    assert "the run stopped" in err and "history.csv" in err


def test_fp16_on_a_cpu_warns(capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    assert main(["train", "--model", TINY_MODEL, "--data", "synthetic", "--subset", "16",
                 "--epochs", "1", "--precision", "fp16", "--device", "cpu",
                 "--out", str(tmp_path / "o"), "--quiet"]) == 0  # fmt: skip
    assert "fp16 on a CPU is far slower than bf16" in capsys.readouterr().err


def test_an_internal_error_is_not_dressed_as_a_user_error(
    run: Path, archive: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    def broken(self: DeviceLoader) -> Iterator[tuple[torch.Tensor, torch.Tensor]]:
        raise ValueError("an internal bug")

    monkeypatch.setattr(DeviceLoader, "__iter__", broken)
    with pytest.raises(ValueError, match="an internal bug"):
        main(["eval", str(run / "last.pt"), "--data", str(archive)])


@pytest.mark.slow
def test_a_closed_pipe_ends_quietly(run: Path) -> None:
    proc = subprocess.run(
        f"{sys.executable} -m resdepth summary resnet40 | head -n 2",
        shell=True, capture_output=True, text=True, timeout=120,
    )  # fmt: skip
    assert proc.stdout.count("\n") == 2 and "Traceback" not in proc.stderr
    assert "BrokenPipe" not in proc.stderr and "Exception ignored" not in proc.stderr
