"""The timm-style head API of ResNet, and TorchScript for every preset."""

from __future__ import annotations

import io

import pytest
import torch
import torch.nn.functional as F
from torch import Tensor, nn

from resdepth import BasicBlock, Bottleneck, PreActBasicBlock, ResNet, get_model, list_models
from resdepth.models import PreActBottleneck, SpeedrunNet, WideBasicBlock

PRESETS = list_models(exclude_filters="_*")
# Deep or wide enough that scripting them takes seconds: their full-size test is slow.
BIG = {"resnet102", "wrn_28_10"}
# TorchScript is deprecated in this torch and says so on every call.
JIT_DEPRECATED = "ignore:`torch\\.jit:FutureWarning"


def _old_forward(net: ResNet, x: Tensor) -> Tensor:
    """The forward pass as it was written before the head API, step by step through the
    network's own layers."""
    x = net.conv1(x)
    if not net.block.preactivation:
        x = F.relu(net.bn1(x))
    for stage in net.stages:
        x = stage(x)
    if net.block.preactivation:
        x = F.relu(net.final_norm(x))
    out: Tensor = net.fc(net.flatten(net.avgpool(x)))
    return out


@pytest.mark.parametrize(
    "block", [BasicBlock, Bottleneck, PreActBasicBlock, PreActBottleneck, WideBasicBlock]
)
def test_forward_is_bit_identical_to_the_old_path(block: type) -> None:
    torch.manual_seed(0)
    net = ResNet(block, layers=(1, 2, 1), widths=(4, 8, 16), num_classes=5).eval()
    x = torch.randn(3, 3, 16, 16)
    with torch.no_grad():
        out = net(x)
        assert torch.equal(out, _old_forward(net, x))
        assert torch.equal(out, net.forward_head(net.forward_features(x)))


def test_two_models_with_the_same_state_agree() -> None:
    a = get_model("preact_resnet18", widths=(4, 8, 8, 16)).eval()
    b = get_model("preact_resnet18", widths=(4, 8, 8, 16)).eval()
    b.load_state_dict(a.state_dict())
    x = torch.randn(2, 3, 16, 16)
    with torch.no_grad():
        assert torch.equal(a(x), b(x))


def test_forward_head_pre_logits_gives_pooled_features() -> None:
    net = ResNet(layers=(1, 1), widths=(4, 8), num_classes=3).eval()
    x = torch.randn(2, 3, 16, 16)
    features = net.forward_features(x)
    assert features.shape == (2, 8, 8, 8)
    pooled = net.forward_head(features, pre_logits=True)
    assert pooled.shape == (2, net.num_features)
    torch.testing.assert_close(pooled, features.mean(dim=(2, 3)))
    assert torch.equal(net.fc(pooled), net.forward_head(features))


def test_get_classifier_is_fc() -> None:
    net = get_model("resnet10", widths=(4, 8, 8, 16))
    assert net.get_classifier() is net.fc
    assert isinstance(net.get_classifier(), nn.Linear)


def test_reset_classifier_replaces_the_head() -> None:
    net = get_model("resnet40", widths=(4, 8, 8, 16))
    old = net.fc
    net.reset_classifier(7)
    assert net.fc is not old and net.get_classifier() is net.fc
    assert (net.fc.in_features, net.fc.out_features) == (16, 7)
    assert net.num_classes == 7 and net.pretrained_cfg["num_classes"] == 7
    assert net.default_cfg is net.pretrained_cfg
    assert net(torch.randn(2, 3, 8, 8)).shape == (2, 7)
    assert "num_classes=7" in repr(net)


def test_reset_classifier_to_zero_gives_features_like_timm() -> None:
    net = ResNet(layers=(1, 1), widths=(4, 8)).eval()
    x = torch.randn(2, 3, 8, 8)
    pooled = net.forward_head(net.forward_features(x), pre_logits=True)
    net.reset_classifier(0)
    assert isinstance(net.get_classifier(), nn.Identity)
    assert net.num_classes == 0 and net.pretrained_cfg["num_classes"] == 0
    assert torch.equal(net(x), pooled)
    net.reset_classifier(4)
    assert net(x).shape == (2, 4)


