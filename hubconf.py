"""torch.hub entry points: one per registered resdepth preset.

Load a network from a checkout (or from GitHub, once the repository is published)::

    import torch

    net = torch.hub.load("/path/to/resdepth", "resnet40", source="local")
    net = torch.hub.load("/path/to/resdepth", "wrn_16_8", source="local", num_classes=100)

Every preset's entry point takes ``pretrained=False`` and the preset's keyword
arguments.  ``load`` takes a trained model instead: a checkpoint, or a model folder
that ``resdepth export`` wrote (or ``hf-hub:owner/name``)::

    net = torch.hub.load("/path/to/resdepth", "load", "runs/my-run/export", source="local")

resdepth ships no downloadable weights: ``pretrained=True`` raises a ``ValueError``
that points to ``resdepth.models.load_paper_checkpoint`` (the paper's own files)
and ``resdepth.load_model`` (your own runs).

Names torch.hub should not list as entry points start with an underscore.
"""

from __future__ import annotations

import sys as _sys
from pathlib import Path as _Path
from typing import Any as _Any

from torch import nn as _nn

dependencies = ["torch"]

# The checkout's own source tree comes first (torch.hub puts only the repository's root
# on sys.path, and the package lives under src/), also when resdepth is not installed.
_SRC = str(_Path(__file__).resolve().parent / "src")
_sys.path.insert(0, _SRC)
try:
    from resdepth.models import get_model as _get_model
    from resdepth.artifacts import load_model as _load_model
finally:
    _sys.path.remove(_SRC)


def resnet10(pretrained: bool = False, **kwargs: _Any) -> _nn.Module:
    """The paper's ResNet10 (4.9M parameters): layers [1, 1, 1, 1], widths 64 to 512."""
    return _get_model("resnet10", pretrained=pretrained, **kwargs)


def resnet18(pretrained: bool = False, **kwargs: _Any) -> _nn.Module:
    """The CIFAR ResNet-18 of He et al. (11.2M parameters): layers [2, 2, 2, 2]."""
    return _get_model("resnet18", pretrained=pretrained, **kwargs)


def resnet40(pretrained: bool = False, **kwargs: _Any) -> _nn.Module:
    """The paper's ResNet40 (5.0M parameters): layers [5, 7, 4, 3], widths 32 to 256."""
    return _get_model("resnet40", pretrained=pretrained, **kwargs)


def resnet102(pretrained: bool = False, **kwargs: _Any) -> _nn.Module:
    """The paper's ResNet102 (5.0M parameters): layers [8, 13, 17, 12], widths 16 to 128."""
    return _get_model("resnet102", pretrained=pretrained, **kwargs)


def preact_resnet18(pretrained: bool = False, **kwargs: _Any) -> _nn.Module:
    """Pre-activation ResNet-18 (He et al., 2016, identity mappings; 11.2M parameters)."""
    return _get_model("preact_resnet18", pretrained=pretrained, **kwargs)


def wrn_16_8(pretrained: bool = False, **kwargs: _Any) -> _nn.Module:
    """Wide ResNet WRN-16-8 (Zagoruyko and Komodakis; 11.0M parameters); takes dropout=."""
    return _get_model("wrn_16_8", pretrained=pretrained, **kwargs)


def wrn_28_10(pretrained: bool = False, **kwargs: _Any) -> _nn.Module:
    """Wide ResNet WRN-28-10 (Zagoruyko and Komodakis; 36.5M parameters); takes dropout=."""
    return _get_model("wrn_28_10", pretrained=pretrained, **kwargs)


def airbench94(pretrained: bool = False, **kwargs: _Any) -> _nn.Module:
    """airbench94's network (Jordan, 2024; 2.0M parameters): patch whitening, then three
    conv groups; train it with the airbench94 recipe."""
    return _get_model("airbench94", pretrained=pretrained, **kwargs)


def airbench95(pretrained: bool = False, **kwargs: _Any) -> _nn.Module:
    """The wider speedrun network of airbench95 (Jordan, 2024; 4.6M parameters)."""
    return _get_model("airbench95", pretrained=pretrained, **kwargs)


def load(path: str, device: str | None = None) -> _nn.Module:
    """A trained model in eval mode, as ``resdepth.load_model(path)`` gives it: from a
    ``best.pt``/``last.pt``, a model folder written by ``resdepth export`` (or its
    ``model.safetensors``), or ``"hf-hub:owner/name"``."""
    return _load_model(path, device=device)
