"""The SLURM examples, run here as far as one machine allows: a stand-in `srun` runs
each task's command on this host."""

from __future__ import annotations

import csv
import os
import socket
import subprocess
import sys
from pathlib import Path

import pytest

SLURM = Path(__file__).resolve().parents[1] / "examples" / "slurm"


def _run(script: str, env: dict[str, str], tmp_path: Path) -> subprocess.CompletedProcess[str]:
    shims = tmp_path / "bin"
    shims.mkdir(exist_ok=True)
    srun = shims / "srun"  # drops srun's own options, then runs the command
    srun.write_text('#!/usr/bin/env bash\nwhile [[ "$1" == --* ]]; do shift; done\nexec "$@"\n')
    srun.chmod(0o755)
    python = shims / "python"  # the interpreter of this test run
    python.write_text(f'#!/usr/bin/env bash\nexec {sys.executable} "$@"\n')
    python.chmod(0o755)
    full = {**os.environ, "PATH": f"{shims}:{os.environ['PATH']}", "OMP_NUM_THREADS": "1", **env}
    return subprocess.run(["bash", str(SLURM / script)], cwd=tmp_path, env=full,
                          capture_output=True, text=True, timeout=600)  # fmt: skip


def test_the_scripts_are_valid_bash() -> None:
    for script in SLURM.glob("*.sbatch"):
        subprocess.run(["bash", "-n", str(script)], check=True)


@pytest.mark.slow
def test_a_study_array_splits_the_shapes_and_the_last_task_reports_them_all(
    tmp_path: Path,
) -> None:
    env = {"DATA": "synthetic", "OUT": "study", "SHAPES": "10 1,2,1,1",
           "EXTRA": "--subset 64 --epochs 1 --budget 20000 --base-widths 4 8 16 32 --quiet "
                    "--device cpu", "SLURM_ARRAY_TASK_COUNT": "2"}  # fmt: skip
    for task in ("0", "1"):
        done = _run("study_array.sbatch", {**env, "SLURM_ARRAY_TASK_ID": task}, tmp_path)
        assert done.returncode == 0, done.stderr[-2000:]
    with (tmp_path / "study" / "study.csv").open() as f:
        rows = list(csv.DictReader(f))
    assert sorted(r["shape"] for r in rows) == ["d10-1.1.1.1", "d12-1.2.1.1"]


@pytest.mark.slow
def test_the_multinode_script_trains_and_resumes(tmp_path: Path) -> None:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = str(probe.getsockname()[1])
    env = {"MODEL": "resnet10", "DATA": "synthetic", "OUT": "run", "PROCS_PER_NODE": "2",
           "SLURM_NNODES": "1", "RDZV_PORT": port,
           "EXTRA": "--subset 32 --epochs 1 --batch-size 16 --device cpu --quiet"}  # fmt: skip
    first = _run("train_multinode.sbatch", env, tmp_path)
    assert first.returncode == 0, first.stderr[-2000:]
    assert (tmp_path / "run" / "last.pt").is_file()
    longer = {**env, "EXTRA": "--epochs 2 --device cpu --quiet"}  # the run keeps its data
    again = _run("train_multinode.sbatch", longer, tmp_path)  # adds --resume on its own
    assert again.returncode == 0, again.stderr[-2000:]
    lines = (tmp_path / "run" / "history.csv").read_text().splitlines()
    assert len(lines) == 3  # header and two epochs
