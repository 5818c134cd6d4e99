"""The weight average (a recipe's ema_decay), gradient clipping and eval_every."""

from __future__ import annotations

import math
from pathlib import Path

import pytest
import torch
from torch import nn

from resdepth import Callback, ResNet, Trainer, load_model
from resdepth.artifacts import load_checkpoint
from resdepth.data import Dataset, make_synthetic
from resdepth.recipes import Recipe, get_recipe
from resdepth.training import WeightAveraging, evaluate_batches

from .crashes import Crash, CrashAtStep


class _GradientNorms(Callback):
    """The total gradient norm after each step (the gradients stay until the next one)."""

    def __init__(self) -> None:
        self.norms: list[float] = []

    def on_step_end(self, trainer: Trainer, step: int) -> None:
        grads = [p.grad for p in trainer.model.parameters() if p.grad is not None]
        self.norms.append(float(torch.linalg.vector_norm(torch.stack([g.norm() for g in grads]))))


def _data() -> tuple[Dataset, Dataset]:
    classes = ("a", "b", "c", "d")
    return (Dataset("train", *make_synthetic(96, 4, 12), classes),
            Dataset("test", *make_synthetic(32, 4, 12, seed=1), classes))  # fmt: skip


def _trainer(recipe: Recipe, out: Path | None = None, **kwargs: object) -> Trainer:
    torch.manual_seed(0)
    net = ResNet(layers=(1, 1), widths=(8, 16), num_classes=4)
    return Trainer(net, recipe=recipe, device="cpu", out_dir=out, progress=False,
                   precision="fp32", channels_last=False, **kwargs)  # type: ignore[arg-type]  # fmt: skip


def _ema(**overrides: object) -> Recipe:
    return get_recipe("as1", batch_size=16, ema_decay=0.9, **overrides)


def test_the_average_is_torchs_ema_with_a_warm_up_of_its_decay() -> None:
    net = nn.Linear(3, 2)
    ema = WeightAveraging(net, decay=0.95)
    expected = net.weight.detach().clone()
    for t in range(30):
        with torch.no_grad():
            net.weight.add_(torch.randn_like(net.weight))
        decay = min(0.95, (1 + t) / (10 + t))
        current = net.weight.detach().clone()
        expected = current if t == 0 else torch.lerp(expected, current, 1 - decay)
        ema.update(net)
        torch.testing.assert_close(ema.module.weight, expected)
    assert ema.updates == 30 and ema.current_decay() == pytest.approx(min(0.95, 31 / 40))


def test_batchnorm_buffers_are_averaged_with_the_weights() -> None:
    net = nn.Sequential(nn.Conv2d(3, 4, 3), nn.BatchNorm2d(4))
    ema = WeightAveraging(net, decay=0.5)
    ema.update(net)
    net[1].running_mean.fill_(1.0)
    ema.update(net)
    decay = min(0.5, 2 / 11)  # the warmed-up decay of the second update
    torch.testing.assert_close(ema.module[1].running_mean, torch.full((4,), 1 - decay))


def test_the_average_stays_fp32_and_moves_when_the_model_is_bf16() -> None:
    net = nn.Linear(64, 64).to(torch.bfloat16)
    ema = WeightAveraging(net, decay=0.999)
    assert ema.module.weight.dtype == torch.float32
    before = ema.module.weight.clone()
    for _ in range(3):
        with torch.no_grad():
            net.weight.add_(1e-3)
        ema.update(net)
    assert not torch.equal(ema.module.weight, before)


def test_evaluation_and_saved_models_use_the_average(tmp_path: Path) -> None:
    trainer = _trainer(_ema(), tmp_path)
    train, val = trainer.build_loaders(*_data())
    trainer.fit(train, val, epochs=2)
    state = load_checkpoint(tmp_path / "last.pt")
    averaged = state["averaged_model"]
    assert averaged["updates"] == 2 * len(train)
    raw = state["model"]["fc.weight"]
    assert not torch.equal(averaged["model"]["fc.weight"], raw)
    figures = trainer.evaluate(val)
    model = load_model(tmp_path / "last.pt")
    assert torch.equal(model.fc.weight, averaged["model"]["fc.weight"])
    on_average = evaluate_batches(model, val, torch.device("cpu"), "fp32", False)
    assert on_average == figures
    assert trainer.history[-1]["test_accuracy"] == pytest.approx(figures["accuracy"])
    assert "optimizer" in load_checkpoint(tmp_path / "best.pt")  # still a resumable state


def test_a_run_stopped_mid_epoch_resumes_to_the_same_average(tmp_path: Path) -> None:
    whole = _trainer(_ema(clip_grad_norm=0.5))
    whole.fit(*whole.build_loaders(*_data()), epochs=2)
    out = tmp_path / "stopped"
    stopped = _trainer(_ema(clip_grad_norm=0.5), out, checkpoint_every=2,
                       callbacks=[CrashAtStep(9)])  # fmt: skip
    with pytest.raises(Crash):
        stopped.fit(*stopped.build_loaders(*_data()), epochs=2)
    assert load_checkpoint(out / "last.pt")["averaged_model"]["updates"] == 8  # mid-epoch 2
    resumed = _trainer(_ema(clip_grad_norm=0.5), out)
    resumed.fit(*resumed.build_loaders(*_data()), resume=True)
    done = load_checkpoint(out / "last.pt")["averaged_model"]
    assert done["updates"] == 12
    for key, value in whole.averaging.module.state_dict().items():  # type: ignore[union-attr]
        assert torch.equal(done["model"][key], value), key


def test_clipping_bounds_the_gradient_norm() -> None:
    norms = {}
    for clip in (None, 0.05):
        seen = _GradientNorms()
        trainer = _trainer(get_recipe("as1", batch_size=16, clip_grad_norm=clip), callbacks=[seen])
        trainer.fit(trainer.build_loaders(_data()[0])[0], epochs=1)
        norms[clip] = seen.norms
    assert max(norms[None]) > 0.1
    assert max(norms[0.05]) <= 0.05 * (1 + 1e-4)


def test_eval_every_skips_evaluations_but_never_the_last(tmp_path: Path) -> None:
    trainer = _trainer(get_recipe("as1", batch_size=32, eval_every=2), tmp_path)
    history = trainer.fit(*trainer.build_loaders(*_data()), epochs=5)
    evaluated = [not math.isnan(row["test_accuracy"]) for row in history]
    assert evaluated == [False, True, False, True, True]
    best = load_checkpoint(tmp_path / "best.pt")
    assert best["epoch"] in (2, 4, 5)  # an epoch that has a figure


def test_eval_command_scores_the_average(
    archive: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    from resdepth.cli import main
    from resdepth.data import load_dataset

    train, test = (load_dataset(archive, train=split) for split in (True, False))
    torch.manual_seed(0)
    trainer = Trainer(ResNet(layers=(1,), widths=(8,), num_classes=3), recipe=_ema(),
                      device="cpu", out_dir=tmp_path / "run", progress=False,
                      precision="fp32", channels_last=False)  # fmt: skip
    trainer.fit(*trainer.build_loaders(train, test), epochs=2)
    capsys.readouterr()
    assert main(["eval", str(tmp_path / "run" / "last.pt"), "--data", str(archive)]) == 0
    out = capsys.readouterr().out
    assert "moving average of its weights (ema_decay 0.9)" in out
    assert f"accuracy {trainer.evaluate(test)['accuracy']:.2f}%" in out
