"""The ResNet factory: a CIFAR stem, any number of residual stages, a linear head."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import torch.nn.functional as F
from torch import Tensor, nn

from .._validate import odd_positive_int, positive_int, positive_ints
from .blocks import BasicBlock, NormLayer, ResidualBlock
from .hub import make_pretrained_cfg

__all__ = ["ResNet"]


def _check_stages(
    layers: Sequence[int], widths: Sequence[int]
) -> tuple[tuple[int, ...], tuple[int, ...]]:
    """Validated ``(layers, widths)``: non-empty, positive, one width per stage."""
    layers = positive_ints("layers", layers)
    widths = positive_ints("widths", widths)
    if len(layers) != len(widths):
        raise ValueError(
            f"layers and widths must have the same length, got {len(layers)} and {len(widths)}"
        )
    return layers, widths


def _check_block(block: object) -> type[ResidualBlock]:
    if not (isinstance(block, type) and issubclass(block, ResidualBlock)):
        raise ValueError(
            "block must be a ResidualBlock subclass such as BasicBlock or Bottleneck, "
            f"got {block!r}"
        )
    return block


class ResNet(nn.Module):
    """A residual network for small images, built stage by stage.

    The stem is a stride-1 ``kernel_size`` convolution with norm and ReLU and no
    max-pool (the CIFAR stem).  Stage ``i`` stacks ``layers[i]`` blocks of width
    ``widths[i]``; the first stage keeps the resolution and every later stage
    halves it.  Global average pooling, a flatten and a linear layer make the head.
    With a pre-activation block the stem is the convolution alone and a final
    norm and ReLU come before the pooling (He et al., 2016b).

    It follows timm's model contract: :meth:`forward_features`,
    :meth:`forward_head`, :meth:`get_classifier`, :meth:`reset_classifier`, and
    ``pretrained_cfg`` (also ``default_cfg``), a plain dict of the input settings
    (32x32 images, CIFAR-10's mean and std) that
    ``timm.data.resolve_model_data_config`` reads.  ``torch.jit.script`` compiles it.

    Args:
        block: the residual block class: :class:`BasicBlock`, :class:`Bottleneck`,
            :class:`PreActBasicBlock`, :class:`PreActBottleneck` or
            :class:`WideBasicBlock`.
        layers: blocks per stage; one entry per stage, at least one stage.
        widths: width of each stage (a block's output has ``width * block.expansion``
            channels).
        num_classes: outputs of the linear head.
        in_channels: channels of the input images.
        kernel_size: odd kernel size of the stem and of the main-path convolutions.
        skip_kernel_size: odd kernel size of projection shortcuts.
        zero_init_residual: start each block's last norm at zero, so that every
            block begins as the identity (Goyal et al., 2017).
        norm_layer: callable building the norm layer for a channel count
            (default :class:`torch.nn.BatchNorm2d`).
        stem_width: channels of the stem (default ``widths[0]``; Wide ResNets use 16).
        block_kwargs: more keyword arguments for every block (``{"dropout": 0.3}``).

    Shape:
        - Input: :math:`(B, C_{in}, H, W)`
        - Output: :math:`(B, num\\_classes)`

    Examples:
        >>> import torch
        >>> from resdepth import ResNet, BasicBlock
        >>> net = ResNet(BasicBlock, layers=(1, 1), widths=(8, 16), num_classes=3)
        >>> net(torch.randn(2, 3, 32, 32)).shape
        torch.Size([2, 3])
    """

    # Properties TorchScript leaves out when it compiles the network.
    __jit_unused_properties__ = ["stages", "default_cfg"]
    # What the forward pass reads, as TorchScript constants: a plain attribute is looked up
    # by id() among torch's builtins, where torch.export leaves ids of freed operators, so a
    # tuple born at such an address would script as a builtin function.
    __constants__ = ["stage_names", "preactivation"]

    def __init__(
        self,
        block: type[ResidualBlock] = BasicBlock,
        layers: Sequence[int] = (2, 2, 2, 2),
        widths: Sequence[int] = (64, 128, 256, 512),
        num_classes: int = 10,
        in_channels: int = 3,
        kernel_size: int = 3,
        skip_kernel_size: int = 1,
        zero_init_residual: bool = False,
        norm_layer: NormLayer | None = None,
        stem_width: int | None = None,
        block_kwargs: Mapping[str, Any] | None = None,
    ) -> None:
        super().__init__()
        self.block = _check_block(block)
        self.layers, self.widths = _check_stages(layers, widths)
        self.num_classes = positive_int("num_classes", num_classes)
        positive_int("in_channels", in_channels)
        self.kernel_size = odd_positive_int("kernel_size", kernel_size)
        self.skip_kernel_size = odd_positive_int("skip_kernel_size", skip_kernel_size)
        if norm_layer is None:
            norm_layer = nn.BatchNorm2d
        elif not callable(norm_layer):
            raise ValueError(f"norm_layer must be callable, got {norm_layer!r}")
        self.stem_width = positive_int("stem_width", stem_width or self.widths[0])
        extra = dict(block_kwargs or {})

        # A plain attribute, which TorchScript can read (it cannot read the block class).
        self.preactivation: bool = self.block.preactivation
        stem, pre = self.stem_width, self.preactivation
        k = self.kernel_size
        self.conv1 = nn.Conv2d(in_channels, stem, k, 1, k // 2, bias=False)
        # A pre-activation network normalises in each block, so its stem is the conv alone.
        self.bn1: nn.Module = nn.Identity() if pre else norm_layer(stem)
        channels = stem
        self.stage_names: tuple[str, ...] = tuple(f"layer{i + 1}" for i in range(len(self.layers)))
        for i, (count, width) in enumerate(zip(self.layers, self.widths, strict=True)):
            stride = 1 if i == 0 else 2
            blocks = []
            for j in range(count):
                blocks.append(
                    self.block(  # type: ignore[call-arg]  # each subclass defines the arguments
                        channels,
                        width,
                        stride if j == 0 else 1,
                        self.kernel_size,
                        self.skip_kernel_size,
                        norm_layer,
                        **extra,
                    )
                )
                channels = width * self.block.expansion
            self.add_module(self.stage_names[i], nn.Sequential(*blocks))
        self.num_features = channels
        self.final_norm: nn.Module = norm_layer(channels) if pre else nn.Identity()
        self.avgpool = nn.AdaptiveAvgPool2d(1)
        self.flatten = nn.Flatten()
        self.fc: nn.Module = nn.Linear(channels, self.num_classes)
        #: What the network says about itself to timm (see :mod:`resdepth.models.hub`).
        self.pretrained_cfg = make_pretrained_cfg(self.num_classes, in_channels)
        self._init_weights(zero_init_residual)

    def _init_weights(self, zero_init_residual: bool) -> None:
        # As torchvision's ResNet: He (fan_out) init for convs, unit-scale norms,
        # PyTorch's default init for the linear head.
        for m in self.modules():
            if isinstance(m, nn.Conv2d):
                nn.init.kaiming_normal_(m.weight, mode="fan_out", nonlinearity="relu")
            elif isinstance(m, (nn.BatchNorm2d, nn.GroupNorm)):
                nn.init.constant_(m.weight, 1)
                nn.init.constant_(m.bias, 0)
        if zero_init_residual:
            for m in self.modules():
                if isinstance(m, ResidualBlock):
                    norm = m.last_norm()
                    weight = getattr(norm, "weight", None)
                    if isinstance(weight, Tensor):
                        nn.init.constant_(weight, 0)

    @property
    def stages(self) -> list[nn.Sequential]:
        """The residual stages in forward order (``layer1``, ``layer2``, ...)."""
        return [getattr(self, name) for name in self.stage_names]

    @property
    def default_cfg(self) -> dict[str, Any]:
        """The same dict as :attr:`pretrained_cfg` (the name older timm code reads)."""
        return self.pretrained_cfg

    def get_classifier(self) -> nn.Module:
        """The classifier: the ``fc`` layer (``nn.Identity`` after ``reset_classifier(0)``).

        Examples:
            >>> from resdepth import get_model
            >>> get_model("resnet10").get_classifier()
            Linear(in_features=512, out_features=10, bias=True)
        """
        return self.fc

    def reset_classifier(self, num_classes: int) -> None:
        """Replace the classifier with a new one for ``num_classes`` outputs, as timm does.

        The new ``nn.Linear`` (PyTorch's default initialisation) sits on the device and
        has the dtype of the stem; ``num_classes`` and ``pretrained_cfg["num_classes"]``
        follow.  With 0 the classifier becomes ``nn.Identity``, and the network returns
        its pooled features.

        Args:
            num_classes: outputs of the new classifier, or 0 for none.

        Raises:
            ValueError: if ``num_classes`` is not an integer of at least 0.

        Examples:
            >>> import torch
            >>> from resdepth import get_model
            >>> net = get_model("resnet10")
            >>> net.reset_classifier(100)
            >>> net.fc.out_features, net.num_classes, net.pretrained_cfg["num_classes"]
            (100, 100, 100)
            >>> net.reset_classifier(0)
            >>> net(torch.randn(2, 3, 32, 32)).shape
            torch.Size([2, 512])
        """
        self.num_classes = positive_int("num_classes", num_classes, minimum=0)
        if self.num_classes == 0:
            self.fc = nn.Identity()
        else:
            w = self.conv1.weight
            self.fc = nn.Linear(self.num_features, self.num_classes, device=w.device, dtype=w.dtype)
        self.pretrained_cfg["num_classes"] = self.num_classes

    def forward_features(self, x: Tensor) -> Tensor:
        """Stem and stages: the feature map before pooling, ``(B, num_features, h, w)``."""
        x = self.conv1(x)
        if not self.preactivation:
            x = F.relu(self.bn1(x))
        # TorchScript unrolls a loop over named_children(); it has no getattr by name.
        for name, module in self.named_children():
            if name in self.stage_names:
                x = module(x)
        return F.relu(self.final_norm(x)) if self.preactivation else x

    def forward_head(self, x: Tensor, pre_logits: bool = False) -> Tensor:
        """Pooling and flatten, then the linear classifier unless ``pre_logits``.

        Args:
            x: a feature map from :meth:`forward_features`.
            pre_logits: return the pooled ``(B, num_features)`` features instead of
                the classifier's output.

        Examples:
            >>> import torch
            >>> from resdepth import get_model
            >>> net = get_model("resnet10").eval()
            >>> x = torch.randn(2, 3, 32, 32)
            >>> net.forward_head(net.forward_features(x), pre_logits=True).shape
            torch.Size([2, 512])
        """
        x = self.flatten(self.avgpool(x))
        if pre_logits:
            return x
        logits: Tensor = self.fc(x)
        return logits

    def forward(self, x: Tensor) -> Tensor:
        return self.forward_head(self.forward_features(x))

    def extra_repr(self) -> str:
        return (
            f"block={self.block.__name__}, layers={list(self.layers)}, "
            f"widths={list(self.widths)}, num_classes={self.num_classes}"
        )
