"""``resdepth export``; eval and predict on the exported folder; ``--logger``, with MLflow
on a real SQLite store, for a run and for a study."""

from __future__ import annotations

import json
import pickle
from pathlib import Path

import numpy as np
import pytest

from resdepth.cli import main

from ..conftest import TINY_MODEL

mlflow = pytest.importorskip("mlflow")
PLAIN = ["--precision", "fp32", "--channels-last", "off", "--no-autotune", "--quiet"]


def _train(archive: Path, out: Path, *extra: str) -> int:
    return main(["train", "--model", TINY_MODEL, "--data", str(archive), "--epochs", "2",
                 "--batch-size", "24", "--out", str(out), *PLAIN, *extra])  # fmt: skip


@pytest.mark.slow
def test_export_then_eval_and_predict_from_the_folder(
    archive: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    store = f"sqlite:///{tmp_path}/mlruns.db"
    run = tmp_path / "run"
    assert _train(archive, run, "--logger", "mlflow", "--mlflow-uri", store,
                  "--logger", "jsonl", "--mlflow-experiment", "cli") == 0  # fmt: skip
    assert (run / "log.jsonl").is_file() and (run / "mlflow.json").is_file()
    client = mlflow.MlflowClient(store)
    [tracked] = client.search_runs([client.get_experiment_by_name("cli").experiment_id])
    assert len(client.get_metric_history(tracked.info.run_id, "test_accuracy")) == 2
    capsys.readouterr()

    folder = tmp_path / "export"
    assert main(["export", str(run / "best.pt"), str(folder)]) == 0
    printed = capsys.readouterr().out
    assert f"wrote {folder}: model.safetensors" in printed and "hf upload" in printed
    config = json.loads((folder / "config.json").read_text())
    assert config["label_names"] == ["ant", "bee", "cow"]

    accuracies = []
    for source in (run / "best.pt", folder, folder / "model.safetensors"):
        assert main(["eval", str(source), "--data", str(archive), "--precision", "fp32"]) == 0
        accuracies.append(capsys.readouterr().out.splitlines()[-1])
    assert accuracies[0] == accuracies[1] == accuracies[2]

    hidden = tmp_path / "hidden.pkl"
    images = np.random.default_rng(1).integers(0, 256, (6, 16, 16, 3), dtype=np.uint8)
    hidden.write_bytes(pickle.dumps({b"data": images}))
    for source, csv in ((run / "best.pt", "a.csv"), (folder, "b.csv")):
        assert main(["predict", str(source), "--input", str(hidden),
                     "--output", str(tmp_path / csv), "--precision", "fp32"]) == 0  # fmt: skip
    assert (tmp_path / "a.csv").read_text() == (tmp_path / "b.csv").read_text()

    # Again into the same folder: one line, exit status 2; --overwrite replaces it.
    assert main(["export", str(run / "last.pt"), str(folder)]) == 2
    err = capsys.readouterr().err.strip()
    assert err.startswith("resdepth export: error:") and "--overwrite" in err
    assert "\n" not in err
    assert main(["export", str(run / "last.pt"), str(folder), "--overwrite"]) == 0


def test_a_foreign_folder_or_an_output_that_is_a_file_is_one_line(
    archive: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    folder = tmp_path / "model"
    folder.mkdir()
    (folder / "config.json").write_text("{}")
    (folder / "model.safetensors").write_bytes(b"\x00" * 16)
    assert main(["eval", str(folder), "--data", str(archive)]) == 2
    err = capsys.readouterr().err.strip()
    assert err.startswith("resdepth eval: error:") and "config.json" in err and "\n" not in err
    (tmp_path / "afile").write_text("")
    assert main(["export", str(folder), str(tmp_path / "afile")]) == 2  # the folder: refused
    assert "not a resdepth model config" in capsys.readouterr().err


def test_logger_options_that_cannot_work_are_one_line(
    archive: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:  # fmt: skip
    monkeypatch.delenv("MLFLOW_TRACKING_URI", raising=False)
    assert _train(archive, tmp_path / "a", "--logger", "mlflow") == 2
    assert "give --mlflow-uri" in capsys.readouterr().err
    assert _train(archive, tmp_path / "b", "--mlflow-uri", "sqlite:///x.db") == 2
    assert "add --logger mlflow" in capsys.readouterr().err
    assert _train(archive, tmp_path / "c", "--mlflow-artifacts", str(tmp_path)) == 2
    assert "--mlflow-artifacts: add --logger mlflow" in capsys.readouterr().err
    assert not (tmp_path / "a").exists() and not Path("x.db").exists()


@pytest.mark.slow
def test_a_study_is_one_experiment_with_a_run_per_shape(
    archive: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    store = f"sqlite:///{tmp_path}/mlruns.db"
    out = tmp_path / "depth-study"
    artifacts = tmp_path / "artifacts"
    argv = ["study", "--data", str(archive), "--out", str(out), "--shapes", "10", "1,2,1,1",
            "--budget", "60000", "--base-widths", "8", "16", "32", "64", "--epochs", "1",
            "--device", "cpu", "--quiet", "--logger", "mlflow", "--mlflow-uri", store,
            "--mlflow-artifacts", str(artifacts)]  # fmt: skip
    assert main(argv) == 0
    client = mlflow.MlflowClient(store)
    experiment = client.get_experiment_by_name("depth-study")
    runs = client.search_runs([experiment.experiment_id])
    assert len(runs) == 2
    names = {r.info.run_name for r in runs}
    assert names == {p.name for p in out.iterdir() if (p / "mlflow.json").is_file()}
    assert all(r.info.status == "FINISHED" for r in runs)
    # Each shape's model folder, where --mlflow-artifacts said.
    assert len(list(artifacts.glob("*/artifacts/model/model.safetensors"))) == 2
