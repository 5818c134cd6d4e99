"""Sampling through per-sample affine matrices: the machinery behind RandomAffine.

The matrices follow torchvision's conventions; :func:`warp` samples a whole batch with
one ``grid_sample`` and blends towards ``fill`` at the border as torchvision does.
"""

from __future__ import annotations

from typing import Any

import torch
import torch.nn.functional as F
from torch import Tensor

from ._base import Params, memory_format_of

__all__ = ["affine_matrix", "centred_to_pixel", "fused_warp", "pixel_matrix", "warp"]


def affine_matrix(params: Params) -> Tensor:
    """Inverse affine matrices ``(B, 2, 3)`` in centred pixel coordinates.

    They map an output pixel (relative to the image centre) to the input point
    it samples, exactly as torchvision's ``_get_inverse_affine_matrix`` with the
    centre at the middle of the image: ``M = T C R S Sh C^-1``, inverted.
    """
    rot = torch.deg2rad(params["angle"])
    sx = torch.deg2rad(params["shear"][:, 0])
    sy = torch.deg2rad(params["shear"][:, 1])
    scale = params["scale"]
    tx, ty = params["translate"][:, 0], params["translate"][:, 1]
    cos_sy = torch.cos(sy)
    a = torch.cos(rot - sy) / cos_sy
    b = -torch.cos(rot - sy) * torch.tan(sx) / cos_sy - torch.sin(rot)
    c = torch.sin(rot - sy) / cos_sy
    d = -torch.sin(rot - sy) * torch.tan(sx) / cos_sy + torch.cos(rot)
    # det([[a, b], [c, d]]) == 1, so the inverse of the linear part is [[d, -b], [-c, a]].
    m00, m01, m10, m11 = d / scale, -b / scale, -c / scale, a / scale
    m02 = -(m00 * tx + m01 * ty)
    m12 = -(m10 * tx + m11 * ty)
    return torch.stack([m00, m01, m02, m10, m11, m12], dim=-1).view(-1, 2, 3)


def _eager_grid_sample(source: Tensor, grid: Tensor, mode: str) -> Tensor:
    return F.grid_sample(source, grid, mode=mode, padding_mode="zeros", align_corners=False)


_opaque_grid_sample: Any = None
if hasattr(torch.library, "custom_op"):  # torch >= 2.4
    # Under torch.compile on a CPU, inductor's decomposition of grid_sample runs about
    # 4x slower than ATen's vectorised kernel (2.5 against 0.56 ms for 128 CIFAR images
    # on one thread).  An opaque custom op keeps ATen's kernel inside the compiled graph,
    # without a graph break.  It still pays: with it the compiled ResNet40-FT stack ran
    # up to about twice as fast on a CPU (benchmarks/transforms.py; the performance page).
    @torch.library.custom_op("resdepth::grid_sample", mutates_args=())
    def _opaque_grid_sample(source: Tensor, grid: Tensor, mode: str) -> Tensor:
        return _eager_grid_sample(source, grid, mode)

    @_opaque_grid_sample.register_fake  # type: ignore[untyped-decorator]  # torch's own typing
    def _(source: Tensor, grid: Tensor, mode: str) -> Tensor:
        return source.new_empty(source.shape[0], source.shape[1], grid.shape[1], grid.shape[2])


def _grid_sample(source: Tensor, grid: Tensor, mode: str) -> Tensor:
    opaque = (
        _opaque_grid_sample is not None
        and source.device.type == "cpu"
        and torch.compiler.is_compiling()
        and not (source.requires_grad or grid.requires_grad)
    )
    return (_opaque_grid_sample if opaque else _eager_grid_sample)(source, grid, mode)


