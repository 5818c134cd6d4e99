"""A run tracked in MLflow: its parameters, its metrics per epoch, and its model folder
as an artifact, in any tracking store MLflow takes (a SQLite file, a server)."""

from __future__ import annotations

import json
import os
import tempfile
import time
import warnings
from pathlib import Path
from typing import Any

from .._atomic import atomic_write
from ..artifacts import History, export_model
from ..models import count_parameters
from ..training import Callback, TrainerView, unwrap_model
from .loggers import _numbers

__all__ = ["MlflowLogger", "default_artifact_location", "store_uri"]

_MAX_PARAM = 6000  # MLflow's limit on a parameter's value, in characters


def store_uri(tracking_uri: str) -> str:
    """``tracking_uri`` with a local path made absolute, so that a run resumed from
    another folder finds the same store (``sqlite:///mlruns.db`` names a file in the
    working directory).

    Examples:
        >>> store_uri("http://localhost:5000")
        'http://localhost:5000'
        >>> store_uri("sqlite:////data/mlruns.db")
        'sqlite:////data/mlruns.db'
    """
    if tracking_uri.startswith("sqlite:///"):
        return "sqlite:///" + str(Path(tracking_uri[len("sqlite:///") :]).resolve())
    if tracking_uri.startswith("file://"):
        return "file://" + str(Path(tracking_uri[len("file://") :]).resolve())
    if "://" not in tracking_uri and tracking_uri != "databricks":
        return str(Path(tracking_uri).resolve())
    return tracking_uri


def default_artifact_location(tracking_uri: str) -> str | None:
    """Where a new experiment keeps its artifacts: ``mlartifacts`` beside a SQLite file
    or inside a local store's folder (never the working directory by surprise), the
    server's choice for a tracking server (``None``).

    Raises:
        ValueError: for another database (PostgreSQL, MySQL, ...), which keeps no
            artifacts: give ``artifact_location``.

    Examples:
        >>> default_artifact_location("sqlite:////data/mlruns.db")
        '/data/mlartifacts'
        >>> default_artifact_location("http://localhost:5000") is None
        True
    """
    uri = store_uri(tracking_uri)
    if uri.startswith("sqlite:///"):
        return str(Path(uri[len("sqlite:///") :]).parent / "mlartifacts")
    if uri.startswith("file://") or ("://" not in uri and uri != "databricks"):
        return str(Path(uri.removeprefix("file://")) / "mlartifacts")
    if uri.startswith(("http://", "https://", "databricks")):
        return None
    raise ValueError(
        f"tracking_uri {tracking_uri!r}: a database store keeps no artifacts, and MLflow "
        "would write them to ./mlruns; give artifact_location (--mlflow-artifacts): a "
        "folder, or s3://..."
    )


