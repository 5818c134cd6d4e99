"""Recording a run where people already look at runs: callbacks that write the history
as JSON lines (:class:`JsonLinesLogger`), to TensorBoard (:class:`TensorBoardLogger`)
or to MLflow (:class:`MlflowLogger`, with the model folder as an artifact).  They read
a run only through the :class:`~resdepth.training.Callback` view of the trainer."""

from .loggers import JsonLinesLogger, TensorBoardLogger
from .mlflow_logger import MlflowLogger, default_artifact_location

__all__ = ["JsonLinesLogger", "MlflowLogger", "TensorBoardLogger", "default_artifact_location"]
