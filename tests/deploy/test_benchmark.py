"""benchmarks/deploy.py runs end to end with tiny settings, and what it reports adds up."""

from __future__ import annotations

import json
import runpy
import statistics
from pathlib import Path

import pytest

SCRIPT = Path(__file__).resolve().parents[2] / "benchmarks" / "deploy.py"
ROUTES = ["eager", "compile", "torchscript", "export", "onnxruntime"]


@pytest.mark.slow
def test_deploy_benchmark_runs_and_writes_json(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    module = runpy.run_path(str(SCRIPT), run_name="benchmark")
    out = tmp_path / "deploy.json"
    argv = ["--models", "resnet10", "--batch-sizes", "1", "3", "--rounds", "2", "--threads", "1"]
    payload = module["main"]([*argv, "--json", str(out)])
    printed = capsys.readouterr().out
    assert json.loads(out.read_text()) == json.loads(json.dumps(payload))
    assert payload["benchmark"] == "deploy" and payload["threads"] == 1
    assert payload["machine"]["device"] == "cpu" and payload["machine"]["cpu_model"]
    results = payload["results"]
    assert [(r["model"], r["batch"], r["route"]) for r in results] == [
        ("resnet10", batch, route) for batch in (1, 3) for route in ROUTES
    ]
    onnxruntime = payload["machine"]["onnxruntime"] is not None
    for r in results:
        if r["route"] == "onnxruntime" and not onnxruntime:
            assert r["median_ms"] is None and r["note"]
            continue
        assert r["note"] is None, r["note"]
        assert len(r["rounds_ms"]) == 2 and all(ms > 0 for ms in r["rounds_ms"])
        assert r["median_ms"] == pytest.approx(statistics.median(r["rounds_ms"]))
        assert r["prepare_seconds"] > 0 and r["max_abs_difference"] < 1e-4
        assert f"resnet10 batch {r['batch']} {r['route']}: {r['median_ms']:.2f} ms" in printed
    assert "vs eager" in printed and "load average" in printed
