"""Weight-decay groups: no (or other) decay on normalisation layers and biases.

The split that torchvision's reference scripts (``--norm-weight-decay``,
``--bias-weight-decay``) and timm make: a recipe that sets ``norm_weight_decay`` or
``bias_weight_decay`` builds its optimizer over the groups of :func:`weight_decay_groups`.
"""

from __future__ import annotations

from typing import Any

from torch import nn

from .._validate import non_negative_float

__all__ = ["NORM_LAYERS", "weight_decay_groups"]

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
