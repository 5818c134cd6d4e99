"""Two nodes on one host (``torchrun --nnodes 2``, a c10d rendezvous, gloo), as a
multi-node SLURM job runs them: the same run as two ranks on one node, and stopped at
every point where such a run can stop, it resumes exactly."""

from __future__ import annotations

import socket
import subprocess
import sys
from pathlib import Path

import pytest

from resdepth.artifacts import load_checkpoint

from .test_resume import CHILD, _same_run, _torchrun, launch

pytestmark = [
    pytest.mark.slow,
    pytest.mark.skipif(sys.platform != "linux", reason="torchrun test runs on Linux"),
]


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def _two_nodes(out: Path, *flags: str) -> list[subprocess.CompletedProcess[str]]:
    """Run the child as two single-rank nodes that meet at a c10d rendezvous."""
    port = _free_port()
    command = [sys.executable, "-m", "torch.distributed.run", "--nnodes", "2",
               "--nproc_per_node", "1", "--rdzv_backend", "c10d",
               "--rdzv_endpoint", f"127.0.0.1:{port}", "--rdzv_id", f"run-{port}",
               str(CHILD), str(out), *flags]  # fmt: skip
    return launch([command, command], timeout=240)


def _ok(nodes: list[subprocess.CompletedProcess[str]]) -> bool:
    return all(node.returncode == 0 for node in nodes)


def _errors(nodes: list[subprocess.CompletedProcess[str]]) -> str:
    return "\n".join(node.stderr[-1500:] for node in nodes)


def test_two_nodes_on_one_host_train_as_two_ranks_on_one_node(tmp_path: Path) -> None:
    nodes = _two_nodes(tmp_path / "nodes", "2")
    assert _ok(nodes), _errors(nodes)
    one_node = _torchrun(tmp_path / "one", "2")
    assert one_node.returncode == 0, one_node.stderr[-3000:]
    _same_run(tmp_path / "one", tmp_path / "nodes")


# 1,088 images on 2 ranks in batches of 32: 17 steps an epoch on each rank. Under DDP
# the ranks agree to stop or save every 16th step of an epoch and at its end, so a run
# can stop after step 16 or 17 (the epoch's last batch) of each epoch. The chain below
# stops a three-epoch run at each kind of point in turn, the signal reaching one node
# at another step of each window, then kills one node after a mid-epoch checkpoint;
# each time the checkpoint must be where the run stopped, and the run resumes from it.
SIZE = ("--train-size", "1088")
CHAIN = [  # (signal, rank, at the process's step, other flags, (epoch, step) of last.pt)
    ("term", 1, 5, (), (0, 16)),  # five steps in: stops at the agreement 11 steps on
    ("term", 0, 1, (), (1, None)),  # the epoch's last batch: stops at the epoch's end
    ("term", 1, 16, (), (1, 16)),  # at the agreement step itself
    # Through epoch 2's end into epoch 3, saving every 16 steps (at its step 16), and
    # SIGKILL at its last batch: the mid-epoch checkpoint is what is left.
    ("kill", 0, 18, ("--checkpoint-every", "16"), (2, 16)),
]


def test_two_nodes_stopped_at_every_point_resume_exactly(tmp_path: Path) -> None:
    whole = _two_nodes(tmp_path / "whole", "3", *SIZE)
    assert _ok(whole), _errors(whole)
    out = tmp_path / "chain"
    for turn, (kind, rank, step, flags, (epoch, position)) in enumerate(CHAIN):
        resume = ("--resume",) if turn else ()
        nodes = _two_nodes(out, "3", *SIZE, *resume, *flags, f"--{kind}-at-step", str(step),
                           "--only-rank", str(rank))  # fmt: skip
        assert all(node.returncode != 0 for node in nodes), (turn, _errors(nodes))
        if kind == "term":  # both ranks agreed to stop, saved and said so
            assert all("SIGTERM" in node.stdout for node in nodes), (turn, _errors(nodes))
        state = load_checkpoint(out / "last.pt")
        progress = state["progress"]
        assert (state["epoch"], progress and progress["step"]) == (epoch, position), turn
    nodes = _two_nodes(out, "3", *SIZE, "--resume")
    assert _ok(nodes), _errors(nodes)
    _same_run(tmp_path / "whole", out)
