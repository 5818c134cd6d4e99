"""The Trainer: carries out a recipe on a model, with checkpoints, exact resume and DDP."""

from __future__ import annotations

import contextlib
import datetime
from collections.abc import Iterable, Mapping, Sequence
from pathlib import Path
from typing import Any

import torch
from torch import Tensor, nn

from .._validate import check_unit_range, image_batch, non_negative_float, positive_int
from ..data import Dataset, DeviceLoader
from ..recipes import Recipe, get_recipe
from . import distributed as dist
from . import resume as resumption
from .averaging import WeightAveraging, inference_module
from .batches import check_reiterable, recipe_batches, recipe_loader
from .budget import TimeBudget
from .callbacks import Callback
from .data_init import init_from_data
from .epoch import EpochProgress, check_fit_inputs, check_saveable, describe_position
from .evaluation import evaluate_batches, model_num_classes, predict_images, unwrap_model
from .history import History
from .loading import trainer_arguments
from .lookahead import Lookahead
from .loop import run_epoch
from .metadata import RunMetadata
from .progress import ProgressReport
from .run_dir import RunDir
from .settings import ComputeChoice, prepare
from .step import TrainStep
from .stopping import CheckpointEvery, Pauses, StopSignals

__all__ = ["Trainer"]

Batches = Iterable[tuple[Tensor, Tensor]]


