"""Test-time views: a network's logits averaged over several views of each image.

``"flip"``: the image and its mirror image, 1/2 each.  ``"flip_shift"`` (airbench's
six views): those two at 1/4 each, and the image shifted by one pixel diagonally each
way (reflect padding), each with its mirror image, at 1/8 each.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from .._validate import choice, image_batch

__all__ = ["TEST_VIEWS", "ViewAverage", "tta_views"]

#: The test-time view sets by name.
TEST_VIEWS = ("flip", "flip_shift")


def tta_views(x: Tensor, views: str) -> list[tuple[Tensor, float]]:
    """The views of ``x`` ``(B, C, H, W)`` that ``views`` names, each with its weight
    (the weights add up to 1).

    Raises:
        ValueError: for an unknown ``views``, or ``x`` not a batch of images of at
            least 2x2 pixels.

    Examples:
        >>> import torch
        >>> x = torch.arange(16.0).reshape(1, 1, 4, 4)
        >>> [w for _, w in tta_views(x, "flip_shift")]
        [0.25, 0.25, 0.125, 0.125, 0.125, 0.125]
        >>> tta_views(x, "flip_shift")[2][0][0, 0, 1]   # shifted down and right by 1
        tensor([1., 0., 1., 2.])
    """
    choice("views", views, TEST_VIEWS)
    x = image_batch(x, "x")
    if min(x.shape[-2:]) < 2:
        raise ValueError(f"x must be images of at least 2x2 pixels, got shape {tuple(x.shape)}")
    pairs = [(x, 0.5)]
    if views == "flip_shift":
        height, width = x.shape[-2:]
        padded = F.pad(x, (1, 1, 1, 1), mode="reflect")
        pairs = [(x, 0.25),
                 (padded[..., 0:height, 0:width], 0.125),
                 (padded[..., 2 : height + 2, 2 : width + 2], 0.125)]  # fmt: skip
    out: list[tuple[Tensor, float]] = []
    for image, weight in pairs:
        out.append((image, weight))
        out.append((image.flip(-1), weight))
    return out  # the unshifted pair first, then each shift with its mirror image


class ViewAverage(nn.Module):
    """``net``'s logits averaged over :func:`tta_views` of its input, in one
    forward pass over all views (a batch ``len(views)`` times larger).

    Args:
        net: the network.
        views: ``"flip"`` or ``"flip_shift"``.

    Shape:
        - Input: ``(B, C, H, W)``
        - Output: what ``net`` returns for ``(B, C, H, W)``, ``(B, K)``

    Examples:
        >>> import torch
        >>> net = torch.nn.Sequential(torch.nn.Flatten(), torch.nn.Linear(48, 3))
        >>> ViewAverage(net, "flip")(torch.randn(2, 3, 4, 4)).shape
        torch.Size([2, 3])
    """

    def __init__(self, net: nn.Module, views: str) -> None:
        super().__init__()
        self.net = net
        self.views = choice("views", views, TEST_VIEWS)
        self.train(net.training)  # a wrapper made for evaluation leaves the mode as it was

    def forward(self, x: Tensor) -> Tensor:
        pairs = tta_views(x, self.views)
        batch = torch.cat([view for view, _ in pairs])
        if x.is_contiguous(memory_format=torch.channels_last):
            batch = batch.contiguous(memory_format=torch.channels_last)
        logits: Tensor = self.net(batch).float().unflatten(0, (len(pairs), x.shape[0]))
        weights = torch.tensor([w for _, w in pairs], device=logits.device)
        return (logits * weights.view(-1, 1, 1)).sum(0)

    def extra_repr(self) -> str:
        return f"views={self.views!r}"
