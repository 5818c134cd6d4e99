"""The batch-transform protocol and the checks every transform shares.

A transform draws its random parameters in :meth:`BatchTransform.generate_parameters`
and applies them in :meth:`BatchTransform.apply_transform`, so that a call can be replayed
exactly (the pattern of kornia's augmentations).  Parameters are tensors on the
images' device: drawing them needs no host-device synchronisation.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, TypeVar

import torch
from torch import Tensor, nn

from .._validate import (
    finite_float,
    image_batch,
    instance_of,
    is_real,
    non_negative_float,
    probability,
)

__all__ = ["BatchTransform", "Params"]

Params = dict[str, Tensor]


def check_generator(generator: torch.Generator | None, device: torch.device) -> None:
    if generator is None:
        return
    instance_of("generator", generator, torch.Generator, "a torch.Generator")
    if generator.device.type != device.type:
        raise ValueError(
            f"generator is on {generator.device} but the images are on {device}; "
            "create it with torch.Generator(device=images.device)"
        )


def check_range(
    name: str,
    value: float | Sequence[float],
    *,
    symmetric: bool,
    minimum: float | None = None,
) -> tuple[float, float]:
    """A number ``v`` means ``(-v, v)`` when ``symmetric``; a pair is taken as is."""
    if is_real(value):
        if not symmetric:
            raise ValueError(f"{name} must be a (min, max) pair, got {value!r}")
        high = non_negative_float(name, value)
        low = -high
    elif isinstance(value, Sequence) and not isinstance(value, str) and len(value) == 2:
        low, high = (finite_float(name, v) for v in value)
    else:
        raise ValueError(f"{name} must be a number or a (min, max) pair, got {value!r}")
    if low > high:
        raise ValueError(f"{name} must have min <= max, got {value!r}")
    if minimum is not None and low < minimum:
        raise ValueError(f"{name} must be at least {minimum}, got {value!r}")
    return low, high


def memory_format_of(x: Tensor) -> torch.memory_format:
    """channels_last when ``x`` is laid out that way (and not also plain contiguous)."""
    if x.is_contiguous(memory_format=torch.channels_last) and not x.is_contiguous():
        return torch.channels_last
    return torch.contiguous_format


class Draw:
    """The batch a transform draws parameters for, and the draws it makes: every
    tensor is made on ``device`` from ``generator`` (``None``: PyTorch's default).

    Args:
        shape: the batch's ``(B, C, H, W)``.
        device: where the parameters are made.
        generator: the random stream they are drawn from.
    """

    def __init__(
        self,
        shape: torch.Size | Sequence[int],
        device: torch.device | str,
        generator: torch.Generator | None,
    ) -> None:
        self.shape = tuple(int(n) for n in shape)
        self.device = torch.device(device)
        self.generator = generator

    @property
    def batch(self) -> int:
        return self.shape[0]

    @property
    def height(self) -> int:
        return self.shape[-2]

    @property
    def width(self) -> int:
        return self.shape[-1]

    def rand(self, *size: int) -> Tensor:
        """Uniform in [0, 1), of shape ``size``."""
        return torch.rand(size, device=self.device, generator=self.generator)

    def uniform(self, low: float, high: float) -> Tensor:
        """Uniform in [low, high), one per sample."""
        return self.rand(self.batch) * (high - low) + low

    def randn(self, *size: int) -> Tensor:
        """Standard normal, of shape ``size``."""
        return torch.randn(size, device=self.device, generator=self.generator)

    def randint(self, high: int, *size: int) -> Tensor:
        """Integers in ``[0, high)``, of shape ``size``."""
        return torch.randint(high, size, device=self.device, generator=self.generator)

    def randperm(self, n: int) -> Tensor:
        """A random permutation of ``0 .. n - 1``."""
        return torch.randperm(n, device=self.device, generator=self.generator)


_C = TypeVar("_C", bound="CompilableApply")


class CompilableApply:
    """Lets a transform run its ``apply_transform`` through ``torch.compile``.

    Drawing parameters stays eager (seeded generators, ``randperm``); applying them is
    pure tensor arithmetic, which the compiler fuses into a few kernels.
    """

    _compiled_apply: Any = None

    def compile_apply(self: _C, **compile_kwargs: Any) -> _C:
        """Route calls through ``torch.compile(self.apply_transform)``; returns ``self``.

        The first call of each batch shape compiles (seconds); later calls run the
        fused code.  Keyword arguments go to ``torch.compile`` (``dynamic=False`` unless
        given).  Results equal the eager ones up to float rounding.
        """
        compile_kwargs.setdefault("dynamic", False)
        self._compiled_apply = torch.compile(self.apply_transform, **compile_kwargs)  # type: ignore[attr-defined]
        return self

    def _apply_fn(self) -> Any:
        return self._compiled_apply or self.apply_transform  # type: ignore[attr-defined]


class BatchTransform(CompilableApply, nn.Module):
    """Base class: a random transform of a whole batch with per-sample parameters.

    Subclasses implement :meth:`generate_parameters` and :meth:`apply_transform`.  Calling
    the transform draws fresh parameters (from ``generator`` when given) and
    applies them; passing ``params=`` replays an earlier draw exactly.
    :meth:`compile_apply` runs the application through ``torch.compile``.
    """

    def generate_parameters(
        self,
        shape: torch.Size | Sequence[int],
        device: torch.device | str = "cpu",
        generator: torch.Generator | None = None,
    ) -> Params:
        """Draw the random parameters for a batch of ``shape`` ``(B, C, H, W)``."""
        return self._draw(Draw(shape, device, generator))

    def _draw(self, d: Draw) -> Params:
        """What :meth:`generate_parameters` returns (nothing, by default): the built-in
        transforms draw here."""
        return {}

    def apply_transform(self, x: Tensor, params: Params) -> Tensor:
        """Apply drawn parameters to ``x``; deterministic."""
        raise NotImplementedError

    def output_size(self, height: int, width: int) -> tuple[int, int]:
        """Spatial size of the output for an input of ``height`` x ``width``."""
        return height, width

    #: Whether the step resamples the image (its map is not a whole-pixel move).  A
    #: resampling step with a :meth:`matrix` also has ``interpolation`` and ``fill``.
    resamples: bool = False

    def matrix(self, params: Params, height: int, width: int) -> Tensor | None:
        """The step as ``(B, 3, 3)`` matrices from its output's pixel coordinates to its
        input's (x right, y down, pixel centres at whole numbers), or ``None``.

        A step returns matrices when it only moves pixels by an affine map and what
        lies outside its input reads as zero; :class:`Compose` then folds a run of
        such steps into one sampling pass.  ``height`` and ``width`` are the input's.
        """
        return None

    def forward(
        self,
        x: Tensor,
        *,
        params: Params | None = None,
        generator: torch.Generator | None = None,
    ) -> Tensor:
        image_batch(x, "x")
        if params is None:
            check_generator(generator, x.device)
            params = self.generate_parameters(x.shape, x.device, generator)
        out: Tensor = self._apply_fn()(x, params)
        return out


class WithProbability(BatchTransform):
    """A transform that each sample undergoes with probability ``p``, decided per sample;
    the decisions are the parameter :attr:`decision_key`."""

    decision_key = "apply"

    def __init__(self, p: float = 0.5) -> None:
        super().__init__()
        self.p = probability("p", p)

    def _draw(self, d: Draw) -> Params:
        return {self.decision_key: d.rand(d.batch) < self.p}

    def extra_repr(self) -> str:
        return f"p={self.p}"
