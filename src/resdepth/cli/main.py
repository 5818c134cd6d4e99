"""The ``resdepth`` command line: its parser, and every library error as one line with
its exit status."""

from __future__ import annotations

import argparse
import contextlib
import os
import sys
import warnings
from collections.abc import Callable, Sequence
from typing import Any, NoReturn

from .. import __version__
from .._validate import int_in_range, positive_int
from ..errors import (
    CheckpointError,
    CommandError,
    DataMismatchError,
    DatasetNotFoundError,
    ExportExistsError,
    NonFiniteLossError,
    RunExistsError,
    RunFailed,
    RunInterrupted,
    RunLockedError,
    StudySettingsError,
)
from ..training import TimeBudget
from .checkpoints import convert_command, eval_command, export_command, predict_command
from .common import add_logger_options
from .info import models_command, recipes_command, summary_command
from .study import study_command
from .training import train_command

__all__ = ["main", "build_parser"]


class _Parser(argparse.ArgumentParser):
    """argparse with its errors on one line, as every other user error."""

    def error(self, message: str) -> NoReturn:
        self.exit(2, f"{self.prog}: error: {message} (see {self.prog} --help)\n")


def _integer(check: Callable[[str, object], int]) -> Callable[[str], int]:
    """An argparse type: an integer that ``check`` (from the validation module) accepts."""

    def parse(text: str) -> int:
        value: object = text  # not a number: the check refuses it, saying what is allowed
        with contextlib.suppress(ValueError):
            value = int(text)
        try:
            return check("the value", value)
        except ValueError as err:
            raise argparse.ArgumentTypeError(str(err).replace("the value ", "")) from None

    return parse


_positive_int = _integer(positive_int)
# Seeds as seed_everything takes them; class counts and image sides up to sizes whose
# weights and activations still fit a machine (a typo of 10**12 classes allocates 2 PB).
_seed = _integer(lambda name, value: int_in_range(name, value, 0, 2**63))
_class_count = _integer(lambda name, value: int_in_range(name, value, 1, 100_001))
_image_side = _integer(lambda name, value: int_in_range(name, value, 1, 4097))


