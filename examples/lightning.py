"""Train a resdepth model with PyTorch Lightning, taking the recipe's parts.

    python -m pip install lightning
    python examples/lightning.py --data cifar10-sample --smoke
    python examples/lightning.py --data cifar10 --recipe resnet40-ft --model resnet40

A LightningModule built from resdepth's parts: the model, the recipe's transforms
(applied on the device to uint8 batches in ``on_after_batch_transfer``), its batch
mixing, loss, optimiser and scheduler (stepped per ``"step"`` or per ``"epoch"`` as
the recipe says, with ``monitor`` for a plateau schedule).  Lightning logs
``metrics.csv`` and its checkpoints under --out.  Lightning is not a dependency of
resdepth: without it the script says so and exits.
"""

from __future__ import annotations

import importlib
import math
import sys
from pathlib import Path
from types import ModuleType
from typing import Any

import torch
import torch.nn.functional as F
from _shared import SMOKE, load_splits, parse, parser
from torch import Tensor, nn
from torch.utils.data import DataLoader, TensorDataset

from resdepth import get_model, seed_everything
from resdepth.recipes import Recipe, get_recipe


def _import_lightning() -> ModuleType:
    """``lightning.pytorch``, else ``pytorch_lightning``, else exit with one line.

    This file is itself named ``lightning.py``: its folder leaves the search path
    while Lightning is imported, or ``import lightning`` would find this script.
    """
    here = Path(__file__).resolve().parent
    saved = sys.path[:]
    sys.path[:] = [p for p in sys.path if Path(p or ".").resolve() != here]
    try:
        for name in ("lightning.pytorch", "pytorch_lightning"):
            try:
                return importlib.import_module(name)
            except ModuleNotFoundError:
                continue
    finally:
        sys.path[:] = saved
    sys.exit("error: this example needs Lightning: python -m pip install lightning")


pl = _import_lightning()


class RecipeModule(pl.LightningModule):  # type: ignore[misc]
    """``model`` trained as ``recipe`` says, on batches of uint8 images and class indices.

    The logged names are the history's (``train_loss``, ``train_accuracy``,
    ``test_loss``, ``test_accuracy``), so a recipe's ``monitor`` names one of them.
    """

    def __init__(self, model: nn.Module, recipe: Recipe, num_classes: int, seed: int = 0) -> None:
        super().__init__()
        self.model, self.recipe, self.seed = model, recipe, seed
        self.augment = recipe.build_train_transform()
        self.to_float = recipe.build_eval_transform()
        self.mixing = recipe.build_mixing(num_classes)
        self.generator: torch.Generator | None = None

    def forward(self, x: Tensor) -> Tensor:
        return self.model(x)  # type: ignore[no-any-return]

    def on_fit_start(self) -> None:
        # Every augmentation and mixing draw, on the device the batches arrive on.
        self.generator = torch.Generator(device=self.device).manual_seed(self.seed)

    def on_after_batch_transfer(self, batch: Any, dataloader_idx: int) -> tuple[Tensor, Tensor]:
        images, labels = batch
        if not self.trainer.training:
            return self.to_float(images), labels
        x = self.augment(images, generator=self.generator)
        if self.mixing is not None:
            return self.mixing(x, labels, generator=self.generator)  # (B, K) soft targets
        return x, labels

    def training_step(self, batch: tuple[Tensor, Tensor], batch_idx: int) -> Tensor:
        x, targets = batch
        logits = self(x)
        loss = F.cross_entropy(logits, targets, label_smoothing=self.recipe.label_smoothing)
        pred = logits.argmax(1)
        # Under mixing, the soft target read at the prediction: lambda-weighted accuracy.
        hit = targets.gather(1, pred[:, None]) if targets.dim() == 2 else pred == targets
        self.log("train_loss", loss, on_step=False, on_epoch=True, batch_size=len(x))
        self.log("train_accuracy", 100 * hit.float().mean(), on_step=False, on_epoch=True,
                 batch_size=len(x))  # fmt: skip
        return loss

    def validation_step(self, batch: tuple[Tensor, Tensor], batch_idx: int) -> None:
        x, labels = batch
        logits = self(x)
        accuracy = 100 * (logits.argmax(1) == labels).float().mean()
        self.log("test_loss", F.cross_entropy(logits, labels), batch_size=len(x))
        self.log("test_accuracy", accuracy, prog_bar=True, batch_size=len(x))

    def configure_optimizers(self) -> Any:
        optimizer = self.recipe.build_optimizer(self.model)
        epochs = self.trainer.max_epochs
        steps_per_epoch = max(1, math.ceil(self.trainer.estimated_stepping_batches / epochs))
        scheduler = self.recipe.build_scheduler(optimizer, steps_per_epoch=steps_per_epoch)
        if scheduler is None:  # a constant learning rate
            return optimizer
        config = {
            "scheduler": scheduler,
            "interval": "step" if self.recipe.scheduler_interval == "batch" else "epoch",
        }
        if self.recipe.steps_on_metric:  # ReduceLROnPlateau steps on a logged metric
            config["monitor"] = self.recipe.monitor
        return {"optimizer": optimizer, "lr_scheduler": config}


def _accelerator(device: str | None) -> tuple[str, Any]:
    """--device as Lightning's ``accelerator`` and ``devices``."""
    if device is None:
        return "auto", "auto"
    d = torch.device(device)
    if d.type == "cuda":
        return "gpu", [d.index] if d.index is not None else 1
    return d.type, 1


def main() -> None:
    p = parser(__doc__.splitlines()[0], "runs/lightning")
    p.add_argument("--model", default="resnet10", help="a registered model (resdepth models)")
    p.add_argument("--recipe", default="resnet40-ft", help="a registered recipe")
    args = parse(p)
    train, test = load_splits(args)
    overrides: dict[str, Any] = {"batch_size": SMOKE["batch_size"]} if args.smoke else {}
    recipe = get_recipe(args.recipe, **overrides)
    epochs = SMOKE["epochs"] if args.smoke else (args.epochs or recipe.epochs)
    recipe = recipe.replace(epochs=epochs)  # the schedule spans the epochs actually run

    seed_everything(0)  # the same initial weights on every run of the script
    model = get_model(args.model, num_classes=len(train.classes))
    module = RecipeModule(model, recipe, num_classes=len(train.classes))
    shuffle = torch.Generator().manual_seed(0)
    train_loader = DataLoader(
        TensorDataset(train.images, train.labels),
        batch_size=recipe.batch_size,
        shuffle=True,
        generator=shuffle,
    )
    test_loader = DataLoader(TensorDataset(test.images, test.labels),
                             batch_size=recipe.test_batch_size)  # fmt: skip

    accelerator, devices = _accelerator(args.device)
    logger = importlib.import_module(f"{pl.__name__}.loggers").CSVLogger(args.out, name="")
    trainer = pl.Trainer(max_epochs=epochs, accelerator=accelerator, devices=devices,
                         default_root_dir=args.out, logger=logger,
                         enable_progress_bar=sys.stderr.isatty(),
                         log_every_n_steps=min(50, len(train_loader)))  # fmt: skip
    print(f"== {args.model} with {args.recipe} ({recipe.summary()}) on {train.name} -> {args.out}")
    trainer.fit(module, train_loader, test_loader)
    metrics = {k: float(v) for k, v in trainer.callback_metrics.items()}
    print(", ".join(f"{k} {v:.4f}" for k, v in sorted(metrics.items())))
    print(f"wrote {Path(logger.log_dir) / 'metrics.csv'}")


if __name__ == "__main__":
    main()