def warp(
    x: Tensor,
    src: Tensor,
    out_size: tuple[int, int],
    lo: tuple[float | Tensor, float | Tensor],
    hi: tuple[float | Tensor, float | Tensor],
    interpolation: str,
    fill: float,
    region: Tensor | None = None,
) -> Tensor:
    """Sample ``x`` through per-sample pixel matrices and blend towards ``fill`` outside.

    Args:
        src: ``(B, 2, 3)`` matrices from output pixel coordinates centred on the
            output image to source pixel coordinates (pixel ``(i, j)`` at ``(j, i)``).
        out_size: ``(h, w)`` of the output.
        lo, hi: first and last source pixel, as ``(x, y)`` pairs of numbers or ``(B,)``
            tensors, of the image the affine step sees; the blend weight is the share
            of the bilinear (or nearest) footprint inside it, the closed form of
            torchvision's mask-channel trick.
        region: optional ``(B, 1, H, W)`` mask that zeroes input pixels first.
    """
    batch, _, height, width = x.shape
    out_h, out_w = out_size
    # grid_sample needs floating point; reduced precision is upcast on CPU.
    work = x.dtype
    if not x.is_floating_point() or (x.device.type == "cpu" and x.element_size() < 4):
        work = torch.float32
    source = x.to(work)
    if region is not None:
        source = source * region  # bool mask: promoted in the multiply, no converted copy
    # Source pixel coordinates of every output pixel: u = S @ (xc, yc, 1).  Each axis is
    # a sum of a per-column and a per-row term, so the full (B, h, w) planes cost one
    # broadcast add each (cheaper on CPU than affine_grid's batched matmul).
    dev = x.device
    xc = torch.arange(out_w, device=dev, dtype=torch.float32) - (out_w - 1) / 2.0
    yc = torch.arange(out_h, device=dev, dtype=torch.float32) - (out_h - 1) / 2.0
    src = src.to(torch.float32)
    by_col = src[:, :, 0:1] * xc + src[:, :, 2:3]  # (B, 2, w)
    by_row = src[:, :, 1:2] * yc  # (B, 2, h)
    # grid_sample's normalised coordinates (align_corners=False): g = (u + 0.5) * 2 / size - 1.
    planes = []
    for axis, size in ((0, width), (1, height)):
        g_col = (by_col[:, axis] + 0.5) * (2.0 / size) - 1.0
        g_row = by_row[:, axis] * (2.0 / size)
        planes.append(g_col[:, None, :] + g_row[:, :, None])
    grid = torch.stack(planes, dim=-1)
    sampled = _grid_sample(source, grid.to(work), interpolation)

    def per_sample(value: float | Tensor) -> float | Tensor:
        return value.view(-1, 1) if isinstance(value, Tensor) else value

    if interpolation == "nearest":
        coverage = torch.ones(batch, out_h, out_w, dtype=torch.bool, device=dev)
        for axis in (0, 1):
            u = torch.round(by_col[:, axis, None, :] + by_row[:, axis, :, None])
            lo_a, hi_a = per_sample(lo[axis]), per_sample(hi[axis])
            lo_a = lo_a.unsqueeze(-1) if isinstance(lo_a, Tensor) else lo_a
            hi_a = hi_a.unsqueeze(-1) if isinstance(hi_a, Tensor) else hi_a
            coverage &= (u >= lo_a) & (u <= hi_a)
        coverage = coverage.to(work)
    else:
        planes = []
        for axis in (0, 1):
            # min(u - lo + 1, hi + 1 - u), clamped to [0, 1], from the separable terms.
            col, row = by_col[:, axis], by_row[:, axis, :, None]
            low = (col - per_sample(lo[axis]) + 1.0)[:, None, :] + row
            high = (per_sample(hi[axis]) + 1.0 - col)[:, None, :] - row
            planes.append(torch.minimum(low, high, out=low).clamp_(0.0, 1.0))
        coverage = planes[0].mul_(planes[1]).to(work)
    coverage = coverage.unsqueeze(1)
    out = sampled.mul_(coverage)  # grid_sample's output is ours to reuse
    if fill != 0:
        out = out + (1.0 - coverage) * fill
    if not x.is_floating_point():
        info = torch.iinfo(x.dtype)
        out = out.round_().clamp_(info.min, info.max)
    return out.to(x.dtype).contiguous(memory_format=memory_format_of(x))


def centred_to_pixel(m: Tensor, height: int, width: int) -> Tensor:
    # An affine matrix on centred coordinates, made to return top-left-origin pixels.
    m = m.clone()
    m[:, 0, 2] += (width - 1) / 2.0
    m[:, 1, 2] += (height - 1) / 2.0
    return m


