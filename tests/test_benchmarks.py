"""Each benchmark script runs end to end with tiny settings, and what it reports makes sense."""

from __future__ import annotations

import importlib.util
import json
import math
import re
import runpy
import statistics
from collections.abc import Callable
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
    "trainer_overhead": ["--model", "resnet10", "--images", "128", "--batch", "64", "--rounds", "1",
                         "--device", "cpu"],
    "gpu_check": ["--device", "cpu", "--batch", "8", "--seconds", "0.05", "--skip-training",
                  "--no-compile"],
    "quickstart": ["--epochs", "2", "--subset", "64", "--device", "cpu"],
    "time_to_accuracy": ["--smoke", "--runs", "2", "--device", "cpu"],
    "time_budget": ["--data", "cifar10-sample", "--subset", "256", "--budget", "20s",
                    "--device", "cpu"],
    "model_folder": ["--models", "_tiny_test_net", "--rounds", "2", "--device", "cpu"],
    "accuracy_vs_time": ["--data", "cifar10-sample", "--subset", "96", "--test-subset", "48",
                         "--epochs", "2", "--recipes", "fast", "as1", "--model",
                         "_tiny_test_net", "--device", "cpu"],
    "speedrun": ["--data", "cifar10-sample", "--subset", "128", "--epochs", "1", "--seeds", "0",
                 "1", "--no-autotune", "--device", "cpu"],
}  # fmt: skip

# The policies `transforms.py --stack policies` times when --policies is not given.
DEFAULT_POLICIES = ["AutoAugment", "RandAugment", "TrivialAugmentWide", "ColorJitter",
                    "RandomErasing"]  # fmt: skip


def _option(argv: list[str], flag: str) -> list[str]:
    """The values given after ``flag`` on the command line ([] when it is not there)."""
    if flag not in argv:
        return []
    values = []
    for token in argv[argv.index(flag) + 1 :]:
        if token.startswith("--"):
            break
        values.append(token)
    return values


def _int_option(argv: list[str], flag: str) -> int:
    (value,) = _option(argv, flag)
    return int(value)


def _assert_positive(value: object) -> None:
    """A measured figure: a finite positive float (images/s or seconds)."""
    assert isinstance(value, float) and math.isfinite(value) and value > 0, value


def _assert_rate_or_none(value: object, measured: bool) -> None:
    if measured:
        _assert_positive(value)
    else:
        assert value is None


def _table(printed: str) -> list[dict[str, str]]:
    """The rows of the table `_common.print_table` printed, keyed by its headers."""
    lines = printed.splitlines()
    rule = next(i for i, line in enumerate(lines) if line.strip() and set(line) <= {"-", " "})
    spans = [m.span() for m in re.finditer(r"-+", lines[rule])]
    headers = [lines[rule - 1][a:b].strip() for a, b in spans]
    rows = []
    for line in lines[rule + 1 :]:
        gaps = [line[b : b + 2] for _, b in spans[:-1]]
        if len(line) != len(lines[rule]) or any(gap != "  " for gap in gaps):
            break
        rows.append({h: line[a:b].strip() for h, (a, b) in zip(headers, spans, strict=True)})
    return rows


def _check_transforms_paper(payload: dict, argv: list[str], printed: str) -> None:
    assert payload["stack"] == (_option(argv, "--stack") or ["paper"])[0] == "paper"
    batches = [int(b) for b in _option(argv, "--batch-sizes")]
    assert [entry["batch"] for entry in payload["results"]] == batches
    per_sample = payload["machine"]["device"] == "cpu" and "--skip-per-sample" not in argv
    shown = {(row["batch"], row["pipeline"]): row for row in _table(printed)}
    pipelines = ("resdepth", "resdepth_compiled", "kornia", "torchvision_per_sample")
    assert len(shown) == len(pipelines) * len(batches)
    for entry in payload["results"]:
        assert set(entry) == {"batch", *pipelines}
        _assert_positive(entry["resdepth"])
        _assert_rate_or_none(entry["resdepth_compiled"], "--no-compile" not in argv)
        _assert_rate_or_none(entry["kornia"], payload["machine"]["kornia"] is not None)
        _assert_rate_or_none(entry["torchvision_per_sample"], per_sample)
        ours, fast = entry["resdepth"], entry["resdepth_compiled"]
        for name in ("kornia", "torchvision_per_sample"):
            row, value = shown[(str(entry["batch"]), name)], entry[name]
            assert row["resdepth is"] == (f"{ours / value:.1f}x" if value else "-")
            assert row["compiled is"] == (f"{fast / value:.1f}x" if fast and value else "-")