def _seconds(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        value = -1.0
    if not value >= 0:
        raise argparse.ArgumentTypeError(f"must be a number of seconds, got {text!r}")
    return value


# What a run folder holds: `resdepth train --help` ends with it.
RUN_FILES = """\
files in --out:
  history.csv  one row per epoch: losses, accuracies, learning rate, time
  last.pt      the checkpoint where the run stands (every epoch, and every
               --checkpoint-every during one): --resume continues from it
  best.pt      the checkpoint of the epoch with the best test accuracy
               (resumable too): what eval and predict usually take
  previous.pt  the checkpoint before last.pt, as large as it: read if last.pt
               is damaged; --drop-previous deletes it once the run has finished
  mlflow.json  with --logger mlflow: the MLflow run that a resume continues
  log.jsonl    with --logger jsonl; tensorboard/ with --logger tensorboard
  .lock        present while a run writes to the folder
"""


_MODEL_HELP = (
    "a resdepth checkpoint, one of the paper's .pth files, or a model folder (resdepth "
    "export), its model.safetensors, or hf-hub:owner/name"
)


class _Help(argparse.RawDescriptionHelpFormatter):
    """Help with an epilog kept as written (a table of files)."""


def _duration(text: str) -> str:
    try:
        TimeBudget.parse(text)
    except ValueError:
        raise argparse.ArgumentTypeError(
            f"must be a duration such as 45min, 90s or 1.5h, got {text!r}"
        ) from None
    return text


def _add_data_options(p: argparse.ArgumentParser, required: bool = True) -> None:
    p.add_argument(
        "--data", required=required,
        help="cifar10 (the official archive: found in --root, $RESDEPTH_DATA or "
        "~/.cache/resdepth, else downloaded), cifar10-sample (6,000 real CIFAR-10 images "
        "inside the package), cifar100 (the official CIFAR-100 archive, fine labels: found "
        "and downloaded as cifar10 is), synthetic (random images, for quick checks), "
        "cifar-10-python.tar.gz or cifar-100-python.tar.gz or their folders, or a folder or "
        ".tar/.tar.gz/.zip archive of class subfolders",
    )  # fmt: skip
    p.add_argument(
        "--root", default=None,
        help="where to look for CIFAR-10 or CIFAR-100 first (then $RESDEPTH_DATA, "
        "~/.cache/resdepth), and download it to",
    )  # fmt: skip
    p.add_argument(
        "--no-download", action="store_true", help="never download CIFAR-10 or CIFAR-100"
    )
    p.add_argument("--cache-dir", default=None, help="cache decoded images of an archive here")
    p.add_argument(
        "--subset", type=_positive_int, default=None, help="use N random images of each split"
    )
    p.add_argument(
        "--seed", type=_seed, default=None,
        help="seeds the subset, the model's initial weights, shuffling and augmentation "
        "(default 0; a resumed run keeps its own)",
    )  # fmt: skip
    p.add_argument(
        "--device", default=None, help="cpu, cuda, cuda:1 ... (default: CUDA if present)"
    )


def _add_inference_precision(p: argparse.ArgumentParser) -> None:
    p.add_argument(
        "--precision", choices=("fp32", "bf16", "fp16"), default=None,
        help="default: as the run trained (fp32 for the paper's files); fp32 gives the "
        "exact figures",
    )  # fmt: skip


def build_parser() -> argparse.ArgumentParser:
    """The argument parser of the ``resdepth`` command."""
    parser = _Parser(prog="resdepth", description="Residual networks for small images.")
    parser.add_argument("--version", action="version", version=f"resdepth {__version__}")
    sub = parser.add_subparsers(
        dest="command", metavar="COMMAND", required=True, parser_class=_Parser
    )

    p = sub.add_parser("models", help="list registered models with depth and parameters")
    p.add_argument("pattern", nargs="?", default="*", help="fnmatch pattern (default: *)")
    p.set_defaults(func=models_command)

    p = sub.add_parser("summary", help="print a layer-by-layer summary of a model")
    p.add_argument("name", help="a registered model name (see `resdepth models`)")
    p.add_argument("--input-size", type=_image_side, nargs=3, default=(3, 32, 32),
                   metavar=("C", "H", "W"), help="each at most 4096 (default 3 32 32)")  # fmt: skip
    p.add_argument("--num-classes", type=_class_count, default=10, help="at most 100,000")
    p.set_defaults(func=summary_command)

    p = sub.add_parser(
        "train", help="train a model with a recipe", formatter_class=_Help, epilog=RUN_FILES
    )
    p.add_argument(
        "--model", default=None,
        help="a registered model (default: resnet40; a resumed run keeps its own)",
    )  # fmt: skip
    p.add_argument(
        "--recipe", default=None,
        help="a registered recipe (default: as1; a resumed run keeps its own)",
    )  # fmt: skip
    _add_data_options(p)
    length = p.add_mutually_exclusive_group()
    length.add_argument(
        "--epochs", type=_positive_int, default=None,
        help="epochs (default: the recipe's; with --resume, the run's own, and another "
        "number re-plans the schedule for that length)",
    )  # fmt: skip
    length.add_argument(
        "--time-budget", type=_duration, default=None, metavar="DURATION",
        help="plan the epochs so that training ends within this wall time (45min, 90s, "
        "1.5h), counted from its start (the precision trial and evaluations included, "
        "reading the data not): the first batches are timed and the schedule ends where "
        "the budget does; a resumed run finishes its recorded plan",
    )  # fmt: skip
    p.add_argument("--batch-size", type=_positive_int, default=None, help="override the recipe's")
    p.add_argument("--out", required=True, help="run folder: history.csv, last.pt, best.pt")
    p.add_argument(
        "--precision", choices=("auto", "fp32", "bf16", "fp16"), default=None,
        help="default auto: the fastest correct one for this device (bf16 autocast on a "
        "GPU or a CPU with native bf16 where a short trial finds it faster, else fp32); "
        "a resumed run keeps its own",
    )  # fmt: skip
    p.add_argument(
        "--channels-last", choices=("auto", "on", "off"), nargs="?", const="on",
        default=None, help="memory format (default auto: chosen with the precision; "
        "a resumed run keeps its own)",
    )  # fmt: skip
    p.add_argument(
        "--no-autotune", action="store_true",
        help="no timed trial for auto: follow the device's capabilities alone",
    )  # fmt: skip
    p.add_argument("--compile", action="store_true", help="torch.compile the model")
    p.add_argument("--resume", action="store_true", help="continue the run in --out")
    p.add_argument(
        "--drop-previous", action="store_true",
        help="once the run has finished, delete previous.pt (a fall-back copy as large as "
        "last.pt) to keep the run folder small",
    )  # fmt: skip
    p.add_argument(
        "--allow-other-data", action="store_true",
        help="with --resume: continue on images other than the run's (same size and classes); "
        "the history notes it",
    )  # fmt: skip
    p.add_argument(
        "--checkpoint-every", default="5min", metavar="WHEN",
        help="also save last.pt during an epoch: '5min' (default), '300s', '1000steps', 'off'",
    )  # fmt: skip
    p.add_argument(
        "--deterministic", action="store_true",
        help="deterministic algorithms (repeatable GPU runs, somewhat slower); implies "
        "--precision fp32",
    )  # fmt: skip
    p.add_argument("--quiet", action="store_true", help="no progress bar or epoch lines")
    add_logger_options(p, "resdepth")
    p.add_argument(
        "--progress-every", type=_seconds, default=30.0, metavar="SECONDS",
        help="seconds between progress lines when the output is not a terminal (default 30)",
    )  # fmt: skip
    p.add_argument(
        "--test-on-train", action="store_true",
        help="let a folder without train/ and test/ folders be tested on its training images",
    )  # fmt: skip
    p.set_defaults(func=train_command)

    p = sub.add_parser("eval", help="evaluate a checkpoint on a data set")
    p.add_argument("checkpoint", help=_MODEL_HELP)
    _add_data_options(p)
    p.add_argument("--split", choices=("train", "test"), default="test")
    _add_inference_precision(p)
    p.set_defaults(func=eval_command)

    p = sub.add_parser("predict", help="write ID,Label predictions for unlabeled images")
    p.add_argument("checkpoint", help=_MODEL_HELP)
    p.add_argument(
        "--input", required=True,
        help="an unlabeled .pkl (b'data', b'ids'), or a folder or archive of images. The "
        "ID column: a pickle's b'ids' where it has them, else its row numbers (0, 1, ...); "
        "for a folder or archive, each file's path inside it, less a top folder that "
        "every file shares and the --split folder (0001.jpg, or cat/0001.jpg where the "
        "images sit in class folders)",
    )  # fmt: skip
    p.add_argument("--output", required=True, help="the CSV to write")
    p.add_argument("--split", default=None, help="split folder inside --input, if any")
    p.add_argument("--tta", action="store_true", help="average with horizontally flipped images")
    _add_inference_precision(p)
    p.add_argument("--device", default=None)
    p.set_defaults(func=predict_command)

    p = sub.add_parser(
        "study", help="train shapes of one parameter budget side by side (depth vs width)",
        description="Train a family of shapes under one budget into --out/<shape>/, "
        "resumably and in shards; 'resdepth study report FOLDER' merges what has finished.",
    )  # fmt: skip
    p.add_argument("action", nargs="?", choices=("report",), help="report: merge a study")
    p.add_argument("folder", nargs="?", help="the study folder to report")
    p.add_argument(
        "--shapes", nargs="+", metavar="SHAPE",
        default=["resnet10", "resnet40", "resnet102", "10", "26", "50", "74", "98"],
        help="presets (resnet40), depths (26: blocks spread over 4 stages), blocks per stage "
        "(5,7,4,3), or either after a block family (preact:26, wide:16); default: the "
        "paper's three and depths 10 to 98",
    )  # fmt: skip
    p.add_argument("--budget", type=_positive_int, default=5_000_000, help="parameters, at most")
    p.add_argument("--max-macs", type=_positive_int, default=None,
                   help="forward multiply-accumulates on a 32x32 image, at most")  # fmt: skip
    p.add_argument("--base-widths", type=_positive_int, nargs="+", default=(16, 32, 64, 128))
    p.add_argument("--recipe", default="as1")
    p.add_argument("--epochs", type=_positive_int, default=None, help="default: the recipe's")
    p.add_argument("--out", default=None, help="the study folder")
    p.add_argument("--shard", default="0/1", metavar="I/N",
                   help="train every N-th shape from the I-th (0-based); default 0/1")  # fmt: skip
    p.add_argument("--checkpoint-every", default="5min", metavar="WHEN")
    p.add_argument("--quiet", action="store_true")
    add_logger_options(p, "the study folder's name; one MLflow run per shape", ("mlflow",))
    _add_data_options(p, required=False)
    p.set_defaults(func=study_command)

    p = sub.add_parser(
        "convert", help="turn one of the paper's model files into a resdepth checkpoint"
    )
    p.add_argument("paper_file", help="a .pth the paper's code saved (torch.save(model))")
    p.add_argument("output", help="the resdepth checkpoint to write (.pt)")
    p.set_defaults(func=convert_command)

    p = sub.add_parser(
        "export", help="write a run's model as model.safetensors + config.json (Hub layout)",
        description="Write the trained model of a checkpoint to OUT_DIR as model.safetensors "
        "(the weights: the moving average where the run kept one), config.json (timm's "
        "Hub keys, how to rebuild the model, the recipe, a summary of the run) and a "
        "README.md model card. resdepth.load_model(OUT_DIR), resdepth eval OUT_DIR and "
        "resdepth predict OUT_DIR read it; `hf upload OWNER/NAME OUT_DIR .` puts it on "
        "the Hugging Face Hub, and load_model('hf-hub:OWNER/NAME') reads it from there.",
    )  # fmt: skip
    p.add_argument("checkpoint", help="a best.pt or last.pt, a paper .pth, or a model folder")
    p.add_argument("out_dir", help="the folder to write")
    p.add_argument("--overwrite", action="store_true", help="replace a model folder there")
    p.set_defaults(func=export_command)

    p = sub.add_parser("recipes", help="list registered training recipes")
    p.add_argument("pattern", nargs="?", default="*")
    p.add_argument("-v", "--verbose", action="store_true", help="hyperparameters and sources")
    p.set_defaults(func=recipes_command)
    return parser


def _warning_line(message: Warning | str, *args: Any, **kwargs: Any) -> str:
    return f"resdepth: warning: {message}\n"


def main(argv: Sequence[str] | None = None) -> int:
    """Run the command line; returns the exit status.

    2 for a user error (one line on standard error), 1 for a failure during a run,
    128 + the signal for a run stopped by SIGINT or SIGTERM.
    """
    parser = build_parser()
    args = parser.parse_args(argv)
    user_errors = (CommandError, CheckpointError, DataMismatchError, DatasetNotFoundError,
                   ExportExistsError, RunExistsError, RunLockedError,
                   StudySettingsError)  # fmt: skip
    debug = bool(os.environ.get("RESDEPTH_DEBUG"))
    formatwarning = warnings.formatwarning
    if not debug:
        warnings.formatwarning = _warning_line
    # One voice: argparse's own errors name the subcommand, and so do the library's.
    prog = f"resdepth {args.command}"
    try:
        return int(args.func(args))
    except user_errors as err:
        if debug:
            raise
        print(f"{prog}: error: {err}", file=sys.stderr)
        return 2
    except (RunFailed, NonFiniteLossError) as err:
        if debug:
            raise
        print(f"{prog}: error: {err}", file=sys.stderr)
        return 1
    except (MemoryError, RuntimeError) as err:
        # Out of memory is a failure of the run's size, not of resdepth: one line. Torch
        # raises it as a RuntimeError on a CPU (OutOfMemoryError, one too, on a GPU).
        text = str(err)
        if debug or not (
            isinstance(err, MemoryError) or "allocate" in text or "out of memory" in text
        ):
            raise
        print(f"{prog}: error: out of memory: {text.splitlines()[0][:300]}", file=sys.stderr)
        return 1
    except ImportError as err:
        # An optional extra that is not installed: its message names the pip command.
        if debug or "resdepth[" not in str(err):
            raise
        print(f"{prog}: error: {err}", file=sys.stderr)
        return 2
    except RunInterrupted as stopped:
        print(f"resdepth: {stopped}", file=sys.stderr)
        return 128 + stopped.signal
    except KeyboardInterrupt:
        print("\nresdepth: interrupted", file=sys.stderr)
        return 130
    except BrokenPipeError:
        # The reader went away (`resdepth summary resnet40 | head`): stop quietly, and keep
        # Python from complaining again when it flushes stdout on exit.
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return 141
    finally:
        warnings.formatwarning = formatwarning


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
