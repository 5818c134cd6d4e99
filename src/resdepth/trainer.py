"""The Trainer: carries out a recipe on a model, with checkpoints, exact resume and DDP."""

from __future__ import annotations

import contextlib
import math
import sys
import time
from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import Any

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from . import _distributed as dist
from .checkpoint import (
    load_checkpoint,
    restore_trainer,
    save_checkpoint,
    trainer_state,
    unwrap_model,
)
from .data import Dataset, DeviceLoader
from .history import History
from .recipes import Recipe, get_recipe
from .transforms import soft_target_cross_entropy

__all__ = ["Trainer", "Callback", "NonFiniteLossError", "RunExistsError"]

_PRECISIONS = {"fp32": None, "bf16": torch.bfloat16, "fp16": torch.float16}
Batches = Iterable[tuple[Tensor, Tensor]]


class NonFiniteLossError(RuntimeError):
    """The training loss became NaN or infinite; the message names the epoch and step."""


class RunExistsError(FileExistsError):
    """``out_dir`` already holds a run and ``resume`` was not asked for."""


class Callback:
    """Hooks the Trainer calls; subclass and override the ones you need."""

    def on_fit_start(self, trainer: Trainer) -> None: ...
    def on_epoch_end(self, trainer: Trainer, row: dict[str, Any]) -> None: ...
    def on_fit_end(self, trainer: Trainer, history: History) -> None: ...


def _describe(row: dict[str, Any], epochs: int) -> str:
    return (
        f"epoch {row['epoch']}/{epochs}  "
        f"train loss {row['train_loss']:.4f} acc {row['train_accuracy']:.2f}%  "
        f"test loss {row['test_loss']:.4f} acc {row['test_accuracy']:.2f}%  "
        f"lr {row['learning_rate']:.4g}  {row['epoch_seconds']:.1f}s "
        f"({row['images_per_second']:,.0f} img/s)"
    )


