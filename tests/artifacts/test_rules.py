"""Rules every reader of a checkpoint shares, each written once in ``resdepth.artifacts``:
the precision and memory format a run trained in, and which weights evaluate it."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch

from resdepth import ResNet, Trainer, export_model, load_model
from resdepth.artifacts import (
    inference_weights,
    load_checkpoint,
    open_model_file,
    read_model_folder,
    recorded_compute,
    save_checkpoint,
)
from resdepth.data import make_synthetic
from resdepth.recipes import get_recipe


@pytest.fixture(scope="module")
def averaged_run(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A run whose recipe keeps a weight average, two epochs of 2 batches."""
    out = tmp_path_factory.mktemp("run")
    torch.manual_seed(0)
    net = ResNet(layers=(1,), widths=(4,), num_classes=3)
    recipe = get_recipe("as1", batch_size=8, ema_decay=0.9)
    trainer = Trainer(net, recipe=recipe, device="cpu", out_dir=out, progress=False,
                      precision="fp32", checkpoint_every=None)  # fmt: skip
    trainer.fit(trainer.build_loaders(make_synthetic(16, 3, 8))[0], epochs=2)
    return out / "last.pt"


def _copy(state: dict, path: Path, **changes: object) -> Path:
    state = {**state, **changes}
    for key in [k for k, v in changes.items() if v is None]:
        del state[key]
    save_checkpoint(path, state)
    return path


@pytest.mark.parametrize(
    ("recorded", "expected"),
    [
        ({"precision": None, "channels_last": None}, ("fp32", False)),
        ({"precision": "bf16", "channels_last": True}, ("bf16", True)),
    ],  # fmt: skip
)
def test_every_reader_takes_the_same_recorded_precision(
    averaged_run: Path, tmp_path: Path, recorded: dict, expected: tuple
) -> None:
    state = load_checkpoint(averaged_run)
    path = _copy(state, tmp_path / "run.pt", **recorded)
    state = load_checkpoint(path)
    assert recorded_compute(state) == expected
    saved = open_model_file(path)
    assert (saved.precision, saved.channels_last) == expected
    reopened = Trainer.from_checkpoint(path, device="cpu")
    assert (reopened.precision, reopened.channels_last) == expected
    folder = export_model(path, tmp_path / "model")
    exported = read_model_folder(folder)
    assert recorded_compute(exported) == expected


def test_every_reader_evaluates_the_average_once_it_has_updates(
    averaged_run: Path, tmp_path: Path
) -> None:
    state = load_checkpoint(averaged_run)
    weights, averaged = inference_weights(state)
    assert averaged and state["averaged_model"]["updates"] == 4
    assert not torch.equal(weights["fc.weight"], state["model"]["fc.weight"])
    readers = {
        "load_model": load_model(averaged_run).state_dict(),
        "open_model_file": open_model_file(averaged_run).model.state_dict(),
        "export_model": load_model(export_model(averaged_run, tmp_path / "m")).state_dict(),
    }
    for name, loaded in readers.items():
        assert torch.equal(loaded["fc.weight"], weights["fc.weight"]), name
    # An average with no updates yet is not the model: the trained weights are.
    none_yet = {**state["averaged_model"], "updates": 0}
    path = _copy(state, tmp_path / "early.pt", averaged_model=none_yet)
    assert torch.equal(load_model(path).fc.weight, state["model"]["fc.weight"])
    assert inference_weights(load_checkpoint(path))[1] is False
