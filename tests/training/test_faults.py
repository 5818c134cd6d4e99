"""Faults and edge cases that must end in a clear error, never in a run that "succeeds"."""

from __future__ import annotations

import math
import os
import signal
import subprocess
import sys
from pathlib import Path

import pytest
import torch
from torch import nn

from resdepth import (
    Callback,
    CheckpointError,
    NonFiniteLossError,
    ResNet,
    RunLockedError,
    Trainer,
)
from resdepth.artifacts import load_checkpoint
from resdepth.data import DeviceLoader, make_synthetic
from resdepth.recipes import get_recipe

CHILD = Path(__file__).with_name("child.py")


def _tiny() -> ResNet:
    torch.manual_seed(0)
    return ResNet(layers=(1, 1), widths=(8, 16), num_classes=4)


def _all_finite(path: Path) -> bool:
    state = load_checkpoint(path)["model"]
    return all(bool(t.isfinite().all()) for t in state.values() if t.is_floating_point())


def test_a_diverging_run_with_one_batch_an_epoch_saves_nothing_non_finite(tmp_path: Path) -> None:
    trainer = Trainer(_tiny(), recipe=get_recipe("as1", batch_size=32, lr=1e6), device="cpu",
                      out_dir=tmp_path, progress=False)  # fmt: skip
    train, val = trainer.build_loaders(make_synthetic(32, 4, 12), make_synthetic(32, 4, 12, seed=1))
    with pytest.raises(NonFiniteLossError, match="epoch 1") as caught:
        trainer.fit(train, val, epochs=3)
    assert "no checkpoint was written" in str(caught.value)
    for name in ("last.pt", "best.pt"):
        assert not (tmp_path / name).exists() or _all_finite(tmp_path / name)


class _PoisonRunningVar(Callback):
    """Sets a BatchNorm running variance to infinity at the last step of epoch 2, while the
    loss stays finite: the state a diverging run reaches before its loss shows it."""

    def on_fit_start(self, trainer: Trainer) -> None:
        calls = [0]
        bn = trainer.model.bn1

        def poison(module: nn.Module, inputs: object, output: object) -> None:
            calls[0] += 1
            if module.training and calls[0] == 6:  # 3 batches an epoch
                module.running_var.data.fill_(math.inf)  # past autograd

        bn.register_forward_hook(poison)


def test_non_finite_buffers_stop_the_run_and_keep_the_last_good_checkpoint(
    tmp_path: Path,
) -> None:
    recipe = get_recipe("as1", batch_size=32)
    trainer = Trainer(_tiny(), recipe=recipe, device="cpu", out_dir=tmp_path, progress=False,
                      callbacks=[_PoisonRunningVar()])  # fmt: skip
    data = make_synthetic(96, 4, 12), make_synthetic(32, 4, 12, seed=1)
    with pytest.raises(NonFiniteLossError, match="bn1.running_var") as caught:
        trainer.fit(*trainer.build_loaders(*data), epochs=3)
    assert "holds the end of epoch 1" in str(caught.value)
    assert load_checkpoint(tmp_path / "last.pt")["epoch"] == 1
    assert _all_finite(tmp_path / "last.pt") and _all_finite(tmp_path / "best.pt")
    resumed = Trainer(_tiny(), recipe=recipe, device="cpu", out_dir=tmp_path, progress=False)
    history = resumed.fit(*resumed.build_loaders(*data), epochs=3, resume=True)
    assert len(history) == 3 and all(math.isfinite(v) for v in history.column("train_loss"))


@pytest.mark.parametrize(
    "train",
    [
        DeviceLoader(*make_synthetic(10, 4, 12), batch_size=16, drop_last=True, device="cpu"),
        [],
    ],
    ids=["drop-last-leaves-none", "empty-list"],
)
def test_empty_training_data_is_an_error(tmp_path: Path, train: object) -> None:
    trainer = Trainer(_tiny(), recipe="as1", device="cpu", out_dir=tmp_path, progress=False)
    with pytest.raises(ValueError, match="train has no batches"):
        trainer.fit(train, epochs=1)  # type: ignore[arg-type]
    assert not (tmp_path / "last.pt").exists()


