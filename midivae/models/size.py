"""What a model's settings cost, known before the model is built: its weights, counted on
the meta device (shapes without data), against `midivae.bounds.MAX_PARAMETERS`."""

from __future__ import annotations

import torch

from midivae.bounds import MAX_PARAMETERS, PARAMETERS_ENV, env_bound, raise_hint
from midivae.errors import BoundError
from midivae.models.config import ModelConfig
from midivae.models.vae import VAE


def meta_weights(config: ModelConfig) -> tuple[dict[str, torch.Tensor], int]:
    """(the state dict a `VAE` of ``config`` holds, as meta tensors: names, shapes and dtypes,
    nothing allocated; the number of its weights, parameters and buffers)."""
    with torch.device("meta"):
        model = VAE(config)
    n = sum(t.numel() for t in model.parameters()) + sum(t.numel() for t in model.buffers())
    return model.state_dict(), n


def check_weights(n: int) -> None:
    """`BoundError` when ``n`` weights are more than ``MAX_PARAMETERS`` ($MIDIVAE_MAX_PARAMETERS
    raises it): settings asking for gigabytes are refused before the model is built."""
    most = env_bound(PARAMETERS_ENV, MAX_PARAMETERS)
    if n > most:
        raise BoundError(f"the model's settings ask for {n:,} weights ({n * 4 / 2**30:,.1f} "
                         f"GiB as float32), more than the {most:,} allowed"
                         + raise_hint(PARAMETERS_ENV))