class Trainer:
    """Train a model with a recipe: mixing, schedules, checkpoints, exact resume, DDP.

    Args:
        model: the network (any ``nn.Module`` mapping images to logits).
        recipe: a registered recipe name or a :class:`~resdepth.recipes.Recipe`.
        device: where to train; ``None`` picks CUDA when present.  Under torchrun each
            rank takes ``cuda:LOCAL_RANK`` (NCCL) or stays on the CPU (gloo).
        precision: ``"fp32"``, ``"bf16"`` (autocast) or ``"fp16"`` (autocast and a
            gradient scaler).
        channels_last: keep the model and batches in channels_last memory format.
        compile: wrap the model in ``torch.compile``, and apply the train-time
            augmentation and batch mixing through it too.
        out_dir: where ``history.csv``, ``last.pt`` and ``best.pt`` go (``None``: no files).
        seed: seeds the loaders :meth:`build_loaders` makes and the batch-mixing draws.
        progress: a progress bar per epoch (on a terminal) and a summary line per epoch.
        callbacks: :class:`Callback` objects.
        metadata: saved in checkpoints (the command line records the model name here).

    Examples:
        >>> import torch
        >>> from resdepth import ResNet, Trainer
        >>> from resdepth.data import make_synthetic
        >>> net = ResNet(layers=(1,), widths=(8,), num_classes=4)
        >>> trainer = Trainer(net, recipe="as1", device="cpu", progress=False)
        >>> data = make_synthetic(64, 4, 8), make_synthetic(32, 4, 8, seed=1)
        >>> train, val = trainer.build_loaders(*data)
        >>> history = trainer.fit(train, val, epochs=2)
        >>> len(history), sorted(trainer.evaluate(val))
        (2, ['accuracy', 'loss'])
    """

    def __init__(
        self,
        model: nn.Module,
        recipe: str | Recipe = "as1",
        device: torch.device | str | None = None,
        precision: str = "fp32",
        channels_last: bool = False,
        compile: bool = False,
        out_dir: str | Path | None = None,
        seed: int = 0,
        progress: bool = True,
        callbacks: Sequence[Callback] = (),
        metadata: dict[str, Any] | None = None,
    ) -> None:
        if not isinstance(model, nn.Module):
            raise TypeError(f"model must be an nn.Module, got {type(model).__name__}")
        if precision not in _PRECISIONS:
            raise ValueError(f"precision must be one of {sorted(_PRECISIONS)}, got {precision!r}")
        if isinstance(recipe, str):
            recipe = get_recipe(recipe)
        elif not isinstance(recipe, Recipe):
            raise TypeError(f"recipe must be a name or a Recipe, got {type(recipe).__name__}")
        device = dist.init_from_env(torch.device(device) if device is not None else None)
        if device is None:
            device = torch.device("cuda" if torch.cuda.is_available() else "cpu")
        self.device, self.recipe, self.precision = device, recipe, precision
        self.channels_last, self.seed, self.progress = channels_last, seed, progress
        self.callbacks = list(callbacks)
        self.metadata = dict(metadata or {})
        self.out_dir = Path(out_dir) if out_dir is not None else None
        self.is_main = dist.rank() == 0
        fmt = torch.channels_last if channels_last else torch.preserve_format
        self.model = model.to(device=device, memory_format=fmt)
        self.num_classes = self._infer_classes(model)
        net: nn.Module = self.model
        if dist.is_distributed():
            ids = [device.index] if device.type == "cuda" else None
            net = nn.parallel.DistributedDataParallel(net, device_ids=ids)
        self._ddp = net if dist.is_distributed() else None
        self._net = torch.compile(net) if compile else net
        self.optimizer = recipe.build_optimizer(self.model)
        self.scheduler: Any = None
        self.scaler = torch.amp.GradScaler(device.type, enabled=precision == "fp16")
        self.compile = compile
        self.mixing = recipe.build_mixing(self.num_classes, compile=compile)
        self._mix_gen = torch.Generator(device=device).manual_seed(seed + 1 + 1000 * dist.rank())
        self.history = History()
        self.epoch = 0  # completed epochs

    def _infer_classes(self, model: nn.Module) -> int:
        n = getattr(model, "num_classes", None) or getattr(
            getattr(model, "fc", None), "out_features", None
        )
        if n is None and self.recipe.mixing is not None:
            raise ValueError(
                "cannot tell the model's number of classes for batch mixing; give it num_classes"
            )
        return int(n or 0)

    # ----------------------------------------------------------------- data
    def build_loaders(
        self,
        train: Dataset | tuple[Tensor, Tensor],
        val: Dataset | tuple[Tensor, Tensor] | None = None,
    ) -> tuple[DeviceLoader, DeviceLoader | None]:
        """Device loaders with the recipe's batch sizes and transforms, sharded per rank."""
        val_loader = self._loader(val, train=False) if val is not None else None
        return self._loader(train, train=True), val_loader

    def _loader(self, data: Dataset | tuple[Tensor, Tensor], train: bool) -> DeviceLoader:
        images, labels = (data.images, data.labels) if isinstance(data, Dataset) else data
        r = self.recipe
        return DeviceLoader(
            images,
            labels,
            r.batch_size if train else r.test_batch_size,
            shuffle=train,
            transform=r.build_train_transform(self.compile) if train else r.build_eval_transform(),
            generator=self.seed,
            device=self.device,
            rank=dist.rank(),
            world_size=dist.world_size(),
            channels_last=self.channels_last,
        )

    # ----------------------------------------------------------------- training
    def fit(
        self,
        train: Batches,
        val: Batches | None = None,
        epochs: int | None = None,
        resume: bool | str | Path | None = None,
    ) -> History:
        """Train to the recipe's (or the given) number of epochs, evaluating every epoch.

        Args:
            train: a :class:`~resdepth.data.DeviceLoader` (exact resume) or any
                iterable of ``(images, labels)`` batches, already transformed.
            val: evaluation batches, or ``None``.
            epochs: total epochs; overrides the recipe's, so schedules span this many.
            resume: ``True`` continues from ``out_dir/last.pt``, a path from that file.

        Raises:
            RunExistsError: ``out_dir`` holds a run and ``resume`` is not set.
            NonFiniteLossError: the loss became NaN or infinite (the last good
                checkpoint stays).
        """
        if epochs is not None and epochs != self.recipe.epochs:
            self.recipe = self.recipe.replace(epochs=epochs)
        if self.recipe.monitor and self.recipe.monitor.startswith("test") and val is None:
            raise ValueError(
                f"recipe {self.recipe.name!r} monitors {self.recipe.monitor}: pass val="
            )
        steps = len(train) if hasattr(train, "__len__") else None  # type: ignore[arg-type]
        if self.recipe.scheduler_interval == "batch" and not steps:
            raise ValueError("a per-batch schedule needs train batches with a length")
        self.scheduler = self.recipe.build_scheduler(self.optimizer, steps or 1)
        last = self.out_dir / "last.pt" if self.out_dir else None
        if resume:
            path = Path(resume) if not isinstance(resume, bool) else last
            if path is None:
                raise ValueError("resume=True needs out_dir (or pass a checkpoint path)")
            restore_trainer(self, load_checkpoint(path, map_location=self.device), train)
        elif last is not None and last.exists():
            raise RunExistsError(
                f"{self.out_dir} already holds a run; resume it (resume=True, --resume) "
                "or choose another directory"
            )
        if self.out_dir is not None and self.is_main:
            self.history.to_csv(self.out_dir / "history.csv")
        for cb in self.callbacks:
            cb.on_fit_start(self)
        for epoch in range(self.epoch, self.recipe.epochs):
            row = self._run_epoch(train, val, epoch)
            for cb in self.callbacks:
                cb.on_epoch_end(self, row)
        for cb in self.callbacks:
            cb.on_fit_end(self, self.history)
        return self.history

    def _run_epoch(self, train: Batches, val: Batches | None, epoch: int) -> dict[str, Any]:
        lr = float(self.optimizer.param_groups[0]["lr"])
        start = time.perf_counter()
        train_loss, train_acc, images = self._train_epoch(train, epoch)
        seconds = time.perf_counter() - start
        test = self.evaluate(val) if val is not None else {"loss": math.nan, "accuracy": math.nan}
        row = {
            "epoch": epoch + 1,
            "train_accuracy": train_acc,
            "test_accuracy": test["accuracy"],
            "train_loss": train_loss,
            "test_loss": test["loss"],
            "learning_rate": lr,
            "epoch_seconds": seconds,
            "images_per_second": images / seconds if seconds else math.nan,
        }
        if isinstance(self.scheduler, torch.optim.lr_scheduler.ReduceLROnPlateau):
            self.scheduler.step(row[self.recipe.monitor or "train_loss"])
        elif self.scheduler is not None and self.recipe.scheduler_interval == "epoch":
            self.scheduler.step()
        previous_best = self.history.best("test_accuracy" if val is not None else "train_accuracy")
        self.history.append(row)
        self.epoch = epoch + 1
        self._save(train, row, previous_best, val is not None)
        if self.progress and self.is_main:
            print(_describe(row, self.recipe.epochs), flush=True)
        return row

    def _autocast(self) -> contextlib.AbstractContextManager[Any]:
        dtype = _PRECISIONS[self.precision]
        if dtype is None:
            return contextlib.nullcontext()
        return torch.autocast(self.device.type, dtype=dtype)

    def _train_epoch(self, train: Batches, epoch: int) -> tuple[float, float, int]:
        self._net.train()
        dev = self.device
        # Sums stay on the device: reading them each step would stall the GPU.
        loss_sum = torch.zeros((), device=dev)
        correct = torch.zeros((), device=dev)
        bad_step = torch.full((), -1, dtype=torch.long, device=dev)
        count = 0
        bar = self._progress_bar(train, epoch)
        join = contextlib.nullcontext()
        if self._ddp is not None:
            join = torch.distributed.algorithms.join.Join([self._ddp])
        with join:
            for step, (x, y) in enumerate(train):
                x, y = x.to(dev, non_blocking=True), y.to(dev, non_blocking=True)
                if self.channels_last:
                    x = x.contiguous(memory_format=torch.channels_last)
                target = y
                if self.mixing is not None:
                    x, target = self.mixing(x, y, generator=self._mix_gen)
                with self._autocast():
                    logits = self._net(x)
                loss = self._loss(logits.float(), target)
                self.optimizer.zero_grad(set_to_none=True)
                self.scaler.scale(loss).backward()
                self.scaler.step(self.optimizer)
                self.scaler.update()
                if self.scheduler is not None and self.recipe.scheduler_interval == "batch":
                    self.scheduler.step()
                with torch.no_grad():
                    n = x.shape[0]
                    loss = loss.detach()
                    loss_sum += loss * n
                    pred = logits.argmax(dim=1)
                    # Under mixing the target row is lam * onehot(a) + (1 - lam) * onehot(b), so
                    # reading it at the prediction gives the paper's lambda-weighted accuracy.
                    correct += (
                        (pred == target).sum()
                        if target.dim() == 1
                        else target.gather(1, pred[:, None]).sum()
                    )
                    bad_step = torch.where((bad_step < 0) & ~torch.isfinite(loss), step, bad_step)
                count += n
                if dev.type == "cpu" or (bar is not None and step % 25 == 0):
                    self._check_finite(bad_step, epoch)
                if bar is not None:
                    bar.update(1)
                    if step % 25 == 0:
                        bar.set_postfix(
                            loss=f"{loss_sum.item() / count:.3f}",
                            acc=f"{100 * correct.item() / count:.1f}%",
                        )
        if bar is not None:
            bar.close()
        self._check_finite(bad_step, epoch)
        totals = dist.all_reduce_sum(
            torch.stack([loss_sum, correct, torch.tensor(float(count), device=dev)])
        )
        n = max(float(totals[2]), 1.0)
        return float(totals[0]) / n, 100.0 * float(totals[1]) / n, int(totals[2])

    def _loss(self, logits: Tensor, target: Tensor) -> Tensor:
        if target.dim() == 1:
            return F.cross_entropy(logits, target, label_smoothing=self.recipe.label_smoothing)
        return soft_target_cross_entropy(
            logits, target, label_smoothing=self.recipe.label_smoothing
        )

    @staticmethod
    def _check_finite(bad_step: Tensor, epoch: int) -> None:
        step = int(bad_step)
        if step >= 0:
            raise NonFiniteLossError(
                f"the training loss became non-finite at epoch {epoch + 1}, step {step + 1}; "
                "training stopped and the last good checkpoint was kept"
            )

    def _progress_bar(self, train: Batches, epoch: int) -> Any:
        if not (self.progress and self.is_main and sys.stderr.isatty()):
            return None
        from tqdm.auto import tqdm

        total = len(train) if hasattr(train, "__len__") else None  # type: ignore[arg-type]
        return tqdm(
            total=total, desc=f"epoch {epoch + 1}/{self.recipe.epochs}", unit="batch", leave=False
        )

    # ----------------------------------------------------------------- evaluation
    @torch.no_grad()
    def evaluate(self, data: Batches | Dataset | tuple[Tensor, Tensor]) -> dict[str, float]:
        """Mean loss and accuracy (percent) over ``data``: batches, a Dataset or (images, labels).

        Raw images are normalised with the recipe's evaluation transform first.
        """
        if isinstance(data, (Dataset, tuple)):
            data = self._loader(data, train=False)  # type: ignore[arg-type]
        net = unwrap_model(self._net)
        was_training = net.training
        net.eval()
        sums = torch.zeros(3, device=self.device)
        for x, y in data:  # type: ignore[union-attr]
            x, y = x.to(self.device, non_blocking=True), y.to(self.device, non_blocking=True)
            if self.channels_last:
                x = x.contiguous(memory_format=torch.channels_last)
            with self._autocast():
                logits = net(x).float()
            sums[0] += F.cross_entropy(logits, y, reduction="sum")
            sums[1] += (logits.argmax(dim=1) == y).sum()
            sums[2] += y.shape[0]
        net.train(was_training)
        sums = dist.all_reduce_sum(sums)
        n = max(float(sums[2]), 1.0)
        return {"loss": float(sums[0]) / n, "accuracy": 100.0 * float(sums[1]) / n}

    @torch.no_grad()
    def predict(self, images: Tensor, batch_size: int | None = None, tta: bool = False) -> Tensor:
        """Class labels ``(N,)`` for uint8 images ``(N, C, H, W)``; ``tta`` averages with flips."""
        if not isinstance(images, Tensor) or images.dim() != 4:
            raise ValueError(
                f"images must be a (N, C, H, W) tensor, got {getattr(images, 'shape', images)!r}"
            )
        transform = self.recipe.build_eval_transform()
        net = unwrap_model(self._net)
        was_training = net.training
        net.eval()
        size = batch_size or self.recipe.test_batch_size
        out = []
        for i in range(0, images.shape[0], size):
            x = transform(images[i : i + size].to(self.device))
            if self.channels_last:
                x = x.contiguous(memory_format=torch.channels_last)
            with self._autocast():
                probs = net(x).float().softmax(dim=1)
                if tta:
                    probs = probs + net(x.flip(-1)).float().softmax(dim=1)
            out.append(probs.argmax(dim=1).cpu())
        net.train(was_training)
        return torch.cat(out) if out else torch.empty(0, dtype=torch.long)

    # ----------------------------------------------------------------- checkpoints
    def state_dict(self, train: Batches | None = None) -> dict[str, Any]:
        """Everything a resume needs (see :func:`resdepth.checkpoint.trainer_state`)."""
        return trainer_state(self, train)

    def _save(
        self,
        train: Batches,
        row: dict[str, Any],
        previous_best: dict[str, Any] | None,
        has_val: bool,
    ) -> None:
        if self.out_dir is not None and self.is_main:
            History.append_csv(self.out_dir / "history.csv", row)
            state = self.state_dict(train)
            save_checkpoint(self.out_dir / "last.pt", state)
            metric = "test_accuracy" if has_val else "train_accuracy"
            if previous_best is None or row[metric] > previous_best[metric]:
                save_checkpoint(self.out_dir / "best.pt", state)
        dist.barrier()
