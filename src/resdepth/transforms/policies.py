"""Augmentation policies with one choice per sample: AutoAugment's CIFAR-10 policy,
RandAugment and TrivialAugmentWide, with torchvision's operations and magnitude bins.

Every sample draws its own operations and magnitudes.  In each round every operation
runs once: on the samples that drew it (index groups, on a CPU), or on the whole
batch with each sample keeping its own result (masks, on GPUs and under
``torch.compile``, where nothing may wait for the device).  The geometric operations
(shear, translate, rotate) share one sampling pass with a matrix per sample.
"""

from __future__ import annotations

from collections.abc import Sequence

import torch
from torch import Tensor

from .._validate import choice, finite_float, int_in_range, positive_int
from . import _color as C
from ._base import BatchTransform, Draw, Params
from ._policy_tables import (
    AUTO_AUGMENT_SPACE,
    CIFAR10_POLICY,
    GEOMETRIC_OPERATIONS,
    RAND_AUGMENT_SPACE,
    TRIVIAL_AUGMENT_SPACE,
    Space,
    no_magnitude,
)
from ._select import Branch, choose_per_sample, take
from ._warp import affine_matrix, centred_to_pixel, warp

__all__ = [
    "AUTO_AUGMENT_SPACE",
    "CIFAR10_POLICY",
    "RAND_AUGMENT_SPACE",
    "TRIVIAL_AUGMENT_SPACE",
    "AutoAugment",
    "RandAugment",
    "TrivialAugmentWide",
    "apply_operations",
]


def _magnitude_table(space: Space, names: Sequence[str], bins: int, height: int, width: int,
                     device: torch.device) -> Tensor:  # fmt: skip
    """``(operations, bins)``: each operation's magnitudes (0 where it has none), built
    on ``device`` (no host-to-device copy)."""
    rows = []
    for name in names:
        values = space[name][0](bins, height, width, device)
        rows.append(torch.zeros(bins, device=device) if values is None else values.float())
    return torch.stack(rows)


def _geometric_matrices(op: Tensor, names: Sequence[str], magnitude: Tensor, height: int,
                        width: int) -> Tensor:  # fmt: skip
    """Per-sample source matrices (output pixel to input pixel) of torchvision's shear,
    translate and rotate; the identity for samples that drew another operation."""
    zero = torch.zeros_like(magnitude)

    def drew(name: str) -> Tensor:
        return op == names.index(name) if name in names else torch.zeros_like(op, dtype=torch.bool)

    shear_x, shear_y = drew("ShearX"), drew("ShearY")
    shear_deg = torch.rad2deg(torch.atan(magnitude))
    params = {
        # torchvision's rotate turns counter-clockwise, its affine clockwise.
        "angle": torch.where(drew("Rotate"), -magnitude, zero),
        "translate": torch.stack(
            [
                torch.where(drew("TranslateX"), magnitude.trunc(), zero),
                torch.where(drew("TranslateY"), magnitude.trunc(), zero),
            ],
            dim=1,
        ),  # fmt: skip
        "scale": torch.ones_like(magnitude),
        "shear": torch.stack(
            [torch.where(shear_x, shear_deg, zero), torch.where(shear_y, shear_deg, zero)], dim=1
        ),  # fmt: skip
    }
    m = affine_matrix(params)
    # The shears turn about the top-left corner (torchvision's center=[0, 0]), the rest
    # about the middle: move the centre by c, x_in = A^-1 (x_out - t - c) + c.
    sheared = (shear_x | shear_y).to(m.dtype)
    cx, cy = -width / 2.0 * sheared, -height / 2.0 * sheared
    m = m.clone()
    m[:, 0, 2] += cx - (m[:, 0, 0] * cx + m[:, 0, 1] * cy)
    m[:, 1, 2] += cy - (m[:, 1, 0] * cx + m[:, 1, 1] * cy)
    return centred_to_pixel(m, height, width)


