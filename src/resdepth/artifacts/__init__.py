"""What a run leaves behind, and how it is read back.

A run folder (:class:`RunDir`: ``history.csv``, ``last.pt``, ``best.pt``, the lock),
its checkpoints (:func:`save_checkpoint`, :func:`load_checkpoint`: checksummed, read
without unpickling code), what a checkpoint says about its run (:class:`RunMetadata`),
the per-epoch :class:`History`, and the model folder a run exports for inference
(:func:`export_model`, :func:`read_model_folder`), with the readers that take any of
them back: :func:`load_model` and :func:`load_eval_transform`.  Nothing here imports
the training loop: the same files are read by ``resdepth eval``, ``torch.hub`` and a
user's own code.
"""

from .checkpoint import (
    FORMAT,
    CheckpointKeys,
    inference_weights,
    load_checkpoint,
    recorded_compute,
    save_checkpoint,
)
from .export import export_model
from .history import COLUMNS, PAPER_COLUMNS, History
from .loading import (
    SavedModel,
    checkpoint_from_paper,
    load_eval_transform,
    load_model,
    model_from_state,
    open_model_file,
    read_model_file,
)
from .metadata import RunMetadata, resnet_config
from .model_folder import check_model_bounds, read_model_folder
from .run_dir import RunDir

__all__ = [
    "COLUMNS",
    "FORMAT",
    "CheckpointKeys",
    "PAPER_COLUMNS",
    "History",
    "RunDir",
    "RunMetadata",
    "SavedModel",
    "check_model_bounds",
    "checkpoint_from_paper",
    "export_model",
    "inference_weights",
    "load_checkpoint",
    "load_eval_transform",
    "load_model",
    "model_from_state",
    "open_model_file",
    "read_model_file",
    "read_model_folder",
    "recorded_compute",
    "resnet_config",
    "save_checkpoint",
]
