"""The Trainer: carries out a recipe on a model, with checkpoints, exact resume and DDP."""

from __future__ import annotations

import contextlib
import datetime
import math
import time
from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import Any, cast

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from . import _distributed as dist
from ._epoch import (
    EpochProgress,
    NonFiniteLossError,
    check_fit_inputs,
    check_loss,
    check_saveable,
    describe_row,
)
from ._evaluation import PRECISIONS, autocast, evaluate_batches, predict_images, to_device
from ._progress import ProgressReport
from ._resume import ResumeMismatchError, describe_run, replan_schedule, run_differences
from ._run_dir import RunDirectory, RunExistsError, RunLockedError
from ._stopping import CheckpointEvery, Pauses, RunInterrupted, StopSignals
from ._validate import check_unit_range, choice, image_batch
from .checkpoint import load_checkpoint
from .data import Dataset, DeviceLoader
from .history import History
from .recipes import Recipe, get_recipe

__all__ = [
    "Callback",
    "NonFiniteLossError",
    "ResumeMismatchError",
    "RunExistsError",
    "RunInterrupted",
    "RunLockedError",
    "Trainer",
    "unwrap_model",
]

Batches = Iterable[tuple[Tensor, Tensor]]


class Callback:
    """Hooks the Trainer calls; subclass and override the ones you need."""

    def on_fit_start(self, trainer: Trainer) -> None: ...
    def on_step_end(self, trainer: Trainer, step: int) -> None:
        """After each training batch; ``step`` counts the run's batches from 1.  Keep it
        cheap: reading a tensor here would wait for the GPU on every batch."""

    def on_epoch_end(self, trainer: Trainer, row: dict[str, Any]) -> None: ...
    def on_fit_end(self, trainer: Trainer, history: History) -> None: ...


