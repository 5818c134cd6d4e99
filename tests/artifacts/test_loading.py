"""A trained model back from its file, and the transform that feeds it raw images."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch

from resdepth import ResNet, Trainer, load_eval_transform, load_model
from resdepth.data import Dataset, make_synthetic
from resdepth.recipes import get_recipe

MEAN, STD = (0.3, 0.4, 0.5), (0.2, 0.25, 0.3)  # not CIFAR-10's: the run's own


def _trained(out: Path) -> tuple[Trainer, Dataset]:
    torch.manual_seed(0)
    net = ResNet(layers=(1,), widths=(8,), num_classes=4)
    recipe = get_recipe("as1", batch_size=16, mean=MEAN, std=STD)
    trainer = Trainer(net, recipe=recipe, device="cpu", out_dir=out, progress=False,
                      precision="fp32", channels_last=False)  # fmt: skip
    classes = ("a", "b", "c", "d")
    train = Dataset("train", *make_synthetic(64, 4, 12), classes)
    test = Dataset("test", *make_synthetic(48, 4, 12, seed=1), classes)
    trainer.fit(*trainer.build_loaders(train, test), epochs=2)
    return trainer, test


def test_a_loaded_model_on_raw_images_scores_what_evaluate_scores(tmp_path: Path) -> None:
    trainer, test = _trained(tmp_path)
    path = tmp_path / "best.pt"
    model, transform = load_model(path), load_eval_transform(path)
    with torch.no_grad():
        predicted = model(transform(test.images)).argmax(1)
    accuracy = 100.0 * float((predicted == test.labels).float().mean())
    assert accuracy == pytest.approx(trainer.evaluate(test)["accuracy"])
    # The run's own normalisation, not CIFAR-10's, and [0, 1] floats work as uint8 do.
    mean, std = torch.tensor(MEAN).view(3, 1, 1), torch.tensor(STD).view(3, 1, 1)
    expected = (test.images.float() / 255 - mean) / std
    torch.testing.assert_close(transform(test.images), expected)
    torch.testing.assert_close(transform(test.images.float() / 255), expected)


def test_load_model_itself_still_takes_normalised_images(tmp_path: Path) -> None:
    """Users who normalise already, as the Deploy page says, must not normalise twice."""
    trainer, test = _trained(tmp_path)
    model = load_model(tmp_path / "last.pt")
    normalised = trainer.recipe.build_eval_transform()(test.images)
    with torch.no_grad():
        torch.testing.assert_close(model(normalised), trainer.model.eval()(normalised))
