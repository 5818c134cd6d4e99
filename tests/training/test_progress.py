"""Progress a person can see, in a log file as on a terminal."""

from __future__ import annotations

import re

import pytest
import torch

from resdepth import Callback, ResNet, Trainer
from resdepth.data import make_synthetic
from resdepth.recipes import get_recipe


def _tiny() -> ResNet:
    torch.manual_seed(0)
    return ResNet(layers=(1,), widths=(4,), num_classes=4)


def test_plain_progress_lines_when_the_output_is_no_terminal(
    capsys: pytest.CaptureFixture[str],
) -> None:
    trainer = Trainer(_tiny(), recipe=get_recipe("as1", batch_size=8), device="cpu",
                      progress_every=0)  # fmt: skip
    trainer.fit(trainer.build_loaders(make_synthetic(64, 4, 8))[0], epochs=2)
    err = capsys.readouterr().err
    lines = [line for line in err.splitlines() if line.startswith("epoch ")]
    assert len(lines) >= 10  # a line every batch at progress_every=0
    assert re.search(r"epoch 2/2 batch 7/8  loss \d+\.\d+ acc \d+\.\d+%  [\d,]+ img/s  "
                     r"epoch ends in \d+ s, run in \d+ s", err)  # fmt: skip
    assert err.count("expected: about") == 1 and "warning" not in err


def test_a_long_cpu_run_is_announced(capsys: pytest.CaptureFixture[str]) -> None:
    class StopAfterOne(Callback):
        def on_epoch_end(self, trainer: Trainer, row: dict) -> None:
            raise KeyboardInterrupt

    trainer = Trainer(_tiny(), recipe=get_recipe("as1", batch_size=8), device="cpu",
                      callbacks=[StopAfterOne()])  # fmt: skip
    with pytest.raises(KeyboardInterrupt):
        trainer.fit(trainer.build_loaders(make_synthetic(64, 4, 8))[0], epochs=10**7)
    err = capsys.readouterr().err
    assert re.search(r"expected: about \d+ s an epoch, [\d.]+ h for the 10000000 epoch", err)
    assert "warning: this is a CPU run of about" in err and "--epochs" in err


def test_quiet_is_quiet(capsys: pytest.CaptureFixture[str]) -> None:
    trainer = Trainer(_tiny(), device="cpu", progress=False, progress_every=0)
    trainer.fit(trainer.build_loaders(make_synthetic(32, 4, 8))[0], epochs=1)
    captured = capsys.readouterr()
    assert captured.err == "" and captured.out == ""
    with pytest.raises(ValueError, match="progress_every"):
        Trainer(_tiny(), device="cpu", progress_every=-1)


def test_short_reprs() -> None:
    trainer = Trainer(_tiny(), recipe="as1", device="cpu", progress=False)
    loader, _ = trainer.build_loaders(make_synthetic(32, 4, 8))
    assert repr(trainer) == (
        "Trainer(ResNet, recipe='as1', device=cpu, precision=fp32, epoch=0/200, out_dir=None)"
    )
    assert repr(loader).startswith("DeviceLoader(samples=32, batch_size=128, batches=1")
    assert "tensor" not in repr(loader)
