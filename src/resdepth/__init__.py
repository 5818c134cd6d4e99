"""resdepth: residual networks for small images, with fast batch augmentations and training.

Examples:
    >>> import resdepth
    >>> net = resdepth.presets.resnet40()
    >>> resdepth.count_parameters(net)
    4994730
"""

from importlib.metadata import PackageNotFoundError, version

from . import presets
from .artifacts import History, RunMetadata, export_model, load_eval_transform, load_model
from .errors import (
    CheckpointError,
    CommandError,
    DataMismatchError,
    DatasetNotFoundError,
    ExportExistsError,
    NonFiniteLossError,
    PaperCheckpointError,
    RefusedPickleError,
    ResdepthError,
    ResumeMismatchError,
    RunExistsError,
    RunFailed,
    RunInterrupted,
    RunLockedError,
    StudySettingsError,
)
from .models import (
    BasicBlock,
    Bottleneck,
    LayerRow,
    ModelSummary,
    PreActBasicBlock,
    PreActBottleneck,
    ResidualBlock,
    ResNet,
    WideBasicBlock,
    WidthFit,
    count_macs,
    count_parameters,
    depth,
    fit_widths,
    get_model,
    list_models,
    register_model,
    resnet_num_parameters,
    summary,
    unregister_model,
)
from .seeding import seed_everything
from .training import Callback, Trainer

try:
    __version__ = version("resdepth")
except PackageNotFoundError:  # pragma: no cover - running from a source tree without install
    __version__ = "0.0.0+unknown"

__all__ = [
    "BasicBlock",
    "Bottleneck",
    "Callback",
    "CheckpointError",
    "CommandError",
    "DataMismatchError",
    "DatasetNotFoundError",
    "ExportExistsError",
    "History",
    "LayerRow",
    "ModelSummary",
    "NonFiniteLossError",
    "PaperCheckpointError",
    "PreActBasicBlock",
    "PreActBottleneck",
    "RefusedPickleError",
    "ResNet",
    "ResdepthError",
    "ResidualBlock",
    "ResumeMismatchError",
    "RunExistsError",
    "RunFailed",
    "RunInterrupted",
    "RunLockedError",
    "RunMetadata",
    "StudySettingsError",
    "Trainer",
    "WideBasicBlock",
    "WidthFit",
    "__version__",
    "count_macs",
    "count_parameters",
    "depth",
    "export_model",
    "fit_widths",
    "get_model",
    "list_models",
    "load_eval_transform",
    "load_model",
    "presets",
    "register_model",
    "resnet_num_parameters",
    "seed_everything",
    "summary",
    "unregister_model",
]
