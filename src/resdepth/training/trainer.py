"""The Trainer: carries out a recipe on a model, with checkpoints, exact resume and DDP."""

from __future__ import annotations

import datetime
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import torch
from torch import Tensor, nn

from .._validate import check_unit_range, image_batch, non_negative_float, positive_int
from ..artifacts import CheckpointKeys as Keys
from ..artifacts import History, RunDir, RunMetadata
from ..data import Dataset, DeviceLoader
from ..recipes import Recipe, get_recipe
from . import distributed as dist
from . import resume as resumption
from .averaging import WeightAveraging, inference_module
from .batches import Batches, RecipeData, check_fit_inputs, check_reiterable
from .budget import TimeBudget
from .callbacks import Callback
from .data_init import init_from_data
from .devices import model_num_classes, unwrap_model
from .epoch import check_saveable
from .evaluation import evaluate_batches, predict_images
from .lookahead import Lookahead
from .loop import EpochLoop
from .prepare import PreparedRun, prepare
from .reopen import reopen_arguments
from .run_state import RunState
from .schedule import Schedule
from .settings import ComputeChoice
from .stopping import CheckpointEvery, Pauses, guarded_run

__all__ = ["Trainer"]


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
        autotune: let ``"auto"`` time a short trial on a CPU (cached).
        compile: ``torch.compile`` the model, augmentation and batch mixing.
        out_dir: where ``history.csv``, ``last.pt`` and ``best.pt`` go (``None``: no files).
        seed: seeds the loaders :meth:`build_loaders` makes (shuffling, augmentation
            and batch mixing).  Seed the model's initialisation yourself, before
            building it, with :func:`resdepth.seed_everything`.
        progress: report progress on standard error (a bar on a terminal, else a line
            every ``progress_every`` seconds) and print a summary line per epoch.
        progress_every: seconds between progress lines when standard error is not a
            terminal (a log file, CI, a notebook).
        callbacks: :class:`Callback` objects.
        metadata: what checkpoints record about the run (a
            :class:`~resdepth.artifacts.RunMetadata` or a mapping of its fields); by
            default a ResNet's arguments, so that :meth:`from_checkpoint` and
            ``resdepth eval`` rebuild it, and the run's classes, seed and device.
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
        device = device or torch.device("cuda" if torch.cuda.is_available() else "cpu")
        self.device, self.seed, self.progress = device, seed, progress
        # As requested until training resolves "auto" (a TrainerView reads them).
        self.precision, self.channels_last = self._compute.precision, self._compute.channels_last
        self.progress_every = non_negative_float("progress_every", progress_every)
        self.callbacks = list(callbacks)
        if not isinstance(metadata, RunMetadata):
            metadata = RunMetadata.from_dict(metadata)
        self.metadata = metadata.describing(model).replace(device=str(device), seed=seed)
        self.out_dir = Path(out_dir) if out_dir is not None else None
        self.run_dir = RunDir(self.out_dir) if self.out_dir is not None else None
        self.is_main = dist.rank() == 0
        self.model = model.to(device)
        self.num_classes = model_num_classes(model, num_classes, recipe)
        self.compile = compile
        self._data = RecipeData(self.num_classes, device, compile, seed)
        self.optimizer = recipe.build_optimizer(self.model)
        self.history = History()
        self.scaler = torch.amp.GradScaler(device.type, enabled=False)  # the step's, once prepared
        self._schedule = Schedule(recipe, self.optimizer)
        self.run_state = RunState()  # where the run stands: the loop moves it on
        # Once the precision is resolved (when training starts): the wrapped network,
        # the step, the weight average.
        self._prepared: PreparedRun | None = None
        self._budget: TimeBudget | None = None
        self._started = False  # fit has run (or resumed) on this trainer

    @property
    def recipe(self) -> Recipe:
        """The recipe the run follows; its ``epochs`` is the run's length."""
        return self._schedule.recipe

    @recipe.setter
    def recipe(self, recipe: Recipe) -> None:
        self._schedule.recipe = recipe

    @property
    def scheduler(self) -> Any:
        """The learning-rate scheduler, once training starts (else ``None``)."""
        return self._schedule.scheduler

    @property
    def epoch(self) -> int:
        """Completed epochs (``run_state.epoch``)."""
        return self.run_state.epoch

    @classmethod
    def from_checkpoint(
        cls, path: str | Path, device: torch.device | str | None = None, **kwargs: Any
    ) -> Trainer:
        """A trainer holding the model of anything :func:`~resdepth.load_model` reads,
        with the recipe it was trained with: ready to :meth:`evaluate` and
        :meth:`predict` (it writes no files unless ``out_dir`` is given).

        Raises:
            CheckpointError: as :func:`~resdepth.artifacts.open_model_file`.
        """
        return cls(**reopen_arguments(path, device=device, **kwargs))

    def __repr__(self) -> str:
        name, out = type(unwrap_model(self.model)).__name__, self.out_dir and str(self.out_dir)
        return (f"Trainer({name}, recipe={self.recipe.name!r}, device={self.device}, "
                f"precision={self.precision}, epoch={self.epoch}/{self.recipe.epochs}, "
                f"out_dir={out!r})")  # fmt: skip

    def build_loaders(
        self, train: Any, val: Any = None
    ) -> tuple[DeviceLoader, DeviceLoader | None]:
        """Device loaders with the recipe's batch sizes, transforms and batch mixing,
        sharded per rank, of a :class:`~resdepth.data.Dataset`, ``(images, labels)``
        tensors, or a map-style dataset of ``(image, label)`` items (torchvision's, a
        Hugging Face dataset with a transform), read once into uint8 tensors by
        :func:`~resdepth.data.from_dataset`."""
        val_loader = self._data.loader(val, self.recipe, train=False) if val is not None else None
        train_loader = self._data.loader(train, self.recipe, train=True)
        self.metadata = self.metadata.with_classes(train_loader.classes)
        return train_loader, val_loader

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
                ``DataLoader``, a list): uint8 or float in [0, 1], ``(N, C, H, W)``,
                given the recipe's transform and mixing.  A one-shot iterator is refused
                unless one epoch is left, and a :class:`~resdepth.data.Dataset`: give
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
        train = self._data.batches(train, self.recipe, train=True)
        steps = len(train) if hasattr(train, "__len__") else None  # type: ignore[arg-type]
        run_dir = self.run_dir if self.is_main else None
        # A trainer continuing its own run in memory needs no check; a path names the file.
        if run_dir is not None and not self._started and not isinstance(resume, (str, Path)):
            run_dir.check_can_start(resume=bool(resume))
        guard = guarded_run(run_dir, self.out_dir is not None, self.checkpoint_every, self.device)
        with guard as pauses:
            self._budget = budget  # a resumed run's recorded plan replaces it
            self._start(train, steps or 1, epochs, resume, allow_other_data)
            loop = self._loop(pauses)
            loop.begin(train, val)
            for name, data in given:
                check_reiterable(name, data, self.recipe.epochs - self.epoch)
            for cb in self.callbacks:
                cb.on_fit_start(self)
            while self.epoch < self.recipe.epochs:  # a time budget sets the length in epoch 1
                row = loop.run_epoch(train, val)
                for cb in self.callbacks:
                    cb.on_epoch_end(self, row)
        for cb in self.callbacks:
            cb.on_fit_end(self, self.history)
        return self.history

    def _loop(self, pauses: Pauses | None) -> EpochLoop:
        """This fit's loop, handed the parts it works on."""
        assert self._prepared is not None, "fit prepares the run before its loop"
        return EpochLoop(
            owner=self, run=self.run_state, schedule=self._schedule, prepared=self._prepared,
            model=unwrap_model(self.model), optimizer=self.optimizer, history=self.history,
            device=self.device, callbacks=self.callbacks, evaluate=self.evaluate,
            inference=self._inference, save=self._save, check_saveable=self._check_saveable,
            holds=self._holds, budget=self._budget, pauses=pauses,
            verbose=self.progress and self.is_main, progress_every=self.progress_every,
        )  # fmt: skip

    def _start(
        self, train: Batches, steps: int, epochs: int | None, resume: Any, other: bool
    ) -> None:
        if resume:
            path = resumption.checkpoint_to_resume(resume, self.run_dir)
            state = (self.run_dir or RunDir(path.parent)).load(path, map_location=self.device)
            self._schedule.start(steps, int(state[Keys.RECIPE]["epochs"]))
            data_note = self.load_state_dict(state, train, source=path, allow_other_data=other)
            self.run_state.note = f"resumed from {self.run_state.position()} {data_note}".strip()
        elif not self._started:  # a fresh run: layers fitted on data, then the settings
            self.run_state.add_note(init_from_data(unwrap_model(self.model), train,
                self.recipe.build_eval_transform(), self.seed, self.device))  # fmt: skip
            self._prepare(train)
            self._schedule.start(steps, epochs)
        self._started = True
        total = epochs or self.recipe.epochs
        if total < self.epoch:
            raise ValueError(f"epochs={total} is fewer than the {self.epoch} this run has trained")
        self.run_state.add_note(self._schedule.change_length(steps, total))
        if self.run_dir is not None and self.is_main:
            self.history.to_csv(self.run_dir.history)

    def _prepare(self, train: object, state: dict[str, Any] | None = None) -> PreparedRun:
        """Resolve the precision and memory format and build what depends on them, once."""
        if self._prepared is None:
            self._prepared = prepare(
                self.model, self.optimizer, self.recipe, self.device, self._compute,
                compile=self.compile, num_classes=self.num_classes, train=train, state=state,
            )  # fmt: skip
            self.metadata = self._prepared.describe(self.metadata, train)
            settings = self._prepared.settings
            self.precision, self.channels_last = settings.precision, settings.channels_last
            self.scaler = self._prepared.step.scaler
            if self.progress and self.is_main:
                print(self._prepared.settings.describe(), flush=True)
        return self._prepared

    def _inference(self) -> tuple[nn.Module, str, bool]:
        """The module evaluations use (the weight average, when the recipe keeps one,
        over the recipe's test views), and its precision and memory format."""
        net = self._prepared.net if self._prepared is not None else self.model
        net = inference_module(self.averaging, net, self.recipe.test_views)
        return (net, *self._compute.for_inference())

    @property
    def lookahead(self) -> Lookahead | None:
        """The recipe's lookahead (``lookahead_every``) once training starts, else ``None``."""
        return self._prepared.lookahead if self._prepared is not None else None

    @property
    def averaging(self) -> WeightAveraging | None:
        """The recipe's weight average (``ema_decay``) once training starts, else ``None``."""
        return self._prepared.averaging if self._prepared is not None else None

    def _holds(self) -> str:  # what the run folder holds, for error messages
        return self.run_dir.holds() if self.run_dir else "nothing is saved without out_dir"

    def _check_saveable(self, epoch: int, row: dict[str, Any] | None, has_val: bool) -> None:
        check_saveable(unwrap_model(self.model), epoch, row, has_val, self._holds(), self.optimizer)

    def evaluate(self, data: Batches | Dataset | tuple[Tensor, Tensor]) -> dict[str, float]:
        """Mean loss and accuracy (percent) over ``data``: batches, a Dataset or (images,
        labels); raw images are normalised with the recipe's evaluation transform first,
        and the recipe's ``test_views`` averaged.  Raises ``ValueError`` for no images."""
        data = self._data.batches(data, self.recipe, train=False)
        net, precision, channels_last = self._inference()
        return evaluate_batches(net, data, self.device, precision, channels_last)

    def predict(self, images: Tensor, batch_size: int | None = None, tta: bool = False) -> Tensor:
        """Class labels ``(N,)`` for images ``(N, C, H, W)``, uint8 or floating point in
        [0, 1]; ``tta`` averages with flipped images."""
        check_unit_range(image_batch(images))
        size = self.recipe.test_batch_size if batch_size is None else batch_size
        net, precision, channels_last = self._inference()
        return predict_images(
            net, images, self.recipe.build_eval_transform(), positive_int("batch_size", size),
            self.device, precision, channels_last, tta,
        )  # fmt: skip

    def state_dict(self, train: Batches | None = None) -> dict[str, Any]:
        """Everything a resume needs, gathered from the parts that own it: model
        (without compile/DDP prefixes), optimizer, scheduler, scaler, history, where the
        run stands, the recipe, what it trains on, and per rank the ``train`` loader's
        position and random streams (:func:`~resdepth.training.resume.checkpoint_state`).
        Under torchrun every rank must call it."""
        return resumption.checkpoint_state(
            train, run=self.run_state, model=unwrap_model(self.model), optimizer=self.optimizer,
            schedule=self._schedule, history=self.history, metadata=self.metadata,
            scaler=self.scaler, settings=(self.precision, self.channels_last),
            prepared=self._prepared, budget=self._budget, device=self.device,
        )  # fmt: skip

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
        allowed, budget = resumption.restore_checkpoint(
            state, train, source, allow_other_data, run=self.run_state,
            model=unwrap_model(self.model), optimizer=self.optimizer, schedule=self._schedule,
            history=self.history, device=self.device,
            prepared=self._prepare(train, state),  # the recorded precision, before comparing
        )  # fmt: skip
        self._budget = budget or self._budget
        if self.run_dir is not None:
            self.run_dir.saved = self.run_state.position()
        return "; ".join(f"on other data ({d})" for d in allowed)

    def _save(self, train: Batches, best: bool) -> None:  # the loop's `save`
        if self.run_dir is None:
            return
        state = self.state_dict(train)
        if self.is_main:
            self.run_dir.write(state, self.history, best=best and self.run_state.progress is None)
        self.run_dir.saved = self.run_state.position()
        self.checkpoint_every.saved(self.run_state.steps_run)
        dist.barrier()