def unwrap_model(model: nn.Module) -> nn.Module:
    """The plain module inside ``torch.compile`` and DDP wrappers (plain state-dict keys)."""
    model = getattr(model, "_orig_mod", model)
    if isinstance(model, nn.parallel.DistributedDataParallel):
        model = model.module
    return getattr(model, "_orig_mod", model)


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
        seed: seeds the loaders :meth:`build_loaders` makes (shuffling, augmentation
            and batch mixing).  Seed the model's initialisation yourself, before
            building it, with :func:`resdepth.seed_everything`.
        progress: report progress on standard error (a bar on a terminal, else a
            plain line every ``progress_every`` seconds, and the expected duration
            after the first batches) and print a summary line per epoch.
        progress_every: seconds between progress lines when standard error is not a
            terminal (a log file, CI, a notebook).
        callbacks: :class:`Callback` objects.
        metadata: saved in checkpoints (the command line records the model name here).
        checkpoint_every: also write ``last.pt`` during an epoch: every so many
            batches (an ``int``), or after a time (``"5min"``, ``"300s"``, a
            ``timedelta``); ``None`` or ``"off"`` for epoch ends only.  Needs a
            :class:`~resdepth.data.DeviceLoader` for the training data, whose
            position is what makes a mid-epoch resume exact.

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
        progress_every: float = 30.0,
        callbacks: Sequence[Callback] = (),
        metadata: dict[str, Any] | None = None,
        checkpoint_every: int | str | datetime.timedelta | None = "5min",
    ) -> None:
        if not isinstance(model, nn.Module):
            raise TypeError(f"model must be an nn.Module, got {type(model).__name__}")
        choice("precision", precision, sorted(PRECISIONS))
        if isinstance(recipe, str):
            recipe = get_recipe(recipe)
        elif not isinstance(recipe, Recipe):
            raise TypeError(f"recipe must be a name or a Recipe, got {type(recipe).__name__}")
        self.checkpoint_every = CheckpointEvery.parse(checkpoint_every)
        device = dist.init_from_env(torch.device(device) if device is not None else None)
        if device is None:
            device = torch.device("cuda" if torch.cuda.is_available() else "cpu")
        self.device, self.recipe, self.precision = device, recipe, precision
        self.channels_last, self.seed, self.progress = channels_last, seed, progress
        if (
            isinstance(progress_every, bool)
            or not isinstance(progress_every, (int, float))
            or not (progress_every >= 0)
        ):
            raise ValueError(f"progress_every must be a number of seconds, got {progress_every!r}")
        self.progress_every = float(progress_every)
        self._report: ProgressReport | None = None
        self.callbacks = list(callbacks)
        self.metadata = dict(metadata or {})
        self.out_dir = Path(out_dir) if out_dir is not None else None
        self._run_dir = RunDirectory(self.out_dir) if self.out_dir is not None else None
        self.is_main = dist.rank() == 0
        fmt = torch.channels_last if channels_last else torch.preserve_format
        self.model = model.to(device).to(memory_format=fmt)
        self.num_classes = self._infer_classes(model)
        net: nn.Module = self.model
        if dist.is_distributed():
            ids = [device.index] if device.type == "cuda" else None
            net = nn.parallel.DistributedDataParallel(net, device_ids=ids)
        self._ddp = net if isinstance(net, nn.parallel.DistributedDataParallel) else None
        # torch.compile returns a module that forwards to the compiled one.
        self._net: nn.Module = cast(nn.Module, torch.compile(net)) if compile else net
        self.compile = compile
        self.optimizer = recipe.build_optimizer(self.model)
        self.scheduler: Any = None
        self.scaler = torch.amp.GradScaler(device.type, enabled=precision == "fp16")
        self.history = History()
        self.epoch = 0  # completed epochs
        self._progress: EpochProgress | None = None  # the epoch under way, or a resumed one
        self._steps_run = 0  # batches trained in this run, across epochs and resumes
        self._note = ""  # goes into the next history row
        self._started = False  # fit has run (or resumed) on this trainer

    def _infer_classes(self, model: nn.Module) -> int:
        n = getattr(model, "num_classes", None) or getattr(
            getattr(model, "fc", None), "out_features", None
        )
        if n is None and self.recipe.mixing is not None:
            raise ValueError(
                "cannot tell the model's number of classes for batch mixing; give it num_classes"
            )
        return int(n or 0)

    def __repr__(self) -> str:
        return (
            f"Trainer({type(unwrap_model(self.model)).__name__}, recipe={self.recipe.name!r}, "
            f"device={self.device}, precision={self.precision}, epoch={self.epoch}/"
            f"{self.recipe.epochs}, out_dir={str(self.out_dir) if self.out_dir else None!r})"
        )

    # ----------------------------------------------------------------- data
    def build_loaders(
        self,
        train: Dataset | tuple[Tensor, Tensor],
        val: Dataset | tuple[Tensor, Tensor] | None = None,
    ) -> tuple[DeviceLoader, DeviceLoader | None]:
        """Device loaders with the recipe's batch sizes, transforms and batch mixing,
        sharded per rank."""
        val_loader = self._loader(val, train=False) if val is not None else None
        return self._loader(train, train=True), val_loader

    def _loader(self, data: Dataset | tuple[Tensor, Tensor], train: bool) -> DeviceLoader:
        classes = data.classes if isinstance(data, Dataset) else None
        images, labels = (data.images, data.labels) if isinstance(data, Dataset) else data
        r = self.recipe
        return DeviceLoader(
            images, labels, r.batch_size if train else r.test_batch_size, shuffle=train,
            transform=r.build_train_transform(self.compile) if train else r.build_eval_transform(),
            mixing=r.build_mixing(self.num_classes, compile=self.compile) if train else None,
            generator=self.seed, device=self.device, rank=dist.rank(),
            world_size=dist.world_size(), channels_last=self.channels_last, classes=classes,
        )  # fmt: skip

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
            train: a :class:`~resdepth.data.DeviceLoader` (exact resume, mid-epoch
                checkpoints) or any iterable of ``(images, targets)`` batches, already
                transformed and mixed.
            val: evaluation batches, or ``None``.
            epochs: total epochs; schedules span this many.  On resume, ``None`` keeps
                the checkpoint's total, and another value re-plans the schedule as if
                the run had been planned that long from the start.
            resume: ``True`` continues from ``out_dir/last.pt``, a path from that file.

        Raises:
            RunExistsError: ``out_dir`` holds a run and ``resume`` is not set.
            RunLockedError: another live run is writing to ``out_dir``.
            ResumeMismatchError: the checkpoint was made with other settings (each is named).
            NonFiniteLossError: the loss, a metric or the weights became NaN or
                infinite (nothing of it is saved).
            RunInterrupted: SIGINT or SIGTERM stopped the run after saving where it stood.
        """
        check_fit_inputs(self.recipe, train, val, epochs)
        steps = len(train) if hasattr(train, "__len__") else None  # type: ignore[arg-type]
        run_dir = self._run_dir if self.is_main else None
        # A trainer continuing its own run in memory needs no check; a path names the file.
        if run_dir is not None and not self._started and not isinstance(resume, (str, Path)):
            run_dir.check_can_start(resume=bool(resume))
        with contextlib.ExitStack() as stack:
            if run_dir is not None:
                stack.enter_context(run_dir.active())
            dist.barrier()
            pauses = None
            if self.out_dir is not None:
                signals = stack.enter_context(StopSignals())
                pauses = Pauses(self.checkpoint_every, signals, self.device)
            self._start(train, steps or 1, epochs, resume)
            self._report = ProgressReport(self.progress and self.is_main, self.recipe.epochs,
                                          self.device.type, self.progress_every)  # fmt: skip
            for cb in self.callbacks:
                cb.on_fit_start(self)
            for epoch in range(self.epoch, self.recipe.epochs):
                row = self._run_epoch(train, val, epoch, pauses)
                for cb in self.callbacks:
                    cb.on_epoch_end(self, row)
        for cb in self.callbacks:
            cb.on_fit_end(self, self.history)
        return self.history

    def _start(self, train: Batches, steps: int, epochs: int | None, resume: Any) -> None:
        if resume:
            path = Path(resume) if not isinstance(resume, bool) else None
            path = path or (self._run_dir.last if self._run_dir else None)
            if path is None:
                raise ValueError("resume=True needs out_dir (or pass a checkpoint path)")
            state = load_checkpoint(path, map_location=self.device)
            self.recipe = self.recipe.replace(epochs=int(state["recipe"]["epochs"]))
            self.scheduler = self.recipe.build_scheduler(self.optimizer, steps)
            self.load_state_dict(state, train, source=path)
            self._note = f"resumed from {self._position()}"
        elif not self._started:  # a fresh run
            self.recipe = self.recipe.replace(epochs=epochs or self.recipe.epochs)
            self.scheduler = self.recipe.build_scheduler(self.optimizer, steps)
        self._started = True
        total = epochs or self.recipe.epochs
        if total < self.epoch:
            raise ValueError(f"epochs={total} is fewer than the {self.epoch} this run has trained")
        if total != self.recipe.epochs:
            old = self.recipe.epochs
            self.recipe = self.recipe.replace(epochs=total)
            if not self.recipe.steps_on_metric:
                taken = self.scheduler.last_epoch if self.scheduler is not None else 0
                self.scheduler = replan_schedule(self.recipe, self.optimizer, steps, taken)
            self._note = f"{self._note + '; ' if self._note else ''}length {old} -> {total} epochs"
        if self._run_dir is not None and self.is_main:
            self.history.to_csv(self._run_dir.history)

    def _run_epoch(
        self, train: Batches, val: Batches | None, epoch: int, pauses: Pauses | None
    ) -> dict[str, Any]:
        if self._progress is None:
            lr = float(self.optimizer.param_groups[0]["lr"])
            self._progress = EpochProgress.begin(epoch, lr, self.device)
        progress = self._progress
        start = time.perf_counter()
        self._train_epoch(train, progress, pauses)
        progress.seconds += time.perf_counter() - start
        check_loss(progress, self._holds())
        count = torch.tensor(float(progress.count), device=self.device)
        totals = dist.all_reduce_sum(torch.stack([progress.loss_sum, progress.correct, count]))
        images = int(totals[2])
        if images == 0:
            raise ValueError(f"train yielded no batches in epoch {epoch + 1}")
        test = self.evaluate(val) if val is not None else {"loss": math.nan, "accuracy": math.nan}
        row = {
            "epoch": epoch + 1,
            "train_accuracy": 100.0 * float(totals[1]) / images,
            "test_accuracy": test["accuracy"],
            "train_loss": float(totals[0]) / images,
            "test_loss": test["loss"],
            "learning_rate": progress.lr,
            "epoch_seconds": progress.seconds,
            "images_per_second": images / progress.seconds if progress.seconds else math.nan,
            "note": self._note,
        }
        self._progress = None
        self._check_saveable(epoch, row, val is not None)
        if self.recipe.steps_on_metric:
            self.scheduler.step(row[self.recipe.monitor or "test_accuracy"])
        elif self.scheduler is not None and self.recipe.scheduler_interval == "epoch":
            self.scheduler.step()
        metric = "test_accuracy" if val is not None else "train_accuracy"
        previous_best = self.history.best(metric)
        self.history.append(row)
        self.epoch, self._note = epoch + 1, ""
        self._save(train, best=previous_best is None or row[metric] > previous_best[metric])
        if self.progress and self.is_main:
            print(describe_row(row, self.recipe.epochs), flush=True)
        if pauses is not None and self.epoch < self.recipe.epochs:
            signum = pauses.stop_requested()
            if signum:
                raise RunInterrupted.after(signum, f"after epoch {self.epoch}", self._holds())
        return row

    def _train_epoch(self, train: Batches, progress: EpochProgress, pauses: Pauses | None) -> None:
        self._net.train()
        report = self._report
        if report is not None:
            report.start_epoch(progress, len(train) if hasattr(train, "__len__") else None)  # type: ignore[arg-type]
        join: contextlib.AbstractContextManager[Any] = contextlib.nullcontext()
        min_steps = len(train) if hasattr(train, "__len__") else 0  # type: ignore[arg-type]
        if self._ddp is not None:
            join = torch.distributed.algorithms.join.Join([self._ddp])
            # Ranks may hold one batch more or less; they only agree where all take part.
            min_steps = -int(
                dist.all_reduce_max(torch.tensor(-float(min_steps), device=self.device))
            )
        with join:
            for step, (x, y) in enumerate(train, start=progress.step):
                self._train_step(x, y, progress, step)
                progress.step, self._steps_run = step + 1, self._steps_run + 1
                for cb in self.callbacks:
                    cb.on_step_end(self, self._steps_run)
                if self.device.type == "cpu":  # free there; on a GPU, at the epoch's end
                    check_loss(progress, self._holds())
                if report is not None:
                    report.step(progress)
                if pauses is None:
                    continue
                exact = isinstance(train, DeviceLoader)
                save, halt = pauses.poll(self._steps_run, progress.step, min_steps, exact)
                if save or (halt and exact):  # a stop saves where it stands, if it can
                    check_loss(progress, self._holds())
                    self._check_saveable(progress.epoch, None, False)
                    self._save(train, best=False)
                if halt:
                    where = f"in epoch {progress.epoch + 1}, after batch {progress.step}"
                    raise RunInterrupted.after(pauses.signals.requested, where, self._holds())
        if report is not None:
            report.end_epoch()

    def _train_step(self, x: Tensor, target: Tensor, progress: EpochProgress, step: int) -> None:
        x = to_device(x, self.device, self.channels_last)
        target = target.to(self.device, non_blocking=True)
        with autocast(self.device, self.precision):
            logits = self._net(x)
        loss = self._loss(logits.float(), target)
        self.optimizer.zero_grad(set_to_none=True)
        self.scaler.scale(loss).backward()  # type: ignore[no-untyped-call]  # torch's typing
        self.scaler.step(self.optimizer)
        self.scaler.update()
        if self.scheduler is not None and self.recipe.scheduler_interval == "batch":
            self.scheduler.step()
        progress.record(loss, logits, target, step)

    def _loss(self, logits: Tensor, target: Tensor) -> Tensor:
        # Class indices (B,) or soft targets (B, K) from mixing: cross_entropy takes both,
        # and for CutMix's targets it is the paper's lam * CE(y_a) + (1 - lam) * CE(y_b).
        return F.cross_entropy(logits, target, label_smoothing=self.recipe.label_smoothing)

    # ----------------------------------------------------------------- faults
    def _holds(self) -> str:
        return self._run_dir.holds() if self._run_dir else "nothing is saved without out_dir"

    def _check_saveable(self, epoch: int, row: dict[str, Any] | None, has_val: bool) -> None:
        check_saveable(unwrap_model(self.model), epoch, row, has_val, self._holds())

    # ----------------------------------------------------------------- evaluation
    def evaluate(self, data: Batches | Dataset | tuple[Tensor, Tensor]) -> dict[str, float]:
        """Mean loss and accuracy (percent) over ``data``: batches, a Dataset or (images, labels).

        Raw images are normalised with the recipe's evaluation transform first.

        Raises:
            ValueError: if ``data`` holds no images.
        """
        if isinstance(data, (Dataset, tuple)):
            data = self._loader(data, train=False)
        net = unwrap_model(self._net)
        return evaluate_batches(net, data, self.device, self.precision, self.channels_last)

    def predict(self, images: Tensor, batch_size: int | None = None, tta: bool = False) -> Tensor:
        """Class labels ``(N,)`` for images ``(N, C, H, W)``, uint8 or floating point in
        [0, 1]; ``tta`` averages with flipped images."""
        check_unit_range(image_batch(images))
        return predict_images(
            unwrap_model(self._net), images, self.recipe.build_eval_transform(),
            batch_size or self.recipe.test_batch_size, self.device, self.precision,
            self.channels_last, tta,
        )  # fmt: skip

    # ----------------------------------------------------------------- state
    def _run_description(self, train: object) -> dict[str, Any]:
        model = unwrap_model(self.model)
        return describe_run(model, self.recipe, train, self.precision, dist.world_size())

    def state_dict(self, train: Batches | None = None) -> dict[str, Any]:
        """Everything a resume needs, gathered from the parts that own it.

        Model (without compile/DDP prefixes), optimizer, scheduler, gradient scaler,
        history, the epoch and the batch within it, the full recipe, what the run
        trains on, and per rank the ``train`` loader's position and random streams
        and the torch generators.  Under torchrun every rank must call it.
        """
        cuda = torch.cuda.get_rng_state(self.device) if self.device.type == "cuda" else None
        rank_state = {
            "loader": train.state_dict() if isinstance(train, DeviceLoader) else None,
            "rng": {"torch": torch.get_rng_state(), "cuda": cuda},
        }
        return {
            "epoch": self.epoch,
            "progress": self._progress.state_dict() if self._progress is not None else None,
            "steps_run": self._steps_run,
            "model": unwrap_model(self.model).state_dict(),
            "optimizer": self.optimizer.state_dict(),
            "scheduler": self.scheduler.state_dict() if self.scheduler is not None else None,
            "scaler": self.scaler.state_dict(),
            "history": self.history.state_dict(),
            "recipe": self.recipe.to_dict(),
            "run": self._run_description(train),
            "ranks": dist.all_gather_objects(rank_state),
            "precision": self.precision,
            "metadata": self.metadata,
        }

    def load_state_dict(
        self, state: dict[str, Any], train: Batches | None = None, source: object = "checkpoint"
    ) -> None:
        """Put the trainer (and its ``train`` loader) back where :meth:`state_dict` found it.

        Raises:
            ResumeMismatchError: the state was made with another recipe (its length
                aside), model, data, batch size, precision or number of ranks; the
                message names each difference with its old and new value.
        """
        differences = run_differences(state["run"], self._run_description(train))
        if state["progress"] is not None and not isinstance(train, DeviceLoader):
            differences.append("a mid-epoch checkpoint resumes only with a DeviceLoader")
        if differences:
            raise ResumeMismatchError(
                f"cannot resume {source} with other settings ({'; '.join(differences)}); "
                "resume with the run's own settings, or start a new run in another directory"
            )
        unwrap_model(self.model).load_state_dict(state["model"])
        self.optimizer.load_state_dict(state["optimizer"])
        if self.scheduler is not None and state["scheduler"] is not None:
            self.scheduler.load_state_dict(state["scheduler"])
        self.scaler.load_state_dict(state["scaler"])
        self.history.load_state_dict(state["history"])
        mine = state["ranks"][dist.rank()]
        if isinstance(train, DeviceLoader) and mine["loader"] is not None:
            train.load_state_dict(mine["loader"])
        torch.set_rng_state(mine["rng"]["torch"].cpu())
        if mine["rng"]["cuda"] is not None and self.device.type == "cuda":
            torch.cuda.set_rng_state(mine["rng"]["cuda"].cpu(), self.device)
        self.epoch, self._steps_run = int(state["epoch"]), int(state["steps_run"])
        progress = state["progress"]
        self._progress = EpochProgress.from_state(progress, self.device) if progress else None
        if self._run_dir is not None:
            self._run_dir.saved = self._position()

    def _position(self) -> str:
        p = self._progress
        return (
            f"the end of epoch {self.epoch}"
            if p is None
            else f"epoch {p.epoch + 1} up to batch {p.step}"
        )

    def _save(self, train: Batches, best: bool) -> None:
        if self._run_dir is None:
            return
        state = self.state_dict(train)
        if self.is_main:
            self._run_dir.write(state, self.history, best=best and self._progress is None)
        self._run_dir.saved = self._position()
        self.checkpoint_every.saved(self._steps_run)
        dist.barrier()
