"""A user's own data: a DataLoader, a list or a generator of raw batches, and map-style
datasets of PIL images, numpy arrays or tensors, trained and evaluated as resdepth's
own loaders would."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image
from torch import nn
from torch.utils.data import DataLoader, TensorDataset

from resdepth import ResNet, Trainer, seed_everything
from resdepth.artifacts import load_checkpoint
from resdepth.data import Dataset, from_dataset, make_synthetic
from resdepth.recipes import get_recipe

CLASSES = ("a", "b", "c")


def _net() -> ResNet:
    seed_everything(0)
    return ResNet(layers=(1,), widths=(4,), num_classes=3)


def _data(n: int = 32, seed: int = 0) -> tuple[torch.Tensor, torch.Tensor]:
    return make_synthetic(n, 3, 8, seed=seed)


@pytest.mark.parametrize("recipe", ["as1", "resnet40-ft"])  # plain, and with CutMix
def test_a_plain_dataloader_of_uint8_images_trains(recipe: str, tmp_path: Path) -> None:
    x, y = _data()
    trainer = Trainer(_net(), recipe=get_recipe(recipe, batch_size=8), device="cpu",
                      progress=False, out_dir=tmp_path)  # fmt: skip
    loader = DataLoader(TensorDataset(x, y), batch_size=8, shuffle=True)
    history = trainer.fit(loader, DataLoader(TensorDataset(*_data(16, 1)), batch_size=8),
                          epochs=2)  # fmt: skip
    assert len(history) == 2 and all(r["train_loss"] == r["train_loss"] for r in history)
    assert load_checkpoint(tmp_path / "last.pt")["ranks"][0]["loader"] is not None


def test_evaluating_raw_batches_equals_evaluating_the_dataset() -> None:
    trainer = Trainer(_net(), recipe="as1", device="cpu", progress=False)
    x, y = _data(24, 2)
    reference = trainer.evaluate((x, y))
    batches = trainer.recipe.test_batch_size
    as_uint8 = trainer.evaluate(DataLoader(TensorDataset(x, y), batch_size=batches))
    as_floats = trainer.evaluate([(x.float() / 255, y)])
    assert as_uint8["accuracy"] == reference["accuracy"] == as_floats["accuracy"]
    assert as_uint8["loss"] == pytest.approx(reference["loss"], rel=1e-5)
    with pytest.raises(ValueError, match="lie in \\[0, 1\\]"):
        trainer.evaluate([(x.float(), y)])  # 0..255 floats: a forgotten / 255


def test_a_resumed_run_over_a_list_of_batches_is_the_same_run(tmp_path: Path) -> None:
    x, y = _data(32)
    batches = list(zip(x.split(8), y.split(8), strict=True))
    recipe = get_recipe("resnet40-ft", batch_size=8)
    whole = Trainer(_net(), recipe=recipe, device="cpu", progress=False, out_dir=tmp_path / "w")
    whole.fit(batches, epochs=2)
    first = Trainer(_net(), recipe=recipe, device="cpu", progress=False, out_dir=tmp_path / "r")
    first.fit(batches, epochs=2 - 1)
    again = Trainer(_net(), recipe=recipe, device="cpu", progress=False, out_dir=tmp_path / "r")
    again.fit(batches, epochs=2, resume=True)
    for key, value in whole.model.state_dict().items():
        assert torch.equal(value, again.model.state_dict()[key]), key


class _PILPairs(torch.utils.data.Dataset):
    """What torchvision's CIFAR10 returns without a transform: (PIL.Image, int)."""

    classes = list(CLASSES)

    def __init__(self, x: torch.Tensor, y: torch.Tensor) -> None:
        self.x, self.y = x, y

    def __len__(self) -> int:
        return len(self.y)

    def __getitem__(self, i: int) -> tuple[Image.Image, int]:
        return Image.fromarray(self.x[i].permute(1, 2, 0).numpy()), int(self.y[i])


def test_map_style_datasets_become_the_same_tensors() -> None:
    x, y = _data(12)
    expected = Dataset("x", x, y, CLASSES)
    numpy_hwc = [(x[i].permute(1, 2, 0).numpy(), np.int64(y[i])) for i in range(12)]
    floats = [{"image": x[i].float() / 255, "label": torch.tensor(int(y[i]))} for i in range(12)]
    for source in (_PILPairs(x, y), numpy_hwc, floats):
        got = from_dataset(source, classes=None if isinstance(source, _PILPairs) else CLASSES)
        assert torch.equal(got.images, expected.images) and torch.equal(got.labels, y)
        assert got.classes == CLASSES
    trainer = Trainer(_net(), recipe=get_recipe("as1", batch_size=4), device="cpu", progress=False)
    train, val = trainer.build_loaders(_PILPairs(x, y), numpy_hwc)
    assert train.classes == CLASSES and len(trainer.fit(train, val, epochs=1)) == 1


@pytest.mark.parametrize(
    ("items", "error", "says"),
    [
        ([], ValueError, "empty"),
        ([torch.zeros(3, 8, 8)], TypeError, "item 0"),
        ([(torch.zeros(3, 8, 8, dtype=torch.uint8), "cat")], TypeError, "label 0"),
        (
            [
                (torch.zeros(3, 8, 8, dtype=torch.uint8), 0),
                (torch.zeros(3, 4, 4, dtype=torch.uint8), 0),
            ],
            ValueError,
            "image 1 has shape",
        ),
        ([({"picture": 1, "label": 0})], TypeError, "needs an image"),
        ([(np.zeros((8, 8, 3), dtype=bool), 0)], TypeError, "bool"),
        ([(torch.full((3, 8, 8), 2.0), 0)], ValueError, "\\[0, 1\\]"),
        ([(torch.zeros(3, 8, 8, dtype=torch.uint8), 5)], ValueError, "outside the"),
    ],  # fmt: skip
)
def test_unreadable_datasets_get_one_clear_error(items: list, error: type, says: str) -> None:
    with pytest.raises(error, match=says):
        from_dataset(items, classes=CLASSES if items and says == "outside the" else None)


class _WrongHead(nn.Module):
    def __init__(self, outputs: int) -> None:
        super().__init__()
        self.fc = nn.Linear(3 * 8 * 8, outputs)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.fc(x.flatten(1))


def test_a_model_whose_outputs_do_not_fit_is_named_on_the_first_batch() -> None:
    x, y = _data(16)
    trainer = Trainer(_WrongHead(5), device="cpu", progress=False, num_classes=3)
    with pytest.raises(ValueError, match=r"returns shape \(8, 5\).*\(8, 3\)"):
        trainer.fit([(x[:8], y[:8])], epochs=1)
    trainer = Trainer(_WrongHead(2), device="cpu", progress=False)  # fc says 2; labels reach 2
    with pytest.raises(ValueError, match="label 2 is outside the model's 2 outputs"):
        trainer.fit([(x, torch.full_like(y, 2))], epochs=1)
