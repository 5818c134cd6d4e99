"""Helpers for running under torchrun: process group setup, rank queries, reductions."""

from __future__ import annotations

import atexit
import os

import torch
import torch.distributed as dist

__all__ = [
    "all_gather_objects",
    "all_reduce_max",
    "fewest_batches",
    "all_reduce_sum",
    "barrier",
    "init_from_env",
    "is_distributed",
    "rank",
    "world_size",
]


def is_distributed() -> bool:
    return dist.is_available() and dist.is_initialized()


def init_from_env(device: torch.device | None) -> torch.device | None:
    """Join the process group torchrun describes (``WORLD_SIZE`` > 1), once.

    Returns the device this rank should use (``cuda:LOCAL_RANK`` with NCCL on GPUs,
    the given device with gloo otherwise), or ``device`` unchanged when not under
    torchrun.
    """
    if int(os.environ.get("WORLD_SIZE", "1")) <= 1 or not dist.is_available():
        return device
    use_cuda = torch.cuda.is_available() and (device is None or device.type == "cuda")
    if use_cuda:
        local = int(os.environ.get("LOCAL_RANK", "0"))
        torch.cuda.set_device(local)
        device = torch.device("cuda", local)
    if not dist.is_initialized():
        dist.init_process_group(backend="nccl" if use_cuda else "gloo")
        # Tear the group down before the interpreter exits: gloo's threads abort the
        # process ("terminate called without an active exception") when left running.
        atexit.register(_destroy)
    return device if device is not None else torch.device("cpu")


def _destroy() -> None:
    if dist.is_initialized():
        dist.barrier()
        dist.destroy_process_group()


def rank() -> int:
    return dist.get_rank() if is_distributed() else 0


def world_size() -> int:
    return dist.get_world_size() if is_distributed() else 1


def all_reduce_sum(t: torch.Tensor) -> torch.Tensor:
    if is_distributed():
        dist.all_reduce(t, op=dist.ReduceOp.SUM)
    return t


def all_reduce_max(t: torch.Tensor) -> torch.Tensor:
    if is_distributed():
        dist.all_reduce(t, op=dist.ReduceOp.MAX)
    return t


def fewest_batches(batches: int, device: torch.device) -> int:
    """The fewest batches any rank has in an epoch (``batches`` outside torchrun):
    where ranks hold one batch more or less, they agree only where all take part."""
    if not is_distributed():
        return batches
    return -int(all_reduce_max(torch.tensor(-float(batches), device=device)))


def all_gather_objects(obj: object) -> list[object]:
    """Every rank's ``obj``, in rank order (``[obj]`` outside torchrun)."""
    if not is_distributed():
        return [obj]
    out: list[object] = [None] * world_size()
    dist.all_gather_object(out, obj)
    return out


def barrier() -> None:
    if is_distributed():
        dist.barrier()


def broadcast_from_first(tensors: list[torch.Tensor]) -> None:
    """Rank 0's values into ``tensors`` on every rank, in one message (float64 holds
    integer counts exactly up to 2**53)."""
    if not is_distributed() or not tensors:
        return
    flat = torch.cat([t.detach().reshape(-1).to(torch.float64) for t in tensors])
    dist.broadcast(flat, src=0)
    offset = 0
    for t in tensors:
        t.detach().copy_(flat[offset : offset + t.numel()].reshape(t.shape))
        offset += t.numel()