def _compose(a: Tensor, b: Tensor) -> Tensor:
    """``a @ b`` for batches of 3x3 matrices, as products and a sum: under torch.compile
    these fuse with the elementwise work around them, where a batched matmul would be
    a separate library call per product (and twice as slow here)."""
    return (a.unsqueeze(-1) * b.unsqueeze(-3)).sum(-2)


def _then_shift(m: Tensor, dx: float, dy: float) -> Tensor:
    """``m @ shift(dx, dy)``: the map that first moves a point by ``(dx, dy)``, then ``m``."""
    out = m.clone()
    out[..., 2] += m[..., 0] * dx + m[..., 1] * dy
    return out


def pixel_matrix(m: Tensor, height: int, width: int) -> Tensor:
    """``(B, 3, 3)`` from a ``(B, 2, 3)`` matrix on centred output coordinates: the same
    map on top-left pixel coordinates."""
    bottom = m.new_zeros(m.shape[0], 1, 3)
    bottom[:, :, 2].fill_(1.0)  # fill_, not "= 1.0": that would copy a tensor to the device
    return _then_shift(torch.cat([m, bottom], dim=1), -(width - 1) / 2.0, -(height - 1) / 2.0)


def fused_warp(
    x: Tensor,
    moves: list[Tensor],
    sizes: list[tuple[int, int]],
    last: Tensor,
    out_size: tuple[int, int],
    interpolation: str,
    fill: float,
) -> Tensor:
    """Whole-pixel moves (flips, zero-padded crops) then one resampling step, in a single
    sampling pass.

    Args:
        moves: each move's ``(B, 3, 3)`` output-to-input pixel matrices, in order.
        sizes: ``(h, w)`` of each move's output (the last: what the resampling step sees).
        last: the resampling step's matrices; it sees ``sizes[-1]`` and makes ``out_size``.

    Equal (up to float rounding) to applying the steps one by one: the moves compose
    into the sampling matrix, and the input pixels that a move cuts away are zeroed by
    one rectangle mask per sample.  Moves keep axes, so each step's output window is a
    rectangle in the input, found from its first and last pixel.
    """
    batch, _, height, width = x.shape
    dev = x.device
    total = moves[0].to(dev)
    x0 = y0 = torch.zeros(batch, device=dev)
    x1, y1 = (
        torch.full((batch,), float(width), device=dev),
        torch.full((batch,), float(height), device=dev),
    )
    low = high = total[:, :2, 2]
    for k, (h, w) in enumerate(sizes):
        if k:
            total = _compose(total, moves[k].to(dev))
        # The window's first pixel (0, 0) and last pixel (w - 1, h - 1) in the input.
        first = total[:, :2, 2]
        last_pixel = first + total[:, :2, 0] * (w - 1.0) + total[:, :2, 1] * (h - 1.0)
        low, high = torch.minimum(first, last_pixel), torch.maximum(first, last_pixel)
        x0, y0 = torch.maximum(x0, low[:, 0]), torch.maximum(y0, low[:, 1])
        x1, y1 = torch.minimum(x1, high[:, 0] + 1), torch.minimum(y1, high[:, 1] + 1)
    # The surviving rectangle as a separable mask: rows (B, 1, H, 1) times columns (B, 1, 1, W).
    cols = torch.arange(width, device=dev).view(1, 1, 1, -1)
    rows = torch.arange(height, device=dev).view(1, 1, -1, 1)
    in_cols = (cols >= x0.view(-1, 1, 1, 1)) & (cols < x1.view(-1, 1, 1, 1))
    in_rows = (rows >= y0.view(-1, 1, 1, 1)) & (rows < y1.view(-1, 1, 1, 1))
    # The resampling step's input image, seen in input pixels, bounds its fill blending.
    lo, hi = (low[:, 0], low[:, 1]), (high[:, 0], high[:, 1])
    out_h, out_w = out_size
    src = _then_shift(_compose(total, last.to(dev)), (out_w - 1) / 2.0, (out_h - 1) / 2.0)
    return warp(x, src[:, :2], out_size, lo, hi, interpolation, fill, in_rows & in_cols)
