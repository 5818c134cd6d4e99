"""Batch mixing: CutMix and MixUp, returning soft targets.

Both are called as ``x, y = mix(x, y)`` with ``y`` as class indices ``(B,)`` or
soft targets ``(B, K)``; ``y`` leaves as soft targets ``(B, K)`` whose rows sum
to one.  Whether a batch is mixed is folded into masks and weights rather than
decided in Python, so a call never waits for the device.
"""

from __future__ import annotations

from collections.abc import Sequence

import torch
from torch import Tensor, nn

from .._validate import (
    choice,
    image_batch,
    instance_of,
    positive_float,
    positive_int,
    probability,
)
from ._base import CompilableApply, Draw, Params, check_generator, memory_format_of

__all__ = ["CutMix", "MixUp", "sample_beta", "to_soft_targets"]

_MODES = ("batch", "sample")


def _standard_gamma(
    concentration: float,
    shape: tuple[int, ...],
    device: torch.device | str,
    generator: torch.Generator | None,
) -> Tensor:
    # Marsaglia and Tsang (2000), vectorised with a fixed number of proposals so that
    # no data-dependent loop (and no host sync) is needed; each proposal is accepted with
    # probability above 0.95 for concentration >= 1, so 12 leave a failure rate below 1e-15.
    boost = concentration < 1.0
    a = concentration + 1.0 if boost else concentration
    d = a - 1.0 / 3.0
    c = 1.0 / (9.0 * d) ** 0.5
    proposals = 12
    z = torch.randn((proposals, *shape), device=device, generator=generator)
    u = torch.rand((proposals, *shape), device=device, generator=generator)
    v = (1.0 + c * z) ** 3
    ok = (v > 0) & (torch.log(u) < 0.5 * z * z + d - d * v + d * torch.log(v.clamp_min(1e-30)))
    first = torch.argmax(ok.to(torch.uint8), dim=0, keepdim=True)
    sample = d * torch.gather(v, 0, first).squeeze(0)
    sample = torch.where(ok.any(dim=0), sample, torch.full_like(sample, d))
    if boost:
        # Gamma(a) = Gamma(a + 1) * U^(1 / a) for a < 1.
        w = torch.rand(shape, device=device, generator=generator)
        sample = sample * w.pow(1.0 / concentration)
    return sample


def sample_beta(
    alpha: float,
    shape: Sequence[int],
    device: torch.device | str = "cpu",
    generator: torch.Generator | None = None,
) -> Tensor:
    """Draw from the symmetric Beta(alpha, alpha) on ``device`` with an optional generator.

    ``torch.distributions.Beta`` takes no generator; this draws two Gamma variates
    with a vectorised Marsaglia-Tsang sampler and returns ``X / (X + Y)``.  For
    ``alpha == 1`` it is a plain uniform draw.
    """
    shape = tuple(shape)
    if alpha == 1.0:
        return torch.rand(shape, device=device, generator=generator)
    x = _standard_gamma(alpha, shape, device, generator)
    y = _standard_gamma(alpha, shape, device, generator)
    return x / (x + y).clamp_min(torch.finfo(x.dtype).tiny)


def to_soft_targets(y: Tensor, num_classes: int, dtype: torch.dtype = torch.float32) -> Tensor:
    """Class indices ``(B,)`` to one-hot ``(B, K)``; soft targets ``(B, K)`` pass through.

    Raises:
        ValueError: for indices outside ``[0, num_classes)`` (checked eagerly on CPU;
            on other devices and under ``torch.compile`` by an asynchronous device
            assertion, which never waits for the device), or a wrong shape.
        TypeError: for labels that are neither integer indices nor floating point.
    """
    instance_of("y", y, Tensor, "a torch.Tensor")
    if y.dim() == 1:
        if y.is_floating_point() or y.dtype == torch.bool:
            raise TypeError(f"class indices y must be an integer tensor, got {y.dtype}")
        if y.device.type == "cpu" and not torch.compiler.is_compiling():
            if y.numel() and (int(y.min()) < 0 or int(y.max()) >= num_classes):
                raise ValueError(
                    f"labels must lie in [0, {num_classes}), got values in "
                    f"[{int(y.min())}, {int(y.max())}]"
                )
        else:
            torch._assert_async(((y >= 0) & (y < num_classes)).all(), "labels out of range")
        out = torch.zeros(y.shape[0], num_classes, dtype=dtype, device=y.device)
        return out.scatter_(1, y.long().view(-1, 1), 1.0)
    if y.dim() == 2:
        if not y.is_floating_point():
            raise TypeError(f"soft targets y must be floating point, got {y.dtype}")
        if y.shape[1] != num_classes:
            raise ValueError(f"soft targets y must have {num_classes} columns, got {y.shape[1]}")
        return y.to(dtype)
    raise ValueError(
        f"y must be class indices (B,) or soft targets (B, K), got shape {tuple(y.shape)}"
    )


