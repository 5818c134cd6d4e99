"""Command-line mistakes, each with the one line and the exit status it must give
(2: the input is wrong; 1: the run failed), and what a stopped study tells the user."""

from __future__ import annotations

import os
import signal
import threading
import time
from pathlib import Path

import pytest
import torch

from resdepth import NonFiniteLossError, ResNet, Trainer
from resdepth.cli import main
from resdepth.data import make_synthetic
from resdepth.recipes import get_recipe

from ..conftest import TINY_MODEL

TRAIN = ["train", "--model", TINY_MODEL, "--data", "synthetic", "--subset", "32", "--quiet",
         "--batch-size", "16"]  # fmt: skip


@pytest.fixture(scope="module")
def finished_run(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("run") / "r"
    assert main([*TRAIN, "--epochs", "2", "--out", str(out)]) == 0
    return out


# (arguments, exit status, a piece of the one line); "{run}" is a finished 2-epoch run,
# "{file}" a plain file.
CASES = [
    (["train", "--data", "synthetic", "--out", "x", "--seed", "-5"], 2, "--seed"),
    (["train", "--data", "synthetic", "--out", "x", "--seed", str(2**70)], 2, "--seed"),
    (["train", "--data", "synthetic", "--out", "x", "--seed", "one"], 2, "must be an integer"),
    (["summary", "resnet10", "--input-size", "3", "100000", "100000"], 2, "--input-size"),
    (["summary", "resnet10", "--num-classes", str(10**12)], 2, "--num-classes"),
    ([*TRAIN, "--epochs", "1", "--out", "{file}"], 2, "is a file, not a run folder"),
    ([*TRAIN, "--epochs", "1", "--out", "{run}", "--resume"], 2, "has trained 2 epochs"),
    (["train", "--data", "cifar10-sample", "--subset", "6000", "--out", "x"], 2,
     "--subset 6000: a subset of 6000 images is more than"),
]  # fmt: skip


@pytest.mark.parametrize(("argv", "status", "says"), CASES, ids=[str(i) for i in range(len(CASES))])
def test_each_mistake_is_one_line(
    argv: list[str], status: int, says: str, finished_run: Path, tmp_path: Path,
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch,
) -> None:  # fmt: skip
    monkeypatch.chdir(tmp_path)  # "--out x": if a mistake were let through, it trains there
    plain = tmp_path / "a-file"
    plain.write_text("not a folder")
    argv = [a.replace("{run}", str(finished_run)).replace("{file}", str(plain)) for a in argv]
    try:
        got = main(argv)
    except SystemExit as stop:  # argparse's own usage errors
        got = int(stop.code or 0)
    err = capsys.readouterr().err
    assert got == status, err
    assert says in err and err.count("\n") == 1 and "Traceback" not in err, err


def test_eval_honours_subset(finished_run: Path, capsys: pytest.CaptureFixture[str]) -> None:
    capsys.readouterr()
    last = str(finished_run / "last.pt")
    assert main(["eval", last, "--data", "synthetic", "--subset", "8"]) == 0
    assert "(8 images)" in capsys.readouterr().out


def test_predict_refuses_a_batch_size_that_is_not_positive() -> None:
    trainer = Trainer(ResNet(layers=(1,), widths=(4,), num_classes=3), device="cpu", progress=False)
    images = torch.randint(0, 256, (5, 3, 8, 8), dtype=torch.uint8)
    for size in (0, -1, 2.5):
        with pytest.raises(ValueError, match="batch_size"):
            trainer.predict(images, batch_size=size)  # type: ignore[arg-type]
    assert trainer.predict(images, batch_size=2).shape == (5,)


def test_non_finite_optimizer_state_is_not_saved(tmp_path: Path) -> None:
    net = ResNet(layers=(1,), widths=(4,), num_classes=3)
    trainer = Trainer(net, recipe=get_recipe("as2", batch_size=8), device="cpu",
                      progress=False, out_dir=tmp_path)  # fmt: skip
    train, val = trainer.build_loaders(make_synthetic(16, 3, 8), make_synthetic(8, 3, 8, seed=1))
    trainer.fit(train, val, epochs=1)
    saved = (tmp_path / "last.pt").read_bytes()
    state = next(iter(trainer.optimizer.state.values()))
    state["exp_avg_sq"].fill_(float("inf"))  # a blow-up Adam's update hides (m / inf = 0)
    with pytest.raises(NonFiniteLossError, match="the optimizer's exp_avg_sq"):
        trainer.fit(train, val, epochs=2)
    assert (tmp_path / "last.pt").read_bytes() == saved  # the good checkpoint is kept


def test_a_stopped_study_says_how_a_study_resumes(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    out = tmp_path / "study"

    def stop_after_the_first_epoch() -> None:
        deadline = time.monotonic() + 60
        while not list(out.glob("*/history.csv")) and time.monotonic() < deadline:
            time.sleep(0.02)
        os.kill(os.getpid(), signal.SIGTERM)

    watcher = threading.Thread(target=stop_after_the_first_epoch, daemon=True)
    watcher.start()
    status = main(["study", "--data", "synthetic", "--subset", "64", "--shapes", "10",
                   "--budget", "20000", "--base-widths", "4", "8", "16", "32", "--epochs", "200",
                   "--out", str(out), "--quiet", "--checkpoint-every", "off"])  # fmt: skip
    watcher.join()
    err = capsys.readouterr().err
    assert status == 128 + signal.SIGTERM, err
    assert "run the same command again to resume the study" in err and "--resume" not in err


def test_a_full_disk_names_the_file_and_loses_nothing(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    import errno

    from resdepth.artifacts import load_checkpoint

    real_fsync, calls = os.fsync, []

    def full_after_the_first_epoch(fd: int) -> None:
        calls.append(fd)
        if len(calls) > 6:  # epoch 1's last.pt, best.pt and history.csv (file and folder)
            raise OSError(errno.ENOSPC, "No space left on device")
        real_fsync(fd)

    monkeypatch.setattr(os, "fsync", full_after_the_first_epoch)
    out = tmp_path / "run"
    assert main([*TRAIN, "--epochs", "3", "--out", str(out), "--checkpoint-every", "off"]) == 1
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "No space left on device" in err, err
    assert f"could not write {out}" in err and "nothing saved before is lost" in err
    monkeypatch.setattr(os, "fsync", real_fsync)
    assert load_checkpoint(out / "last.pt")["epoch"] == 1  # the good checkpoint is whole


def test_eval_of_data_with_more_classes_than_the_model_is_one_line(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """A checkpoint that records no class names (one of the paper's files for other than
    CIFAR-10's classes, a run trained on bare tensors) on data with more classes."""
    trainer = Trainer(ResNet(layers=(1,), widths=(4,), num_classes=3), device="cpu",
                      progress=False, out_dir=tmp_path / "run")  # fmt: skip
    x, y = make_synthetic(16, 3, 8)
    trainer.fit([(x, y)], epochs=1)
    with pytest.raises(ValueError, match=r"label \d is outside the model.s 3 outputs"):
        trainer.evaluate(make_synthetic(16, 10, 8))
    capsys.readouterr()
    last = str(tmp_path / "run" / "last.pt")
    assert main(["eval", last, "--data", "synthetic", "--subset", "64"]) == 2
    err = capsys.readouterr().err
    assert "outside the model's 3 outputs" in err and err.count("\n") == 1


def test_os_errors_read_as_their_words_and_files() -> None:
    from resdepth.cli.common import describe_os_error

    own = OSError(28, "could not write x (No space left on device); x is unchanged")
    assert describe_os_error(own) == "could not write x (No space left on device); x is unchanged"
    moved = PermissionError(13, "Permission denied", "a.tmp", None, "a")
    assert describe_os_error(moved) == "Permission denied: a.tmp -> a"
    assert describe_os_error(FileNotFoundError(2, "No such file", "f")) == "No such file: f"
    assert describe_os_error(OSError("no numbers")) == "no numbers"