def apply_operations(
    x: Tensor, op: Tensor, magnitude: Tensor, names: Sequence[str], interpolation: str = "nearest",
    fill: float = 0.0, grouped: bool | None = None,
) -> Tensor:  # fmt: skip
    """Apply to each sample the operation ``names[op[i]]`` with ``magnitude[i]``, as
    torchvision's auto-augment policies do, on floating-point images in [0, 1].

    Each operation runs once, on the samples that drew it (index groups, on a CPU)
    or on the whole batch with each sample keeping its own result (masks, on GPUs
    and under ``torch.compile``); ``grouped`` forces one or the other.  The shear,
    translate and rotate operations share one sampling pass with a matrix per sample.

    Args:
        x: ``(B, C, H, W)`` floating-point images in [0, 1].
        op: ``(B,)`` indices into ``names``.
        magnitude: ``(B,)`` signed magnitudes, in torchvision's units for each operation.
        names: operation names from :data:`AUTO_AUGMENT_SPACE` and ``"Identity"``.
        interpolation, fill: of the geometric operations (``fill`` in [0, 1]).
    """
    names = list(names)
    op = op.to(x.device)
    magnitude = magnitude.to(x.device, torch.float32)
    height, width = x.shape[-2:]

    def geometric(images: Tensor, rows: Tensor | None) -> Tensor:
        src = _geometric_matrices(take(op, rows), names, take(magnitude, rows), height, width)
        return warp(images, src, (height, width), (0.0, 0.0), (width - 1.0, height - 1.0),
                    interpolation, fill)  # fmt: skip

    def colour(name: str) -> Branch | None:
        blends = {
            "Brightness": C.adjust_brightness,
            "Color": C.adjust_saturation,
            "Contrast": C.adjust_contrast,
            "Sharpness": C.adjust_sharpness,
        }
        if name in blends:
            return lambda images, rows: blends[name](images, 1.0 + take(magnitude, rows))
        if name == "Posterize":
            return lambda images, rows: C.posterize(images, take(magnitude, rows))
        if name == "Solarize":
            return lambda images, rows: C.solarize(images, take(magnitude, rows))
        plain = {"AutoContrast": C.autocontrast, "Equalize": C.equalize, "Invert": C.invert}
        if name in plain:
            return lambda images, rows: plain[name](images)
        if name == "Identity":
            return None
        raise ValueError(f"names has an unknown operation {name!r}")

    branches = [None if name in GEOMETRIC_OPERATIONS else colour(name) for name in names]
    # The geometric operations are one branch (one sampling pass), after the others.
    moved = torch.zeros_like(op, dtype=torch.bool)
    for k, name in enumerate(names):
        if name in GEOMETRIC_OPERATIONS:
            moved |= op == k
    choice = torch.where(moved, len(names), op)
    return choose_per_sample(x, choice, [*branches, geometric], grouped)


class _Policy(BatchTransform):
    """Shared by the policies: uint8 or [0, 1] input, ``interpolation`` and ``fill`` of
    the geometric operations, and applying rounds of per-sample operations."""

    names: tuple[str, ...] = ()
    space: Space = {}

    def __init__(self, interpolation: str, fill: float) -> None:
        super().__init__()
        self.interpolation = choice("interpolation", interpolation, ("nearest", "bilinear"))
        self.fill = finite_float("fill", fill)
        self._host: dict[str, Tensor] = {
            "signed": torch.tensor([self.space[name][1] for name in self.names])
        }
        self._device_copies: dict[tuple[str, torch.device], Tensor] = {}

    def _constant(self, name: str, device: torch.device) -> Tensor:
        """A constant table on ``device``, copied there once: a copy on every call would
        wait for the GPU."""
        key = (name, device)
        if key not in self._device_copies:
            self._device_copies[key] = self._host[name].to(device)
        return self._device_copies[key]

    def apply_transform(self, x: Tensor, params: Params) -> Tensor:
        unit = C.to_unit(x)
        fill = self.fill / C.unit_scale(x)
        ops, magnitudes = params["op"].to(x.device), params["magnitude"].to(x.device)
        for r in range(ops.shape[1]):
            unit = apply_operations(unit, ops[:, r], magnitudes[:, r], self.names,
                                    self.interpolation, fill)  # fmt: skip
        return C.from_unit(unit, x)

    def _operations(self, d: Draw, bins: int, chosen: Tensor, bin_index: Tensor) -> Params:
        """The chosen operations with signed magnitudes for their bins (a sign per draw)."""
        table = _magnitude_table(self.space, self.names, bins, d.height, d.width, d.device)
        magnitude = table[chosen, bin_index]
        flip = d.rand(*chosen.shape) <= 0.5
        signed = self._constant("signed", d.device)[chosen] & flip
        return {"op": chosen, "magnitude": torch.where(signed, -magnitude, magnitude)}


