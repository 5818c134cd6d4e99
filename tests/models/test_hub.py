"""The timm and torch.hub contract: pretrained_cfg, list_models, get_model, hubconf.py."""

from __future__ import annotations

import importlib.util
import inspect
from pathlib import Path

import pytest
import torch
from torch import nn

from resdepth import ResNet, get_model, list_models, presets, register_model
from resdepth.models import make_pretrained_cfg, unregister_model
from resdepth.transforms import CIFAR10_MEAN, CIFAR10_STD

REPO = Path(__file__).resolve().parents[2]
PAPER = "Deep Residual Learning: Analyzing Model Performance on CIFAR-10 Images"
SOURCES = {
    "resnet10": PAPER,
    "resnet40": PAPER,
    "resnet102": PAPER,
    "resnet18": "He et al., 2016, Deep Residual Learning for Image Recognition",
    "preact_resnet18": "He et al., 2016, Identity Mappings in Deep Residual Networks",
    "wrn_16_8": "Zagoruyko and Komodakis, 2016, Wide Residual Networks",
    "wrn_28_10": "Zagoruyko and Komodakis, 2016, Wide Residual Networks",
    "airbench94": "Jordan, 2024, 94% on CIFAR-10 in 3.29 Seconds on a Single GPU",
    "airbench95": "Jordan, 2024, 94% on CIFAR-10 in 3.29 Seconds on a Single GPU",
}
# The first layer's name: the speedrun networks begin with a whitening layer.
FIRST_CONV = {"airbench94": "whiten", "airbench95": "whiten"}


def test_list_models_excludes_patterns() -> None:
    assert list_models(exclude_filters="_*") == sorted(SOURCES)
    assert list_models("resnet*", exclude_filters="resnet1*") == ["resnet40"]
    assert list_models("resnet*", ["resnet1*", "resnet4*"]) == []
    assert list_models(["wrn_*", "resnet10"], exclude_filters=("*_8",)) == [
        "resnet10",
        "wrn_28_10",
    ]
    with pytest.raises(TypeError, match="pattern"):
        list_models(exclude_filters=[3])  # type: ignore[list-item]


@pytest.mark.parametrize("name", sorted(SOURCES))
def test_every_preset_describes_itself(name: str) -> None:
    with torch.device("meta"):
        net = get_model(name)
    cfg = net.pretrained_cfg
    assert type(cfg) is dict
    assert cfg["architecture"] == name
    assert cfg["source"].startswith(SOURCES[name])
    assert cfg["input_size"] == (3, 32, 32)
    assert cfg["mean"] == CIFAR10_MEAN and cfg["std"] == CIFAR10_STD
    assert cfg["interpolation"] == "bilinear" and cfg["crop_pct"] == 1.0
    assert cfg["num_classes"] == 10
    assert cfg["first_conv"] == FIRST_CONV.get(name, "conv1") and cfg["classifier"] == "fc"
    assert isinstance(net.get_submodule(cfg["first_conv"]), nn.Conv2d)
    assert net.get_submodule(cfg["classifier"]) is net.get_classifier()
    assert net.default_cfg is cfg


def test_presets_called_directly_and_with_overrides_describe_themselves() -> None:
    with torch.device("meta"):
        net = presets.wrn_16_8(num_classes=100, in_channels=1)
    assert net.pretrained_cfg["num_classes"] == 100
    assert net.pretrained_cfg["input_size"] == (1, 32, 32)
    assert net.pretrained_cfg["mean"] == (0.5,) and net.pretrained_cfg["std"] == (0.5,)
    assert net.pretrained_cfg["architecture"] == "wrn_16_8"


def test_each_model_has_its_own_cfg() -> None:
    a, b = ResNet(layers=(1,), widths=(4,)), ResNet(layers=(1,), widths=(4,), num_classes=3)
    a.reset_classifier(5)
    assert (a.pretrained_cfg["num_classes"], b.pretrained_cfg["num_classes"]) == (5, 3)
    assert a.pretrained_cfg["architecture"] is None and a.pretrained_cfg["source"] is None
    assert make_pretrained_cfg(10) is not make_pretrained_cfg(10)


