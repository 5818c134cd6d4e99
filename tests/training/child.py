"""A small training run in its own process, for the kill, resume and torchrun tests.

python child.py OUT EPOCHS [--resume] [--kill-after-epoch K] [--kill-during-save K]
                           [--kill-at-step K] [--term-at-step K] [--only-rank R]
                           [--checkpoint-every N] [--train-size N] [--ema]
                           [--time-budget DURATION]  (then EPOCHS is ignored)
                           [--lookahead]
                           [--mlflow TRACKING_URI]

Steps count the training batches this process runs (from 1), across epochs. Under
torchrun, --only-rank R sends the --kill-at-step or --term-at-step signal to rank R only.
"""

from __future__ import annotations

import argparse
import json
import os
import signal
from pathlib import Path

import torch
from torch import nn

from resdepth import Callback, ResNet, RunInterrupted, Trainer, seed_everything
from resdepth.data import make_synthetic
from resdepth.recipes import get_recipe
from resdepth.tracking import MlflowLogger


class KillAfterEpoch(Callback):
    def __init__(self, epoch: int) -> None:
        self.epoch = epoch

    def on_epoch_end(self, trainer: Trainer, row: dict) -> None:
        if row["epoch"] == self.epoch:
            os.kill(os.getpid(), signal.SIGKILL)


def signal_at_step(model: nn.Module, step: int, signum: int) -> None:
    """Send this process `signum` at the start of the model's `step`-th training forward
    (a hook: the model and its state dict stay as they are)."""
    calls = [0]

    def hook(module: nn.Module, inputs: object) -> None:
        if module.training:
            calls[0] += 1
            if calls[0] == step:
                os.kill(os.getpid(), signum)

    model.register_forward_pre_hook(hook)


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

    torch.save = partial_save  # type: ignore[assignment]


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("out")
    parser.add_argument("epochs", type=int)
    parser.add_argument("--kill-after-epoch", type=int, default=None)
    parser.add_argument("--kill-during-save", type=int, default=None)
    parser.add_argument("--kill-at-step", type=int, default=None)
    parser.add_argument("--term-at-step", type=int, default=None)
    parser.add_argument("--only-rank", type=int, default=None,
                        help="under torchrun, signal this rank only")  # fmt: skip
    parser.add_argument("--checkpoint-every", type=int, default=None)
    parser.add_argument("--train-size", type=int, default=160)
    parser.add_argument("--resume", action="store_true")
    parser.add_argument("--ema", action="store_true", help="a weight average, clipping")
    parser.add_argument("--time-budget", default=None, help="plan the epochs to this")
    parser.add_argument("--lookahead", action="store_true",
                        help="lookahead every 2 steps and alternating flip")  # fmt: skip
    parser.add_argument("--mlflow", default=None, help="track the run in this MLflow store")
    args = parser.parse_args()
    torch.set_num_threads(1)
    seed_everything(0)
    callbacks = [KillAfterEpoch(args.kill_after_epoch)] if args.kill_after_epoch else []
    if args.mlflow:
        callbacks.append(MlflowLogger(args.mlflow, experiment="torchrun"))
    if args.kill_during_save:
        kill_during_save(args.kill_during_save)
    # Every random part at work: shuffling, crop, flip, affine and CutMix.
    recipe = get_recipe("resnet40-ft", batch_size=32, test_batch_size=64, lr=0.05)
    if args.ema:
        recipe = recipe.replace(ema_decay=0.9, clip_grad_norm=1.0)
    if args.lookahead:
        recipe = recipe.replace(lookahead_every=2, alternating_flip=True)
    model = ResNet(layers=(1, 1), widths=(8, 16), num_classes=4)
    signalled = args.only_rank in (None, int(os.environ.get("RANK", "0")))
    if args.kill_at_step and signalled:
        signal_at_step(model, args.kill_at_step, signal.SIGKILL)
    if args.term_at_step and signalled:
        signal_at_step(model, args.term_at_step, signal.SIGTERM)
    trainer = Trainer(model, recipe=recipe, device="cpu", out_dir=args.out, progress=False,
                      callbacks=callbacks, checkpoint_every=args.checkpoint_every)  # fmt: skip
    train, val = trainer.build_loaders(
        make_synthetic(args.train_size, 4, 12, seed=0), make_synthetic(64, 4, 12, seed=1)
    )
    try:
        epochs = None if args.time_budget else args.epochs
        history = trainer.fit(train, val, epochs=epochs, resume=args.resume,
                              time_budget=args.time_budget)  # fmt: skip
    except RunInterrupted as stopped:
        print(stopped)
        raise SystemExit(128 + stopped.signal) from None
    moments = [t for state in trainer.optimizer.state.values() for t in state.values()
               if isinstance(t, torch.Tensor)]  # fmt: skip
    result = {"rank": int(os.environ.get("RANK", "0")), "history": history.rows,
              "eval": trainer.evaluate(val), "loader_samples": train.num_samples,
              "optimizer_sum": float(sum(t.double().sum() for t in moments)),
              "batches": len(train)}  # fmt: skip
    averaged = trainer.state_dict(train).get("averaged_model")
    if averaged is not None:  # this rank's own average, summed exactly
        result["averaged"] = {k: float(v.double().sum()) for k, v in averaged["model"].items()}
    Path(args.out, f"result-rank{result['rank']}.json").write_text(json.dumps(result))


if __name__ == "__main__":
    main()