def _check_transforms_policies(payload: dict, argv: list[str], printed: str) -> None:
    assert payload["stack"] == _option(argv, "--stack")[0] == "policies"
    policies = _option(argv, "--policies") or DEFAULT_POLICIES
    batches = [int(b) for b in _option(argv, "--batch-sizes")]
    asked = [(policy, batch) for policy in policies for batch in batches]
    assert [(entry["transform"], entry["batch"]) for entry in payload["results"]] == asked
    per_image = payload["machine"]["device"] == "cpu" and "--skip-per-sample" not in argv
    kornia = payload["machine"]["kornia"] is not None
    shown = {(r["transform"], r["batch"], r["pipeline"]): r for r in _table(printed)}
    rows = 0
    for entry in payload["results"]:
        fixed_order = entry["transform"] == "ColorJitter"
        pipelines = {"resdepth", "resdepth_compiled", "kornia_batch", "kornia_per_image",
                     "torchvision_per_image"}  # fmt: skip
        if fixed_order:
            pipelines.add("resdepth_fixed_order")
        assert set(entry) == {"transform", "batch", *pipelines}
        _assert_positive(entry["resdepth"])
        _assert_rate_or_none(entry["resdepth_compiled"], "--no-compile" not in argv)
        _assert_rate_or_none(entry["kornia_batch"], kornia)
        _assert_rate_or_none(entry["kornia_per_image"], kornia and per_image)
        _assert_rate_or_none(entry["torchvision_per_image"], per_image)
        if fixed_order:
            _assert_positive(entry["resdepth_fixed_order"])
        best = max(v for k, v in entry.items() if k.startswith("resdepth") and v is not None)
        for pipeline in pipelines:
            row, value = shown[(entry["transform"], str(entry["batch"]), pipeline)], entry[pipeline]
            assert row["best resdepth is"] == (f"{best / value:.1f}x" if value else "-")
        rows += len(pipelines)
    assert len(shown) == rows


def _check_train_step(payload: dict, argv: list[str], printed: str) -> None:
    batch = _int_option(argv, "--batch")
    assert payload["batch"] == batch
    asked = [(m, v) for m in _option(argv, "--models") for v in _option(argv, "--variants")]
    assert [(r["model"], r["variant"]) for r in payload["results"]] == asked
    shown = {(row["model"], row["variant"]): row["ratio"] for row in _table(printed)}
    assert list(shown) == asked
    for result in payload["results"]:
        assert result["batch"] == batch
        ours, reference = result["resdepth_images_per_s"], result["reference_images_per_s"]
        _assert_positive(ours)
        _assert_positive(reference)
        assert result["ratio"] == pytest.approx(ours / reference, rel=1e-9)
        assert result["meets_0.97"] is (result["ratio"] >= 0.97)
        assert shown[(result["model"], result["variant"])] == f"{result['ratio']:.3f}"


def _check_loader(payload: dict, argv: list[str], printed: str) -> None:
    images, batch = _int_option(argv, "--images"), _int_option(argv, "--batch")
    workers = _int_option(argv, "--workers")
    assert (payload["images"], payload["batch"], payload["workers"]) == (images, batch, workers)
    results = payload["results"]
    assert set(results) == {"device_loader", "torchvision_dataloader"}
    ours, reference = results["device_loader"], results["torchvision_dataloader"]
    _assert_positive(ours)
    _assert_positive(reference)
    rows = _table(printed)
    assert [row["speed"] for row in rows] == [f"{ours / reference:.1f}x", "1.0x"]
    assert rows[1]["loader"] == f"DataLoader, {workers} workers, per-sample"
    assert f"batch={batch} images={images}" in printed


