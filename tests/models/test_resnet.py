from __future__ import annotations

import pytest
import torch
from hypothesis import given
from hypothesis import strategies as st
from torch import nn

from resdepth import BasicBlock, Bottleneck, ResNet, count_parameters, depth


def _independent_count(block: type, layers: list[int], widths: list[int], classes: int) -> int:
    """Closed form written from the architecture's description, stage by stage."""
    k2 = 9  # 3x3 convolutions
    e = 4 if block is Bottleneck else 1
    total = 3 * widths[0] * k2 + 2 * widths[0]  # stem conv + BN
    cin = widths[0]
    for stage, (n, w) in enumerate(zip(layers, widths, strict=True)):
        cout = w * e
        if block is BasicBlock:
            first = cin * w * k2 + w * w * k2 + 4 * w
            rest = w * w * k2 * 2 + 4 * w
        else:
            first = cin * w + w * w * k2 + w * cout + 4 * w + 2 * cout
            rest = cout * w + w * w * k2 + w * cout + 4 * w + 2 * cout
        if stage > 0 or cin != cout:
            first += cin * cout + 2 * cout  # 1x1 projection + BN
        total += first + (n - 1) * rest
        cin = cout
    return total + cin * classes + classes


@given(
    block=st.sampled_from([BasicBlock, Bottleneck]),
    shape=st.integers(1, 4).flatmap(
        lambda n: st.tuples(
            st.lists(st.integers(1, 3), min_size=n, max_size=n),
            st.lists(st.integers(1, 24), min_size=n, max_size=n),
        )
    ),
    classes=st.integers(1, 20),
)
def test_parameter_count_matches_closed_form(
    block: type, shape: tuple[list[int], list[int]], classes: int
) -> None:
    layers, widths = shape
    with torch.device("meta"):
        net = ResNet(block, layers=layers, widths=widths, num_classes=classes)
    assert count_parameters(net) == _independent_count(block, layers, widths, classes)
    assert depth(net) == 2 + block.main_path_convs * sum(layers)


@pytest.mark.parametrize(
    ("layers", "size", "classes"),
    [((1,), 32, 10), ((1, 1), 32, 3), ((1, 1, 1), 28, 100), ((1, 1, 1, 1, 1), 64, 2)],
)
def test_forward_shapes(layers: tuple[int, ...], size: int, classes: int) -> None:
    widths = tuple(4 * 2**i for i in range(len(layers)))
    net = ResNet(layers=layers, widths=widths, num_classes=classes)
    x = torch.randn(2, 3, size, size)
    assert net(x).shape == (2, classes)
    features = net.forward_features(x)
    expected = -(-size // 2 ** (len(layers) - 1))
    assert features.shape == (2, widths[-1], expected, expected)


def test_single_channel_input_and_bottleneck() -> None:
    net = ResNet(Bottleneck, layers=(1, 1), widths=(4, 8), in_channels=1, num_classes=5)
    assert net.num_features == 32
    assert net(torch.randn(3, 1, 16, 16)).shape == (3, 5)


def test_gradients_reach_every_parameter() -> None:
    for block in (BasicBlock, Bottleneck):
        net = ResNet(block, layers=(1, 2), widths=(4, 8))
        loss = net(torch.randn(4, 3, 16, 16)).square().mean()
        loss.backward()
        for name, p in net.named_parameters():
            assert p.grad is not None, name
            assert torch.isfinite(p.grad).all(), name
            assert p.grad.abs().sum() > 0, name


def test_kernel_sizes_are_used() -> None:
    net = ResNet(layers=(1, 1), widths=(4, 8), kernel_size=5, skip_kernel_size=3)
    assert net.conv1.kernel_size == (5, 5)
    assert net.layer1[0].conv1.kernel_size == (5, 5)
    assert net.layer2[0].shortcut[0].kernel_size == (3, 3)
    assert net(torch.randn(1, 3, 16, 16)).shape == (1, 10)


def test_initialisation_follows_torchvision() -> None:
    torch.manual_seed(0)
    net = ResNet(layers=(1, 1), widths=(64, 128))
    w = net.layer2[0].conv2.weight
    fan_out = w.shape[0] * w.shape[2] * w.shape[3]
    assert w.std().item() == pytest.approx((2.0 / fan_out) ** 0.5, rel=0.05)
    assert torch.all(net.bn1.weight == 1) and torch.all(net.bn1.bias == 0)


def test_zero_init_residual_makes_blocks_start_as_identity() -> None:
    net = ResNet(Bottleneck, layers=(1, 1), widths=(4, 8), zero_init_residual=True)
    assert torch.all(net.layer1[0].bn3.weight == 0)
    net = ResNet(BasicBlock, layers=(2,), widths=(8,), zero_init_residual=True).eval()
    assert torch.all(net.layer1[1].bn2.weight == 0)
    x = torch.relu(torch.randn(2, 8, 8, 8))
    torch.testing.assert_close(net.layer1[1](x), x)


def test_custom_norm_layer() -> None:
    net = ResNet(layers=(1,), widths=(8,), norm_layer=lambda c: nn.GroupNorm(2, c))
    assert isinstance(net.bn1, nn.GroupNorm)
    assert net(torch.randn(1, 3, 8, 8)).shape == (1, 10)


@pytest.mark.parametrize(
    ("kwargs", "argument"),
    [
        ({"layers": (), "widths": ()}, "layers"),
        ({"layers": (1, 1), "widths": (8,)}, "same length"),
        ({"layers": (1, 0), "widths": (8, 8)}, "layers"),
        ({"layers": (1,), "widths": (-8,)}, "widths"),
        ({"layers": (1.5,), "widths": (8,)}, "layers"),
        ({"layers": "11", "widths": (8, 8)}, "layers"),
        ({"kernel_size": 4}, "kernel_size"),
        ({"skip_kernel_size": 2}, "skip_kernel_size"),
        ({"kernel_size": 0}, "kernel_size"),
        ({"block": nn.Conv2d}, "block"),
        ({"block": "BasicBlock"}, "block"),
        ({"num_classes": 0}, "num_classes"),
        ({"in_channels": 0}, "in_channels"),
        ({"norm_layer": 3}, "norm_layer"),
    ],
)
def test_bad_arguments_raise_value_error_naming_them(kwargs: dict, argument: str) -> None:
    args = {"layers": (1,), "widths": (8,)}
    args.update(kwargs)
    with pytest.raises(ValueError, match=argument):
        ResNet(**args)


def test_blocks_validate_their_kernels() -> None:
    with pytest.raises(ValueError, match="kernel_size"):
        BasicBlock(4, 4, kernel_size=2)
    with pytest.raises(ValueError, match="skip_kernel_size"):
        Bottleneck(4, 4, skip_kernel_size=0)


def test_repr_names_the_architecture() -> None:
    text = repr(ResNet(layers=(1, 2), widths=(4, 8)))
    assert "layers=[1, 2]" in text and "widths=[4, 8]" in text
