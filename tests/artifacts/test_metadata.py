"""What a checkpoint says about its run, and getting the model back from it."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch
from torch import nn

import resdepth
from resdepth import CheckpointError, ResNet, RunMetadata, Trainer, load_model
from resdepth.artifacts import RunDir, load_checkpoint
from resdepth.data import make_synthetic
from resdepth.models import PreActBasicBlock


def _train(net: nn.Module, out: Path, **kwargs: object) -> Trainer:
    trainer = Trainer(net, device="cpu", progress=False, out_dir=out, **kwargs)  # type: ignore[arg-type]
    trainer.fit(trainer.build_loaders(make_synthetic(16, 3, 8))[0], epochs=1)
    return trainer


def test_metadata_round_trips_and_is_frozen() -> None:
    meta = RunMetadata(
        model="resnet10",
        model_kwargs={"num_classes": 3},
        classes=["a", "b", "c"],  # type: ignore[arg-type]
        seed=4,
        data={"name": "x", "subset": None},
        extra={"note": [1, 2]},
    )
    again = RunMetadata.from_dict(meta.to_dict())
    assert again == meta
    assert again.classes == ("a", "b", "c")
    with pytest.raises(AttributeError):
        meta.seed = 5  # type: ignore[misc]
    with pytest.raises(TypeError):
        meta.model_kwargs["num_classes"] = 4  # type: ignore[index]
    # Keys it does not know are kept, not lost.
    assert RunMetadata.from_dict({"seed": 1, "study_shape": "d10"}).extra == {"study_shape": "d10"}


def test_metadata_refuses_what_is_not_metadata() -> None:
    with pytest.raises(TypeError, match="classes"):
        RunMetadata(classes="cat")  # type: ignore[arg-type]
    with pytest.raises(TypeError, match="model"):
        RunMetadata(model=3)  # type: ignore[arg-type]
    with pytest.raises(CheckpointError, match="damaged"):
        RunMetadata.from_dict({"classes": 7})


def test_a_run_trained_from_python_loads_in_one_line(tmp_path: Path) -> None:
    net = ResNet(PreActBasicBlock, layers=(1, 1), widths=(4, 8), num_classes=3, stem_width=6)
    trainer = _train(net, tmp_path, seed=3)
    meta = trainer.metadata
    assert meta.model_config is not None and meta.model_config["block"] == "PreActBasicBlock"
    assert meta.classes is None  # (images, labels) tuples carry no class names
    assert meta.versions["torch"] == str(torch.__version__) and meta.device == "cpu"
    model = load_model(RunDir(tmp_path).last)
    assert not model.training and isinstance(model, ResNet)
    assert model.stem_width == 6 and model.block is PreActBasicBlock
    for key, value in net.state_dict().items():
        assert torch.equal(model.state_dict()[key], value), key
    again = Trainer.from_checkpoint(RunDir(tmp_path).last, device="cpu")
    assert again.recipe == trainer.recipe
    assert again.metadata.seed == again.seed == 3
    x = make_synthetic(8, 3, 8)[0]
    assert torch.equal(again.predict(x), trainer.predict(x))


def test_registered_models_are_recorded_by_name(tmp_path: Path) -> None:
    net = resdepth.get_model("_tiny_test_net", num_classes=3)
    meta = RunMetadata.for_model(net, "_tiny_test_net", {"num_classes": 3})
    _train(net, tmp_path, metadata=meta)
    state = load_checkpoint(RunDir(tmp_path).last)
    assert state["metadata"]["model"] == "_tiny_test_net"
    assert state["metadata"]["model_config"] is None
    assert isinstance(load_model(RunDir(tmp_path).last), ResNet)


class _Foreign(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.body = nn.Sequential(nn.Flatten(), nn.Linear(3 * 8 * 8, 3))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.body(x.float())


def test_a_model_of_ones_own_is_weights_only_with_one_clear_line(tmp_path: Path) -> None:
    net = _Foreign()
    _train(net, tmp_path)
    with pytest.raises(CheckpointError, match="weights only.*load_state_dict"):
        load_model(RunDir(tmp_path).last)
    rebuilt = _Foreign()
    rebuilt.load_state_dict(load_checkpoint(RunDir(tmp_path).last)["model"])


def test_num_classes_for_a_model_that_does_not_say() -> None:
    net = _Foreign()
    with pytest.raises(ValueError, match=r"num_classes=N"):
        Trainer(net, recipe="resnet40-ft", device="cpu", progress=False)
    trainer = Trainer(net, recipe="resnet40-ft", device="cpu", progress=False, num_classes=3)
    assert trainer.num_classes == 3
    with pytest.raises(ValueError, match="num_classes"):
        Trainer(net, device="cpu", progress=False, num_classes=0)