def test_timm_resolves_32_pixel_settings() -> None:
    timm_data = pytest.importorskip("timm.data")
    with torch.device("meta"):
        net = get_model("resnet40")
    config = timm_data.resolve_model_data_config(net)
    assert config["input_size"] == (3, 32, 32)
    assert tuple(config["mean"]) == CIFAR10_MEAN and tuple(config["std"]) == CIFAR10_STD
    assert config["interpolation"] == "bilinear" and config["crop_pct"] == 1.0


def test_pretrained_weights_are_refused_with_the_way_out() -> None:
    with pytest.raises(ValueError, match="no downloadable weights") as info:
        get_model("resnet40", pretrained=True)
    message = str(info.value)
    assert "resdepth.models.load_paper_checkpoint" in message
    assert "resdepth.load_model" in message
    assert "\n" not in message
    assert isinstance(get_model("resnet10", pretrained=False, widths=(4, 4, 4, 4)), ResNet)


def test_unknown_arguments_give_one_line_naming_model_and_argument() -> None:
    with pytest.raises(ValueError, match=r"model 'resnet40' takes no argument 'widht'") as info:
        get_model("resnet40", widht=(1, 2, 3, 4))
    assert "did you mean 'widths'" in str(info.value) and "\n" not in str(info.value)
    with pytest.raises(ValueError, match=r"model 'wrn_16_8' .*'drop'.*'dropout'"):
        get_model("wrn_16_8", drop=0.3)
    # A builder that hands its overrides to ResNet: the TypeError from inside is renamed.
    with pytest.raises(ValueError, match=r"model '_tiny_test_net' takes no argument 'wdths'"):
        get_model("_tiny_test_net", wdths=(4, 8))


def test_strict_builders_and_unrelated_type_errors() -> None:
    @register_model(name="_test_strict")
    def strict(num_classes: int = 10) -> nn.Module:
        return ResNet(layers=(1,), widths=(4,), num_classes=num_classes)

    @register_model(name="_test_broken")
    def broken(**overrides: object) -> nn.Module:
        raise TypeError("something else went wrong")

    try:
        assert get_model("_test_strict", num_classes=3).fc.out_features == 3
        with pytest.raises(ValueError, match="model '_test_strict' takes no argument 'depth'"):
            get_model("_test_strict", depth=3)
        with pytest.raises(TypeError, match="something else"):
            get_model("_test_broken", num_classes=3)
    finally:
        unregister_model("_test_strict")
        unregister_model("_test_broken")


def _hubconf() -> object:
    spec = importlib.util.spec_from_file_location("resdepth_hubconf", REPO / "hubconf.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_hubconf_has_one_documented_entry_point_per_preset_and_one_to_load() -> None:
    hubconf = _hubconf()
    assert hubconf.dependencies == ["torch"]  # type: ignore[attr-defined]
    # What torch.hub.list shows: the public callables of hubconf.py.
    entries = [n for n in dir(hubconf) if callable(getattr(hubconf, n)) and not n.startswith("_")]
    assert sorted(entries) == sorted([*SOURCES, "load"])
    assert hubconf.load.__doc__  # type: ignore[attr-defined]
    for name in set(entries) - {"load"}:
        fn = getattr(hubconf, name)
        assert fn.__doc__ and fn.__doc__.strip()
        params = inspect.signature(fn).parameters
        assert params["pretrained"].default is False
        assert params["kwargs"].kind is inspect.Parameter.VAR_KEYWORD


def test_torch_hub_loads_from_the_checkout() -> None:
    if "source" in inspect.signature(torch.hub.list).parameters:  # newer torch lists locally
        assert sorted(torch.hub.list(str(REPO), source="local")) == sorted([*SOURCES, "load"])
    net = torch.hub.load(str(REPO), "resnet10", source="local", num_classes=3, widths=(4, 4, 8, 8))
    assert isinstance(net, ResNet) and net.fc.out_features == 3
    assert net.pretrained_cfg["architecture"] == "resnet10"
    with pytest.raises(ValueError, match="load_paper_checkpoint"):
        torch.hub.load(str(REPO), "resnet40", source="local", pretrained=True)
