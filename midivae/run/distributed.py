"""Data-parallel training under ``torchrun``: one process per device, gradients averaged.

``torchrun --nproc_per_node=N -m midivae.cli train SET ...`` starts N copies of
the training command; each reads its own share of the windows (a
`DistributedSampler`), and the step runs under torch's `DistributedDataParallel`
(`wrap`), so the gradients are averaged across processes during the backward
pass and each step sees N times the batch. Rank 0 alone prints and writes
checkpoints. NCCL on CUDA devices, gloo on CPUs.
"""

from __future__ import annotations

import datetime
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


def teardown(*, clean: bool = True) -> None:
    """Leave the process group. ``clean``: every process got here without an error, so
    they first wait for each other (at most a minute): a process that tears down while
    another still writes can abort the job (gloo: "terminate called without an active
    exception"). After an error nobody waits, as the others may never come."""
    if dist.is_available() and dist.is_initialized():
        if clean:
            try:
                dist.barrier(async_op=True).wait(timeout=datetime.timedelta(minutes=1))
            except RuntimeError:  # a process that never came: leave all the same
                pass
        dist.destroy_process_group()


class LossModule(torch.nn.Module):
    """A VAE and its loss as one module, so `DistributedDataParallel` wraps the whole step.

    ``forward(x, label, **loss_options)`` returns the model's `LossTerms` and its
    output; gradients flow from ``terms.loss``.
    """

    def __init__(self, model: torch.nn.Module):
        super().__init__()
        self.model = model

    def forward(self, x, label, *, beta: float, free_bits: float, per_dimension: bool,
                sampling_prob: float, input_dropout: float = 0.0, infill: float = 0.0):
        from midivae.models.losses import elbo_loss
        from midivae.models.vae import infill_masks
        given = (infill_masks(x.shape[0], self.model.config, infill, device=x.device)
                 if infill > 0 else None)
        out = self.model(x, label, sampling_prob=sampling_prob, input_dropout=input_dropout,
                         given=given)
        terms = elbo_loss(out.logits, x, out.mu, out.logvar, beta=beta, free_bits=free_bits,
                          per_dimension=per_dimension, nll=self.model.decoder.nll)
        return terms, out


def wrap(model: torch.nn.Module) -> torch.nn.Module:
    """The module a training step calls: `LossModule`, under `DistributedDataParallel` when
    this process is one of several (DDP broadcasts rank 0's weights at construction and
    averages gradients in buckets that overlap the backward pass)."""
    step = LossModule(model)
    if world()[1] > 1:
        device = next(model.parameters()).device
        step = torch.nn.parallel.DistributedDataParallel(
            step, device_ids=[device] if device.type == "cuda" else None)
    return step