class _Mix(CompilableApply, nn.Module):
    """Shared arguments, checks and call protocol of CutMix and MixUp."""

    def __init__(self, alpha: float, p: float, num_classes: int, mode: str) -> None:
        super().__init__()
        self.alpha = positive_float("alpha", alpha)
        self.p = probability("p", p)
        self.num_classes = positive_int("num_classes", num_classes, minimum=2)
        self.mode = choice("mode", mode, _MODES)

    def _draws(self, d: Draw) -> int:
        """How many decisions, lambdas (and boxes) a batch draws: one per sample in
        ``mode="sample"``, else one."""
        return d.batch if self.mode == "sample" else 1

    def _check(self, x: Tensor, y: Tensor) -> None:
        image_batch(x, "x")
        instance_of("y", y, Tensor, "a torch.Tensor")
        if y.dim() == 0 or y.shape[0] != x.shape[0]:
            raise ValueError(
                f"x and y must have the same batch size, got {x.shape[0]} and "
                f"{y.shape[0] if y.dim() else 'a scalar'}"
            )

    def _mix_targets(self, y: Tensor, lam: Tensor, perm: Tensor) -> Tensor:
        soft = to_soft_targets(y, self.num_classes)
        lam = lam.to(device=soft.device, dtype=soft.dtype).view(-1, 1)
        return lam * soft + (1.0 - lam) * soft[perm.to(soft.device)]

    def generate_parameters(
        self,
        shape: torch.Size | Sequence[int],
        device: torch.device | str = "cpu",
        generator: torch.Generator | None = None,
    ) -> Params:
        """Draw the pairs, and the mixing of each, for a batch of ``shape`` ``(B, C, H, W)``."""
        d = Draw(shape, device, generator)
        n = self._draws(d)
        mixed = d.rand(n) < self.p
        lam = sample_beta(self.alpha, (n,), d.device, d.generator)
        perm = d.randperm(d.batch)
        return self._mixing(d, mixed.expand(d.batch), lam.expand(d.batch), perm)

    def _mixing(self, d: Draw, mixed: Tensor, lam: Tensor, perm: Tensor) -> Params:
        """The parameters of samples paired by ``perm``, each mixed where ``mixed``
        holds with its drawn ``lam``."""
        raise NotImplementedError

    def apply_transform(self, x: Tensor, y: Tensor, params: Params) -> tuple[Tensor, Tensor]:
        """Mix ``x`` and ``y`` with drawn parameters; deterministic."""
        raise NotImplementedError

    def forward(
        self,
        x: Tensor,
        y: Tensor,
        *,
        params: Params | None = None,
        generator: torch.Generator | None = None,
    ) -> tuple[Tensor, Tensor]:
        self._check(x, y)
        if params is None:
            check_generator(generator, x.device)
            params = self.generate_parameters(x.shape, x.device, generator)
        out: tuple[Tensor, Tensor] = self._apply_fn()(x, y, params)
        return out

    def extra_repr(self) -> str:
        return f"alpha={self.alpha}, p={self.p}, num_classes={self.num_classes}, mode={self.mode!r}"


