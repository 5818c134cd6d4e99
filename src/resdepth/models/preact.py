"""Pre-activation blocks (He et al., 2016b) and the wide block of Wide ResNets
(Zagoruyko and Komodakis, 2016): normalisation and ReLU before each convolution."""

from __future__ import annotations

from typing import TYPE_CHECKING, ClassVar

import torch.nn.functional as F
from torch import Tensor, nn

from .._validate import probability
from .blocks import BasicBlock, Bottleneck, NormLayer, ResidualBlock, _Block

__all__ = ["BLOCKS", "PreActBasicBlock", "PreActBottleneck", "WideBasicBlock"]


class _PreAct(_Block):
    """What pre-activation blocks share: the input's BN-ReLU feeds both the main path
    and a projection shortcut (an identity shortcut takes the input as it is)."""

    preactivation: ClassVar[bool] = True
    if TYPE_CHECKING:  # each subclass builds it; a run-time annotation would stop TorchScript
        bn1: nn.Module

    def _residual(self, x: Tensor) -> tuple[Tensor, Tensor]:
        """``(normalised input, shortcut)``."""
        out = F.relu(self.bn1(x))
        shortcut: Tensor = self.shortcut(out) if self.projects else x
        return out, shortcut


class PreActBasicBlock(_PreAct):
    """BN-ReLU-conv twice, plus the shortcut: the pre-activation BasicBlock.

    It takes the arguments of :class:`BasicBlock` (its projection shortcut is a
    convolution without norm), and ``dropout``.

    Args:
        dropout: dropout probability between the two convolutions.

    Shape:
        - Input: :math:`(B, C_{in}, H, W)`
        - Output: :math:`(B, width, \\lceil H / stride \\rceil, \\lceil W / stride \\rceil)`
    """

    def __init__(
        self,
        in_channels: int,
        width: int,
        stride: int = 1,
        kernel_size: int = 3,
        skip_kernel_size: int = 1,
        norm_layer: NormLayer = nn.BatchNorm2d,
        dropout: float = 0.0,
    ) -> None:
        p = probability("dropout", dropout)
        super().__init__(in_channels, width, stride, kernel_size, skip_kernel_size, norm_layer)
        self.dropout = nn.Dropout(p)

    def _build(
        self, in_channels: int, width: int, stride: int, kernel_size: int, norm_layer: NormLayer
    ) -> None:
        pad = kernel_size // 2
        self.bn1 = norm_layer(in_channels)
        self.conv1 = nn.Conv2d(in_channels, width, kernel_size, stride, pad, bias=False)
        self.bn2 = norm_layer(width)
        self.conv2 = nn.Conv2d(width, width, kernel_size, 1, pad, bias=False)

    def forward(self, x: Tensor) -> Tensor:
        out, shortcut = self._residual(x)
        out = self.conv1(out)
        out = self.conv2(self.dropout(F.relu(self.bn2(out))))
        result: Tensor = shortcut + out
        return result

    def last_norm(self) -> nn.Module:
        return self.bn2


class WideBasicBlock(PreActBasicBlock):
    """The block of Wide ResNets: a :class:`PreActBasicBlock` whose family counts depth
    as ``6n + 4`` (every convolution, shortcuts included; not the linear head).

    Use ``dropout`` (0.3 in the paper's best CIFAR runs) for the dropout between the
    two convolutions.
    """

    depth_counts_shortcuts: ClassVar[bool] = True
    depth_counts_head: ClassVar[bool] = False


class PreActBottleneck(_PreAct):
    """BN-ReLU-conv three times (1x1 reduce, ``kernel_size``, 1x1 expand x4), plus the
    shortcut: the pre-activation Bottleneck.

    It takes the arguments of :class:`Bottleneck` (its projection shortcut is a
    convolution without norm).

    Shape:
        - Input: :math:`(B, C_{in}, H, W)`
        - Output: :math:`(B, 4 w, \\lceil H / s \\rceil, \\lceil W / s \\rceil)`
    """

    expansion: ClassVar[int] = 4
    main_path_convs: ClassVar[int] = 3

    def _build(
        self, in_channels: int, width: int, stride: int, kernel_size: int, norm_layer: NormLayer
    ) -> None:
        self.bn1 = norm_layer(in_channels)
        self.conv1 = nn.Conv2d(in_channels, width, 1, bias=False)
        self.bn2 = norm_layer(width)
        self.conv2 = nn.Conv2d(width, width, kernel_size, stride, kernel_size // 2, bias=False)
        self.bn3 = norm_layer(width)
        self.conv3 = nn.Conv2d(width, width * self.expansion, 1, bias=False)

    def forward(self, x: Tensor) -> Tensor:
        out, shortcut = self._residual(x)
        out = self.conv1(out)
        out = self.conv2(F.relu(self.bn2(out)))
        out = self.conv3(F.relu(self.bn3(out)))
        result: Tensor = shortcut + out
        return result

    def last_norm(self) -> nn.Module:
        return self.bn3


#: Every block class by its name (what checkpoints and study settings record).
BLOCKS: dict[str, type[ResidualBlock]] = {
    cls.__name__: cls
    for cls in (BasicBlock, Bottleneck, PreActBasicBlock, PreActBottleneck, WideBasicBlock)
}
