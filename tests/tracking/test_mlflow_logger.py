"""MLflow tracking against a real SQLite-backed store, read back with MLflow's own client."""

from __future__ import annotations

import json
import os
import sys
from pathlib import Path

import pytest
import torch

from resdepth import ResNet, Trainer, load_model
from resdepth.artifacts import RunDir
from resdepth.data import Dataset, make_synthetic
from resdepth.recipes import get_recipe
from resdepth.tracking import MlflowLogger

from ..training.test_resume import _torchrun

mlflow = pytest.importorskip("mlflow")
CLASSES = ("ant", "bee", "cat")


def _fit(out: Path | None, logger: MlflowLogger, epochs: int, resume: bool = False) -> Trainer:
    torch.manual_seed(0)
    net = ResNet(layers=(1,), widths=(8,), num_classes=3)
    trainer = Trainer(net, recipe=get_recipe("as1", batch_size=16), device="cpu", out_dir=out,
                      progress=False, precision="fp32", callbacks=[logger])  # fmt: skip
    train = Dataset("train", *make_synthetic(32, 3, 8), CLASSES)
    test = Dataset("test", *make_synthetic(16, 3, 8, seed=1), CLASSES)
    trainer.fit(*trainer.build_loaders(train, test), epochs=epochs, resume=resume)
    return trainer


