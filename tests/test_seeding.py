from __future__ import annotations

import random

import numpy as np
import pytest
import torch

from resdepth import ResNet, seed_everything


def _draws() -> tuple[float, float, torch.Tensor]:
    return random.random(), float(np.random.rand()), torch.rand(3)


def test_the_same_seed_gives_the_same_draws_and_weights() -> None:
    seed_everything(11)
    first, net_a = _draws(), ResNet(layers=(1,), widths=(4,))
    seed_everything(11)
    second, net_b = _draws(), ResNet(layers=(1,), widths=(4,))
    assert first[:2] == second[:2] and torch.equal(first[2], second[2])
    for (name, a), b in zip(net_a.state_dict().items(), net_b.state_dict().values(), strict=True):
        assert torch.equal(a, b), name
    seed_everything(12)
    assert _draws()[0] != first[0]


def test_deterministic_mode_sets_the_flags_and_bad_seeds_are_refused() -> None:
    try:
        seed_everything(0, deterministic=True)
        assert torch.are_deterministic_algorithms_enabled()
        assert torch.backends.cudnn.deterministic and not torch.backends.cudnn.benchmark
    finally:
        torch.use_deterministic_algorithms(False)
        torch.backends.cudnn.deterministic = False
    for bad in (-1, 1.5, "0", True):
        with pytest.raises(ValueError, match="seed"):
            seed_everything(bad)  # type: ignore[arg-type]
