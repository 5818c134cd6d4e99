"""resdepth: residual networks for small images, with fast batch augmentations and training.

Examples:
    >>> import resdepth
    >>> net = resdepth.presets.resnet40()
    >>> resdepth.count_parameters(net)
    4994730
"""

from importlib.metadata import PackageNotFoundError, version

from . import presets
from .history import History
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
)
from .seeding import seed_everything
from .trainer import (
    Callback,
    NonFiniteLossError,
    ResumeMismatchError,
    RunExistsError,
    RunInterrupted,
    RunLockedError,
    Trainer,
)

try:
    __version__ = version("resdepth")
except PackageNotFoundError:  # pragma: no cover - running from a source tree without install
    __version__ = "0.0.0+unknown"

__all__ = [
    "BasicBlock",
    "Bottleneck",
    "Callback",
    "History",
    "LayerRow",
    "ModelSummary",
    "NonFiniteLossError",
    "PreActBasicBlock",
    "PreActBottleneck",
    "ResNet",
    "ResidualBlock",
    "ResumeMismatchError",
    "RunExistsError",
    "RunInterrupted",
    "RunLockedError",
    "Trainer",
    "WideBasicBlock",
    "WidthFit",
    "__version__",
    "count_macs",
    "count_parameters",
    "depth",
    "fit_widths",
    "get_model",
    "list_models",
    "presets",
    "register_model",
    "resnet_num_parameters",
    "seed_everything",
    "summary",
]
