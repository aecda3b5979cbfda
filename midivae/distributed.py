"""Data-parallel training under ``torchrun``: one process per device, gradients averaged.

``torchrun --nproc_per_node=N -m midivae.cli train SET ...`` starts N copies of
the training command; each reads its own share of the windows (a
`DistributedSampler`) and, after every backward pass, the gradients are
averaged across processes, so each step sees N times the batch. Rank 0 alone
prints and writes checkpoints. NCCL on CUDA devices, gloo on CPUs.
"""

from __future__ import annotations

import os

import torch
import torch.distributed as dist


def world() -> tuple[int, int]:
    """(rank, world size) of this process; (0, 1) outside torchrun."""
    if dist.is_available() and dist.is_initialized():
        return dist.get_rank(), dist.get_world_size()
    return 0, 1


def setup(device: str = "cpu") -> torch.device:
    """Join the process group that torchrun describes (if any); returns this process's device.

    With ``device="cuda"``, process ``LOCAL_RANK`` takes GPU ``LOCAL_RANK``.
    """
    if int(os.environ.get("WORLD_SIZE", "1")) <= 1 or dist.is_initialized():
        return torch.device(device)
    cuda = str(device).startswith("cuda")
    if cuda:
        torch.cuda.set_device(int(os.environ.get("LOCAL_RANK", "0")))
        device = f"cuda:{torch.cuda.current_device()}"
    dist.init_process_group("nccl" if cuda else "gloo")
    return torch.device(device)


def teardown() -> None:
    if dist.is_available() and dist.is_initialized():
        dist.destroy_process_group()


def broadcast_parameters(module: torch.nn.Module) -> None:
    """Give every process rank 0's parameters and buffers (so all start equal)."""
    for tensor in module.state_dict().values():
        dist.broadcast(tensor, src=0)


def average_gradients(module: torch.nn.Module) -> None:
    """Replace each parameter's gradient by its mean over the processes (one all-reduce)."""
    grads = [p.grad for p in module.parameters() if p.grad is not None]
    if not grads:
        return
    flat = torch.cat([g.reshape(-1) for g in grads])
    dist.all_reduce(flat)
    flat /= dist.get_world_size()
    offset = 0
    for g in grads:
        g.copy_(flat[offset:offset + g.numel()].view_as(g))
        offset += g.numel()