class AutoAugment(_Policy):
    """AutoAugment's learned CIFAR-10 policy (Cubuk et al., 2019), one sub-policy per
    sample: each sample draws one of the 25 sub-policies, then applies each of its two
    operations with its probability, at its magnitude bin (of 10), with a random sign.

    Args:
        policy: ``"cifar10"``.
        interpolation: ``"nearest"`` (torchvision's default) or ``"bilinear"``.
        fill: value outside the image after geometric operations (input units).

    Shape:
        - Input: :math:`(B, 3, H, W)`, uint8 or floating point in [0, 1]
        - Output: the same shape, dtype and memory format

    Examples:
        >>> import torch
        >>> from resdepth.transforms import AutoAugment
        >>> x = torch.randint(0, 256, (16, 3, 32, 32), dtype=torch.uint8)
        >>> AutoAugment()(x).shape
        torch.Size([16, 3, 32, 32])
    """

    names = tuple(AUTO_AUGMENT_SPACE) + ("Identity",)
    space = {**AUTO_AUGMENT_SPACE, "Identity": (no_magnitude, False)}

    def __init__(self, policy: str = "cifar10", interpolation: str = "nearest",
                 fill: float = 0.0) -> None:  # fmt: skip
        super().__init__(interpolation, fill)
        self.policy = choice("policy", policy, ("cifar10",))
        index = {name: i for i, name in enumerate(self.names)}
        rows = [
            [(index[n], p, -1 if m is None else m) for n, p, m in sub] for sub in CIFAR10_POLICY
        ]
        self._host["sub_policies"] = torch.tensor(rows, dtype=torch.float64)

    def _draw(self, d: Draw) -> Params:
        table = self._constant("sub_policies", d.device)
        steps = table[d.randint(len(CIFAR10_POLICY), d.batch)]  # (B, 2, 3): op, probability, bin
        applied = d.rand(d.batch, 2) <= steps[..., 1]
        identity = self.names.index("Identity")
        op = torch.where(applied, steps[..., 0].long(), identity)
        return self._operations(d, 10, op, steps[..., 2].long().clamp(min=0))

    def extra_repr(self) -> str:
        return f"policy={self.policy!r}, interpolation={self.interpolation!r}, fill={self.fill}"


class RandAugment(_Policy):
    """RandAugment (Cubuk et al., 2020): ``num_ops`` operations per sample, each drawn
    uniformly from torchvision's 14, at bin ``magnitude`` of ``num_magnitude_bins``,
    with a random sign.

    Examples:
        >>> import torch
        >>> from resdepth.transforms import RandAugment
        >>> RandAugment(num_ops=2, magnitude=9)(torch.rand(8, 3, 32, 32)).shape
        torch.Size([8, 3, 32, 32])
    """

    names = tuple(RAND_AUGMENT_SPACE)
    space = RAND_AUGMENT_SPACE

    def __init__(self, num_ops: int = 2, magnitude: int = 9, num_magnitude_bins: int = 31,
                 interpolation: str = "nearest", fill: float = 0.0) -> None:  # fmt: skip
        super().__init__(interpolation, fill)
        self.num_ops = positive_int("num_ops", num_ops, minimum=0)
        self.num_magnitude_bins = positive_int("num_magnitude_bins", num_magnitude_bins, 2)
        self.magnitude = int_in_range("magnitude", magnitude, 0, self.num_magnitude_bins)

    def _draw(self, d: Draw) -> Params:
        op = d.randint(len(self.names), d.batch, self.num_ops)
        bins = torch.full_like(op, self.magnitude)
        return self._operations(d, self.num_magnitude_bins, op, bins)

    def extra_repr(self) -> str:
        return (f"num_ops={self.num_ops}, magnitude={self.magnitude}, "
                f"num_magnitude_bins={self.num_magnitude_bins}")  # fmt: skip


class TrivialAugmentWide(_Policy):
    """TrivialAugment Wide (Müller and Hutter, 2021): one operation per sample, drawn
    uniformly from torchvision's 14, at a uniformly drawn bin of ``num_magnitude_bins``
    (its wide ranges), with a random sign.

    Examples:
        >>> import torch
        >>> from resdepth.transforms import TrivialAugmentWide
        >>> augment = TrivialAugmentWide()
        >>> x = torch.randint(0, 256, (8, 3, 32, 32), dtype=torch.uint8)
        >>> params = augment.generate_parameters(x.shape)
        >>> torch.equal(augment(x, params=params), augment(x, params=params))
        True
    """

    names = tuple(TRIVIAL_AUGMENT_SPACE)
    space = TRIVIAL_AUGMENT_SPACE

    def __init__(self, num_magnitude_bins: int = 31, interpolation: str = "nearest",
                 fill: float = 0.0) -> None:  # fmt: skip
        super().__init__(interpolation, fill)
        self.num_magnitude_bins = positive_int("num_magnitude_bins", num_magnitude_bins, 2)

    def _draw(self, d: Draw) -> Params:
        op = d.randint(len(self.names), d.batch, 1)
        bins = d.randint(self.num_magnitude_bins, d.batch, 1)
        return self._operations(d, self.num_magnitude_bins, op, bins)

    def extra_repr(self) -> str:
        return f"num_magnitude_bins={self.num_magnitude_bins}"
