"""Exact resume at every point: a run interrupted after any step, then resumed, ends
with the same weights, optimizer state and history as the uninterrupted run."""

from __future__ import annotations

import signal
from pathlib import Path

import pytest

from resdepth import Callback, ResNet, Trainer, seed_everything
from resdepth.data import make_synthetic
from resdepth.recipes import get_recipe

from .crashes import assert_same_run, interrupt_and_resume, whole_run

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


@pytest.fixture(scope="module")
def uninterrupted(tmp_path_factory: pytest.TempPathFactory) -> dict:
    return whole_run(_trainer, tmp_path_factory.mktemp("whole"), EPOCHS)


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
    final = interrupt_and_resume(_trainer, tmp_path, step, EPOCHS, signum)
    assert_same_run(uninterrupted, final)
