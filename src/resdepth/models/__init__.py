"""Models: residual blocks, the ResNet factory, presets, registry and sizing tools."""

from . import hub, presets
from .blocks import BasicBlock, Bottleneck, Projection, ResidualBlock
from .hub import make_pretrained_cfg
from .paper import load_paper_checkpoint, paper_model_config, read_paper_state_dict
from .preact import BLOCKS, PreActBasicBlock, PreActBottleneck, WideBasicBlock
from .presets import (
    airbench94,
    airbench95,
    preact_resnet18,
    resnet10,
    resnet18,
    resnet40,
    resnet102,
    wrn_16_8,
    wrn_28_10,
)
from .registry import get_model, get_model_builder, list_models, register_model, unregister_model
from .resnet import ResNet
from .sizing import (
    WidthFit,
    count_macs,
    count_parameters,
    depth,
    fit_widths,
    resnet_num_parameters,
)
from .speedrun import ConvGroup, PatchWhitening, SpeedrunNet, whitening_weights
from .summary import LayerRow, ModelSummary, summary

__all__ = [
    "ConvGroup",
    "PatchWhitening",
    "SpeedrunNet",
    "airbench94",
    "airbench95",
    "whitening_weights",
    "BLOCKS",
    "BasicBlock",
    "Bottleneck",
    "LayerRow",
    "ModelSummary",
    "PreActBasicBlock",
    "PreActBottleneck",
    "Projection",
    "ResNet",
    "ResidualBlock",
    "WideBasicBlock",
    "WidthFit",
    "count_macs",
    "count_parameters",
    "depth",
    "fit_widths",
    "get_model",
    "get_model_builder",
    "hub",
    "list_models",
    "load_paper_checkpoint",
    "make_pretrained_cfg",
    "paper_model_config",
    "preact_resnet18",
    "presets",
    "read_paper_state_dict",
    "register_model",
    "resnet10",
    "resnet18",
    "resnet40",
    "resnet102",
    "resnet_num_parameters",
    "summary",
    "unregister_model",
    "wrn_16_8",
    "wrn_28_10",
]
