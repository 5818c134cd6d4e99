"""Training: the :class:`Trainer` and what only training uses.

The Trainer holds one small object per concern and gathers their states for a
checkpoint: the optimisation step (:mod:`~resdepth.training.step`), the epoch loop
(:mod:`~resdepth.training.loop`), the run folder (:class:`RunDir`), what a
checkpoint says about its run (:class:`RunMetadata`), the history
(:class:`History`), the choice of precision and memory format
(:mod:`~resdepth.training.settings`), the weight average
(:class:`WeightAveraging`), the lookahead (:class:`Lookahead`), layers fitted on
data when a run starts (:mod:`~resdepth.training.data_init`), a time budget
(:class:`TimeBudget`), progress, signals and mid-epoch checkpoints, and torchrun.
"""

from .averaging import WeightAveraging
from .budget import TimeBudget
from .callbacks import Callback
from .checkpoint import FORMAT, load_checkpoint, save_checkpoint
from .data_init import init_from_data, set_epoch
from .evaluation import evaluate_batches, predict_images, unwrap_model
from .export import export_model
from .history import COLUMNS, PAPER_COLUMNS, History
from .loading import (
    checkpoint_from_paper,
    load_eval_transform,
    load_model,
    model_from_state,
    read_model_file,
)
from .loggers import JsonLinesLogger, TensorBoardLogger
from .lookahead import Lookahead
from .metadata import RunMetadata, resnet_config
from .mlflow_logger import MlflowLogger, default_artifact_location
from .model_folder import check_model_bounds, read_model_folder
from .resume import mapping_differences
from .run_dir import RunDir, StudyDir
from .settings import ComputeSettings, DeviceCapabilities, resolve_settings
from .stopping import CheckpointEvery
from .trainer import Trainer

__all__ = [
    "COLUMNS",
    "FORMAT",
    "PAPER_COLUMNS",
    "Callback",
    "CheckpointEvery",
    "ComputeSettings",
    "DeviceCapabilities",
    "History",
    "JsonLinesLogger",
    "Lookahead",
    "MlflowLogger",
    "RunDir",
    "RunMetadata",
    "StudyDir",
    "TensorBoardLogger",
    "TimeBudget",
    "Trainer",
    "WeightAveraging",
    "evaluate_batches",
    "default_artifact_location",
    "export_model",
    "init_from_data",
    "check_model_bounds",
    "read_model_folder",
    "checkpoint_from_paper",
    "load_checkpoint",
    "load_eval_transform",
    "load_model",
    "mapping_differences",
    "model_from_state",
    "predict_images",
    "read_model_file",
    "resnet_config",
    "resolve_settings",
    "save_checkpoint",
    "set_epoch",
    "unwrap_model",
]
