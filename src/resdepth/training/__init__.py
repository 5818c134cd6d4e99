"""Training: the :class:`Trainer` and the concerns of its loop.

The Trainer holds one small object per concern and gathers their states for a
checkpoint: where the run stands (:class:`RunState`), the recipe and its schedule
for the run's length (:class:`Schedule`), the optimisation step
(:mod:`~resdepth.training.step`), the epoch loop (:mod:`~resdepth.training.loop`),
the choice of precision and memory format (:mod:`~resdepth.training.settings`), the
weight average (:class:`WeightAveraging`), the lookahead (:class:`Lookahead`),
layers fitted on data when a run starts (:mod:`~resdepth.training.data_init`), a
time budget (:class:`TimeBudget`), progress, signals and mid-epoch checkpoints, and
torchrun.  What a run writes, and how it is read back, is :mod:`resdepth.artifacts`;
the loggers are :mod:`resdepth.tracking`.
"""

from __future__ import annotations

import importlib
import warnings
from typing import Any

from .averaging import WeightAveraging
from .budget import TimeBudget
from .callbacks import Callback, TrainerView
from .data_init import init_from_data, set_epoch
from .devices import unwrap_model
from .evaluation import evaluate_batches, predict_images
from .lookahead import Lookahead
from .resume import mapping_differences
from .run_state import RunState
from .schedule import Schedule, current_learning_rate
from .settings import ComputeSettings, DeviceCapabilities, resolve_settings
from .stopping import CheckpointEvery
from .trainer import Trainer

__all__ = [
    "Callback",
    "CheckpointEvery",
    "ComputeSettings",
    "DeviceCapabilities",
    "Lookahead",
    "RunState",
    "Schedule",
    "TimeBudget",
    "Trainer",
    "TrainerView",
    "WeightAveraging",
    "current_learning_rate",
    "evaluate_batches",
    "init_from_data",
    "mapping_differences",
    "predict_images",
    "resolve_settings",
    "set_epoch",
    "unwrap_model",
]

# Names that lived here before the run's files and the loggers became packages of their
# own: they keep working for one release, with a warning naming where they are now.
_MOVED = {
    **dict.fromkeys(
        (
            "COLUMNS",
            "FORMAT",
            "PAPER_COLUMNS",
            "History",
            "RunDir",
            "RunMetadata",
            "check_model_bounds",
            "checkpoint_from_paper",
            "export_model",
            "load_checkpoint",
            "load_eval_transform",
            "load_model",
            "model_from_state",
            "read_model_file",
            "read_model_folder",
            "resnet_config",
            "save_checkpoint",
        ),
        "resdepth.artifacts",
    ),  # fmt: skip
    **dict.fromkeys(
        ("JsonLinesLogger", "MlflowLogger", "TensorBoardLogger", "default_artifact_location"),
        "resdepth.tracking",
    ),
    "StudyDir": "resdepth.study",
}


def __getattr__(name: str) -> Any:
    home = _MOVED.get(name)
    if home is None:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    warnings.warn(
        f"resdepth.training.{name} moved to {home}.{name}; import it from there "
        "(the old path goes away in the next release)",
        DeprecationWarning,
        stacklevel=2,
    )
    return getattr(importlib.import_module(home), name)
