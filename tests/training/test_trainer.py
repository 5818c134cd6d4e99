from __future__ import annotations

import math
import os
import signal
import subprocess
import sys
from pathlib import Path

import pytest
import torch
from torch import nn

from resdepth import CheckpointError, History, NonFiniteLossError, ResNet, RunExistsError, Trainer
from resdepth.artifacts import PAPER_COLUMNS, load_checkpoint
from resdepth.data import make_synthetic
from resdepth.recipes import Recipe, get_recipe

CHILD = Path(__file__).with_name("child.py")


def _tiny(classes: int = 4) -> ResNet:
    torch.manual_seed(0)
    return ResNet(layers=(1, 1), widths=(8, 16), num_classes=classes)


def _run_child(out: Path, epochs: int, *flags: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, str(CHILD), str(out), str(epochs), *flags],
        capture_output=True, text=True, timeout=300,
    )  # fmt: skip


@pytest.mark.slow
def test_learns_real_images(real_images: tuple) -> None:
    (train_x, train_y), (test_x, test_y) = real_images
    trainer = Trainer(_tiny(10), recipe=get_recipe("as1", batch_size=50, lr=0.05), device="cpu",
                      progress=False)  # fmt: skip
    train, val = trainer.build_loaders((train_x, train_y), (test_x, test_y))
    history = trainer.fit(train, val, epochs=4)
    losses, accuracy = history.column("train_loss"), history.column("test_accuracy")
    assert losses[-1] < losses[0]
    assert max(accuracy) > 20.0  # chance is 10%


def test_checkpoint_round_trip(tmp_path: Path) -> None:
    trainer = Trainer(_tiny(), recipe=get_recipe("as1", batch_size=32), device="cpu",
                      out_dir=tmp_path, progress=False)  # fmt: skip
    train, val = trainer.build_loaders(make_synthetic(96, 4, 12), make_synthetic(32, 4, 12, seed=1))
    trainer.fit(train, val, epochs=2)
    state = load_checkpoint(tmp_path / "last.pt")
    assert state["epoch"] == 2 and state["recipe"]["name"] == "as1"
    assert Recipe.from_dict(state["recipe"]) == get_recipe("as1", batch_size=32, epochs=2)
    for key, value in trainer.model.state_dict().items():
        assert torch.equal(state["model"][key], value)
    assert (tmp_path / "best.pt").exists()
    rows = History.from_csv(tmp_path / "history.csv")
    assert [r["epoch"] for r in rows] == [1, 2]
    assert rows[1]["test_accuracy"] == pytest.approx(trainer.history[1]["test_accuracy"])
    fresh = _tiny()
    fresh.load_state_dict(torch.load(tmp_path / "best.pt", weights_only=True)["model"])


@pytest.mark.slow
def test_exact_resume_after_sigkill(tmp_path: Path) -> None:
    whole = _run_child(tmp_path / "whole", 3)
    assert whole.returncode == 0, whole.stderr
    killed = _run_child(tmp_path / "killed", 3, "--kill-after-epoch", "1")
    assert killed.returncode == -signal.SIGKILL
    assert load_checkpoint(tmp_path / "killed" / "last.pt")["epoch"] == 1
    resumed = _run_child(tmp_path / "killed", 3, "--resume")
    assert resumed.returncode == 0, resumed.stderr
    a = load_checkpoint(tmp_path / "whole" / "last.pt")
    b = load_checkpoint(tmp_path / "killed" / "last.pt")
    assert a["model"].keys() == b["model"].keys()
    for key in a["model"]:
        assert torch.equal(a["model"][key], b["model"][key]), key
    for row_a, row_b in zip(a["history"]["rows"], b["history"]["rows"], strict=True):
        assert all(row_a[c] == row_b[c] for c in PAPER_COLUMNS)
    csv_rows = History.from_csv(tmp_path / "killed" / "history.csv")
    assert [r["epoch"] for r in csv_rows] == [1, 2, 3]


class _ExplodesAt(nn.Module):
    def __init__(self, step: int) -> None:
        super().__init__()
        self.net, self.calls, self.step = _tiny(), 0, step

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        out = self.net(x)
        if self.training:
            self.calls += 1
            if self.calls >= self.step:
                out = out * float("nan")
        return out


def test_non_finite_loss_names_epoch_and_step(tmp_path: Path) -> None:
    model = _ExplodesAt(step=5)  # 3 batches per epoch: epoch 2, step 2
    trainer = Trainer(model, recipe=get_recipe("as1", batch_size=32), device="cpu",
                      out_dir=tmp_path, progress=False)  # fmt: skip
    model.num_classes = 4  # type: ignore[assignment]
    train, _ = trainer.build_loaders(make_synthetic(96, 4, 12))
    with pytest.raises(NonFiniteLossError, match="epoch 2, step 2.*holds the end of epoch 1"):
        trainer.fit(train, epochs=3)
    assert load_checkpoint(tmp_path / "last.pt")["epoch"] == 1


