"""What an earlier release wrote still works: its checkpoints resume to the run it would
have finished, and its model folders load (the files are in ``old_runs/``, made by
``old_runs/make_old_runs.py`` with the code as it was)."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest
import torch

from resdepth import load_model
from resdepth.artifacts import load_eval_transform

from .old_runs.make_old_runs import EPOCHS, RECIPES, STOP_AFTER, make_trainer

OLD = Path(__file__).parent / "old_runs" / "0.1.0.dev0"


def test_the_old_runs_are_there() -> None:
    made = json.loads((OLD / "README.json").read_text())
    assert made["recipes"] == list(RECIPES) and made["stop_after"] == STOP_AFTER


@pytest.mark.parametrize("recipe", RECIPES)
def test_an_old_mid_epoch_checkpoint_resumes_to_the_old_runs_end(
    recipe: str, tmp_path: Path
) -> None:
    checkpoint = tmp_path / "old.pt"
    shutil.copy(OLD / f"{recipe}-step{STOP_AFTER}.pt", checkpoint)
    trainer, train, val = make_trainer(recipe, tmp_path / "run", [])
    trainer.fit(train, val, epochs=EPOCHS, resume=checkpoint)
    expected = torch.load(OLD / f"{recipe}-final.pt", weights_only=True)
    # The old run's arithmetic was another machine's: equal up to float rounding, where
    # a resume from the wrong batch, random stream or optimizer state is far off.
    for key, old in expected["model"].items():
        new = trainer.model.state_dict()[key]
        assert torch.allclose(new.float(), old.float(), rtol=1e-4, atol=1e-5), key
    rows = list(trainer.history)
    assert [r["epoch"] for r in rows] == [r["epoch"] for r in expected["history"]]
    for new_row, old_row in zip(rows, expected["history"], strict=True):
        assert new_row["train_loss"] == pytest.approx(old_row["train_loss"], rel=1e-4)
        assert new_row["test_accuracy"] == pytest.approx(
            old_row["test_accuracy"], abs=1e-3, nan_ok=True
        )
    assert "resumed from epoch 2 up to batch 1" in rows[1]["note"]


@pytest.mark.parametrize("recipe", RECIPES)
def test_an_old_model_folder_and_checkpoint_load(recipe: str) -> None:
    folder = OLD / f"{recipe}-model"
    model = load_model(folder)
    transform = load_eval_transform(folder)
    images = torch.randint(0, 256, (4, 3, 8, 8), dtype=torch.uint8)
    with torch.no_grad():
        logits = model.eval()(transform(images))
    assert logits.shape == (4, 3) and torch.isfinite(logits).all()
    from_checkpoint = load_model(OLD / f"{recipe}-step{STOP_AFTER}.pt")
    assert sum(p.numel() for p in from_checkpoint.parameters()) == sum(
        p.numel() for p in model.parameters()
    )
