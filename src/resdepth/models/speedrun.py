"""The CIFAR-10 speedrun network: a patch-whitening layer fitted from the training
images, then three groups of two 3x3 convolutions, as in airbench (Keller Jordan, 2024,
"94% on CIFAR-10 in 3.29 Seconds on a Single GPU", arXiv 2404.00498), which builds on
David Page's ResNet-9 ("How to train your ResNet", 2018) and Tysam's hlb-CIFAR10.

Its parts are reusable: :class:`PatchWhitening` is a first layer for any network of
small images, :class:`ConvGroup` a block, and :class:`SpeedrunNet` takes any widths.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import torch
from torch import Tensor, nn

from .._validate import image_batch, non_negative_float, positive_int, positive_ints
from .hub import make_pretrained_cfg

__all__ = ["ConvGroup", "PatchWhitening", "SpeedrunNet", "whitening_weights"]

#: Added to each eigenvalue before its inverse square root: the directions of almost no
#: variance (fine pixel noise) are not blown up.
WHITENING_EPS = 5e-4


def _patches(images: Tensor, size: int) -> Tensor:
    """Every ``size x size`` patch of ``images`` ``(N, C, H, W)``, flattened: ``(P, C*k*k)``."""
    n, c = images.shape[:2]
    patches = images.unfold(2, size, 1).unfold(3, size, 1)  # (N, C, h, w, size, size)
    return patches.permute(0, 2, 3, 1, 4, 5).reshape(-1, c * size * size)


def whitening_weights(images: Tensor, kernel_size: int = 2, eps: float = WHITENING_EPS) -> Tensor:
    """The filters of a patch-whitening convolution fitted on ``images``.

    The second-moment matrix of all ``kernel_size x kernel_size`` patches of the
    images (uncentred: inputs are normalised, so their mean is near zero) is
    decomposed in float64 on the CPU; each eigenvector, largest eigenvalue first, is
    scaled by ``1 / sqrt(eigenvalue + eps)``, and the filters are these and their
    negations.  Each eigenvector's sign is fixed (its largest entry positive), so the
    result is a deterministic function of the images.

    Args:
        images: ``(N, C, H, W)`` floating point, normalised as the network sees them.
        kernel_size: the patch size.
        eps: added to each eigenvalue.

    Returns:
        ``(2 * C * k * k, C, k, k)`` float32 filters.

    Raises:
        ValueError: for images that are not a non-empty ``(N, C, H, W)`` float batch
            larger than the patches.
        TypeError: for images that are not a tensor.

    Examples:
        >>> import torch
        >>> whitening_weights(torch.randn(8, 3, 8, 8)).shape
        torch.Size([24, 3, 2, 2])
    """
    k = positive_int("kernel_size", kernel_size)
    eps = non_negative_float("eps", eps)
    images = image_batch(images)
    if not images.is_floating_point():
        raise ValueError(f"images must be normalised floating point, got {images.dtype}")
    if images.shape[0] == 0 or min(images.shape[2:]) < k:
        raise ValueError(f"images must hold patches of {k}x{k}, got shape {tuple(images.shape)}")
    patches = _patches(images.detach().to("cpu", torch.float64), k)
    moment = patches.T @ patches / patches.shape[0]
    eigenvalues, eigenvectors = torch.linalg.eigh(moment)  # ascending
    eigenvalues, eigenvectors = eigenvalues.flip(0), eigenvectors.flip(1).T  # rows, largest first
    largest = eigenvectors.gather(1, eigenvectors.abs().argmax(1, keepdim=True))
    eigenvectors = eigenvectors * largest.sign()
    scaled = eigenvectors / torch.sqrt(eigenvalues.clamp(min=0) + eps)[:, None]
    filters = scaled.reshape(-1, images.shape[1], k, k)
    return torch.cat([filters, -filters]).float()


class PatchWhitening(nn.Conv2d):
    """A convolution whose filters whiten the patches of the images it was fitted on.

    ``2 * C * k * k`` output channels (24 for RGB and 2x2 patches), no padding.  The
    filters (:func:`whitening_weights`) are fixed once :meth:`init_from_data` has seen
    training images, and never trained; the bias trains for the first
    ``bias_epochs`` epochs (:meth:`set_epoch`), then stays.  A
    :class:`~resdepth.Trainer` calls both: :meth:`init_from_data` once when a run
    starts (not on resume: the filters, a frozen parameter, are in the checkpoint's
    model), on ``init_images`` training images drawn with the run's seed.

    Args:
        in_channels: channels of the images.
        kernel_size: patch size.
        eps: added to each eigenvalue (:func:`whitening_weights`).
        bias_epochs: epochs in which the bias trains (``None``: always).
        init_images: how many training images the fit wants.

    Shape:
        - Input: ``(B, C, H, W)``
        - Output: ``(B, 2 * C * k * k, H - k + 1, W - k + 1)``

    Examples:
        >>> import torch
        >>> layer = PatchWhitening(3)
        >>> layer.init_from_data(torch.randn(16, 3, 8, 8))
        >>> layer.fitted, layer(torch.randn(2, 3, 32, 32)).shape
        (True, torch.Size([2, 24, 31, 31]))
    """

    def __init__(
        self,
        in_channels: int = 3,
        kernel_size: int = 2,
        eps: float = WHITENING_EPS,
        bias_epochs: int | None = 3,
        init_images: int = 5000,
    ) -> None:
        k = positive_int("kernel_size", kernel_size)
        channels = positive_int("in_channels", in_channels)
        super().__init__(channels, 2 * channels * k * k, k, padding=0, bias=True)
        self.eps = non_negative_float("eps", eps)
        self.bias_epochs = (
            None if bias_epochs is None else positive_int("bias_epochs", bias_epochs, 0)
        )
        self.init_images = positive_int("init_images", init_images)
        self.weight.requires_grad_(False)
        assert self.bias is not None
        nn.init.zeros_(self.bias)
        # Saved with the weights, so a resumed or loaded model knows it was fitted.
        self.register_buffer("_fitted", torch.zeros((), dtype=torch.bool))

    __jit_unused_properties__ = ["fitted"]

    @property
    def fitted(self) -> bool:
        """Whether :meth:`init_from_data` has set the filters."""
        return bool(self._fitted)

    @torch.no_grad()
    def init_from_data(self, images: Tensor) -> None:
        """Set the filters from ``images`` ``(N, C, H, W)``, normalised as the network
        sees them (:func:`whitening_weights`)."""
        weights = whitening_weights(images, self.kernel_size[0], self.eps)
        self.weight.copy_(weights.to(self.weight.device, self.weight.dtype))
        fitted = self._fitted
        assert isinstance(fitted, Tensor)  # a buffer
        fitted.fill_(True)

    def set_epoch(self, epoch: int) -> None:
        """Train the bias in epochs before ``bias_epochs`` only (called at each epoch's start)."""
        assert self.bias is not None
        self.bias.requires_grad_(self.bias_epochs is None or epoch < self.bias_epochs)

    def extra_repr(self) -> str:
        conv: str = super().extra_repr()  # type: ignore[no-untyped-call]  # torch's typing
        return f"{conv}, eps={self.eps}, bias_epochs={self.bias_epochs}"


def _conv3x3(channels_in: int, channels_out: int) -> nn.Conv2d:
    conv = nn.Conv2d(channels_in, channels_out, 3, padding=1, bias=False)
    # Identity on the first input channels at the start: the group passes its input
    # through while the other filters learn (a cheap stand-in for a residual).
    with torch.no_grad():
        nn.init.dirac_(conv.weight[: min(channels_in, channels_out)])
    return conv


def _norm(channels: int, momentum: float, eps: float) -> nn.BatchNorm2d:
    norm = nn.BatchNorm2d(channels, eps=eps, momentum=momentum)
    norm.weight.requires_grad_(False)  # scale fixed at 1: only the shift trains
    return norm


class ConvGroup(nn.Module):
    """conv3x3 -> maxpool 2 -> BatchNorm -> GELU -> conv3x3 -> BatchNorm -> GELU.

    The convolutions have no bias and start as identities on their first input
    channels (``dirac_``); the BatchNorm scales are fixed at 1.

    Args:
        channels_in: input channels.
        channels_out: output channels.
        norm_momentum: BatchNorm momentum (PyTorch's sense: the weight of the new batch).
        norm_eps: BatchNorm epsilon.

    Shape:
        - Input: ``(B, channels_in, H, W)``
        - Output: ``(B, channels_out, H // 2, W // 2)``

    Examples:
        >>> import torch
        >>> ConvGroup(8, 16)(torch.randn(2, 8, 12, 12)).shape
        torch.Size([2, 16, 6, 6])
    """

    def __init__(
        self, channels_in: int, channels_out: int, norm_momentum: float = 0.4,
        norm_eps: float = 1e-12,
    ) -> None:  # fmt: skip
        super().__init__()
        self.conv1 = _conv3x3(positive_int("channels_in", channels_in),
                              positive_int("channels_out", channels_out))  # fmt: skip
        self.pool = nn.MaxPool2d(2)
        self.norm1 = _norm(channels_out, norm_momentum, norm_eps)
        self.conv2 = _conv3x3(channels_out, channels_out)
        self.norm2 = _norm(channels_out, norm_momentum, norm_eps)
        self.activation = nn.GELU()

    def forward(self, x: Tensor) -> Tensor:
        x = self.activation(self.norm1(self.pool(self.conv1(x))))
        out: Tensor = self.activation(self.norm2(self.conv2(x)))
        return out


class SpeedrunNet(nn.Module):
    """The speedrun network: :class:`PatchWhitening`, GELU, a :class:`ConvGroup` per
    width, a max-pool over what is left, a bias-free linear layer, and the logits
    scaled by ``logit_scale``.

    With widths (64, 256, 256) it is airbench94's network (Jordan, 2024): 1,972,792
    parameters of which 1,971,352 train (10 classes; the whitening filters and the
    BatchNorm scales are fixed), 118M multiply-adds per 32x32 image.  It follows the
    timm contract of :class:`~resdepth.ResNet` (``num_classes``, ``num_features``,
    ``forward_features``, ``forward_head``, ``get_classifier``, ``reset_classifier``,
    ``pretrained_cfg``).

    Args:
        widths: output channels of each group.
        num_classes: outputs of the classifier.
        in_channels: image channels.
        whitening_kernel: patch size of the whitening layer.
        logit_scale: the factor on the logits (1/9: the loss then starts near its
            value for uniform outputs, which the learning rate was tuned with).
        norm_momentum: BatchNorm momentum (PyTorch's sense).
        norm_eps: BatchNorm epsilon.
        whitening_bias_epochs: epochs in which the whitening bias trains.

    Examples:
        >>> import torch
        >>> net = SpeedrunNet(widths=(16, 32, 32), num_classes=4)
        >>> net(torch.randn(2, 3, 32, 32)).shape
        torch.Size([2, 4])
    """

    # Python-side conveniences that TorchScript need not compile.
    __jit_unused_properties__ = ["stages", "default_cfg"]
    # What the forward pass reads, as TorchScript constants (see ResNet.__constants__).
    __constants__ = ["logit_scale", "num_classes"]

    def __init__(
        self,
        widths: Sequence[int] = (64, 256, 256),
        num_classes: int = 10,
        in_channels: int = 3,
        whitening_kernel: int = 2,
        logit_scale: float = 1 / 9,
        norm_momentum: float = 0.4,
        norm_eps: float = 1e-12,
        whitening_bias_epochs: int | None = 3,
    ) -> None:
        super().__init__()
        self.widths = positive_ints("widths", widths)
        self.num_classes = positive_int("num_classes", num_classes, minimum=0)
        self.logit_scale = float(logit_scale)
        self.whiten = PatchWhitening(in_channels, whitening_kernel,
                                     bias_epochs=whitening_bias_epochs)  # fmt: skip
        self.activation = nn.GELU()
        channels = [self.whiten.out_channels, *self.widths]
        pairs = zip(channels, channels[1:], strict=False)
        self.groups = nn.Sequential(*(ConvGroup(a, b, norm_momentum, norm_eps) for a, b in pairs))
        self.pool = nn.AdaptiveMaxPool2d(1)  # maxpool 3 on the 3x3 map of 32x32 images
        self.flatten = nn.Flatten()
        self.num_features = self.widths[-1]
        self.global_pool = "max"  # what an exported config.json says, as timm names it
        self.fc: nn.Module = nn.Identity()
        self.pretrained_cfg = make_pretrained_cfg(self.num_classes, in_channels)
        self.pretrained_cfg.update(first_conv="whiten", classifier="fc")
        self.reset_classifier(self.num_classes)

    @property
    def stages(self) -> list[nn.Module]:
        """The conv groups in forward order."""
        return list(self.groups)

    @property
    def default_cfg(self) -> dict[str, Any]:
        """The same dict as :attr:`pretrained_cfg`."""
        return self.pretrained_cfg

    def get_classifier(self) -> nn.Module:
        """The classifier: the bias-free ``fc`` layer."""
        return self.fc

    def reset_classifier(self, num_classes: int) -> None:
        """A new bias-free classifier for ``num_classes`` outputs (0: none, the network
        returns its pooled features), as timm does."""
        self.num_classes = positive_int("num_classes", num_classes, minimum=0)
        w = self.whiten.weight
        self.fc = (
            nn.Linear(self.num_features, self.num_classes, bias=False, device=w.device,
                      dtype=w.dtype) if self.num_classes else nn.Identity()
        )  # fmt: skip
        self.pretrained_cfg["num_classes"] = self.num_classes

    def forward_features(self, x: Tensor) -> Tensor:
        """Whitening and the groups: the feature map before pooling."""
        out: Tensor = self.groups(self.activation(self.whiten(x)))
        return out

    def forward_head(self, x: Tensor, pre_logits: bool = False) -> Tensor:
        """Max-pool and flatten, then the scaled classifier unless ``pre_logits``."""
        x = self.flatten(self.pool(x))
        if pre_logits or self.num_classes == 0:
            return x
        logits: Tensor = self.fc(x)
        return logits * self.logit_scale

    def forward(self, x: Tensor) -> Tensor:
        return self.forward_head(self.forward_features(x))

    def extra_repr(self) -> str:
        return f"widths={list(self.widths)}, num_classes={self.num_classes}"