def _check_trainer_overhead(payload: dict, argv: list[str], printed: str) -> None:
    assert payload["model"] == _option(argv, "--model")[0]
    assert payload["images"] == _int_option(argv, "--images")
    assert payload["batch"] == _int_option(argv, "--batch")
    bare, trainer = payload["bare_seconds"], payload["trainer_seconds"]
    assert len(bare) == len(trainer) == _int_option(argv, "--rounds")  # the warm-up left out
    for seconds in bare + trainer:
        _assert_positive(seconds)
    t_bare, t_trainer = statistics.median(bare), statistics.median(trainer)
    assert payload["overhead"] == pytest.approx(t_trainer / t_bare - 1.0, rel=1e-9, abs=1e-12)
    shown = [(row["loop"], row["seconds/epoch"]) for row in _table(printed)]
    assert shown == [("bare loop", f"{t_bare:.3f}"), ("Trainer.fit", f"{t_trainer:.3f}")]
    assert f"Trainer overhead: {100 * payload['overhead']:+.1f}%" in printed


def _assert_agreement_skipped_or_nil(value: object) -> None:
    """On the CPU there is no second device: the agreement is absent, marked skipped, or
    (the CPU compared with itself) exactly nil."""
    assert value is None or value == "skipped" or (isinstance(value, float) and value == 0.0)


def _check_gpu_check(payload: dict, argv: list[str], printed: str) -> None:
    assert payload["machine"]["device"] == "cpu" and "gpu" not in payload["machine"]
    assert payload["batch"] == _int_option(argv, "--batch")
    compile_ = "--no-compile" not in argv
    _assert_agreement_skipped_or_nil(payload.get("max_cpu_device_difference"))
    _assert_positive(payload["transforms_images_per_s"])
    _assert_rate_or_none(payload["transforms_compiled_images_per_s"], compile_)
    _assert_rate_or_none(payload["kornia_images_per_s"], payload["machine"]["kornia"] is not None)
    policies = payload["policies"]
    assert set(policies) == {"AutoAugment", "RandAugment", "TrivialAugmentWide", "ColorJitter"}
    for result in policies.values():
        _assert_positive(result["images_per_s"])
        _assert_agreement_skipped_or_nil(result.get("max_difference"))
        _assert_agreement_skipped_or_nil(result.get("share_differing"))
    steps = payload["training_images_per_s"]
    wanted = ["fp32", "bf16_channels_last"] + (["bf16_channels_last_compile"] if compile_ else [])
    assert list(steps) == wanted
    for rate in steps.values():
        _assert_positive(rate)
    assert ("short_training" in payload) is ("--skip-training" not in argv)


def _check_quickstart(payload: dict, argv: list[str], printed: str) -> None:
    epochs = _int_option(argv, "--epochs")
    assert payload["epochs"] == epochs
    assert f"--epochs {epochs} " in payload["command"] + " "
    assert (
        "--data cifar10-sample" in payload["command"] and "--model resnet10" in payload["command"]
    )
    for key in ("wall_seconds", "train_seconds", "images_per_second"):
        _assert_positive(payload[key])
    assert payload["wall_seconds"] >= payload["train_seconds"]  # the run holds the training
    final, best = payload["final_test_accuracy"], payload["best_test_accuracy"]
    assert 0.0 <= final <= best <= 100.0 and 1 <= payload["best_epoch"] <= epochs
    assert payload["load_average_before"] >= 0 and payload["load_average_after"] >= 0
    assert payload["date"][:4].isdigit() and payload["machine"]["cpu_model"]
    assert f"test accuracy {final:.2f}% at the end" in printed
    assert f"best {best:.2f}% at epoch {payload['best_epoch']}" in " ".join(printed.split())


def _markdown_rows(printed: str) -> dict[str, list[str]]:
    """The cells of a printed markdown table's rows, keyed by their first cell."""
    rows = [line.strip("|").split("|") for line in printed.splitlines() if line.startswith("| (")]
    return {cells[0].strip(): [c.strip() for c in cells[1:]] for cells in rows}