def test_a_one_shot_iterator_is_refused_before_training(tmp_path: Path) -> None:
    trainer = Trainer(_tiny(), recipe="as1", device="cpu", out_dir=tmp_path, progress=False)
    x, y = make_synthetic(16, 4, 12)
    with pytest.raises(ValueError, match="one-shot iterator.*reads it 2 times"):
        trainer.fit(((x, y) for _ in range(1)), epochs=2)
    assert not (tmp_path / "last.pt").exists()  # nothing trained
    # With one epoch to run it is read once, and trains.
    history = Trainer(_tiny(), recipe="as1", device="cpu", progress=False).fit(
        ((x, y) for _ in range(1)), epochs=1
    )
    assert len(history) == 1


def test_evaluating_nothing_is_an_error() -> None:
    trainer = Trainer(_tiny(), recipe="as1", device="cpu", progress=False)
    images = torch.zeros(0, 3, 12, 12, dtype=torch.uint8)
    with pytest.raises(ValueError, match="holds no images"):
        trainer.evaluate((images, torch.zeros(0, dtype=torch.long)))
    with pytest.raises(ValueError, match="holds no images"):
        trainer.evaluate([])


def test_a_second_run_into_a_busy_directory_is_refused(tmp_path: Path) -> None:
    data = make_synthetic(32, 4, 12)
    errors: list[BaseException] = []

    class StartAnother(Callback):
        def on_epoch_end(self, trainer: Trainer, row: dict) -> None:
            other = Trainer(_tiny(), recipe="as1", device="cpu", out_dir=tmp_path / "other",
                            progress=False)  # fmt: skip
            other_dir = Trainer(_tiny(), recipe="as1", device="cpu", out_dir=tmp_path,
                                progress=False)  # fmt: skip
            other.fit(other.build_loaders(data)[0], epochs=1)  # another directory is fine
            try:
                other_dir.fit(other_dir.build_loaders(data)[0], epochs=1, resume=True)
            except RunLockedError as err:
                errors.append(err)

    trainer = Trainer(_tiny(), recipe="as1", device="cpu", out_dir=tmp_path, progress=False,
                      callbacks=[StartAnother()])  # fmt: skip
    trainer.fit(trainer.build_loaders(data)[0], epochs=1)
    assert len(errors) == 1 and f"pid {os.getpid()}" in str(errors[0])
    assert not (tmp_path / ".lock").exists()  # released at the end


def test_a_stale_lock_is_taken_over(tmp_path: Path) -> None:
    (tmp_path / ".lock").write_text("pid 999999 on a machine long gone\n")
    trainer = Trainer(_tiny(), recipe="as1", device="cpu", out_dir=tmp_path, progress=False)
    trainer.fit(trainer.build_loaders(make_synthetic(32, 4, 12))[0], epochs=1)
    assert load_checkpoint(tmp_path / "last.pt")["epoch"] == 1


@pytest.mark.slow
def test_kill_during_save_leaves_a_temporary_that_the_next_start_removes(tmp_path: Path) -> None:
    out = tmp_path / "run"
    proc = subprocess.run([sys.executable, str(CHILD), str(out), "3", "--kill-during-save", "2"],
                          capture_output=True, text=True, timeout=300)  # fmt: skip
    assert proc.returncode == -signal.SIGKILL
    assert load_checkpoint(out / "last.pt")["epoch"] == 1
    assert [p.name for p in out.glob(".last.pt.tmp*")]
    resumed = subprocess.run([sys.executable, str(CHILD), str(out), "3", "--resume"],
                             capture_output=True, text=True, timeout=300)  # fmt: skip
    assert resumed.returncode == 0, resumed.stderr
    assert not list(out.glob(".*.tmp*")) and load_checkpoint(out / "last.pt")["epoch"] == 3


def test_checkpoints_during_the_first_epoch(tmp_path: Path) -> None:
    saved: list[int] = []

    class Watch(Callback):
        def on_fit_start(self, trainer: Trainer) -> None:
            def seen(module: nn.Module, inputs: object) -> None:
                if module.training and (tmp_path / "last.pt").exists():
                    saved.append(load_checkpoint(tmp_path / "last.pt")["progress"]["step"])

            trainer.model.register_forward_pre_hook(seen)

    trainer = Trainer(_tiny(), recipe=get_recipe("as1", batch_size=8), device="cpu",
                      out_dir=tmp_path, progress=False, checkpoint_every=2,
                      callbacks=[Watch()])  # fmt: skip
    trainer.fit(trainer.build_loaders(make_synthetic(48, 4, 12))[0], epochs=1)
    assert saved[:4] == [2, 2, 4, 4]  # before batches 3 to 6 of the first epoch
    assert load_checkpoint(tmp_path / "last.pt")["progress"] is None  # then the epoch's end


