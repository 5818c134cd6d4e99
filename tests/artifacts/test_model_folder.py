"""Model folders that must be refused in one line naming the file, before anything large
is built or read: a missing or foreign config, a model out of bounds, weights that are
damaged, hostile or of another model."""

from __future__ import annotations

import json
import os
import struct
from collections.abc import Callable
from pathlib import Path

import pytest
import torch
from safetensors.torch import save_file

from resdepth import CheckpointError, ResNet, Trainer, export_model, load_model
from resdepth.artifacts import RunMetadata, check_model_bounds, read_model_folder
from resdepth.artifacts.export import plain_weights
from resdepth.data import make_synthetic


@pytest.fixture(scope="module")
def exported(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("run")
    torch.manual_seed(0)
    trainer = Trainer(ResNet(layers=(1,), widths=(8,), num_classes=3), device="cpu",
                      out_dir=out, progress=False, precision="fp32")  # fmt: skip
    trainer.fit(trainer.build_loaders(make_synthetic(16, 3, 8))[0], epochs=1)
    return export_model(out / "last.pt", out / "export")


@pytest.fixture
def folder(exported: Path, tmp_path: Path) -> Path:
    copy = tmp_path / "model"
    copy.mkdir()
    for name in ("config.json", "model.safetensors"):
        (copy / name).write_bytes((exported / name).read_bytes())
    return copy


def _edit_config(folder: Path, change: Callable[[dict], None]) -> None:
    config = json.loads((folder / "config.json").read_text())
    change(config)
    (folder / "config.json").write_text(json.dumps(config))


def _refused(path: Path, *words: str) -> str:
    with pytest.raises(CheckpointError) as caught:
        load_model(path)
    message = str(caught.value)
    assert "\n" not in message, message
    for word in words:
        assert word in message, message
    return message


def _set_model_config(**changes: object) -> Callable[[dict], None]:
    def change(config: dict) -> None:
        config["resdepth"]["metadata"]["model_config"].update(changes)

    return change


def test_the_copy_loads(folder: Path) -> None:
    assert load_model(folder).fc.out_features == 3


def test_a_missing_path_or_a_run_folder(folder: Path, exported: Path, tmp_path: Path) -> None:
    _refused(tmp_path / "nowhere.safetensors", "nowhere.safetensors: no such file or folder")
    _refused(exported.parent, "is a run folder: give its best.pt")


def test_a_missing_or_foreign_config(folder: Path) -> None:
    (folder / "config.json").rename(folder / "other.json")
    _refused(folder, "config.json", "no such file")
    (folder / "config.json").write_text("{not json")
    _refused(folder, "config.json", "JSON")
    (folder / "config.json").write_text(json.dumps({"architecture": "resnet18"}))
    _refused(folder / "model.safetensors", "config.json", "not a resdepth model config")
    (folder / "config.json").write_bytes((folder / "other.json").read_bytes())
    _edit_config(folder, lambda c: c["resdepth"].update(format=99))
    _refused(folder, "config.json", "format 99")


@pytest.mark.parametrize(
    ("change", "words"),
    [
        (_set_model_config(widths=[10**9]), ("widths[0]", "beyond")),
        (_set_model_config(layers=[900, 900]), ("1,800 blocks",)),
        (_set_model_config(num_classes=10**12), ("num_classes",)),
        (_set_model_config(stem_width=10**400), ("stem_width",)),
        (_set_model_config(widths=[8] * 10_000), ("10000 entries",)),
        (_set_model_config(kernel_size=float("nan")), ("kernel_size",)),
        (_set_model_config(block="os.system"), ("cannot build",)),
        (lambda c: c["resdepth"]["metadata"].update(model="no_such_model"), ("no_such_model",)),
        (lambda c: c["resdepth"]["metadata"].update(model_config=None), ("names no model",)),
    ],
)
def test_a_model_out_of_bounds_is_refused_before_it_is_built(
    folder: Path, change: Callable[[dict], None], words: tuple[str, ...]
) -> None:
    _edit_config(folder, change)
    _refused(folder, "config.json", *words)


def test_a_config_that_is_no_plain_file_or_nests_without_end(folder: Path) -> None:
    config = folder / "config.json"
    config.write_text("[" * 100_000 + "]" * 100_000)
    _refused(folder, "config.json", "nested too deeply")
    config.unlink()
    config.symlink_to("/dev/zero")  # size 0 to stat, bytes without end to read
    _refused(folder, "config.json", "not a regular file")
    config.unlink()
    os.mkfifo(config)  # a reader of a pipe with no writer waits for ever
    _refused(folder, "config.json", "not a regular file")
    config.unlink()
    config.write_bytes(b" " * 4_000_001)
    _refused(folder, "config.json", "more than 4,000,000 bytes")


def test_a_summary_that_is_no_object(folder: Path) -> None:
    _edit_config(folder, lambda c: c["resdepth"].update(summary=5))
    _refused(folder, "config.json", "summary is not an object")


def test_bounds_on_their_own() -> None:
    check_model_bounds(RunMetadata(model="resnet40", model_kwargs={"num_classes": 100}))
    with pytest.raises(ValueError, match="classes"):
        check_model_bounds(RunMetadata(model="resnet10", classes=("x",) * 100_001))
    with pytest.raises(ValueError, match=r"model_kwargs.widths"):
        check_model_bounds(RunMetadata(model="resnet10", model_kwargs={"widths": [2**40]}))


def test_weights_of_another_model_are_refused(folder: Path) -> None:
    other = ResNet(layers=(1,), widths=(16,), num_classes=3)
    save_file(plain_weights(other), str(folder / "model.safetensors"))
    _refused(folder, "model.safetensors does not fit", "config.json", "conv1.weight")
    weights = plain_weights(ResNet(layers=(1,), widths=(8,), num_classes=3))
    weights["fc.weight"] = weights["fc.weight"].double()
    save_file(weights, str(folder / "model.safetensors"))
    _refused(folder, "fc.weight is F64")
    del weights["fc.weight"]
    weights["stowaway"] = torch.zeros(2)
    save_file(weights, str(folder / "model.safetensors"))
    _refused(folder, "missing fc.weight", "unexpected stowaway")


def _header_file(path: Path, header: dict, payload: bytes = b"") -> None:
    text = json.dumps(header).encode()
    path.write_bytes(struct.pack("<Q", len(text)) + text + payload)


def test_damaged_and_hostile_weights_are_refused(folder: Path) -> None:
    weights = folder / "model.safetensors"
    whole = weights.read_bytes()
    weights.write_bytes(whole[: len(whole) // 2])  # truncated
    _refused(folder, "model.safetensors", "not a readable safetensors file")
    weights.write_bytes(b"\x00" * 3)  # shorter than the header's length field
    _refused(folder, "not a readable safetensors file")
    weights.write_bytes(struct.pack("<Q", 2**62) + b"{}")  # a header of 4 EiB
    _refused(folder, "not a readable safetensors file")
    huge = {"conv1.weight": {"dtype": "F32", "shape": [2**20, 2**20], "data_offsets": [0, 2**42]}}
    _header_file(weights, huge, b"\x00" * 64)  # offsets far beyond the file
    _refused(folder, "not a readable safetensors file")
    weights.write_bytes(b"PK\x03\x04" + b"\x00" * 100)  # a torch pickle (zip), not safetensors
    _refused(folder, "not a readable safetensors file")
    weights.unlink()
    _refused(folder, "model.safetensors", "no such file")


def test_a_bad_recipe_or_precision_is_refused(folder: Path) -> None:
    _edit_config(folder, lambda c: c["resdepth"].update(precision="fp8"))
    _refused(folder, "precision 'fp8'")
    _edit_config(folder, lambda c: c["resdepth"].update(precision="fp32", recipe={"lr": 1}))
    _refused(folder, "config.json", "recipe")


def test_a_folder_reads_as_a_checkpoint(folder: Path) -> None:
    state = read_model_folder(folder)
    assert set(state) >= {"model", "recipe", "metadata", "precision", "channels_last"}
    assert state["exported"]["epochs"] == 1