def test_reset_classifier_keeps_dtype_and_rejects_bad_counts() -> None:
    net = ResNet(layers=(1,), widths=(4,)).double()
    net.reset_classifier(3)
    assert net.fc.weight.dtype == torch.float64
    assert net(torch.randn(1, 3, 8, 8, dtype=torch.float64)).dtype == torch.float64
    for bad in (-1, 2.5, True, "3"):
        with pytest.raises(ValueError, match="num_classes"):
            net.reset_classifier(bad)  # type: ignore[arg-type]
    assert net.fc.out_features == 3


def _narrow(name: str) -> dict[str, tuple[int, ...]]:
    """Overrides that keep a preset's blocks and stages but make it narrow (fast to build)."""
    with torch.device("meta"):
        count = len(get_model(name).stages)
    return {"widths": (4,) * count}


def _script_and_compare(net: nn.Module) -> None:
    net.eval()
    scripted = torch.jit.script(net)
    # The speedrun network halves the size three times after a 2x2 whitening: 16 or more.
    size = 16 if isinstance(net, SpeedrunNet) else 8
    x = torch.randn(2, 3, size, size)
    with torch.no_grad():
        torch.testing.assert_close(scripted(x), net(x))
        pooled = scripted.forward_head(scripted.forward_features(x), pre_logits=True)
        torch.testing.assert_close(pooled, net.forward_head(net.forward_features(x), True))


@pytest.mark.filterwarnings(JIT_DEPRECATED)
@pytest.mark.parametrize("name", [n for n in PRESETS if n not in BIG])
def test_narrow_presets_script_and_match_eager(name: str) -> None:
    torch.manual_seed(0)
    _script_and_compare(get_model(name, **_narrow(name)))


def _can_be_freed(value: object) -> bool:
    """Whether an object's address can be handed to a new object: not None, a bool or a
    small int, which Python never frees."""
    if value is None or isinstance(value, bool):
        return False
    return not (type(value) is int and -5 <= value <= 256)


@pytest.mark.filterwarnings(JIT_DEPRECATED)
@pytest.mark.parametrize("name", ["resnet10", "preact_resnet18", "wrn_16_8", "airbench94"])
def test_scripting_does_not_mistake_an_attribute_for_a_builtin(name: str) -> None:
    """TorchScript looks every plain attribute up by ``id()`` in a table of builtin
    functions, and torch leaves stale ids in it when it replaces an operator (torch.export
    and torch.library do). An attribute born at a freed operator's address then scripts as
    a builtin ("builtin cannot be used as a value"), which failed CI after export tests. The
    networks keep what their forward pass reads as TorchScript constants, which skip the
    lookup: here every freeable attribute's id is in the table while the network scripts."""
    from torch.jit import _builtins  # the table is private to torch; its state is the cause

    torch.manual_seed(0)
    net = get_model(name, **_narrow(name))
    table = _builtins._get_builtin_table()
    poisoned = {
        id(value)
        for module in net.modules()
        for key, value in vars(module).items()
        if not key.startswith("_") and not isinstance(value, nn.Module) and _can_be_freed(value)
    } - set(table)
    table.update(dict.fromkeys(poisoned, "aten::add"))
    try:
        _script_and_compare(net)
    finally:
        for key in poisoned:
            del table[key]


@pytest.mark.slow
@pytest.mark.filterwarnings(JIT_DEPRECATED)
@pytest.mark.parametrize("name", PRESETS)
def test_every_full_size_preset_scripts(name: str) -> None:
    torch.manual_seed(0)
    _script_and_compare(get_model(name))


@pytest.mark.filterwarnings(JIT_DEPRECATED)
def test_scripted_model_saves_and_loads_without_resdepth_code() -> None:
    net = get_model("wrn_16_8", widths=(8, 16, 16), dropout=0.3).eval()
    buffer = io.BytesIO()
    torch.jit.save(torch.jit.script(net), buffer)
    buffer.seek(0)
    loaded = torch.jit.load(buffer)
    x = torch.randn(2, 3, 8, 8)
    with torch.no_grad():
        torch.testing.assert_close(loaded(x), net(x))