def _check_time_to_accuracy(payload: dict, argv: list[str], printed: str) -> None:
    runs = _int_option(argv, "--runs")
    assert (payload["epochs"], payload["runs"], payload["seeds"]) == (1, runs, list(range(runs)))
    lightning = any(importlib.util.find_spec(m) for m in ("lightning", "pytorch_lightning"))
    ways = payload["ways"]
    assert list(ways) == ["a", "b", "c_cold", "c_warm", "d"]
    images = payload["epochs"] * payload["train_images"]
    shown = _markdown_rows(printed)
    assert len(shown) == len(ways)
    base = ways["a"]["median_wall_seconds"]
    for key, way in ways.items():
        assert way["label"].startswith(f"({key[0]}) ")
        if key == "d" and not lightning:
            assert shown[way["label"]][1:] == ["-"] * 4
            assert "neither lightning nor pytorch_lightning is importable" in printed
            continue
        walls = [r["wall_seconds"] for r in way["runs"]]
        accuracies = [r["test_accuracy"] for r in way["runs"]]
        assert len(walls) == runs
        for run in way["runs"]:
            _assert_positive(run["wall_seconds"])
            assert run["images_per_second"] == pytest.approx(images / run["wall_seconds"])
            assert 0.0 <= run["test_accuracy"] <= 100.0 and run["precision"]
        assert way["median_wall_seconds"] == pytest.approx(statistics.median(walls))
        assert way["accuracy_mean"] == pytest.approx(statistics.fmean(accuracies))
        assert (way["accuracy_min"], way["accuracy_max"]) == (min(accuracies), max(accuracies))
        assert way["speedup_vs_a"] == pytest.approx(base / way["median_wall_seconds"])
        cells = shown[way["label"]]
        assert cells[0] == way["precision"]
        assert cells[2] == f"{way['median_wall_seconds']:.1f} s"
        assert cells[3].startswith(f"{way['accuracy_mean']:.2f} (")
        assert cells[4] == f"{way['speedup_vs_a']:.2f}x"
    assert ways["a"]["precision"] == "fp32, contiguous"
    assert "channels_last" in ways["b"]["precision"]
    assert len(payload["autotune_cache_written_when_cold"]) == runs
    for cache in ("cold", "warm"):
        ratio = ways[f"c_{cache}"]["median_wall_seconds"] / ways["b"]["median_wall_seconds"]
        assert payload["wall_ratio_c_over_b"][cache] == pytest.approx(ratio)
        assert f"(c)/(b) wall time, cache {cache}: {ratio:.2f}" in printed
    assert payload["load_average_before"] >= 0 and payload["load_average_after"] >= 0


def _check_time_budget(payload: dict, argv: list[str], printed: str) -> None:
    assert payload["planned_epochs"] >= 1 and payload["plan"].startswith("time budget 0:00:20")
    _assert_positive(payload["wall_seconds"])
    _assert_positive(payload["flips_seconds"])
    for key in ("test_accuracy", "test_accuracy_with_flips"):
        assert 0.0 <= payload[key] <= 100.0
    assert "--time-budget 20s" in payload["command"] and payload["settings"]
    assert f"{payload['planned_epochs']} epochs in " in printed


def _check_accuracy_vs_time(payload: dict, argv: list[str], printed: str) -> None:
    results = {r["recipe"]: r for r in payload["results"]}
    assert list(results) == _option(argv, "--recipes")
    epochs = _int_option(argv, "--epochs")
    for name, result in results.items():
        points = result["points"]
        assert [p["epoch"] for p in points] == list(range(1, epochs + 1))
        seconds = [p["seconds"] for p in points]
        assert seconds == sorted(seconds) and seconds[0] > 0
        assert all(0.0 <= p["test_accuracy"] <= 100.0 for p in points)  # every epoch scored
        assert result["final_accuracy"] == points[-1]["test_accuracy"]
        _assert_positive(result["train_images_per_second"])
        assert f"{name}: {result['final_accuracy']:.2f}%" in printed
    assert "48 test images" in payload["scale"]


def _check_model_folder(payload: dict, argv: list[str], printed: str) -> None:
    assert payload["rounds"] == _int_option(argv, "--rounds")
    results = payload["results"]
    assert [r["model"] for r in results] == _option(argv, "--models")
    rows = _table(printed)
    for result, row in zip(results, rows, strict=True):
        for key in ("checkpoint_mb", "safetensors_mb", "checkpoint_load_s", "folder_load_s"):
            _assert_positive(result[key])
        # best.pt holds the weights, their average and the momentum: about three copies.
        assert result["checkpoint_mb"] > 2 * result["safetensors_mb"]
        assert row["smaller"] == f"{result['checkpoint_mb'] / result['safetensors_mb']:.1f}x"
        assert row["folder load s"] == f"{result['folder_load_s']:.3f}"