class Trainer:
    """Train a model with a recipe: mixing, schedules, checkpoints, exact resume, DDP.

    Args:
        model: the network (any ``nn.Module`` mapping images to logits).
        recipe: a registered recipe name or a :class:`~resdepth.recipes.Recipe`.
        device: where to train; ``None`` picks CUDA when present.  Under torchrun each
            rank takes ``cuda:LOCAL_RANK`` (NCCL) or stays on the CPU (gloo).
        precision: ``"auto"`` (the fastest correct one for the device, chosen when
            training starts: :mod:`~resdepth.training.settings`), ``"fp32"`` (for
            bit-for-bit work), ``"bf16"`` (autocast) or ``"fp16"`` (autocast and a
            gradient scaler).  A resumed run keeps the precision it recorded.
        channels_last: ``"auto"`` (chosen with the precision), ``True`` or ``False``.
        autotune: let ``"auto"`` time a short trial on a CPU (cached), else follow
            the CPU's capabilities alone.
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
        metadata: what checkpoints record about the run (a
            :class:`~resdepth.training.RunMetadata`, or a mapping of its fields).  By
            default the model is recorded by its ``ResNet(...)`` arguments when it is
            a ResNet, so that :meth:`from_checkpoint` and ``resdepth eval`` rebuild it;
            the class names, seed and device are filled in from the run.
        num_classes: the model's number of outputs, for models that do not say
            (resdepth's have ``num_classes``; others are read from an ``fc`` layer).
            Batch mixing needs it.
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
        precision: str = "auto",
        channels_last: bool | str = "auto",
        compile: bool = False,
        out_dir: str | Path | None = None,
        seed: int = 0,
        progress: bool = True,
        progress_every: float = 30.0,
        callbacks: Sequence[Callback] = (),
        metadata: RunMetadata | Mapping[str, Any] | None = None,
        checkpoint_every: int | str | datetime.timedelta | None = "5min",
        num_classes: int | None = None,
        autotune: bool = True,
    ) -> None:
        if not isinstance(model, nn.Module):
            raise TypeError(f"model must be an nn.Module, got {type(model).__name__}")
        self._compute = ComputeChoice(precision, channels_last, autotune)
        if isinstance(recipe, str):
            recipe = get_recipe(recipe)
        elif not isinstance(recipe, Recipe):
            raise TypeError(f"recipe must be a name or a Recipe, got {type(recipe).__name__}")
        self.checkpoint_every = CheckpointEvery.parse(checkpoint_every)
        device = dist.init_from_env(torch.device(device) if device is not None else None)
        if device is None:
            device = torch.device("cuda" if torch.cuda.is_available() else "cpu")
        self.device, self.recipe, self.seed, self.progress = device, recipe, seed, progress
        self.precision, self.channels_last = self._compute.precision, self._compute.channels_last
        self.progress_every = non_negative_float("progress_every", progress_every)
        self._report: ProgressReport | None = None
        self.callbacks = list(callbacks)
        if not isinstance(metadata, RunMetadata):
            metadata = RunMetadata.from_dict(metadata)
        self.metadata = metadata.describing(model).replace(device=str(device), seed=seed)
        self.out_dir = Path(out_dir) if out_dir is not None else None
        self._run_dir = RunDir(self.out_dir) if self.out_dir is not None else None
        self.is_main = dist.rank() == 0
        self.model = model.to(device)
        self.num_classes = model_num_classes(model, num_classes, recipe)
        # Wrapped (memory format, DDP, compile) once the precision is resolved: _prepare.
        self._net: nn.Module = self.model
        self._ddp: nn.parallel.DistributedDataParallel | None = None
        self._step: TrainStep | None = None
        self._averaging: WeightAveraging | None = None  # the recipe's ema_decay, once prepared
        self._budget: TimeBudget | None = None
        self.compile = compile
        self.optimizer = recipe.build_optimizer(self.model)
        self.scheduler: Any = None
        self.scaler = torch.amp.GradScaler(device.type, enabled=False)
        self.history = History()
        self.epoch = 0  # completed epochs
        self._progress: EpochProgress | None = None  # the epoch under way, or a resumed one
        self._steps_run = 0  # batches trained in this run, across epochs and resumes
        self._note = ""  # goes into the next history row
        self._started = False  # fit has run (or resumed) on this trainer

    @classmethod
    def from_checkpoint(
        cls, path: str | Path, device: torch.device | str | None = None, **kwargs: Any
    ) -> Trainer:
        """A trainer holding the model of a checkpoint (or of one of the paper's model
        files), rebuilt from what it records, with the recipe it was trained with: ready
        to :meth:`evaluate` and :meth:`predict` (it writes no files unless ``out_dir``
        is given).

        Raises:
            CheckpointError: the file is not a resdepth checkpoint nor a paper model, or
                records no way to rebuild its model (build it yourself and call
                ``load_state_dict``).
        """
        return cls(**trainer_arguments(path, device=device, **kwargs))

    def __repr__(self) -> str:
        return (
            f"Trainer({type(unwrap_model(self.model)).__name__}, recipe={self.recipe.name!r}, "
            f"device={self.device}, precision={self.precision}, epoch={self.epoch}/"
            f"{self.recipe.epochs}, out_dir={str(self.out_dir) if self.out_dir else None!r})"
        )

    def build_loaders(
        self, train: Any, val: Any = None
    ) -> tuple[DeviceLoader, DeviceLoader | None]:
        """Device loaders with the recipe's batch sizes, transforms and batch mixing,
        sharded per rank, of a :class:`~resdepth.data.Dataset`, ``(images, labels)``
        tensors, or a map-style dataset of ``(image, label)`` items (torchvision's, a
        Hugging Face dataset with a transform), read once into uint8 tensors by
        :func:`~resdepth.data.from_dataset`."""
        val_loader = self._loader(val, train=False) if val is not None else None
        return self._loader(train, train=True), val_loader

    def _loader(self, data: Any, train: bool) -> DeviceLoader:
        # The memory format is the step's to set: it is chosen when training starts.
        loader = recipe_loader(data, self.recipe, self.num_classes, self.device, train=train,
                               compile=self.compile, seed=self.seed)  # fmt: skip
        if train:
            self.metadata = self.metadata.with_classes(loader.classes)
        return loader

    def _batches(self, data: Batches, train: bool) -> Batches:
        """A user's batches with the recipe's transform (and mixing, in training)."""
        if isinstance(data, DeviceLoader):
            return data
        return recipe_batches(data, self.recipe, self.num_classes, self.device, train=train,
                              compile=self.compile, seed=self.seed)  # fmt: skip

    def fit(
        self,
        train: Batches,
        val: Batches | None = None,
        epochs: int | None = None,
        resume: bool | str | Path | None = None,
        allow_other_data: bool = False,
        time_budget: str | datetime.timedelta | None = None,
    ) -> History:
        """Train to the recipe's (or the given) number of epochs, evaluating every epoch
        (every ``eval_every`` epochs, and after the last, where the recipe says so).

        Args:
            train: a :class:`~resdepth.data.DeviceLoader` (exact resume, mid-epoch
                checkpoints), or any re-iterable of raw ``(images, labels)`` batches (a
                ``DataLoader``, a list): uint8 or float in [0, 1], ``(N, C, H, W)``, on
                any device, given the recipe's transform and mixing as its own loaders
                give them.  A one-shot iterator is refused unless one epoch is left, and
                a :class:`~resdepth.data.Dataset` (images one by one): give
                ``*trainer.build_loaders(train, val)``.
            val: evaluation batches (likewise), or ``None``.
            epochs: total epochs; schedules span this many.  On resume, ``None`` keeps
                the checkpoint's total, and another value re-plans the schedule as if
                the run had been planned that long from the start.
            resume: ``True`` continues from ``out_dir/last.pt``, a path from that file.
            allow_other_data: resume on images other than the run's (of the same size
                and classes), noting it in the history; refused otherwise.
            time_budget: plan the epochs to end within this wall time from this call
                (``"30min"``, a ``timedelta``), evaluations included (:class:`TimeBudget
                <resdepth.training.TimeBudget>`); not with ``epochs``; a resume keeps it.

        Raises:
            RunExistsError: ``out_dir`` holds a run and ``resume`` is not set.
            RunLockedError: another live run is writing to ``out_dir``.
            ResumeMismatchError: the checkpoint was made with other settings (each is named).
            NonFiniteLossError: the loss, a metric or the weights became NaN or
                infinite (nothing of it is saved).
            RunInterrupted: SIGINT or SIGTERM stopped the run after saving where it stood.
        """
        check_fit_inputs(self.recipe, train, val, epochs)
        budget = TimeBudget.parse(time_budget, epochs) if time_budget is not None else None
        given = (("train", train), ("val", val))
        train = self._batches(train, train=True)
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
            self._budget = budget  # a resumed run's recorded plan replaces it
            self._start(train, steps or 1, epochs, resume, allow_other_data)
            if self._budget is not None:
                self._budget.start(self, train, val)
            for name, data in given:
                check_reiterable(name, data, self.recipe.epochs - self.epoch)
            self._report = ProgressReport(self.progress and self.is_main, self.recipe.epochs,
                                          self.device.type, self.progress_every)  # fmt: skip
            for cb in self.callbacks:
                cb.on_fit_start(self)
            while self.epoch < self.recipe.epochs:  # a time budget sets the length in epoch 1
                row = run_epoch(self, train, val, self.epoch, pauses)
                for cb in self.callbacks:
                    cb.on_epoch_end(self, row)
        for cb in self.callbacks:
            cb.on_fit_end(self, self.history)
        return self.history

    def _start(
        self, train: Batches, steps: int, epochs: int | None, resume: Any, other: bool
    ) -> None:
        if resume:
            path = resumption.checkpoint_to_resume(resume, self._run_dir)
            state = (self._run_dir or RunDir(path.parent)).load(path, map_location=self.device)
            self.recipe = self.recipe.replace(epochs=int(state["recipe"]["epochs"]))
            self.scheduler = self.recipe.build_scheduler(self.optimizer, steps)
            data_note = self.load_state_dict(state, train, source=path, allow_other_data=other)
            where = describe_position(self.epoch, self._progress)
            self._note = f"resumed from {where} {data_note}".strip()
        elif not self._started:  # a fresh run: layers fitted on data, then the settings
            self._note = init_from_data(unwrap_model(self.model), train,
                self.recipe.build_eval_transform(), self.seed, self.device)  # fmt: skip
            prepare(self, train)
            self.recipe = self.recipe.replace(epochs=epochs or self.recipe.epochs)
            self.scheduler = self.recipe.build_scheduler(self.optimizer, steps)
        self._started = True
        total = epochs or self.recipe.epochs
        if total < self.epoch:
            raise ValueError(f"epochs={total} is fewer than the {self.epoch} this run has trained")
        if total != self.recipe.epochs:
            note = f"length {self.recipe.epochs} -> {total} epochs"
            self.recipe, self.scheduler = resumption.change_length(self.recipe, self.optimizer,
                                                        self.scheduler, steps, total)  # fmt: skip
            self._note = f"{self._note}; {note}" if self._note else note
        if self._run_dir is not None and self.is_main:
            self.history.to_csv(self._run_dir.history)

    @property
    def lookahead(self) -> Lookahead | None:
        """The recipe's lookahead (``lookahead_every``) once training starts, else ``None``."""
        return self._step.lookahead if self._step is not None else None

    def _holds(self) -> str:
        return self._run_dir.holds() if self._run_dir else "nothing is saved without out_dir"

    def _check_saveable(self, epoch: int, row: dict[str, Any] | None, has_val: bool) -> None:
        check_saveable(unwrap_model(self.model), epoch, row, has_val, self._holds(), self.optimizer)

    def evaluate(self, data: Batches | Dataset | tuple[Tensor, Tensor]) -> dict[str, float]:
        """Mean loss and accuracy (percent) over ``data``: batches, a Dataset or (images,
        labels); raw images are normalised with the recipe's evaluation transform first,
        and the recipe's ``test_views`` averaged.  Raises ``ValueError`` for no images."""
        if isinstance(data, (Dataset, tuple)):
            data = self._loader(data, train=False)
        data = self._batches(data, train=False)
        net = inference_module(self)  # the weight average, when the recipe keeps one
        return evaluate_batches(net, data, self.device, *self._compute.for_inference())

    def predict(self, images: Tensor, batch_size: int | None = None, tta: bool = False) -> Tensor:
        """Class labels ``(N,)`` for images ``(N, C, H, W)``, uint8 or floating point in
        [0, 1]; ``tta`` averages with flipped images."""
        check_unit_range(image_batch(images))
        size = self.recipe.test_batch_size if batch_size is None else batch_size
        return predict_images(
            inference_module(self), images, self.recipe.build_eval_transform(),
            positive_int("batch_size", size), self.device, *self._compute.for_inference(), tta,
        )  # fmt: skip

    def _run_description(self, train: object) -> dict[str, Any]:
        model = unwrap_model(self.model)
        return resumption.describe_run(model, self.recipe, train, self.precision,
                                       dist.world_size(), self.channels_last)  # fmt: skip

    def state_dict(self, train: Batches | None = None) -> dict[str, Any]:
        """Everything a resume needs, gathered from the parts that own it.

        Model (without compile/DDP prefixes), optimizer, scheduler, gradient scaler,
        history, the epoch and batch, the recipe, what the run trains on, and per rank
        the ``train`` loader's position and random streams, the torch generators and
        (under torchrun) the model's buffers and the epoch's running sums; the weight
        average, lookahead and time budget's plan where there are any.  Under
        torchrun every rank must call it.
        """
        return resumption.trainer_state(self, train)

    def load_state_dict(
        self,
        state: dict[str, Any],
        train: Batches | None = None,
        source: object = "checkpoint",
        allow_other_data: bool = False,
    ) -> str:
        """Put the trainer (and its ``train`` loader) back where :meth:`state_dict` found it.

        Returns:
            What ``allow_other_data`` let through, in words ("" if nothing).

        Raises:
            ResumeMismatchError: the state was made with another recipe (its length
                aside), model, data, batch size, precision or number of ranks; the
                message names each difference with its old and new value.
        """
        prepare(self, train, state)  # the recorded precision, before comparing settings
        allowed = resumption.check_resumable(
            state, self._run_description(train), train, source, allow_other_data
        )
        unwrap_model(self.model).load_state_dict(state["model"])
        self.optimizer.load_state_dict(state["optimizer"])
        if self.scheduler is not None and state["scheduler"] is not None:
            self.scheduler.load_state_dict(state["scheduler"])
        self.scaler.load_state_dict(state["scaler"])
        self.history.load_state_dict(state["history"])
        if self._averaging is not None:
            self._averaging.load_state_dict(state["averaged_model"])
        self._budget = TimeBudget.from_state(state.get("time_budget")) or self._budget
        progress = resumption.restore_rank_state(self, state, train)
        self.epoch, self._steps_run = int(state["epoch"]), int(state["steps_run"])
        self._progress = EpochProgress.from_state(progress, self.device) if progress else None
        if self._run_dir is not None:
            self._run_dir.saved = describe_position(self.epoch, self._progress)
        return "; ".join(f"on other data ({d})" for d in allowed)

    def _save(self, train: Batches, best: bool) -> None:
        if self._run_dir is None:
            return
        state = self.state_dict(train)
        if self.is_main:
            self._run_dir.write(state, self.history, best=best and self._progress is None)
        self._run_dir.saved = describe_position(self.epoch, self._progress)
        self.checkpoint_every.saved(self._steps_run)
        dist.barrier()
