"""A run's model as a Hub-style folder (model.safetensors + config.json): written, and
read back from the folder, the file, torch.hub and an offline Hugging Face cache."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import torch

from resdepth import ExportExistsError, ResNet, Trainer, export_model, load_eval_transform
from resdepth import load_model as load
from resdepth.artifacts import History, load_checkpoint
from resdepth.artifacts.export import plain_weights
from resdepth.data import Dataset, make_synthetic
from resdepth.recipes import get_recipe

REPO = Path(__file__).resolve().parents[2]
MEAN, STD = (0.3, 0.4, 0.5), (0.2, 0.25, 0.3)
CLASSES = ("ant", "bee", "cat")


def _fit(trainer: Trainer, epochs: int, resume: bool = False) -> None:
    train = Dataset("train", *make_synthetic(48, 3, 8), CLASSES)
    test = Dataset("test", *make_synthetic(24, 3, 8, seed=1), CLASSES)
    trainer.fit(*trainer.build_loaders(train, test), epochs=epochs, resume=resume)


def _trainer(out: Path) -> Trainer:
    torch.manual_seed(0)
    recipe = get_recipe("as1", batch_size=16, mean=MEAN, std=STD, ema_decay=0.9)
    net = ResNet(layers=(1,), widths=(8,), num_classes=3)
    return Trainer(net, recipe=recipe, device="cpu", out_dir=out, progress=False,
                   precision="fp32", channels_last=False)  # fmt: skip


@pytest.fixture(scope="module")
def run(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A run of 3 epochs with a weight average, and ``early.pt``: its state after epoch 1."""
    out = tmp_path_factory.mktemp("run")
    _fit(_trainer(out), 1)
    shutil.copy(out / "last.pt", out / "early.pt")
    _fit(_trainer(out), 3, resume=True)
    return out


def _images() -> torch.Tensor:
    return torch.randint(0, 256, (5, 3, 8, 8), dtype=torch.uint8)


def _outputs(path: str | Path, images: torch.Tensor) -> torch.Tensor:
    with torch.no_grad():
        return load(path)(load_eval_transform(path)(images))


def test_a_folder_and_its_file_give_the_checkpoints_outputs(run: Path, tmp_path: Path) -> None:
    folder = export_model(run / "best.pt", tmp_path / "export")
    assert sorted(p.name for p in folder.iterdir()) == ["README.md", "config.json",
                                                        "model.safetensors"]  # fmt: skip
    images = _images()
    expected = _outputs(run / "best.pt", images)
    assert torch.equal(_outputs(folder, images), expected)
    assert torch.equal(_outputs(folder / "model.safetensors", images), expected)
    assert torch.equal(_outputs(str(folder), images), expected)
    # The weight average, as load_model(best.pt) and evaluation use it, not the raw weights.
    state = load_checkpoint(run / "best.pt")
    assert state["averaged_model"]["updates"] > 0
    raw = state["model"]["fc.weight"]
    assert not torch.equal(load(folder).fc.weight, raw)


def test_the_config_speaks_timms_hub_layout_and_describes_the_run(
    run: Path, tmp_path: Path
) -> None:
    folder = export_model(run / "early.pt", tmp_path / "export")
    config = json.loads((folder / "config.json").read_text())
    assert config["architecture"].startswith("resdepth.")  # never timm's own names
    assert config["num_classes"] == 3 and config["label_names"] == list(CLASSES)
    cfg = config["pretrained_cfg"]
    assert (cfg["mean"], cfg["std"]) == (list(MEAN), list(STD))  # the recipe's, not CIFAR's
    assert cfg["input_size"] == [3, 8, 8] and cfg["classifier"] == "fc"  # the run's images
    summary = config["resdepth"]["summary"]
    # The whole run's history (history.csv), though early.pt stops after epoch 1.
    history = History.from_csv(run / "history.csv")
    assert len(load_checkpoint(run / "early.pt")["history"]["rows"]) == 1
    assert summary["epochs"] == len(history) == 3 and summary["weights_epoch"] == 1
    assert summary["final_test_accuracy"] == pytest.approx(history[-1]["test_accuracy"], abs=1e-4)
    best = history.best()
    assert best is not None and summary["best_epoch"] == best["epoch"]
    assert summary["recipe"] == "as1" and summary["trained_with"]["torch"] == torch.__version__
    card = (folder / "README.md").read_text()
    assert "library_name: resdepth" in card and "hf-hub:" in card


