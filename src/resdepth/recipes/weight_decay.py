"""Weight-decay groups: no (or other) decay on normalisation layers and biases.

The split that torchvision's reference scripts (``--norm-weight-decay``,
``--bias-weight-decay``) and timm make: a recipe that sets ``norm_weight_decay`` or
``bias_weight_decay`` builds its optimizer over the groups of :func:`weight_decay_groups`.
"""

from __future__ import annotations

import inspect
from typing import Any

import torch
from torch import nn

from .._validate import non_negative_float

__all__ = ["NORM_LAYERS", "norm_bias_group", "optimizer_defaults", "weight_decay_groups"]

#: The module classes whose parameters (weights and biases) count as normalisation:
#: every batch and instance norm (``_NormBase``), ``GroupNorm``, ``LayerNorm``, ``RMSNorm``.
NORM_LAYERS: tuple[type[nn.Module], ...] = (
    nn.modules.batchnorm._NormBase,
    nn.GroupNorm,
    nn.LayerNorm,
    nn.RMSNorm,
)


def weight_decay_groups(
    model: nn.Module,
    weight_decay: float | None = None,
    norm_weight_decay: float | None = None,
    bias_weight_decay: float | None = None,
) -> list[dict[str, Any]]:
    """``model``'s parameters as optimizer parameter groups by weight decay.

    Parameters of normalisation layers (:data:`NORM_LAYERS`, their biases included) go
    to a group with ``norm_weight_decay``, the other parameters named ``bias`` to one
    with ``bias_weight_decay``, and the rest to one with ``weight_decay``.  A decay
    that is ``None`` leaves its parameters in the rest's group, and ``weight_decay``
    ``None`` leaves that group the optimizer's own default.  The groups come in that
    order (rest, norm, bias), empty ones are left out, and each keeps the parameters in
    the order of ``model.parameters()``, each parameter once.

    Raises:
        ValueError: for a decay that is not a finite number >= 0 (or ``None``).

    Examples:
        >>> from torch import nn
        >>> from resdepth.recipes import weight_decay_groups
        >>> net = nn.Sequential(nn.Conv2d(3, 8, 3), nn.BatchNorm2d(8), nn.Linear(8, 2))
        >>> groups = weight_decay_groups(net, 5e-4, norm_weight_decay=0.0, bias_weight_decay=0.0)
        >>> [(len(g["params"]), g.get("weight_decay")) for g in groups]
        [(2, 0.0005), (2, 0.0), (2, 0.0)]
    """
    decays = {"weight_decay": weight_decay, "norm_weight_decay": norm_weight_decay,
              "bias_weight_decay": bias_weight_decay}  # fmt: skip
    for field, decay in decays.items():
        if decay is not None:
            decays[field] = non_negative_float(field, decay)
    params: dict[str, list[nn.Parameter]] = {key: [] for key in decays}
    seen: set[int] = set()
    for module in model.modules():
        norm = isinstance(module, NORM_LAYERS)
        for name, param in module.named_parameters(recurse=False):
            if id(param) in seen:
                continue
            seen.add(id(param))
            field = "norm_weight_decay" if norm else "bias_weight_decay" if name == "bias" else ""
            params[field if field and decays[field] is not None else "weight_decay"].append(param)
    groups = []
    for field, members in params.items():
        if members:
            group: dict[str, Any] = {"params": members}
            if decays[field] is not None:
                group["weight_decay"] = decays[field]
            groups.append(group)
    return groups


def norm_bias_group(
    model: nn.Module, groups: list[dict[str, Any]], lr_scale: float, defaults: dict[str, Any]
) -> list[dict[str, Any]]:
    """``groups`` with the biases of ``model``'s normalisation layers moved to a group
    of their own, at ``lr_scale`` times the learning rate and the weight decay divided
    by it: the decay per step (learning rate times weight decay) stays that of the
    group each bias came from.  airbench trains its BatchNorm biases so, at 64x.

    Args:
        model: the model the groups hold the parameters of.
        groups: parameter groups (:func:`weight_decay_groups`).
        lr_scale: the learning-rate factor, positive.
        defaults: the optimizer's keyword arguments (its ``lr`` and ``weight_decay``).

    Examples:
        >>> from torch import nn
        >>> net = nn.Sequential(nn.Conv2d(3, 8, 3), nn.BatchNorm2d(8))
        >>> groups = norm_bias_group(net, [{"params": list(net.parameters())}], 64.0,
        ...                          {"lr": 0.1, "weight_decay": 6.4e-3})
        >>> [(len(g["params"]), g.get("lr"), g.get("weight_decay")) for g in groups]
        [(3, None, None), (1, 6.4, 0.0001)]
    """
    scale = non_negative_float("norm_bias_lr_scale", lr_scale)
    norms = [m for m in model.modules() if isinstance(m, NORM_LAYERS)]
    biases = {id(m.bias) for m in norms if isinstance(getattr(m, "bias", None), nn.Parameter)}
    if not biases or scale == 0:
        return groups
    out: list[dict[str, Any]] = []
    moved: dict[float, list[nn.Parameter]] = {}
    for group in groups:
        decay = float(group.get("weight_decay", defaults.get("weight_decay", 0.0)))
        kept = [p for p in group["params"] if id(p) not in biases]
        moved.setdefault(decay, []).extend(p for p in group["params"] if id(p) in biases)
        if kept:
            out.append({**group, "params": kept})
    lr = float(defaults["lr"])
    for decay, members in moved.items():
        if members:
            out.append({"params": members, "lr": lr * scale, "weight_decay": decay / scale})
    return out


def optimizer_defaults(optimizer: type[torch.optim.Optimizer]) -> dict[str, Any]:
    """The keyword defaults of an optimizer class (``{"lr": ..., "weight_decay": 0, ...}``).

    Examples:
        >>> import torch
        >>> optimizer_defaults(torch.optim.AdamW)["weight_decay"]
        0.01
    """
    parameters = inspect.signature(optimizer).parameters.values()
    return {p.name: p.default for p in parameters if p.default is not inspect.Parameter.empty}