def test_truncated_checkpoint_is_a_clear_error(tmp_path: Path) -> None:
    trainer = Trainer(_tiny(), recipe=get_recipe("as1", batch_size=64), device="cpu",
                      out_dir=tmp_path, progress=False)  # fmt: skip
    train, _ = trainer.build_loaders(make_synthetic(64, 4, 12))
    trainer.fit(train, epochs=1)
    data = (tmp_path / "last.pt").read_bytes()
    (tmp_path / "cut.pt").write_bytes(data[: len(data) // 3])
    with pytest.raises(CheckpointError, match="cut.pt"):
        load_checkpoint(tmp_path / "cut.pt")
    (tmp_path / "other.pt").write_bytes(b"hello")
    with pytest.raises(CheckpointError, match="other.pt"):
        load_checkpoint(tmp_path / "other.pt")
    with pytest.raises(RunExistsError, match="already holds a run"):
        Trainer(_tiny(), device="cpu", out_dir=tmp_path, progress=False).fit(train, epochs=1)


def test_plateau_lowers_the_rate() -> None:
    recipe = get_recipe(
        "as2", lr=1e-5, scheduler_kwargs={"mode": "max", "factor": 0.5, "patience": 1}
    )
    trainer = Trainer(_tiny(), recipe=recipe, device="cpu", progress=False)
    train, val = trainer.build_loaders(make_synthetic(64, 4, 12), make_synthetic(32, 4, 12, seed=1))
    history = trainer.fit(train, val, epochs=5)
    rates = history.column("learning_rate")
    assert rates[0] == pytest.approx(1e-5) and rates[-1] < rates[0]
    with pytest.raises(ValueError, match="val="):
        Trainer(_tiny(), recipe="as2", device="cpu", progress=False).fit(train, epochs=1)


@pytest.mark.parametrize("precision", ["bf16", "fp16"])
def test_reduced_precision_and_channels_last(precision: str) -> None:
    trainer = Trainer(_tiny(), recipe=get_recipe("as1", batch_size=32), device="cpu",
                      precision=precision, channels_last=True, progress=False)  # fmt: skip
    train, val = trainer.build_loaders(make_synthetic(64, 4, 12), make_synthetic(32, 4, 12, seed=1))
    history = trainer.fit(train, val, epochs=1)
    assert math.isfinite(history[0]["train_loss"])


def test_evaluate_and_predict() -> None:
    trainer = Trainer(
        _tiny(), recipe=get_recipe("as1", batch_size=32), device="cpu", progress=False
    )
    images, labels = make_synthetic(40, 4, 12, seed=2)
    result = trainer.evaluate((images, labels))
    assert set(result) == {"loss", "accuracy"} and 0 <= result["accuracy"] <= 100
    predicted = trainer.predict(images, batch_size=16)
    assert predicted.shape == (40,) and predicted.dtype == torch.int64
    with_tta = trainer.predict(images, tta=True)
    assert with_tta.shape == (40,)
    # evaluate's accuracy is the share of predict's labels that are right.
    assert result["accuracy"] == pytest.approx(100 * (predicted == labels).float().mean().item())
    with pytest.raises(ValueError, match="images"):
        trainer.predict(images[0])


def test_bad_trainer_arguments() -> None:
    with pytest.raises(ValueError, match="precision"):
        Trainer(_tiny(), precision="fp8")
    with pytest.raises(ValueError, match="unknown recipe"):
        Trainer(_tiny(), recipe="sgd")
    with pytest.raises(TypeError, match="model"):
        Trainer("resnet40")  # type: ignore[arg-type]


@pytest.mark.slow
@pytest.mark.skipif(sys.platform != "linux", reason="torchrun test runs on Linux")
def test_two_process_gloo_run_under_torchrun(tmp_path: Path) -> None:
    out = tmp_path / "ddp"
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    proc = subprocess.run(
        [sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc_per_node=2",
         str(CHILD), str(out), "2"],
        capture_output=True, text=True, timeout=300, env=env,
    )  # fmt: skip
    assert proc.returncode == 0, proc.stderr[-3000:]
    import json

    results = [json.loads((out / f"result-rank{r}.json").read_text()) for r in (0, 1)]
    # Shards split the 160 training images; reduced metrics agree on both ranks.
    assert sorted(r["loader_samples"] for r in results) == [80, 80]
    for row_0, row_1 in zip(results[0]["history"], results[1]["history"], strict=True):
        assert all(row_0[c] == row_1[c] for c in PAPER_COLUMNS)
    assert results[0]["eval"] == results[1]["eval"]
    assert [r["epoch"] for r in History.from_csv(out / "history.csv")] == [1, 2]


@pytest.mark.slow
def test_compiled_training_runs() -> None:
    recipe = get_recipe("resnet40-ft", batch_size=32)
    trainer = Trainer(_tiny(), recipe=recipe, device="cpu", compile=True, progress=False)
    train, val = trainer.build_loaders(make_synthetic(64, 4, 12), make_synthetic(32, 4, 12, seed=1))
    history = trainer.fit(train, val, epochs=1)
    assert math.isfinite(history[0]["train_loss"])
    assert train.transform._compiled_apply is not None  # type: ignore[union-attr]


def test_a_trainer_is_freed_with_its_last_reference() -> None:
    """No reference cycle: a finished trainer (its model, optimizer and, under torchrun,
    the DDP wrapper holding the process group) goes when the caller drops it, not at an
    arbitrary later collection or during interpreter shutdown."""
    import gc
    import weakref

    from resdepth.data import make_synthetic

    def train_one() -> weakref.ref[Trainer]:
        net = ResNet(layers=(1,), widths=(4,), num_classes=3)
        trainer = Trainer(net, device="cpu", progress=False)
        trainer.fit(trainer.build_loaders(make_synthetic(16, 3, 8))[0], epochs=1)
        return weakref.ref(trainer)

    gc.collect()
    gc.disable()
    try:
        ref = train_one()
        assert ref() is None
    finally:
        gc.enable()
