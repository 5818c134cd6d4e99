"""A loader that keeps the whole data set on the device and augments whole batches there."""

from __future__ import annotations

import hashlib
import math
from collections.abc import Iterator, Sequence
from typing import Any

import torch
from torch import Tensor

from .._protocols import BatchMixing, ImageTransform
from .._validate import check_unit_range, flag, image_batch, int_in_range, is_int, positive_int

__all__ = ["DeviceLoader"]


class DeviceLoader:
    """Batches of a device-resident data set, shuffled and augmented on the device.

    The images stay on ``device`` as uint8 (50,000 CIFAR images are 150 MB); each
    batch is gathered there and passed through ``transform``, so no worker processes
    or host-to-device copies are involved after the first.

    Shuffling draws from the loader's own CPU generator, so the order of every epoch
    is reproducible, and :meth:`state_dict` / :meth:`load_state_dict` resume a run in
    the middle of an epoch with the same order.  The transform and the batch mixing
    draw from a second, device-side generator, passed as their ``generator=``
    keyword and saved and restored the same way, so the loader holds every random
    stream of the training batches.

    With ``world_size > 1`` every epoch's permutation is the same on all ranks and
    rank ``r`` takes positions ``r, r + world_size, ...``: shards that together
    cover the epoch. When the images do not divide evenly, the permutation is
    extended by its own first few positions (as ``DistributedSampler`` does), so
    every rank has as many samples and batches: under DDP a rank that ran out of
    batches would skip optimizer steps the others take, and the ranks' momentum and
    schedules would drift apart.

    Args:
        images: ``(N, C, H, W)``, uint8 or floating point in [0, 1] (any device).
        labels: ``(N,)`` class indices, or ``(N, K)`` soft targets.
        batch_size: samples per batch (per rank).
        shuffle: draw a new permutation every epoch.
        drop_last: drop the last, smaller batch.
        transform: called as ``transform(images, generator=g)`` on each batch on the
            device (every :mod:`resdepth.transforms` transform fits; a function of
            your own takes the ``generator`` keyword too); when ``None`` batches are
            yielded as stored (uint8).
        mixing: batch mixing applied after ``transform``, called
            ``mixing(images, labels, generator=...)`` and returning ``(images,
            targets)``, such as :class:`~resdepth.transforms.CutMix`; batches then
            carry soft targets ``(B, K)``.
        device: where to keep the data (default: CUDA when available).
        generator: seed (int) or CPU ``torch.Generator`` for shuffling and
            augmentation; default seed 0.
        rank: this process's rank for sharding.
        world_size: number of processes sharing each epoch.
        channels_last: return images in channels_last memory format.
        classes: the class names of the labels, recorded with a run's checkpoints.
        alternating_flip: mirror each image by a rule instead of by chance: in epoch 0
            a random half (drawn once from the loader's seed), and from then on each
            image the other way from the epoch before, so that any two epochs in a row
            show every image both ways (airbench's alternating flip).  Applied to the
            stored images before ``transform``; a function of the seed, the epoch and
            the image's index, so a resumed run flips as the uninterrupted one.

    Examples:
        >>> import torch
        >>> from resdepth.data import DeviceLoader
        >>> images = torch.zeros(10, 3, 8, 8, dtype=torch.uint8)
        >>> loader = DeviceLoader(images, torch.arange(10), batch_size=4, device="cpu")
        >>> [x.shape[0] for x, y in loader]
        [4, 4, 2]
    """

    def __init__(
        self,
        images: Tensor,
        labels: Tensor,
        batch_size: int,
        shuffle: bool = True,
        drop_last: bool = False,
        transform: ImageTransform | None = None,
        device: torch.device | str | None = None,
        generator: torch.Generator | int | None = None,
        rank: int = 0,
        world_size: int = 1,
        channels_last: bool = False,
        mixing: BatchMixing | None = None,
        classes: Sequence[str] | None = None,
        alternating_flip: bool = False,
    ) -> None:
        check_unit_range(image_batch(images))
        if (
            not isinstance(labels, Tensor)
            or labels.dim() not in (1, 2)
            or labels.shape[0] != images.shape[0]
        ):
            raise ValueError(
                f"labels must be a (N,) or (N, K) tensor with N={images.shape[0]}, "
                f"got {getattr(labels, 'shape', labels)!r}"
            )
        self.batch_size = positive_int("batch_size", batch_size)
        self.world_size = positive_int("world_size", world_size)
        self.rank = int_in_range("rank", rank, 0, world_size)
        if transform is not None and not callable(transform):
            raise TypeError(f"transform must be callable, got {type(transform).__name__}")
        if mixing is not None and not callable(mixing):
            raise TypeError(f"mixing must be callable, got {type(mixing).__name__}")
        if device is None:
            device = "cuda" if torch.cuda.is_available() else "cpu"
        self.device = torch.device(device)
        self.images = images.to(self.device)
        self.labels = labels.to(self.device)
        self.shuffle = shuffle
        self.drop_last = drop_last
        self.transform = transform
        self.channels_last = channels_last
        self.mixing = mixing
        self.classes = tuple(classes) if classes is not None else None
        if isinstance(generator, torch.Generator):
            self._shuffle_gen = generator
        else:
            if generator is not None and not is_int(generator):
                raise TypeError(
                    f"generator must be an int seed or a torch.Generator, got {generator!r}"
                )
            self._shuffle_gen = torch.Generator().manual_seed(0 if generator is None else generator)
        # The same shuffle on every rank, but each rank draws its own augmentations.
        seed = int(torch.randint(0, 2**62, (1,), generator=self._shuffle_gen).item()) + rank
        self._augment_gen = torch.Generator(device=self.device).manual_seed(seed)
        self.alternating_flip = flag("alternating_flip", alternating_flip)
        self._first_flips: Tensor | None = None
        if self.alternating_flip:  # from the seed alone: every rank and a resume agree
            bits = torch.Generator().manual_seed(seed - rank + 1)
            n = self.images.shape[0]
            self._first_flips = torch.randint(0, 2, (n,), generator=bits).bool().to(self.device)
        self.epoch = 0
        self._position = 0  # batches of the current epoch already yielded
        self._epoch_start_state: Tensor | None = None
        self._resume_pending = False
        self._fingerprint: str | None = None

    def fingerprint(self) -> str:
        """A short hash of the images and labels (all ranks' data, not only this
        shard), so a run can tell its data from other data of the same size and
        classes.  It reads an evenly spaced sample of at most a million bytes of the
        images and all labels: cheap on a large set, and any two different data sets
        met in practice differ there."""
        if self._fingerprint is None:
            flat = self.images.reshape(-1)
            step = max(1, flat.numel() // 1_000_000)
            digest = hashlib.blake2b(digest_size=8)
            digest.update(str(tuple(self.images.shape)).encode())
            digest.update(flat[::step].cpu().numpy().tobytes())
            digest.update(self.labels.cpu().to(torch.int64).numpy().tobytes())
            self._fingerprint = digest.hexdigest()
        return self._fingerprint

    @property
    def num_samples(self) -> int:
        """Samples this rank sees per epoch."""
        return math.ceil(self.images.shape[0] / self.world_size)

    def __len__(self) -> int:
        if self.drop_last:
            return self.num_samples // self.batch_size
        return math.ceil(self.num_samples / self.batch_size)

    def _epoch_indices(self) -> Tensor:
        n = self.images.shape[0]
        order = torch.randperm(n, generator=self._shuffle_gen) if self.shuffle else torch.arange(n)
        padded = self.num_samples * self.world_size  # equal shards (see the class docs)
        if padded > n:
            order = order.repeat(math.ceil(padded / n))[:padded]
        return order[self.rank :: self.world_size].to(self.device)

    def __iter__(self) -> Iterator[tuple[Tensor, Tensor]]:
        if self._resume_pending:
            self._resume_pending = False
            assert self._epoch_start_state is not None
            self._shuffle_gen.set_state(self._epoch_start_state)
        else:
            if self._epoch_start_state is not None:
                self.epoch += 1  # a new pass begins the next epoch
            self._position = 0
            self._epoch_start_state = self._shuffle_gen.get_state()
        indices = self._epoch_indices()
        for b in range(self._position, len(self)):
            idx = indices[b * self.batch_size : (b + 1) * self.batch_size]
            x = self.images.index_select(0, idx)
            y = self.labels.index_select(0, idx)
            if self._first_flips is not None:
                flips = self._first_flips.index_select(0, idx) ^ bool(self.epoch % 2)
                x = torch.where(flips[:, None, None, None], x.flip(-1), x)
            if self.transform is not None:
                x = self.transform(x, generator=self._augment_gen)
            if self.channels_last:
                x = x.contiguous(memory_format=torch.channels_last)
            if self.mixing is not None:
                x, y = self.mixing(x, y, generator=self._augment_gen)
            self._position = b + 1
            yield x, y

    def _layout(self) -> dict[str, int]:
        # What the position means: the same samples, batches and shard on resume.
        return {
            "size": int(self.images.shape[0]),
            "batch_size": self.batch_size,
            "world_size": self.world_size,
            "rank": self.rank,
            "drop_last": int(self.drop_last),
        }

    def state_dict(self) -> dict[str, Any]:
        """Where the loader stands: epoch, position in it, both generators, and the
        data size, batch size and shard that the position refers to."""
        start = (
            self._epoch_start_state
            if self._epoch_start_state is not None
            else self._shuffle_gen.get_state()
        )
        finished = self._epoch_start_state is not None and self._position >= len(self)
        return {
            "epoch": self.epoch + 1 if finished else self.epoch,
            "position": 0 if finished else self._position,
            "shuffle_state": self._shuffle_gen.get_state() if finished else start,
            "augment_state": self._augment_gen.get_state(),
            **self._layout(),
        }

    def load_state_dict(self, state: dict[str, Any]) -> None:
        """Continue from a :meth:`state_dict`: the next iteration resumes exactly there.

        Raises:
            ValueError: if the state was saved by a loader over another number of
                samples, batch size or shard, where its position would mean other
                batches; the message names each difference.
        """
        changed = [
            f"{key} {state[key]} -> {value}"
            for key, value in self._layout().items()
            if key in state and int(state[key]) != value
        ]
        if changed:
            raise ValueError(
                "the loader state was saved for other data or batches: " + ", ".join(changed)
            )
        self.epoch = int(state["epoch"])
        self._position = int(state["position"])
        self._augment_gen.set_state(state["augment_state"].cpu())
        self._epoch_start_state = state["shuffle_state"]
        self._shuffle_gen.set_state(state["shuffle_state"])
        self._resume_pending = True

    def __repr__(self) -> str:
        return (
            f"DeviceLoader(samples={self.num_samples}, batch_size={self.batch_size}, "
            f"batches={len(self)}, shuffle={self.shuffle}, device={self.device}, "
            f"rank={self.rank}/{self.world_size})"
        )
