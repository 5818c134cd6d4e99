"""Writes the run folders in this directory: small runs made by an earlier release, which
``tests/training/test_old_runs.py`` resumes and loads to check that what users have on
disk keeps working.

They were made by resdepth 0.1.0.dev0 at commit c4bdf2e (before ``training/`` was split
into ``training``, ``artifacts`` and ``tracking``).  Do not run this again to "update"
them: their point is that they come from the code as it was.  Run it only to add a new
set from a new release, into a new folder.

    python tests/training/old_runs/make_old_runs.py tests/training/old_runs/0.1.0.dev0
"""

from __future__ import annotations

import json
import shutil
import sys
from pathlib import Path

import torch

from resdepth import Callback, ResNet, Trainer, seed_everything
from resdepth.data import make_synthetic
from resdepth.recipes import get_recipe

EPOCHS, IMAGES, BATCH, STOP_AFTER = 3, 24, 8, 4  # 3 batches an epoch; stop mid-epoch 2
RECIPES = ("resnet40-ft", "fast", "fast-v2")  # CutMix; lookahead and flips; the EMA


def make_trainer(recipe_name: str, out: Path, callbacks: list[Callback]) -> tuple:
    """The trainer and loaders every run of this folder uses (the test builds the same)."""
    seed_everything(0)
    net = ResNet(layers=(1,), widths=(4,), num_classes=3)
    recipe = get_recipe(recipe_name, batch_size=BATCH, test_batch_size=16)
    trainer = Trainer(net, recipe=recipe, device="cpu", out_dir=out, progress=False,
                      precision="fp32", checkpoint_every=1, callbacks=callbacks)  # fmt: skip
    train, val = trainer.build_loaders(
        make_synthetic(IMAGES, 3, 8), make_synthetic(16, 3, 8, seed=1)
    )
    return trainer, train, val


def main(folder: Path) -> None:
    from resdepth import export_model

    folder.mkdir(parents=True, exist_ok=True)
    for name in RECIPES:
        out = folder / name
        mid = folder / f"{name}-step{STOP_AFTER}.pt"
        saved: dict[str, bytes] = {}

        class Keep(Callback):
            def on_step_end(self, trainer: Trainer, step: int) -> None:
                # last.pt is written after this hook, at the same step: keep the one
                # written after STOP_AFTER, read at the next step.
                if step == STOP_AFTER + 1 and "mid" not in saved:  # noqa: B023 - used at once
                    saved["mid"] = (out / "last.pt").read_bytes()  # noqa: B023

        trainer, train, val = make_trainer(name, out, [Keep()])
        trainer.fit(train, val, epochs=EPOCHS)
        mid.write_bytes(saved["mid"])
        final = {
            "model": trainer.model.state_dict(),
            "history": [dict(row) for row in trainer.history],
        }
        torch.save(final, folder / f"{name}-final.pt")
        export_model(out / "best.pt", folder / f"{name}-model")
        shutil.rmtree(out)  # the checkpoint above and the model folder are what is kept
    (folder / "README.json").write_text(
        json.dumps(
            {
                "made_by": "resdepth 0.1.0.dev0, commit c4bdf2e",
                "torch": torch.__version__,
                "recipes": list(RECIPES),
                "epochs": EPOCHS,
                "stop_after": STOP_AFTER,
            },
            indent=1,
        )
        + "\n"  # fmt: skip
    )


if __name__ == "__main__":
    main(Path(sys.argv[1]))
