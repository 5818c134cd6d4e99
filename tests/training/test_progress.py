"""Progress a person can see, in a log file as on a terminal."""

from __future__ import annotations

import os
import re
import signal
import time
from pathlib import Path

import pytest
import torch

from resdepth import Callback, ResNet, RunInterrupted, Trainer
from resdepth.data import make_synthetic
from resdepth.recipes import get_recipe
from resdepth.training.epoch import EpochProgress


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
        "Trainer(ResNet, recipe='as1', device=cpu, precision=auto, epoch=0/200, out_dir=None)"
    )
    assert repr(loader).startswith("DeviceLoader(samples=32, batch_size=128, batches=1")
    assert "tensor" not in repr(loader)


class _Slow(Callback):
    """Each batch takes at least ``seconds``; a SIGINT after step ``stop``."""

    def __init__(self, seconds: float, stop: int | None = None) -> None:
        self.seconds, self.stop = seconds, stop

    def on_step_end(self, trainer: Trainer, step: int) -> None:
        time.sleep(self.seconds)
        if step == self.stop:
            os.kill(os.getpid(), signal.SIGINT)  # a Ctrl-C: last.pt at this batch


def test_a_resumed_epoch_counts_only_what_this_process_trained(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    # 10 batches of 8 an epoch, each at least 0.02 s: no rate can pass 400 img/s.
    sleep, batch, ceiling = 0.02, 8, 8 / 0.02

    def fit(stop: int | None, resume: bool) -> Trainer:
        trainer = Trainer(_tiny(), recipe=get_recipe("as1", batch_size=batch), device="cpu",
                          out_dir=tmp_path, progress_every=0,
                          callbacks=[_Slow(sleep, stop)])  # fmt: skip
        trainer.fit(trainer.build_loaders(make_synthetic(80, 4, 8))[0], epochs=2, resume=resume)
        return trainer

    with pytest.raises(RunInterrupted):
        fit(stop=7, resume=False)
    capsys.readouterr()
    rows = fit(stop=None, resume=True).history.rows
    err = capsys.readouterr().err
    # The resumed epoch trained 3 batches here: its rate is theirs over their seconds.
    for row, images in zip(rows, (3 * batch, 10 * batch), strict=True):
        rate, seconds = row["images_per_second"], row["epoch_seconds"]
        assert 0 < rate < ceiling and rate * seconds == pytest.approx(images), row
    rates = [float(r) for r in re.findall(r"([\d,]+) img/s", err.replace(",", ""))]
    assert rates and max(rates) < ceiling, err
    # The estimate waits for 5 batches of this process: epoch 2's, not the 3 resumed.
    assert err.count("expected: about") == 1, err
    assert err.index("expected: about") > err.index("epoch 2/2 batch 4/10"), err


def test_an_epoch_saved_before_the_rate_fields_still_loads() -> None:
    progress = EpochProgress.begin(0, 0.1, torch.device("cpu"))
    progress.step, progress.count = 3, 24
    state = {
        k: v
        for k, v in progress.state_dict().items()
        if k not in ("count_before", "seconds_before")
    }
    loaded = EpochProgress.from_state(state, torch.device("cpu"))
    assert (loaded.step, loaded.count, loaded.count_here) == (3, 24, 0)