class MlflowLogger(Callback):
    """Track the run in MLflow (``pip install "resdepth[mlflow]"``).

    At the start: one MLflow run (named after the run folder) in ``experiment``, with
    the model, its parameter count, the recipe and each of its fields, the resolved
    precision and memory format, the seed and the data as parameters.  After every
    epoch: the history row's numbers as metrics (``train_loss``, ``test_accuracy``,
    ``learning_rate``, ...) at step ``epoch``.  At the end: the run's model folder
    (:func:`~resdepth.export_model` of ``best.pt``) as the artifact ``model``, and the
    run marked finished.

    The MLflow run's id is kept in the run folder (``mlflow.json``): a resumed run
    continues the same MLflow run, logs no parameter again (a value that changed, such
    as a longer schedule, becomes the tag ``resumed.<name>``, since MLflow keeps a
    parameter's first value) and no epoch twice.  Only the main rank logs.  A run that
    stops early stays "running" in MLflow until it is resumed.

    Args:
        tracking_uri: the tracking store: ``sqlite:///mlruns.db`` (a file, created
            if missing), ``http://host:5000``, ...
        experiment: the experiment's name (created if missing).
        artifact_location: where a new experiment keeps artifacts (default:
            :func:`default_artifact_location`); an existing experiment keeps its own.
        run_name: the MLflow run's name (default: the run folder's name).
        log_model: log the model folder at the end.

    Raises:
        ImportError: without MLflow, naming the extra.

    Examples:
        >>> import tempfile
        >>> from mlflow import MlflowClient
        >>> from resdepth import ResNet, Trainer
        >>> from resdepth.data import make_synthetic
        >>> from resdepth.tracking import MlflowLogger
        >>> folder = tempfile.mkdtemp()
        >>> uri = f"sqlite:///{folder}/mlruns.db"
        >>> trainer = Trainer(ResNet(layers=(1,), widths=(4,), num_classes=3), device="cpu",
        ...                   progress=False, out_dir=f"{folder}/run",
        ...                   callbacks=[MlflowLogger(uri, experiment="demo")])
        >>> _ = trainer.fit(trainer.build_loaders(make_synthetic(16, 3, 8))[0], epochs=2)
        >>> client = MlflowClient(uri)
        >>> run = client.get_run(trainer.callbacks[0].run_id)
        >>> [m.step for m in client.get_metric_history(run.info.run_id, "train_loss")]
        [1, 2]
        >>> run.data.params["recipe"], run.info.status
        ('as1', 'FINISHED')
    """

    def __init__(
        self,
        tracking_uri: str,
        experiment: str = "resdepth",
        artifact_location: str | os.PathLike[str] | None = None,
        run_name: str | None = None,
        log_model: bool = True,
    ) -> None:
        try:
            from mlflow import MlflowClient
        except ImportError as err:  # pragma: no cover - depends on the environment
            raise ImportError('MlflowLogger needs MLflow: pip install "resdepth[mlflow]"') from err
        if not isinstance(tracking_uri, str) or not tracking_uri:
            raise TypeError(f"tracking_uri must be a non-empty string, got {tracking_uri!r}")
        self.tracking_uri = store_uri(tracking_uri)
        self.experiment = experiment
        if artifact_location is None:
            self.artifact_location = default_artifact_location(tracking_uri)
        elif "://" in str(artifact_location):  # s3://, file://, ...: as given
            self.artifact_location = str(artifact_location)
        else:  # a folder: absolute, wherever a resume runs from
            self.artifact_location = str(Path(artifact_location).resolve())
        self.run_name = run_name
        self.log_model = log_model
        self._client_class = MlflowClient
        self._client: Any = None
        self.run_id: str | None = None
        self._logged_epoch = 0

    # ------------------------------------------------------------------ the run
    def _run_file(self, trainer: TrainerView) -> Path | None:
        return trainer.run_dir.mlflow_run if trainer.run_dir is not None else None

    def _recorded_run(self, trainer: TrainerView) -> str | None:
        path = self._run_file(trainer)
        if path is None or not path.is_file():
            return None
        try:
            record = json.loads(path.read_text())
        except (OSError, ValueError):
            return None  # a damaged record: a new MLflow run, rather than no run
        if record.get("tracking_uri") != self.tracking_uri:
            return None  # tracked elsewhere before: that store keeps that run
        run_id = record.get("run_id")
        return str(run_id) if run_id else None

    def _experiment_id(self) -> str:
        from mlflow.exceptions import MlflowException

        found = self._client.get_experiment_by_name(self.experiment)
        if found is not None:
            return str(found.experiment_id)
        try:
            created = self._client.create_experiment(
                self.experiment, artifact_location=self.artifact_location
            )
        except MlflowException:  # another shard of a study created it a moment ago
            found = self._client.get_experiment_by_name(self.experiment)
            if found is None:
                raise
            return str(found.experiment_id)
        return str(created)

    def _continue_run(self, trainer: TrainerView, run_id: str) -> bool:
        """Continue the recorded MLflow run; ``False`` where the store has lost it."""
        from mlflow.exceptions import MlflowException

        try:
            self._client.update_run(run_id, status="RUNNING")
        except MlflowException as err:
            first = str(err).splitlines()[0][:200] if str(err) else type(err).__name__
            warnings.warn(f"MLflow run {run_id} of {trainer.out_dir} is not in "
                          f"{self.tracking_uri} ({first}); logging to a new run",
                          stacklevel=2)  # fmt: skip
            return False
        self.run_id = run_id
        logged = self._last_logged_epoch()
        # A resume from an earlier checkpoint (previous.pt, best.pt) trains those epochs
        # again: they are logged again, and a tag says from where.
        self._logged_epoch = min(logged, trainer.epoch)
        if logged > trainer.epoch:
            self._client.set_tag(run_id, "resumed.rewound_from_epoch", str(logged))
        return True

    def _start_run(self, trainer: TrainerView) -> None:
        self._client = self._client_class(tracking_uri=self.tracking_uri)
        # Only a run that continues (a resume, or a second fit in memory) continues the
        # recorded MLflow run; a fresh start in the same folder gets a new one.
        continuing = trainer.run_state.started
        run_id = self._recorded_run(trainer) if continuing else None
        if run_id is not None and self._continue_run(trainer, run_id):
            return
        name = self.run_name or (trainer.out_dir.name if trainer.out_dir is not None else None)
        run = self._client.create_run(self._experiment_id(), run_name=name)
        self.run_id = str(run.info.run_id)
        self._logged_epoch = 0
        path = self._run_file(trainer)
        if path is not None:
            path.parent.mkdir(parents=True, exist_ok=True)
            record = {"tracking_uri": self.tracking_uri, "experiment": self.experiment,
                      "run_id": self.run_id}  # fmt: skip
            with atomic_write(path, "w") as f:
                f.write(json.dumps(record, indent=2) + "\n")

    def _last_logged_epoch(self) -> int:
        history = self._client.get_metric_history(self.run_id, "train_loss")
        return max((int(m.step) for m in history), default=0)

    # ------------------------------------------------------------------ what is logged
    @staticmethod
    def params(trainer: TrainerView) -> dict[str, str]:
        """The parameters logged for ``trainer``'s run, as MLflow stores them (text)."""
        meta = trainer.metadata
        values: dict[str, Any] = {
            "model": meta.model_name,
            "parameters": count_parameters(unwrap_model(trainer.model)),
            "precision": trainer.precision,
            "channels_last": trainer.channels_last,
            "seed": meta.seed,
            # to_dict: plain nested dicts (a nested data description is read-only views).
            "data": json.dumps(meta.to_dict()["data"], sort_keys=True) if meta.data else None,
            "classes": len(meta.classes) if meta.classes else None,
            "recipe": trainer.recipe.name,
        }
        for key, value in trainer.recipe.to_dict().items():
            if key not in ("name", "source", "description"):
                values[f"recipe.{key}"] = value
        text = {k: v if isinstance(v, str) else json.dumps(v) for k, v in values.items()
                if v is not None}  # fmt: skip
        return {k: v[:_MAX_PARAM] for k, v in text.items()}

    def _log_params(self, trainer: TrainerView) -> None:
        from mlflow.entities import Param, RunTag

        logged = self._client.get_run(self.run_id).data.params
        new, changed = [], []
        for key, value in self.params(trainer).items():
            if key not in logged:
                new.append(Param(key, value))
            elif logged[key] != value:  # MLflow keeps a parameter's first value
                changed.append(RunTag(f"resumed.{key}", value))
        self._client.log_batch(self.run_id, params=new, tags=changed)

    def _log_rows(self, rows: list[dict[str, Any]]) -> None:
        from mlflow.entities import Metric

        now = int(time.time() * 1000)
        for row in rows:
            epoch = int(row["epoch"])
            if epoch <= self._logged_epoch:
                continue  # logged before a resume: never twice
            metrics = [Metric(k, v, now, epoch) for k, v in _numbers(row).items()]
            self._client.log_batch(self.run_id, metrics=metrics)
            self._logged_epoch = epoch

    # ------------------------------------------------------------------ hooks
    def on_fit_start(self, trainer: TrainerView) -> None:
        if not trainer.is_main:
            return
        self._start_run(trainer)
        self._log_params(trainer)
        # Epochs a crash saved but did not log (between the checkpoint and this logger).
        self._log_rows(list(trainer.history))

    def on_epoch_end(self, trainer: TrainerView, row: dict[str, Any]) -> None:
        if trainer.is_main and self.run_id is not None:
            self._log_rows([row])

    def on_fit_end(self, trainer: TrainerView, history: History) -> None:
        if not trainer.is_main or self.run_id is None:
            return
        status = "FAILED"
        try:
            self._client.set_tag(self.run_id, "epochs_trained", str(len(history)))
            if self.log_model:
                self._log_model(trainer)
            status = "FINISHED"
        finally:  # never left "running" by a failed upload
            self._client.set_terminated(self.run_id, status=status)

    def _log_model(self, trainer: TrainerView) -> None:
        files = trainer.run_dir
        source = next((p for p in (files.best, files.last) if p.is_file()), None) if files else None
        if source is None or not trainer.metadata.rebuildable:
            why = "no run folder" if source is None else "a model no config can describe"
            self._client.set_tag(self.run_id, "model_artifact", f"none ({why})")
            return
        with tempfile.TemporaryDirectory(prefix="resdepth-mlflow-") as tmp:
            folder = export_model(source, Path(tmp) / "model")
            self._client.log_artifacts(self.run_id, str(folder), artifact_path="model")
