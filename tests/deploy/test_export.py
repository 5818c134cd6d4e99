"""Every deployment route gives the eager model's outputs.

ONNX with both exporters (run by onnxruntime, with a dynamic batch axis),
``torch.export``, ``torch.compile(fullgraph=True)`` and TorchScript (``torch.jit.script``,
frozen, saved and loaded), for a preset of each kind: plain, deep, pre-activation and
wide.  Only the cheapest cases (resnet10 through ``torch.export`` and through the
TorchScript-based ONNX exporter) are in the default run; the rest are marked slow.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from pathlib import Path

import pytest
import torch
from torch import nn

from resdepth import get_model

PRESETS = ("resnet10", "resnet40", "preact_resnet18", "wrn_16_8")
BATCHES = (1, 2, 3)  # exported at 2; run at 1 and 3 too, through the dynamic batch axis
OPSET = 18
ATOL = RTOL = 1e-4

# The legacy exporter warns that it is deprecated; the warning is the point of the flag.
LEGACY_WARNINGS = (
    "ignore:You are using the legacy TorchScript-based ONNX export:DeprecationWarning",
    "ignore:The feature will be removed:DeprecationWarning",
)


def presets(fast: Sequence[str] = ()) -> list[object]:
    """The presets as parameters: those in ``fast`` run by default, the others are slow."""
    return [
        pytest.param(name, marks=() if name in fast else pytest.mark.slow, id=name)
        for name in PRESETS
    ]


def _model(name: str) -> nn.Module:
    torch.manual_seed(0)
    return get_model(name).eval()


def _input(batch: int) -> torch.Tensor:
    return torch.randn(batch, 3, 32, 32, generator=torch.Generator().manual_seed(batch))


def _assert_matches_eager(
    model: nn.Module,
    run: Callable[[torch.Tensor], torch.Tensor],
    batches: Sequence[int] = BATCHES,
) -> None:
    for batch in batches:
        x = _input(batch)
        with torch.no_grad():
            expected = model(x)
            got = run(x)
        assert got.shape == expected.shape == (batch, 10)
        torch.testing.assert_close(got, expected, atol=ATOL, rtol=RTOL)


def _check_onnx_file(path: Path, model: nn.Module) -> None:
    """A valid ONNX file at the asked opset, whose batch axis is dynamic, that onnxruntime
    runs to the eager outputs at every batch size."""
    onnx = pytest.importorskip("onnx")
    ort = pytest.importorskip("onnxruntime")
    proto = onnx.load(str(path))
    onnx.checker.check_model(proto)
    assert {o.domain: o.version for o in proto.opset_import}[""] == OPSET
    session = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    (inp,), (out,) = session.get_inputs(), session.get_outputs()
    assert (inp.name, out.name) == ("images", "logits")
    assert isinstance(inp.shape[0], str) and inp.shape[1:] == [3, 32, 32]  # a named, free axis

    def run(x: torch.Tensor) -> torch.Tensor:
        (logits,) = session.run(["logits"], {"images": x.numpy()})
        return torch.from_numpy(logits)

    _assert_matches_eager(model, run)


@pytest.mark.parametrize("name", presets(fast=["resnet10"]))
@pytest.mark.filterwarnings(*LEGACY_WARNINGS)
def test_onnx_torchscript_exporter_matches_eager(name: str, tmp_path: Path) -> None:
    pytest.importorskip("onnx")
    pytest.importorskip("onnxruntime")
    model, path = _model(name), tmp_path / f"{name}.onnx"
    torch.onnx.export(
        model, (_input(2),), str(path), dynamo=False, opset_version=OPSET,
        input_names=["images"], output_names=["logits"],
        dynamic_axes={"images": {0: "batch"}, "logits": {0: "batch"}},
    )  # fmt: skip
    _check_onnx_file(path, model)


@pytest.mark.parametrize("name", presets())
def test_onnx_dynamo_exporter_matches_eager(name: str, tmp_path: Path) -> None:
    pytest.importorskip("onnx")
    pytest.importorskip("onnxruntime")
    pytest.importorskip("onnxscript")
    model, path = _model(name), tmp_path / f"{name}.onnx"
    program = torch.onnx.export(
        model, (_input(2),), dynamo=True, opset_version=OPSET, verbose=False,
        input_names=["images"], output_names=["logits"],
        dynamic_shapes={"x": {0: torch.export.Dim("batch")}},
    )  # fmt: skip
    assert program is not None
    program.save(str(path))
    _check_onnx_file(path, model)


@pytest.mark.parametrize("name", presets(fast=["resnet10"]))
def test_torch_export_matches_eager(name: str) -> None:
    model = _model(name)
    exported = torch.export.export(
        model, (_input(2),), dynamic_shapes={"x": {0: torch.export.Dim("batch")}}
    )
    _assert_matches_eager(model, exported.module())


@pytest.mark.slow
@pytest.mark.parametrize("name", presets())
def test_torch_compile_fullgraph_matches_eager(name: str) -> None:
    model = _model(name)
    compiled = torch.compile(model, fullgraph=True, dynamic=False)
    _assert_matches_eager(model, compiled, batches=(2,))


@pytest.mark.slow
@pytest.mark.parametrize("name", presets())
@pytest.mark.filterwarnings("ignore:`torch\\.jit:FutureWarning")
def test_torchscript_saved_and_loaded_matches_eager(name: str, tmp_path: Path) -> None:
    model = _model(name)
    torch.jit.save(torch.jit.freeze(torch.jit.script(model)), str(tmp_path / f"{name}.pt"))
    _assert_matches_eager(model, torch.jit.load(str(tmp_path / f"{name}.pt")))