@pytest.fixture
def store(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> str:
    (tmp_path / "work").mkdir()
    monkeypatch.chdir(tmp_path / "work")  # nothing may land here by surprise
    return f"sqlite:///{tmp_path}/db/mlruns.db"


def test_parameters_metrics_and_the_model_land_in_the_store(store: str, tmp_path: Path) -> None:
    (tmp_path / "db").mkdir()
    out = tmp_path / "run"
    trainer = _fit(out, MlflowLogger(store, experiment="tiny"), epochs=2)
    client = mlflow.MlflowClient(store)
    experiment = client.get_experiment_by_name("tiny")
    [run] = client.search_runs([experiment.experiment_id])
    assert run.info.run_id == json.loads(RunDir(out).mlflow_run.read_text())["run_id"]
    assert run.info.status == "FINISHED" and run.info.run_name == "run"
    params = run.data.params
    assert params["recipe"] == "as1" and params["precision"] == "fp32"
    assert params["seed"] == "0" and params["recipe.epochs"] == "2"
    assert params["channels_last"] in ("true", "false") and int(params["parameters"]) > 0
    for row in trainer.history:
        for key in ("train_loss", "test_accuracy", "learning_rate"):
            [metric] = [m for m in client.get_metric_history(run.info.run_id, key)
                        if m.step == row["epoch"]]  # fmt: skip
            assert metric.value == pytest.approx(row[key], rel=1e-6)
    # The model folder is the artifact, and it loads as the run's best.pt.
    local = client.download_artifacts(run.info.run_id, "model", str(tmp_path / "down"))
    assert torch.equal(load_model(local).fc.weight, load_model(out / "best.pt").fc.weight)
    # Artifacts beside the database, as asked; nothing in the working directory.
    assert (tmp_path / "db" / "mlartifacts").is_dir()
    assert os.listdir(tmp_path / "work") == []


@pytest.mark.slow
def test_a_resume_continues_the_same_run_without_logging_twice(store: str, tmp_path: Path) -> None:
    (tmp_path / "db").mkdir()
    out = tmp_path / "run"
    _fit(out, MlflowLogger(store), epochs=1)
    # A longer schedule on resume: MLflow keeps the first value of a parameter.
    trainer = _fit(out, MlflowLogger(store), epochs=3, resume=True)
    client = mlflow.MlflowClient(store)
    [run] = client.search_runs([client.get_experiment_by_name("resdepth").experiment_id])
    steps = [m.step for m in client.get_metric_history(run.info.run_id, "train_loss")]
    assert sorted(steps) == [1, 2, 3]
    assert run.data.params["recipe.epochs"] == "1"
    assert run.data.tags["resumed.recipe.epochs"] == "3"
    assert run.data.tags["epochs_trained"] == "3" and run.info.status == "FINISHED"
    assert [r["epoch"] for r in trainer.history] == [1, 2, 3]


@pytest.mark.slow
def test_an_epoch_saved_but_not_logged_is_logged_on_resume(store: str, tmp_path: Path) -> None:
    (tmp_path / "db").mkdir()
    out = tmp_path / "run"

    class StopAfterEpoch1(MlflowLogger):  # dies between the checkpoint and logging epoch 2
        def on_epoch_end(self, trainer: Trainer, row: dict) -> None:
            if row["epoch"] == 2:
                raise KeyboardInterrupt
            super().on_epoch_end(trainer, row)

    with pytest.raises(KeyboardInterrupt):
        _fit(out, StopAfterEpoch1(store), epochs=3)
    _fit(out, MlflowLogger(store), epochs=3, resume=True)
    client = mlflow.MlflowClient(store)
    [run] = client.search_runs([client.get_experiment_by_name("resdepth").experiment_id])
    steps = [m.step for m in client.get_metric_history(run.info.run_id, "test_loss")]
    assert sorted(steps) == [1, 2, 3]


@pytest.mark.slow
def test_a_trainer_without_a_folder_gets_a_run_of_its_own_and_no_model(
    store: str, tmp_path: Path
) -> None:
    (tmp_path / "db").mkdir()
    _fit(None, MlflowLogger(store, run_name="in-memory"), epochs=1)
    client = mlflow.MlflowClient(store)
    [run] = client.search_runs([client.get_experiment_by_name("resdepth").experiment_id])
    assert run.info.run_name == "in-memory" and run.info.status == "FINISHED"
    assert client.list_artifacts(run.info.run_id) == []


def test_a_nested_data_description_is_a_parameter() -> None:
    from resdepth import RunMetadata

    meta = RunMetadata(data={"name": "mine", "split": {"train": 32, "test": 16}})
    trainer = Trainer(ResNet(layers=(1,), widths=(8,), num_classes=3), device="cpu",
                      progress=False, metadata=meta)  # fmt: skip
    logged = json.loads(MlflowLogger.params(trainer)["data"])
    assert logged["split"] == {"train": 32, "test": 16} and logged["name"] == "mine"


def test_bad_arguments() -> None:
    with pytest.raises(TypeError, match="tracking_uri"):
        MlflowLogger("")


@pytest.mark.slow
@pytest.mark.skipif(sys.platform != "linux", reason="torchrun test runs on Linux")
def test_under_torchrun_one_rank_logs_one_run_killed_and_resumed(tmp_path: Path) -> None:
    store = f"sqlite:///{tmp_path}/mlruns.db"
    killed = _torchrun(tmp_path / "run", "3", "--kill-after-epoch", "1", "--mlflow", store)
    assert killed.returncode != 0
    resumed = _torchrun(tmp_path / "run", "3", "--resume", "--mlflow", store)
    assert resumed.returncode == 0, resumed.stderr[-3000:]
    client = mlflow.MlflowClient(store)
    [run] = client.search_runs([client.get_experiment_by_name("torchrun").experiment_id])
    steps = [m.step for m in client.get_metric_history(run.info.run_id, "train_loss")]
    assert sorted(steps) == [1, 2, 3] and run.info.status == "FINISHED"


def test_a_database_store_needs_an_artifact_location(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="artifact_location"):
        MlflowLogger("postgresql://user@db.example/mlflow")
    logger = MlflowLogger("postgresql://user@db.example/mlflow", artifact_location="art")
    assert logger.artifact_location == str(Path("art").resolve())  # absolute, for a resume


@pytest.mark.slow
def test_a_fresh_run_in_a_folder_with_an_old_record_gets_a_new_mlflow_run(
    store: str, tmp_path: Path
) -> None:
    (tmp_path / "db").mkdir()
    out = tmp_path / "run"
    _fit(out, MlflowLogger(store), epochs=1)
    first = json.loads(RunDir(out).mlflow_run.read_text())["run_id"]
    for name in ("last.pt", "best.pt", "previous.pt", "history.csv"):
        (out / name).unlink(missing_ok=True)  # start over, keeping mlflow.json
    _fit(out, MlflowLogger(store), epochs=1)
    second = json.loads(RunDir(out).mlflow_run.read_text())["run_id"]
    client = mlflow.MlflowClient(store)
    assert second != first
    for run_id in (first, second):
        assert [m.step for m in client.get_metric_history(run_id, "train_loss")] == [1]


@pytest.mark.slow
def test_a_rewound_resume_logs_the_epochs_again_and_says_so(store: str, tmp_path: Path) -> None:
    (tmp_path / "db").mkdir()
    out = tmp_path / "run"
    _fit(out, MlflowLogger(store), epochs=1)
    (out / "early.pt").write_bytes((out / "last.pt").read_bytes())
    _fit(out, MlflowLogger(store), epochs=3, resume=True)
    _fit(out, MlflowLogger(store), epochs=3, resume=str(out / "early.pt"))
    client = mlflow.MlflowClient(store)
    [run] = client.search_runs([client.get_experiment_by_name("resdepth").experiment_id])
    assert run.data.tags["resumed.rewound_from_epoch"] == "3"
    steps = [m.step for m in client.get_metric_history(run.info.run_id, "train_loss")]
    assert sorted(steps) == [1, 2, 2, 3, 3]


@pytest.mark.slow
def test_a_relative_store_is_found_again_from_another_folder(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    (tmp_path / "a").mkdir()
    monkeypatch.chdir(tmp_path)
    _fit(tmp_path / "run", MlflowLogger("sqlite:///mlruns.db"), epochs=1)
    monkeypatch.chdir(tmp_path / "a")  # sqlite:///mlruns.db would name another file here
    logger = MlflowLogger(f"sqlite:///{tmp_path}/mlruns.db")
    _fit(tmp_path / "run", logger, epochs=2, resume=True)
    assert logger.run_id == json.loads(RunDir(tmp_path / "run").mlflow_run.read_text())["run_id"]
    assert (tmp_path / "mlartifacts").is_dir() and os.listdir(tmp_path / "a") == []


@pytest.mark.slow
def test_a_model_no_config_describes_finishes_without_an_artifact(
    store: str, tmp_path: Path
) -> None:
    (tmp_path / "db").mkdir()
    torch.manual_seed(0)
    net = torch.nn.Sequential(torch.nn.Flatten(), torch.nn.Linear(3 * 8 * 8, 3))
    logger = MlflowLogger(store)
    trainer = Trainer(net, recipe=get_recipe("as1", batch_size=16), device="cpu",
                      out_dir=tmp_path / "run", progress=False, callbacks=[logger])  # fmt: skip
    trainer.fit(trainer.build_loaders(make_synthetic(32, 3, 8))[0], epochs=1)
    run = mlflow.MlflowClient(store).get_run(logger.run_id)
    assert run.info.status == "FINISHED"
    assert run.data.tags["model_artifact"].startswith("none")
