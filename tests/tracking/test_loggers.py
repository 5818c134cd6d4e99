from __future__ import annotations

import json
import math
from pathlib import Path

import pytest
import torch

from resdepth import ResNet, Trainer
from resdepth.data import make_synthetic
from resdepth.recipes import get_recipe
from resdepth.tracking import JsonLinesLogger, TensorBoardLogger


def _fit(callback: object, recipe: str = "fast") -> Trainer:
    torch.manual_seed(0)
    net = ResNet(layers=(1,), widths=(4,), num_classes=4)
    # Evaluated every epoch, so that each epoch's line has test figures.
    settings = get_recipe(recipe, batch_size=16, epochs=3, eval_every=1)
    trainer = Trainer(net, recipe=settings, device="cpu",
                      progress=False, callbacks=[callback])  # fmt: skip
    data = make_synthetic(64, 4, 8), make_synthetic(32, 4, 8, seed=1)
    trainer.fit(*trainer.build_loaders(*data))
    return trainer


def test_json_lines_hold_every_epoch_and_each_batchs_rate(tmp_path: Path) -> None:
    trainer = _fit(JsonLinesLogger(tmp_path / "log.jsonl"))
    records = [json.loads(line) for line in (tmp_path / "log.jsonl").read_text().splitlines()]
    epochs = [r for r in records if r["kind"] == "epoch"]
    steps = [r for r in records if r["kind"] == "step"]
    assert [r["epoch"] for r in epochs] == [1, 2, 3] and len(steps) == 12  # 4 batches x 3
    for record, row in zip(epochs, trainer.history, strict=True):
        assert record["test_accuracy"] == pytest.approx(row["test_accuracy"])
    rates = [r["learning_rate"] for r in steps]
    assert max(rates) == pytest.approx(trainer.recipe.lr) and rates[-1] < rates[len(rates) // 2]
    # A per-epoch schedule writes no step lines.
    _fit(JsonLinesLogger(tmp_path / "epoch.jsonl"), recipe="as1")
    lines = (tmp_path / "epoch.jsonl").read_text().splitlines()
    kinds = {json.loads(line)["kind"] for line in lines}
    assert kinds == {"epoch"}


def test_tensorboard_scalars_are_the_history(tmp_path: Path) -> None:
    pytest.importorskip("tensorboard")
    from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

    trainer = _fit(TensorBoardLogger(tmp_path / "tb"))
    events = EventAccumulator(str(tmp_path / "tb"))
    events.Reload()
    accuracy = [e.value for e in events.Scalars("test/accuracy")]
    expected = trainer.history.column("test_accuracy")
    assert accuracy == pytest.approx(expected, abs=1e-4)
    assert [e.step for e in events.Scalars("train/loss")] == [1, 2, 3]
    assert len(events.Scalars("learning_rate/step")) == 12
    assert all(math.isfinite(e.value) for e in events.Scalars("epoch_seconds"))