def _check_speedrun(payload: dict, argv: list[str], printed: str) -> None:
    runs = payload["runs"]
    assert [r["seed"] for r in runs] == [int(s) for s in _option(argv, "--seeds")]
    for run in runs:
        assert 0.0 <= run["test_accuracy"] <= 100.0
        assert 0.0 <= run["test_accuracy_without_views"] <= 100.0
        assert 0 < run["train_seconds"] < run["wall_seconds"]
        assert run["epochs"] == _int_option(argv, "--epochs")
        assert (
            f"seed {run['seed']}: {run['test_accuracy']:.2f}% with the test-time views" in printed
        )
    mean = statistics.fmean(r["test_accuracy"] for r in runs)
    assert f"with views: {mean:.2f} +- " in printed
    assert {"avx2", "avx512_bf16", "amx_bf16", "native_bf16"} <= set(payload["machine"])
    assert payload["load_average_before"] >= 0 and "JPEG" in payload["data_note"]
    assert "--model airbench94 --recipe airbench94" in payload["command"]


CHECKS: dict[str, Callable[[dict, list[str], str], None]] = {
    "transforms": _check_transforms_paper,
    "transforms-policies": _check_transforms_policies,
    "train_step": _check_train_step,
    "loader": _check_loader,
    "trainer_overhead": _check_trainer_overhead,
    "gpu_check": _check_gpu_check,
    "quickstart": _check_quickstart,
    "time_to_accuracy": _check_time_to_accuracy,
    "time_budget": _check_time_budget,
    "accuracy_vs_time": _check_accuracy_vs_time,
    "model_folder": _check_model_folder,
    "speedrun": _check_speedrun,
}


@pytest.mark.slow
@pytest.mark.parametrize("name", sorted(CASES))
def test_benchmark_runs_and_writes_json(
    name: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    script = name.split("-")[0]
    module = runpy.run_path(str(BENCHMARKS / f"{script}.py"), run_name="benchmark")
    out = tmp_path / f"{name}.json"
    argv = CASES[name]
    payload = module["main"]([*argv, "--json", str(out)])
    printed = capsys.readouterr().out
    assert json.loads(out.read_text()) == json.loads(json.dumps(payload))
    assert payload["benchmark"] == script
    machine = payload["machine"]
    assert machine["torch_threads"] >= 1 and "torch" in machine
    assert machine["device"] == _option(argv, "--device")[0]
    CHECKS[name](payload, argv, printed)


def test_train_step_reference_has_the_presets_parameter_counts() -> None:
    module = runpy.run_path(str(BENCHMARKS / "train_step.py"), run_name="benchmark")
    from resdepth import count_parameters, presets

    for preset in (presets.resnet10(), presets.resnet40(), presets.resnet102()):
        reference = module["PlainResNet"](preset.layers, preset.widths)
        assert count_parameters(reference) == count_parameters(preset)


def test_time_to_accuracy_crops_and_flips_as_slicing_does() -> None:
    """Way (b)'s batch augmentation: per sample, the window at its drawn offsets, flipped
    where its draw says, as slicing the padded image gives it."""
    import torch

    module = runpy.run_path(str(BENCHMARKS / "time_to_accuracy.py"), run_name="benchmark")
    padded = torch.randint(0, 256, (64, 3, 12, 10), dtype=torch.uint8)
    out = module["random_crop_flip"](padded, 2, 0.5, torch.Generator().manual_seed(3))
    g = torch.Generator().manual_seed(3)  # the same draws, in the same order
    dy = torch.randint(0, 5, (64, 1, 1, 1), generator=g).flatten().tolist()
    dx = torch.randint(0, 5, (64, 1, 1, 1), generator=g).flatten().tolist()
    flip = (torch.rand(64, generator=g) < 0.5).tolist()
    assert out.shape == (64, 3, 8, 6) and out.dtype == torch.uint8
    assert 0 < sum(flip) < 64 and len(set(zip(dy, dx, strict=True))) > 1
    for i in range(64):
        window = padded[i, :, dy[i] : dy[i] + 8, dx[i] : dx[i] + 6]
        assert torch.equal(out[i], window.flip(-1) if flip[i] else window)
