"""A small training run in its own process, for the kill, resume and torchrun tests.

python child.py OUT EPOCHS [--kill-after-epoch K] [--kill-during-save K] [--resume]
"""

from __future__ import annotations

import argparse
import json
import os
import signal
from pathlib import Path

import torch

import resdepth.checkpoint as checkpoint_module
from resdepth import Callback, ResNet, Trainer
from resdepth.data import make_synthetic
from resdepth.recipes import get_recipe


class KillAfterEpoch(Callback):
    def __init__(self, epoch: int) -> None:
        self.epoch = epoch

    def on_epoch_end(self, trainer: Trainer, row: dict) -> None:
        if row["epoch"] == self.epoch:
            os.kill(os.getpid(), signal.SIGKILL)


def kill_during_save(epoch: int) -> None:
    """Make the save of epoch `epoch` write half a file and then die mid-write."""
    real_save = torch.save

    def partial_save(obj: dict, f: object) -> None:
        if isinstance(obj, dict) and obj.get("epoch") == epoch:
            import io

            buffer = io.BytesIO()
            real_save(obj, buffer)
            data = buffer.getvalue()
            f.write(data[: len(data) // 2])  # type: ignore[attr-defined]
            f.flush()  # type: ignore[attr-defined]
            os.kill(os.getpid(), signal.SIGKILL)
        real_save(obj, f)

    checkpoint_module.torch.save = partial_save  # type: ignore[assignment]


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("out")
    parser.add_argument("epochs", type=int)
    parser.add_argument("--kill-after-epoch", type=int, default=None)
    parser.add_argument("--kill-during-save", type=int, default=None)
    parser.add_argument("--resume", action="store_true")
    args = parser.parse_args()
    torch.set_num_threads(1)
    torch.manual_seed(0)
    callbacks = [KillAfterEpoch(args.kill_after_epoch)] if args.kill_after_epoch else []
    if args.kill_during_save:
        kill_during_save(args.kill_during_save)
    # Every random part at work: shuffling, crop, flip, affine and CutMix.
    recipe = get_recipe("resnet40-ft", batch_size=32, test_batch_size=64, lr=0.05)
    model = ResNet(layers=(1, 1), widths=(8, 16), num_classes=4)
    trainer = Trainer(model, recipe=recipe, device="cpu", out_dir=args.out, progress=False,
                      callbacks=callbacks)  # fmt: skip
    train, val = trainer.build_loaders(
        make_synthetic(160, 4, 12, seed=0), make_synthetic(64, 4, 12, seed=1)
    )
    history = trainer.fit(train, val, epochs=args.epochs, resume=args.resume)
    result = {"rank": int(os.environ.get("RANK", "0")), "history": history.rows,
              "eval": trainer.evaluate(val), "loader_samples": train.num_samples}  # fmt: skip
    Path(args.out, f"result-rank{result['rank']}.json").write_text(json.dumps(result))


if __name__ == "__main__":
    main()