class CutMix(_Mix):
    """Paste a random box from a paired sample and mix the labels by its area (Yun et al., 2019).

    With probability ``p`` (per batch in ``mode="batch"``, per sample in
    ``mode="sample"``) a sample gets a box from the sample ``perm[i]`` of a random
    permutation.  The box has area fraction ``1 - lambda``, ``lambda ~ Beta(alpha,
    alpha)``, and a uniform random centre; it is clipped to the image and lambda is
    recomputed from the clipped area, as in the paper.  The default
    ``mode="batch"`` is the paper's: one lambda, one box size and one decision for
    the whole batch; ``mode="sample"`` draws each sample's own.

    Args:
        alpha: Beta concentration; 1 gives a uniform lambda.
        p: probability of mixing (the paper used 0.5 per batch).
        num_classes: number of classes K of the soft targets.
        mode: ``"batch"`` or ``"sample"``.

    Shape:
        - Input: ``x`` :math:`(B, C, H, W)` of any dtype; ``y`` :math:`(B,)` indices
          or :math:`(B, K)` soft targets
        - Output: ``x`` of the same shape, dtype and memory format; ``y`` :math:`(B, K)`

    Examples:
        >>> import torch
        >>> from resdepth.transforms import CutMix
        >>> cutmix = CutMix(alpha=1.0, p=1.0, num_classes=10)
        >>> g = torch.Generator().manual_seed(0)
        >>> x, y = cutmix(torch.rand(5, 3, 32, 32), torch.arange(5), generator=g)
        >>> y.shape, bool(torch.allclose(y.sum(1), torch.ones(5)))
        (torch.Size([5, 10]), True)
    """

    def __init__(
        self, alpha: float = 1.0, p: float = 1.0, num_classes: int = 10, mode: str = "batch"
    ) -> None:
        super().__init__(alpha, p, num_classes, mode)

    def _mixing(self, d: Draw, mixed: Tensor, lam: Tensor, perm: Tensor) -> Params:
        height, width = d.height, d.width
        centre = d.rand(self._draws(d), 2).expand(d.batch, 2)
        cut = torch.sqrt(1.0 - lam)
        cy = (centre[:, 0] * height).long()
        cx = (centre[:, 1] * width).long()
        half_h = (cut * height).long() // 2
        half_w = (cut * width).long() // 2
        zero = torch.zeros_like(cy)
        # Box rows [top, bottom) and columns [left, right), clipped to the image;
        # an unmixed sample gets an empty box.
        top = torch.maximum(cy - half_h, zero)
        bottom = torch.minimum(cy + half_h, zero + height)
        left = torch.maximum(cx - half_w, zero)
        right = torch.minimum(cx + half_w, zero + width)
        bottom = torch.where(mixed, bottom, top)
        box = torch.stack([top, bottom, left, right], dim=-1)
        return {"box": box, "perm": perm}

    @staticmethod
    def area_lambda(box: Tensor, height: int, width: int) -> Tensor:
        """The share of each image that keeps its own pixels: ``1 - box area / (H * W)``."""
        area = (box[:, 1] - box[:, 0]) * (box[:, 3] - box[:, 2])
        return 1.0 - area.float() / float(height * width)

    def apply_transform(self, x: Tensor, y: Tensor, params: Params) -> tuple[Tensor, Tensor]:
        self._check(x, y)
        batch, _, height, width = x.shape
        box = params["box"].to(x.device)
        perm = params["perm"].to(x.device)
        rows = torch.arange(height, device=x.device).view(1, 1, -1, 1)
        cols = torch.arange(width, device=x.device).view(1, 1, 1, -1)
        # The box as a separable mask: rows (B, 1, H, 1) and columns (B, 1, 1, W).
        in_rows = (rows >= box[:, 0, None, None, None]) & (rows < box[:, 1, None, None, None])
        in_cols = (cols >= box[:, 2, None, None, None]) & (cols < box[:, 3, None, None, None])
        inside = in_rows & in_cols
        paired = x.index_select(0, perm)
        out = torch.where(inside, paired, x).contiguous(memory_format=memory_format_of(x))
        lam = self.area_lambda(box, height, width)
        return out, self._mix_targets(y, lam, perm)


class MixUp(_Mix):
    """Blend each sample with a paired one: ``lam * x + (1 - lam) * x[perm]`` (Zhang et al., 2018).

    With probability ``p`` (per batch in ``mode="batch"``, the default, or per
    sample in ``mode="sample"``) samples are mixed with ``lambda ~ Beta(alpha,
    alpha)``; unmixed samples keep ``lambda = 1``.  Targets mix with the same lambda.

    Args:
        alpha: Beta concentration (0.2 to 0.4 is usual for CIFAR).
        p: probability of mixing.
        num_classes: number of classes K of the soft targets.
        mode: ``"batch"`` or ``"sample"``.

    Shape:
        - Input: ``x`` :math:`(B, C, H, W)` floating point; ``y`` :math:`(B,)` or :math:`(B, K)`
        - Output: ``x`` of the same shape, dtype and memory format; ``y`` :math:`(B, K)`

    Examples:
        >>> import torch
        >>> from resdepth.transforms import MixUp
        >>> mixup = MixUp(alpha=0.2, num_classes=3)
        >>> x, y = mixup(torch.rand(4, 3, 8, 8), torch.tensor([0, 1, 2, 0]))
        >>> y.sum(1)
        tensor([1., 1., 1., 1.])
    """

    def __init__(
        self, alpha: float = 0.2, p: float = 1.0, num_classes: int = 10, mode: str = "batch"
    ) -> None:
        super().__init__(alpha, p, num_classes, mode)

    def _mixing(self, d: Draw, mixed: Tensor, lam: Tensor, perm: Tensor) -> Params:
        return {"lam": torch.where(mixed, lam, torch.ones_like(lam)), "perm": perm}

    def apply_transform(self, x: Tensor, y: Tensor, params: Params) -> tuple[Tensor, Tensor]:
        self._check(x, y)
        if not x.is_floating_point():
            raise TypeError(
                f"MixUp expects floating point images, got {x.dtype}; put ToFloat() first"
            )
        lam = params["lam"].to(device=x.device)
        perm = params["perm"].to(x.device)
        w = lam.to(x.dtype).view(-1, 1, 1, 1)
        out = (w * x + (1.0 - w) * x[perm]).contiguous(memory_format=memory_format_of(x))
        return out, self._mix_targets(y, lam, perm)
