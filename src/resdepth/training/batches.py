"""A user's own batches (a ``DataLoader``, a list, any re-iterable of ``(images, labels)``)
given the recipe's per-batch transform and batch mixing on the device, as a
:class:`~resdepth.data.DeviceLoader` gives them to its own batches."""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Iterable, Iterator
from typing import Any

import torch
from torch import Tensor

from .._protocols import BatchMixing, ImageTransform
from .._validate import check_unit_range, image_batch, positive_int
from ..data import Dataset, DeviceLoader, from_dataset
from ..recipes import Recipe
from . import distributed as dist

__all__ = [
    "Batches",
    "RecipeBatches",
    "RecipeData",
    "check_fit_inputs",
    "check_reiterable",
    "recipe_batches",
    "recipe_loader",
]


#: What a Trainer trains and evaluates on: ``(images, labels)`` batches.
Batches = Iterable[tuple[Tensor, Tensor]]


def check_reiterable(name: str, batches: object, passes: int) -> None:
    """Refuse a one-shot iterator (a generator, ``iter(loader)``) that would have to be
    read ``passes`` times: after its first pass it is empty."""
    if batches is not None and passes > 1 and iter(batches) is batches:  # type: ignore[call-overload]
        raise ValueError(
            f"{name} is a one-shot iterator ({type(batches).__name__}): it is empty after its "
            f"first pass, and this run reads it {passes} times; pass something that can be "
            "iterated again (a list, a DataLoader, a DeviceLoader), or train one epoch"
        )


class RecipeBatches:
    """``(images, labels)`` batches with ``transform`` and ``mixing`` applied on ``device``.

    Images may be uint8 (0..255) or floating point in [0, 1], ``(N, C, H, W)``, on any
    device; labels are class indices.  Augmentations draw from this object's own
    generator, whose state a checkpoint keeps (:meth:`state_dict`).

    Args:
        batches: the user's batches.
        transform: called as ``transform(images, generator=g)``.
        mixing: called as ``mixing(images, labels, generator=g)``, or ``None``.
        device: where the batches go before the transform.
        channels_last: images in channels_last memory format after the transform.
        seed: seeds the augmentation generator.
    """

    def __init__(
        self,
        batches: Iterable[tuple[Tensor, Tensor]],
        transform: ImageTransform | Callable[..., Tensor],
        mixing: BatchMixing | None,
        device: torch.device,
        channels_last: bool = False,
        seed: int = 0,
    ) -> None:
        self.batches, self.transform, self.mixing = batches, transform, mixing
        self.device, self.channels_last = device, channels_last
        self.generator = torch.Generator(device=device).manual_seed(seed)

    def __iter__(self) -> Iterator[tuple[Tensor, Tensor]]:
        for index, batch in enumerate(self.batches):
            if not (isinstance(batch, (tuple, list)) and len(batch) == 2):
                raise TypeError(
                    f"batch {index} is a {type(batch).__name__}; batches must be (images, labels)"
                )
            images = image_batch(batch[0], f"the images of batch {index}")
            check_unit_range(images, f"the images of batch {index}")
            labels = batch[1]
            if not isinstance(labels, Tensor):
                labels = torch.as_tensor(labels)
            x = self.transform(images.to(self.device, non_blocking=True), generator=self.generator)
            if self.channels_last:
                x = x.contiguous(memory_format=torch.channels_last)
            y = labels.to(self.device, non_blocking=True)
            if self.mixing is not None:
                x, y = self.mixing(x, y, generator=self.generator)
            yield x, y

    def state_dict(self) -> dict[str, Any]:
        """The augmentation generator's state."""
        return {"augment_state": self.generator.get_state()}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        """Continue the augmentations where :meth:`state_dict` found them."""
        self.generator.set_state(state["augment_state"].cpu())


class SizedRecipeBatches(RecipeBatches):
    """:class:`RecipeBatches` over batches with a length (most loaders have one)."""

    def __len__(self) -> int:
        return len(self.batches)  # type: ignore[arg-type]


def recipe_batches(
    batches: Iterable[tuple[Tensor, Tensor]],
    recipe: Recipe,
    num_classes: int,
    device: torch.device,
    *,
    train: bool,
    channels_last: bool = False,
    compile: bool = False,
    seed: int = 0,
) -> RecipeBatches:
    """``batches`` with ``recipe``'s train-time transform and mixing (``train``) or its
    evaluation transform, as the recipe's own loaders apply them."""
    if train and recipe.alternating_flip:
        raise ValueError(
            f"recipe {recipe.name!r} sets alternating_flip, which flips each image by its "
            "index: give the training data as a DeviceLoader (trainer.build_loaders(train)) "
            "or a Dataset, not batches"
        )
    transform = recipe.build_train_transform(compile) if train else recipe.build_eval_transform()
    mixing = recipe.build_mixing(num_classes, compile=compile) if train else None
    kind = SizedRecipeBatches if hasattr(batches, "__len__") else RecipeBatches
    return kind(batches, transform, mixing, device, channels_last, seed)


