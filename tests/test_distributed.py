"""Data-parallel training: two gloo processes on the CPU stand in for torchrun on GPUs."""

import os
import subprocess
import sys

import pytest
import torch
import torch.distributed as dist
import torch.multiprocessing as mp

from midivae.run import distributed
from midivae.models import VAE, ModelConfig

CONFIG = ModelConfig(n_steps=8, n_tracks=1, n_pitches=6, steps_per_bar=4, latent=4,
                     encoder="mlp", encoder_hidden=16, decoder="flat", decoder_hidden=16)


def windows() -> torch.Tensor:
    return (torch.rand(8, 8, CONFIG.cells, generator=torch.Generator().manual_seed(1)) > 0.7).float()


def half_batch_gradients(rank: int, init_file: str, out: str) -> None:
    dist.init_process_group("gloo", init_method=f"file://{init_file}", rank=rank, world_size=2)
    torch.manual_seed(100 + rank)  # different initial weights: DDP must broadcast rank 0's
    model = VAE(CONFIG).eval()  # posterior mean: no sampling noise in the comparison
    step = distributed.wrap(model)
    assert isinstance(step, torch.nn.parallel.DistributedDataParallel)
    x = windows()[rank * 4:(rank + 1) * 4]
    terms, _ = step(x, None, beta=1.0, free_bits=0.0, per_dimension=False, sampling_prob=0.0)
    terms.loss.backward()  # DDP averages the gradients during the backward pass
    if rank == 0:
        torch.save({n: p.grad for n, p in model.named_parameters()} |
                   {"_weights": model.state_dict()}, out)
    distributed.teardown()  # waits for rank 0's file before leaving


def test_ddp_half_batch_gradients_equal_the_full_batch_gradient(tmp_path):
    out = str(tmp_path / "grads.pt")
    mp.spawn(half_batch_gradients, args=(str(tmp_path / "init"), out), nprocs=2)
    saved = torch.load(out)
    model = VAE(CONFIG).eval()
    model.load_state_dict(saved.pop("_weights"))
    model.loss(windows()).loss.backward()  # the loss is a mean over the batch
    for name, p in model.named_parameters():
        torch.testing.assert_close(saved[name], p.grad, rtol=1e-5, atol=1e-6, msg=name)


def test_outside_torchrun_there_is_one_process_and_no_ddp():
    assert distributed.world() == (0, 1)
    assert distributed.setup("cpu") == torch.device("cpu")
    assert isinstance(distributed.wrap(VAE(CONFIG)), distributed.LossModule)


@pytest.mark.slow
def test_torchrun_trains_with_two_processes_and_rank_0_alone_writes(tmp_path, chorale_set):
    set_dir = chorale_set.path
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    out = subprocess.run([sys.executable, "-m", "torch.distributed.run", "--standalone",
                          "--nproc_per_node=2", "-m", "midivae.cli", "train", str(set_dir),
                          "--preset", "flat-2bar-cpu", "--steps", "4", "--batch-size", "2",
                          "--log-every", "2", "--out", str(tmp_path / "run" / "m")],
                         capture_output=True, text=True, timeout=300, env=env)
    assert out.returncode == 0, out.stderr
    assert "x 2 processes" in out.stdout
    assert out.stdout.count("train step     2") == 1  # printed by rank 0 only
    assert out.stdout.count("saved ") == 1
    assert (tmp_path / "run" / "m" / "model.safetensors").exists()