def test_weights_are_contiguous_with_storage_of_their_own() -> None:
    net = ResNet(layers=(1,), widths=(8,), num_classes=3).to(memory_format=torch.channels_last)
    net.tied = torch.nn.Linear(8, 3)
    net.tied.weight = net.fc.weight  # one storage under two names
    state = net.state_dict()
    assert state["tied.weight"].data_ptr() == state["fc.weight"].data_ptr()
    assert not state["conv1.weight"].is_contiguous()  # what channels_last leaves
    weights = plain_weights(net)
    assert all(t.is_contiguous() for t in weights.values())
    pointers = [t.untyped_storage().data_ptr() for t in weights.values()]
    assert len(set(pointers)) == len(pointers)
    assert all(torch.equal(weights[k], v) for k, v in state.items())


def test_an_existing_folder_is_kept_unless_overwrite(run: Path, tmp_path: Path) -> None:
    folder = export_model(run / "last.pt", tmp_path / "export")
    before = (folder / "model.safetensors").read_bytes()
    with pytest.raises(ExportExistsError, match="overwrite"):
        export_model(run / "early.pt", folder)
    assert (folder / "model.safetensors").read_bytes() == before
    export_model(run / "early.pt", folder, overwrite=True)
    assert (folder / "model.safetensors").read_bytes() != before


def test_a_readme_of_the_folder_is_kept_too(run: Path, tmp_path: Path) -> None:
    (tmp_path / "README.md").write_text("my project")
    with pytest.raises(ExportExistsError, match="README.md"):
        export_model(run / "best.pt", tmp_path)
    assert (tmp_path / "README.md").read_text() == "my project"
    assert not (tmp_path / "model.safetensors").exists()


def test_a_folder_exports_again_with_its_summary(run: Path, tmp_path: Path) -> None:
    first = export_model(run / "best.pt", tmp_path / "a")
    second = export_model(first, tmp_path / "b")
    a, b = (json.loads((f / "config.json").read_text())["resdepth"] for f in (first, second))
    assert a["summary"]["epochs"] == b["summary"]["epochs"] == 3
    assert (first / "model.safetensors").read_bytes() == (second / "model.safetensors").read_bytes()


def test_torch_hub_load_takes_a_folder(run: Path, tmp_path: Path) -> None:
    folder = export_model(run / "best.pt", tmp_path / "export")
    net = torch.hub.load(str(REPO), "load", str(folder), source="local")
    assert torch.equal(net.fc.weight, load(run / "best.pt").fc.weight) and not net.training


def _fill_hub_cache(folder: Path, cache: Path, repo: str) -> None:
    """The Hugging Face cache as a download of ``repo`` leaves it: refs/main names a
    commit, snapshots/<commit>/ holds the files."""
    commit = "0123456789abcdef0123456789abcdef01234567"
    root = cache / f"models--{repo.replace('/', '--')}"
    (root / "refs").mkdir(parents=True)
    (root / "refs" / "main").write_text(commit)
    shutil.copytree(folder, root / "snapshots" / commit)


@pytest.mark.slow  # two fresh Python processes
def test_hf_hub_names_load_from_an_offline_cache(run: Path, tmp_path: Path) -> None:
    pytest.importorskip("huggingface_hub")
    folder = export_model(run / "best.pt", tmp_path / "export")
    _fill_hub_cache(folder, tmp_path / "hub", "someone/tiny-resnet")
    images = _images()
    torch.save(images, tmp_path / "images.pt")
    script = (
        "import sys, torch, resdepth\n"
        "name = 'hf-hub:someone/tiny-resnet'\n"
        "images = torch.load(sys.argv[1])\n"
        "with torch.no_grad():\n"
        "    out = resdepth.load_model(name)(resdepth.load_eval_transform(name)(images))\n"
        "torch.save(out, sys.argv[2])\n"
    )
    env = {**os.environ, "HF_HUB_OFFLINE": "1", "HF_HUB_CACHE": str(tmp_path / "hub")}
    done = subprocess.run([sys.executable, "-c", script, str(tmp_path / "images.pt"),
                           str(tmp_path / "out.pt")], env=env, capture_output=True,
                          text=True, timeout=300)  # fmt: skip
    assert done.returncode == 0, done.stderr
    assert torch.equal(torch.load(tmp_path / "out.pt"), _outputs(run / "best.pt", images))
    # A repository the cache lacks: one line naming it, from the command line too.
    done = subprocess.run([sys.executable, "-m", "resdepth", "eval", "hf-hub:someone/missing",
                           "--data", "synthetic", "--subset", "8"], env=env,
                          capture_output=True, text=True, timeout=300)  # fmt: skip
    assert done.returncode == 2
    lines = done.stderr.strip().splitlines()
    assert lines[-1].startswith("resdepth eval: error: hf-hub:someone/missing: cannot get")
    assert "Traceback" not in done.stderr