def recipe_loader(
    data: Any,
    recipe: Recipe,
    num_classes: int,
    device: torch.device,
    *,
    train: bool,
    channels_last: bool = False,
    compile: bool = False,
    seed: int = 0,
) -> DeviceLoader:
    """A :class:`~resdepth.data.DeviceLoader` of ``data`` (a :class:`~resdepth.data.Dataset`,
    ``(images, labels)`` tensors, or a map-style dataset of ``(image, label)`` items, read
    once with :func:`~resdepth.data.from_dataset`) with ``recipe``'s batch size,
    transform and mixing, sharded per rank."""
    if not isinstance(data, (Dataset, tuple)):
        data = from_dataset(data, split="train" if train else "test")
    classes = data.classes if isinstance(data, Dataset) else None
    images, labels = (data.images, data.labels) if isinstance(data, Dataset) else data
    return DeviceLoader(
        images, labels, recipe.batch_size if train else recipe.test_batch_size, shuffle=train,
        transform=recipe.build_train_transform(compile) if train else recipe.build_eval_transform(),
        mixing=recipe.build_mixing(num_classes, compile=compile) if train else None,
        generator=seed, device=device, rank=dist.rank(), world_size=dist.world_size(),
        channels_last=channels_last, classes=classes,
        alternating_flip=train and recipe.alternating_flip,
    )  # fmt: skip


@dataclasses.dataclass(frozen=True)
class RecipeData:
    """How a trainer turns data into batches of its recipe: device loaders of data sets
    and tensors, and a user's batches given the recipe's transform (and mixing, in
    training).  The memory format is not set here: the step sets it, once chosen."""

    num_classes: int
    device: torch.device
    compile: bool
    seed: int

    def loader(self, data: Any, recipe: Recipe, train: bool) -> DeviceLoader:
        """A :class:`~resdepth.data.DeviceLoader` of a data set, tensors or a map-style
        dataset (see :func:`recipe_loader`)."""
        return recipe_loader(data, recipe, self.num_classes, self.device, train=train,
                             compile=self.compile, seed=self.seed)  # fmt: skip

    def batches(self, data: Any, recipe: Recipe, train: bool) -> Batches:
        """``data`` as the recipe's batches: a loader as it is, a data set or ``(images,
        labels)`` through a new loader, anything else through :func:`recipe_batches`."""
        if isinstance(data, DeviceLoader):
            return data
        if isinstance(data, (Dataset, tuple)):
            return self.loader(data, recipe, train)
        return recipe_batches(data, recipe, self.num_classes, self.device, train=train,
                              compile=self.compile, seed=self.seed)  # fmt: skip


def check_fit_inputs(recipe: Recipe, train: object, val: object, epochs: object) -> None:
    """What ``Trainer.fit`` refuses before it starts: each error names the argument."""
    if epochs is not None:
        positive_int("epochs", epochs)
    if recipe.monitor and recipe.monitor.startswith("test") and val is None:
        raise ValueError(f"recipe {recipe.name!r} monitors {recipe.monitor}: pass val=")
    for name, data in (("train", train), ("val", val)):
        if isinstance(data, Dataset):  # indexable, so iterable: one image at a time
            raise TypeError(
                f"{name} is a Dataset, which fit would go through image by image: give "
                "loaders, trainer.fit(*trainer.build_loaders(train, val))"
            )
        if data is not None and hasattr(data, "__len__") and len(data) == 0:
            raise ValueError(f"{name} has no batches ({data!r}); give it data")
    if recipe.scheduler_interval == "batch" and not hasattr(train, "__len__"):
        raise ValueError("a per-batch schedule needs train batches with a length")
    if recipe.lookahead_every is not None and not hasattr(train, "__len__"):
        raise ValueError("lookahead_every needs train batches with a length (the run's steps)")
    if isinstance(train, DeviceLoader) and recipe.alternating_flip and not train.alternating_flip:
        raise ValueError(
            f"recipe {recipe.name!r} sets alternating_flip but the train loader does not flip: "
            "make it with trainer.build_loaders(...) or DeviceLoader(..., alternating_flip=True)"
        )
    if isinstance(train, DeviceLoader) and recipe.mixing and train.mixing is None:
        raise ValueError(
            f"recipe {recipe.name!r} mixes batches ({recipe.mixing}) but the train loader "
            "does not: make it with trainer.build_loaders(...)"
        )