def test_checkpoint_every_accepts_steps_durations_and_off() -> None:
    import datetime

    cadences = {
        10: (10, None), "10steps": (10, None), "30s": (None, 30.0), "5min": (None, 300.0),
        "1.5h": (None, 5400.0), datetime.timedelta(minutes=2): (None, 120.0),
        "off": (None, None), None: (None, None),
    }  # fmt: skip
    for value, (steps, seconds) in cadences.items():
        every = Trainer(_tiny(), device="cpu", checkpoint_every=value).checkpoint_every
        assert (every.steps, every.seconds) == (steps, seconds), value
        assert every.enabled == (steps is not None or seconds is not None)
    for value in (0, -1, "5 parsecs", "1.5steps", 1.5, datetime.timedelta(0)):
        with pytest.raises(ValueError, match="checkpoint_every"):
            Trainer(_tiny(), device="cpu", checkpoint_every=value)


def test_fit_refuses_bad_epochs_and_a_loader_that_drops_the_recipes_mixing() -> None:
    trainer = Trainer(_tiny(), recipe=get_recipe("resnet40-ft", batch_size=16), device="cpu",
                      progress=False)  # fmt: skip
    plain = DeviceLoader(*make_synthetic(32, 4, 12), batch_size=16, device="cpu")
    with pytest.raises(ValueError, match="mixes batches"):
        trainer.fit(plain, epochs=1)
    train, _ = trainer.build_loaders(make_synthetic(32, 4, 12))
    for epochs in (0, -2, 1.5, True):
        with pytest.raises(ValueError, match="epochs must be a positive integer"):
            trainer.fit(train, epochs=epochs)  # type: ignore[arg-type]


def test_a_flipped_byte_in_a_checkpoint_is_refused_and_the_previous_one_offered(
    tmp_path: Path,
) -> None:
    trainer = Trainer(_tiny(), recipe=get_recipe("as1", batch_size=8), device="cpu",
                      out_dir=tmp_path, progress=False)  # fmt: skip
    trainer.fit(trainer.build_loaders(make_synthetic(16, 4, 12))[0], epochs=2)
    last = tmp_path / "last.pt"
    weight = load_checkpoint(last)["model"]["fc.weight"]
    raw = bytearray(last.read_bytes())
    # Flip one bit inside the stored fc weights: the file still unpickles.
    at = bytes(raw).find(weight.numpy().tobytes())
    assert at > 0
    raw[at + 5] ^= 0x10
    last.write_bytes(bytes(raw))
    with pytest.raises(CheckpointError, match=r"last\.pt is damaged: model\.fc\.weight"):
        load_checkpoint(last)
    previous = load_checkpoint(tmp_path / "previous.pt")  # the checkpoint before, intact
    assert previous["epoch"] == 1
    again = Trainer(_tiny(), recipe=get_recipe("as1", batch_size=8), device="cpu",
                    out_dir=tmp_path, progress=False)  # fmt: skip
    with pytest.raises(CheckpointError, match=r"damaged.*previous\.pt, the checkpoint before it"):
        again.fit(again.build_loaders(make_synthetic(16, 4, 12))[0], epochs=3, resume=True)


def test_a_full_disk_while_keeping_previous_names_the_file(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Where hard links are refused, previous.pt is a copy, and a full disk fails it."""
    import errno
    import shutil

    def trainer() -> Trainer:
        return Trainer(_tiny(), device="cpu", progress=False, out_dir=tmp_path / "run")

    data = make_synthetic(32, 4, 12)
    first = trainer()
    first.fit(first.build_loaders(data)[0], epochs=1)

    def no_links(*args: object) -> None:
        raise OSError(errno.EPERM, "Operation not permitted")

    def full(*args: object) -> None:
        raise OSError(errno.ENOSPC, "No space left on device")

    monkeypatch.setattr(os, "link", no_links)
    monkeypatch.setattr(shutil, "copyfile", full)
    second = trainer()
    with pytest.raises(OSError, match=r"previous.pt \(No space left on device\); last.pt is"):
        second.fit(second.build_loaders(data)[0], epochs=2, resume=True)
    monkeypatch.undo()
    assert load_checkpoint(tmp_path / "run" / "last.pt")["epoch"] == 1
    assert not [p.name for p in (tmp_path / "run").iterdir() if ".tmp" in p.name]
