"""Exact resume at every point: a run interrupted after any step, then resumed, ends
with the same weights, optimizer state and history as the uninterrupted run."""

from __future__ import annotations

import os
import signal
from pathlib import Path

import pytest
import torch

from resdepth import Callback, ResNet, RunInterrupted, Trainer, seed_everything
from resdepth.data import make_synthetic
from resdepth.recipes import get_recipe
from resdepth.training import load_checkpoint

EPOCHS, IMAGES, BATCH = 3, 24, 8  # 3 batches an epoch, 9 steps in all


def _trainer(out: Path, callbacks: list[Callback] = ()) -> tuple[Trainer, object, object]:  # type: ignore[assignment]
    seed_everything(0)
    net = ResNet(layers=(1,), widths=(4,), num_classes=3)
    # Shuffling, augmentation and CutMix all draw random numbers: a resume must restore each.
    recipe = get_recipe("resnet40-ft", batch_size=BATCH, test_batch_size=16)
    trainer = Trainer(net, recipe=recipe, device="cpu", out_dir=out, progress=False,
                      checkpoint_every=None, callbacks=list(callbacks))  # fmt: skip
    train, val = trainer.build_loaders(
        make_synthetic(IMAGES, 3, 8), make_synthetic(16, 3, 8, seed=1)
    )
    return trainer, train, val


class _InterruptAfter(Callback):
    def __init__(self, step: int, signum: int = signal.SIGINT) -> None:
        self.step, self.signum = step, signum

    def on_step_end(self, trainer: Trainer, step: int) -> None:
        if step == self.step:
            os.kill(os.getpid(), self.signum)  # a Ctrl-C (or a scheduler's SIGTERM) now


@pytest.fixture(scope="module")
def uninterrupted(tmp_path_factory: pytest.TempPathFactory) -> dict:
    out = tmp_path_factory.mktemp("whole")
    trainer, train, val = _trainer(out)
    trainer.fit(train, val, epochs=EPOCHS)
    return load_checkpoint(out / "last.pt")


def _assert_same(a: object, b: object, where: str = "") -> None:
    if isinstance(a, torch.Tensor):
        assert isinstance(b, torch.Tensor) and torch.equal(a, b), where
    elif isinstance(a, dict):
        assert isinstance(b, dict) and a.keys() == b.keys(), where
        for key in a:
            _assert_same(a[key], b[key], f"{where}.{key}")
    elif isinstance(a, (list, tuple)):
        assert isinstance(b, (list, tuple)) and len(a) == len(b), where
        for i, (x, y) in enumerate(zip(a, b, strict=True)):
            _assert_same(x, y, f"{where}[{i}]")
    else:
        assert a == b or (a != a and b != b), where  # NaN == NaN for unmeasured columns


@pytest.mark.parametrize("step", range(1, EPOCHS * IMAGES // BATCH))
def test_interrupted_after_any_step_then_resumed_is_the_same_run(
    step: int, uninterrupted: dict, tmp_path: Path
) -> None:
    _interrupt_and_resume(step, signal.SIGINT, uninterrupted, tmp_path)


@pytest.mark.slow
@pytest.mark.parametrize("step", range(1, EPOCHS * IMAGES // BATCH))
def test_terminated_after_any_step_then_resumed_is_the_same_run(
    step: int, uninterrupted: dict, tmp_path: Path
) -> None:
    _interrupt_and_resume(step, signal.SIGTERM, uninterrupted, tmp_path)


def _interrupt_and_resume(step: int, signum: int, uninterrupted: dict, tmp_path: Path) -> None:
    trainer, train, val = _trainer(tmp_path, [_InterruptAfter(step, signum)])
    with pytest.raises(RunInterrupted):
        trainer.fit(train, val, epochs=EPOCHS)
    trainer, train, val = _trainer(tmp_path)
    trainer.fit(train, val, epochs=EPOCHS, resume=True)
    final = load_checkpoint(tmp_path / "last.pt")
    for key in ("model", "optimizer", "scheduler", "epoch", "steps_run"):
        _assert_same(uninterrupted[key], final[key], key)
    timing = ("epoch_seconds", "images_per_second", "note")  # wall time and notes differ
    rows = [{k: v for k, v in r.items() if k not in timing} for r in final["history"]["rows"]]
    whole = [
        {k: v for k, v in r.items() if k not in timing} for r in uninterrupted["history"]["rows"]
    ]
    _assert_same(whole, rows, "history")
