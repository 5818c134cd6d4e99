"""The speedrun's training parts in the Trainer: the whitening fit when a run starts
(never on resume), the lookahead, the alternating flip and the test-time views, each
resuming exactly after any step."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import pytest
import torch

from resdepth import Callback, Trainer, get_model, seed_everything
from resdepth.data import DeviceLoader, make_synthetic
from resdepth.recipes import get_recipe
from resdepth.training import Lookahead

from .crashes import assert_same, assert_same_run, interrupt_and_resume, whole_run

EPOCHS, IMAGES, BATCH = 3, 24, 8  # 3 batches an epoch, 9 steps in all


def _recipe(**overrides: object):  # type: ignore[no-untyped-def]
    settings = {"batch_size": BATCH, "test_batch_size": 16, "eval_every": 1,
                "lookahead_every": 2, **overrides}  # fmt: skip
    return get_recipe("airbench94", **settings)


def _trainer(out: Path | None, callbacks: Sequence[Callback] = (), **overrides: object):  # type: ignore[no-untyped-def]
    seed_everything(0)
    net = get_model("airbench94", widths=(8, 8, 8), num_classes=3, whitening_bias_epochs=2)
    trainer = Trainer(net, recipe=_recipe(**overrides), device="cpu", out_dir=out,
                      progress=False, checkpoint_every=None, precision="fp32",
                      channels_last=False, callbacks=list(callbacks))  # fmt: skip
    train, val = trainer.build_loaders(
        make_synthetic(IMAGES, 3, 32), make_synthetic(16, 3, 32, seed=1)
    )
    return trainer, train, val


@pytest.fixture(scope="module")
def uninterrupted(tmp_path_factory: pytest.TempPathFactory) -> dict:
    return whole_run(_trainer, tmp_path_factory.mktemp("whole"), EPOCHS)


@pytest.mark.parametrize("step", range(1, EPOCHS * IMAGES // BATCH))
def test_interrupted_after_any_step_then_resumed_is_the_same_run(
    step: int, uninterrupted: dict, tmp_path: Path
) -> None:
    final = interrupt_and_resume(_trainer, tmp_path, step, EPOCHS)
    assert_same_run(uninterrupted, final)
    assert_same(uninterrupted["ranks"][0]["lookahead"], final["ranks"][0]["lookahead"], "lookahead")


def test_the_whitening_is_fitted_when_the_run_starts_and_kept_in_the_checkpoint(
    uninterrupted: dict,
) -> None:
    state = uninterrupted["model"]
    assert bool(state["whiten._fitted"])
    weights = state["whiten.weight"]
    assert weights.abs().sum() > 0
    # Fitted on the documented sample: a permutation of the training set drawn with the
    # seed, as the network sees it (the recipe's evaluation transform).
    trainer, train, _ = _trainer(None)
    order = torch.randperm(IMAGES, generator=torch.Generator().manual_seed(trainer.seed))
    sample = trainer.recipe.build_eval_transform()(train.images[order])
    from resdepth.models import whitening_weights

    assert torch.allclose(weights, whitening_weights(sample), atol=1e-6)
    assert (
        "PatchWhitening fitted on 24 training images" in uninterrupted["history"]["rows"][0]["note"]
    )


def test_a_resume_does_not_fit_again(tmp_path: Path) -> None:
    trainer, train, val = _trainer(tmp_path)
    trainer.fit(train, val, epochs=1)
    fitted = trainer.model.whiten.weight.clone()
    trainer, train, val = _trainer(tmp_path)
    # Other training images: a fit would change the filters; a resume keeps the checkpoint's.
    other, _ = trainer.build_loaders((train.images.flip(0).contiguous(), train.labels))
    history = trainer.fit(other, val, epochs=2, resume=True, allow_other_data=True)
    assert torch.equal(trainer.model.whiten.weight, fitted)
    assert "fitted" not in history[-1]["note"] and "resumed" in history[-1]["note"]


def test_the_whitening_bias_stops_training_after_its_epochs(tmp_path: Path) -> None:
    trainer, train, val = _trainer(None, lookahead_every=None)
    trainer.fit(train, val, epochs=2)
    after_two = trainer.model.whiten.bias.detach().clone()
    assert after_two.abs().sum() > 0  # it trained in epochs 1 and 2
    trainer.fit(train, val, epochs=3)
    assert torch.equal(trainer.model.whiten.bias, after_two)


def test_alternating_flip_shows_each_image_both_ways_in_two_epochs() -> None:
    images = torch.arange(8, dtype=torch.uint8).view(8, 1, 1, 1).expand(8, 3, 2, 2).clone()
    images[:, :, :, 0] += 100  # a left column that tells a flip
    loader = DeviceLoader(images, torch.arange(8), batch_size=3, device="cpu",
                          alternating_flip=True, generator=5)  # fmt: skip
    flipped = []
    for _ in range(4):
        seen = {}
        for x, y in loader:
            for image, label in zip(x, y, strict=True):
                seen[int(label)] = bool(image[0, 0, 0] < 100)
        flipped.append([seen[i] for i in range(8)])
    assert 0 < sum(flipped[0]) < 8  # a random subset in the first epoch
    for before, after in zip(flipped, flipped[1:], strict=False):
        assert after == [not f for f in before]


def test_a_recipe_with_alternating_flip_refuses_plain_batches() -> None:
    trainer, _, val = _trainer(None)
    images, labels = make_synthetic(8, 3, 32)
    with pytest.raises(ValueError, match="alternating_flip"):
        trainer.fit([(images, labels)], val, epochs=1)


def test_evaluate_averages_the_recipe_test_views() -> None:
    trainer, train, val = _trainer(None)
    trainer.fit(train, val, epochs=1)
    images, labels = make_synthetic(16, 3, 32, seed=1)
    with_views = trainer.evaluate((images, labels))
    x = trainer.recipe.build_eval_transform()(images)
    net = trainer.model.eval()
    from resdepth.transforms import tta_views

    with torch.no_grad():
        logits = sum(w * net(v) for v, w in tta_views(x, "flip_shift"))
        loss = torch.nn.functional.cross_entropy(logits, labels).item()
    assert with_views["loss"] == pytest.approx(loss, rel=1e-4)
    trainer.recipe = trainer.recipe.replace(test_views=None)
    with torch.no_grad():
        plain = torch.nn.functional.cross_entropy(net(x), labels).item()
    assert trainer.evaluate((images, labels))["loss"] == pytest.approx(plain, rel=1e-4)


def test_lookahead_moves_toward_the_slow_copy_and_ends_on_it() -> None:
    net = torch.nn.Linear(1, 1, bias=False)
    torch.nn.init.zeros_(net.weight)
    lookahead = Lookahead(net, every=1, decay=0.5)
    lookahead.total_steps = 2
    with torch.no_grad():
        net.weight.fill_(1.0)
    lookahead.after_step(net)  # progress 1/2: decay 0.5 * (1/2)**3 = 1/16
    assert net.weight.item() == pytest.approx(15 / 16)
    with torch.no_grad():
        net.weight.fill_(3.0)
    lookahead.after_step(net)  # the last step, due: decay 0.5, then the model takes it
    assert net.weight.item() == pytest.approx(0.5 * 15 / 16 + 0.5 * 3.0)
    # A last step that is not due: the model goes back to the slow copy as it stands.
    odd = Lookahead(net, every=2, decay=0.5)
    odd.total_steps = 3
    for value in (1.0, 2.0, 5.0):
        with torch.no_grad():
            net.weight.fill_(value)
        odd.after_step(net)
    slow_after_two = 0.5 * (2 / 3) ** 3 * (0.5 * 15 / 16 + 1.5) + (1 - 0.5 * (2 / 3) ** 3) * 2.0
    assert net.weight.item() == pytest.approx(slow_after_two)
    with pytest.raises(ValueError, match="lookahead_every"):
        Lookahead(net, every=0)


def test_a_trained_speedrun_network_exports_and_loads_with_its_views(tmp_path: Path) -> None:
    import json

    from resdepth import export_model, load_model

    seed_everything(0)
    kwargs = {"widths": [8, 8, 8], "whitening_bias_epochs": 2, "num_classes": 3}
    net = get_model("airbench94", **kwargs)
    trainer = Trainer(net, recipe=_recipe(), device="cpu", out_dir=tmp_path / "run",
                      progress=False, precision="fp32", channels_last=False,
                      metadata={"model": "airbench94", "model_kwargs": kwargs})  # fmt: skip
    trainer.fit(*trainer.build_loaders(make_synthetic(IMAGES, 3, 32),
                                       make_synthetic(16, 3, 32, seed=1)), epochs=1)  # fmt: skip
    folder = export_model(tmp_path / "run" / "best.pt", tmp_path / "share")
    config = json.loads((folder / "config.json").read_text())
    assert config["global_pool"] == "max" and config["pretrained_cfg"]["first_conv"] == "whiten"
    assert config["resdepth"]["recipe"]["test_views"] == "flip_shift"
    loaded, from_checkpoint = load_model(folder), load_model(tmp_path / "run" / "best.pt")
    assert loaded.whiten.fitted
    x = torch.randn(2, 3, 32, 32)
    with torch.no_grad():
        assert torch.equal(loaded(x), from_checkpoint(x))
        assert torch.equal(loaded(x), trainer.model.eval()(x))


def test_muon_for_the_filters_resumes_exactly(tmp_path: Path) -> None:
    muon = {"optimizer": "muon_sgd",
            "optimizer_kwargs": {"lr": 0.5, "muon_lr": 0.1, "momentum": 0.85}}  # fmt: skip

    def make(out: Path, callbacks: list[Callback]):  # type: ignore[no-untyped-def]
        return _trainer(out, callbacks, **muon)

    whole = whole_run(make, tmp_path / "whole", EPOCHS)
    assert any(g["muon"] for g in whole["optimizer"]["param_groups"])  # the filters
    final = interrupt_and_resume(make, tmp_path / "stopped", 4, EPOCHS)
    assert_same_run(whole, final)
