from __future__ import annotations

import csv
from pathlib import Path

import pytest
import torch

import resdepth
from resdepth import count_parameters, depth, presets, summary

PAPER_COUNTS = {
    "resnet10": 4_903_242,
    "resnet40": 4_994_730,
    "resnet102": 4_997_658,
    "resnet18": 11_173_962,
}
PAPER_DEPTHS = {"resnet10": 10, "resnet40": 40, "resnet102": 102, "resnet18": 18}
FIGURE8 = Path(__file__).parent / "data" / "resnet40_figure8.tsv"


@pytest.mark.parametrize("name", sorted(PAPER_COUNTS))
def test_preset_parameter_counts_and_depth(name: str) -> None:
    net = getattr(presets, name)()
    assert count_parameters(net) == PAPER_COUNTS[name]
    assert count_parameters(net, trainable_only=False) == PAPER_COUNTS[name]
    assert depth(net) == PAPER_DEPTHS[name]


def test_presets_are_reachable_from_the_top_level() -> None:
    assert resdepth.presets.resnet40 is presets.resnet40
    import resdepth.presets as module

    assert module.resnet40 is presets.resnet40


def _figure8_rows() -> list[tuple[str, list[int], int]]:
    with FIGURE8.open() as f:
        return [
            (name, [int(v) for v in shape.strip("[]").split(",")], int(params))
            for name, shape, params in csv.reader(f, delimiter="\t")
        ]


def test_resnet40_matches_figure8_layer_for_layer() -> None:
    expected = _figure8_rows()
    assert len(expected) == 106
    got = summary(presets.resnet40()).rows
    assert [r.name for r in got] == [e[0] for e in expected]
    assert [[-1, *r.output_shape[1:]] for r in got] == [e[1] for e in expected]
    assert [r.num_parameters for r in got] == [e[2] for e in expected]


def test_resnet40_summary_totals_match_figure8() -> None:
    s = summary(presets.resnet40())
    text = str(s)
    assert "Total params: 4,994,730" in text
    assert "Non-trainable params: 0" in text
    assert f"{s.input_size_mb:.2f}" == "0.01"
    assert f"{s.forward_backward_size_mb:.2f}" == "13.29"
    assert f"{s.params_size_mb:.2f}" == "19.05"
    assert f"{s.total_size_mb:.2f}" == "32.35"


def test_presets_accept_overrides() -> None:
    net = presets.resnet40(num_classes=100)
    assert net.fc.out_features == 100
    narrow = presets.resnet40(widths=(16, 32, 64, 128))
    assert narrow.widths == (16, 32, 64, 128)
    assert count_parameters(narrow) < PAPER_COUNTS["resnet40"]
    assert narrow(torch.randn(2, 3, 32, 32)).shape == (2, 10)


def test_presets_are_keyword_only() -> None:
    with pytest.raises(TypeError):
        presets.resnet40(100)  # type: ignore[misc]


def test_unknown_override_names_the_argument() -> None:
    with pytest.raises(ValueError, match="widht"):
        presets.resnet40(widht=(1, 2, 3, 4))
