"""Each benchmark script runs end to end with tiny settings, so none of them rots."""

from __future__ import annotations

import json
import runpy
from pathlib import Path

import pytest

BENCHMARKS = Path(__file__).resolve().parents[1] / "benchmarks"

CASES = {
    "transforms": ["--batch-sizes", "8", "--seconds", "0.05", "--device", "cpu", "--no-compile"],
    "transforms-policies": ["--stack", "policies", "--batch-sizes", "4", "--seconds", "0.02",
                            "--device", "cpu", "--no-compile"],
    "train_step": ["--models", "resnet10", "--variants", "fp32", "channels_last", "--batch", "4",
                   "--steps", "1", "--rounds", "1", "--device", "cpu"],
    "loader": ["--images", "256", "--batch", "64", "--workers", "0", "--device", "cpu"],
    "trainer_overhead": ["--images", "128", "--batch", "64", "--rounds", "1", "--device", "cpu"],
    "gpu_check": ["--device", "cpu", "--batch", "8", "--seconds", "0.05", "--skip-training",
                  "--no-compile"],
}  # fmt: skip


@pytest.mark.slow
@pytest.mark.parametrize("name", sorted(CASES))
def test_benchmark_runs_and_writes_json(name: str, tmp_path: Path) -> None:
    script = name.split("-")[0]
    module = runpy.run_path(str(BENCHMARKS / f"{script}.py"), run_name="benchmark")
    out = tmp_path / f"{name}.json"
    payload = module["main"]([*CASES[name], "--json", str(out)])
    written = json.loads(out.read_text())
    assert written["benchmark"] == payload["benchmark"] == script
    assert written["machine"]["torch_threads"] >= 1 and "torch" in written["machine"]


def test_train_step_reference_has_the_presets_parameter_counts() -> None:
    module = runpy.run_path(str(BENCHMARKS / "train_step.py"), run_name="benchmark")
    from resdepth import count_parameters, presets

    for preset in (presets.resnet10(), presets.resnet40(), presets.resnet102()):
        reference = module["PlainResNet"](preset.layers, preset.widths)
        assert count_parameters(reference) == count_parameters(preset)
