"""Residual blocks: the paper's BasicBlock and the Bottleneck of deeper ResNets.

Both blocks take the main-path kernel size and the shortcut ("skip") kernel size
because the paper treats both as architecture choices (3x3 and 1x1 in all its
models).  ReLU is applied functionally so that a layer summary lists exactly the
Conv2d, BatchNorm2d and block rows of the paper's Figure 8.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import ClassVar

import torch.nn.functional as F
from torch import Tensor, nn

from .._validate import odd_positive_int

__all__ = ["BasicBlock", "Bottleneck", "Projection", "ResidualBlock", "NormLayer"]

NormLayer = Callable[[int], nn.Module]


class Projection(nn.Sequential):
    """The shortcut used when a block changes resolution or width: conv + norm.

    A distinct type so that :func:`resdepth.depth` can leave shortcut
    convolutions out of the paper's depth count.
    """

    def __init__(
        self,
        in_channels: int,
        out_channels: int,
        stride: int,
        kernel_size: int,
        norm_layer: NormLayer | None,
    ) -> None:
        conv = nn.Conv2d(in_channels, out_channels, kernel_size, stride=stride,
                         padding=kernel_size // 2, bias=False)  # fmt: skip
        # Pre-activation blocks project their normalised input: a convolution alone.
        layers = [conv] if norm_layer is None else [conv, norm_layer(out_channels)]
        super().__init__(*layers)


class ResidualBlock(nn.Module):
    """Base class of the blocks :class:`~resdepth.ResNet` accepts.

    A subclass sets :attr:`expansion` (output channels per unit of width) and
    :attr:`main_path_convs` (weighted layers it adds to the network's depth), and
    takes ``(in_channels, width, stride, kernel_size, skip_kernel_size,
    norm_layer)`` in its constructor.
    """

    expansion: ClassVar[int] = 1
    main_path_convs: ClassVar[int] = 2
    #: Normalisation and ReLU come before each convolution (He et al., 2016b): the
    #: network then has no norm after its stem and a final BN-ReLU before pooling.
    preactivation: ClassVar[bool] = False
    #: How the family's paper counts depth: with its projection shortcuts (Wide
    #: ResNets count every convolution, 6n + 4), and with the linear head (He et al.).
    depth_counts_shortcuts: ClassVar[bool] = False
    depth_counts_head: ClassVar[bool] = True

    def __init__(self) -> None:
        super().__init__()
        self.shortcut: nn.Module = nn.Identity()

    @staticmethod
    def _shortcut(
        in_channels: int,
        out_channels: int,
        stride: int,
        skip_kernel_size: int,
        norm_layer: NormLayer | None,
    ) -> nn.Module:
        if stride == 1 and in_channels == out_channels:
            return nn.Identity()
        return Projection(in_channels, out_channels, stride, skip_kernel_size, norm_layer)

    def last_norm(self) -> nn.Module:
        """The norm layer whose output joins the shortcut (zeroed by ``zero_init_residual``)."""
        raise NotImplementedError


class _Block(ResidualBlock):
    """What the built-in blocks share: their constructor's arguments, its checks, and
    the shortcut; a subclass builds its main path in :meth:`_build`."""

    def __init__(
        self,
        in_channels: int,
        width: int,
        stride: int = 1,
        kernel_size: int = 3,
        skip_kernel_size: int = 1,
        norm_layer: NormLayer = nn.BatchNorm2d,
    ) -> None:
        super().__init__()
        odd_positive_int("kernel_size", kernel_size)
        odd_positive_int("skip_kernel_size", skip_kernel_size)
        self._build(in_channels, width, stride, kernel_size, norm_layer)
        # Pre-activation blocks project their normalised input: a convolution alone.
        shortcut_norm = None if self.preactivation else norm_layer
        self.shortcut = self._shortcut(
            in_channels, width * self.expansion, stride, skip_kernel_size, shortcut_norm
        )
        # A plain bool, which TorchScript can read (it cannot test a submodule's class).
        self.projects: bool = isinstance(self.shortcut, Projection)

    def _build(
        self, in_channels: int, width: int, stride: int, kernel_size: int, norm_layer: NormLayer
    ) -> None:
        """Create the main path's layers (the arguments are checked)."""
        raise NotImplementedError


class BasicBlock(_Block):
    """Two ``kernel_size`` convolutions with norm and ReLU, plus the shortcut.

    Args:
        in_channels: channels of the block's input.
        width: channels of both convolutions and of the output.
        stride: stride of the first convolution and of the projection shortcut.
        kernel_size: odd kernel size of the main-path convolutions.
        skip_kernel_size: odd kernel size of the projection shortcut.
        norm_layer: callable building a norm layer for a channel count.

    Shape:
        - Input: :math:`(B, C_{in}, H, W)`
        - Output: :math:`(B, width, \\lceil H / stride \\rceil, \\lceil W / stride \\rceil)`
    """

    expansion: ClassVar[int] = 1
    main_path_convs: ClassVar[int] = 2

    def _build(
        self, in_channels: int, width: int, stride: int, kernel_size: int, norm_layer: NormLayer
    ) -> None:
        pad = kernel_size // 2
        self.conv1 = nn.Conv2d(in_channels, width, kernel_size, stride, pad, bias=False)
        self.bn1 = norm_layer(width)
        self.conv2 = nn.Conv2d(width, width, kernel_size, 1, pad, bias=False)
        self.bn2 = norm_layer(width)

    def forward(self, x: Tensor) -> Tensor:
        out = F.relu(self.bn1(self.conv1(x)))
        out = self.bn2(self.conv2(out))
        return F.relu(out + self.shortcut(x))

    def last_norm(self) -> nn.Module:
        return self.bn2


class Bottleneck(_Block):
    """1x1 reduce, ``kernel_size`` conv, 1x1 expand (x4), plus the shortcut.

    The stride sits on the middle convolution, as in torchvision's ResNet v1.5.

    Args:
        in_channels: channels of the block's input.
        width: channels of the inner convolutions; the output has ``4 * width``.
        stride: stride of the middle convolution and of the projection shortcut.
        kernel_size: odd kernel size of the middle convolution.
        skip_kernel_size: odd kernel size of the projection shortcut.
        norm_layer: callable building a norm layer for a channel count.

    Shape:
        - Input: :math:`(B, C_{in}, H, W)`
        - Output: :math:`(B, 4 w, \\lceil H / s \\rceil, \\lceil W / s \\rceil)`, with
          :math:`w` the width and :math:`s` the stride
    """

    expansion: ClassVar[int] = 4
    main_path_convs: ClassVar[int] = 3

    def _build(
        self, in_channels: int, width: int, stride: int, kernel_size: int, norm_layer: NormLayer
    ) -> None:
        out_channels = width * self.expansion
        self.conv1 = nn.Conv2d(in_channels, width, 1, bias=False)
        self.bn1 = norm_layer(width)
        self.conv2 = nn.Conv2d(width, width, kernel_size, stride, kernel_size // 2, bias=False)
        self.bn2 = norm_layer(width)
        self.conv3 = nn.Conv2d(width, out_channels, 1, bias=False)
        self.bn3 = norm_layer(out_channels)

    def forward(self, x: Tensor) -> Tensor:
        out = F.relu(self.bn1(self.conv1(x)))
        out = F.relu(self.bn2(self.conv2(out)))
        out = self.bn3(self.conv3(out))
        return F.relu(out + self.shortcut(x))

    def last_norm(self) -> nn.Module:
        return self.bn3
