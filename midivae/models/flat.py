"""The decoder interface, Bernoulli cell sampling, and the flat (MLP) decoder.

Every decoder maps a latent code (B, Zc) -- z, joined to the label embedding
when the model is conditioned -- to a distribution over windows (B, T, D) of
Bernoulli cells. Each gives teacher-forced logits (hence the log-likelihood of
a batch) and draws samples at a temperature. The flat decoder is the simplest:
one MLP emits every cell of the window at once.
"""

from __future__ import annotations

import torch
from torch import nn

from midivae.losses import bernoulli_nll
from midivae.models.config import ModelConfig


def sample_cells(logits: torch.Tensor, temperature: float, n_tracks: int,
                 generator: torch.Generator | None = None) -> torch.Tensor:
    """Draw every cell at a temperature, keeping onset => sustain.

    Each cell is Bernoulli(sigmoid(logit / temperature)); temperature 0 gives
    the most likely value (logit > 0). An onset drawn without its sustain gets
    the sustain, so the window is a valid roll step by step.

    Parameters
    ----------
    logits : Tensor, shape (..., D), D = K * 2 * P
    temperature : float, >= 0
    n_tracks : int
        K, to find the onset and sustain channels of each track.
    generator : torch.Generator, optional
        Source of randomness, for reproducible draws.

    Returns
    -------
    Tensor of logits' shape and dtype, values in {0, 1}.
    """
    if temperature < 0:
        raise ValueError(f"temperature must be >= 0, got {temperature!r}")
    if temperature == 0:
        cells = logits > 0
    else:  # u < sigmoid(l / T) with u ~ U(0, 1); torch.rand is ~4x faster than torch.bernoulli
        u = torch.rand(logits.shape, generator=generator, device=logits.device)
        cells = u < torch.sigmoid(logits.float() / temperature)
    split = cells.view(*cells.shape[:-1], n_tracks, 2, -1)  # (..., D) -> (..., K, 2, P)
    split[..., 1, :] |= split[..., 0, :]  # onset implies sustain
    return cells.to(logits.dtype)


class Decoder(nn.Module):
    """What the three decoders share.

    Subclasses implement `logits` (teacher-forced, shape (B, T, D)) and
    `sample`; `log_likelihood` follows from `logits`.
    """

    def __init__(self, cfg: ModelConfig):
        super().__init__()
        self.n_steps, self.n_tracks, self.channels = cfg.n_steps, cfg.n_tracks, cfg.channels

    def logits(self, x: torch.Tensor, z: torch.Tensor, *, sampling_prob: float = 0.0,
               generator: torch.Generator | None = None) -> torch.Tensor:
        """Logits of every cell given z, feeding the true previous steps (teacher forcing).

        Parameters
        ----------
        x : Tensor, shape (B, T, D)
            The target window (an autoregressive decoder reads its past steps).
        z : Tensor, shape (B, Zc)
        sampling_prob : float
            Scheduled sampling (Bengio et al. 2015): the probability that a past
            step fed to an autoregressive decoder is its own sample instead of x.

        Returns
        -------
        Tensor, shape (B, T, D)
        """
        raise NotImplementedError

    def sample(self, z: torch.Tensor, *, temperature: float = 1.0,
               generator: torch.Generator | None = None) -> torch.Tensor:
        """Windows drawn from p(x | z): (B, Zc) -> (B, T, D) in {0, 1}."""
        raise NotImplementedError

    def log_likelihood(self, x: torch.Tensor, z: torch.Tensor) -> torch.Tensor:
        """Teacher-forced log p(x | z) in nats, summed over cells: shape (B,)."""
        return -bernoulli_nll(self.logits(x, z), x)


class FlatDecoder(Decoder):
    """An MLP from z to every cell of the window at once.

    Uses ``decoder_hidden`` (H) and ``decoder_layers`` hidden ReLU layers;
    output T * D logits.
    """

    def __init__(self, cfg: ModelConfig):
        super().__init__(cfg)
        layers: list[nn.Module] = []
        width = cfg.latent + cfg.condition_dim
        for _ in range(cfg.decoder_layers):
            layers += [nn.Linear(width, cfg.decoder_hidden), nn.ReLU()]
            width = cfg.decoder_hidden
        layers.append(nn.Linear(width, cfg.n_steps * cfg.channels))
        self.net = nn.Sequential(*layers)

    def _logits(self, z: torch.Tensor) -> torch.Tensor:
        return self.net(z).view(z.shape[0], self.n_steps, self.channels)  # (B, T * D) -> (B, T, D)

    def logits(self, x, z, *, sampling_prob=0.0, generator=None):
        # The cells are independent given z: nothing to teacher-force.
        return self._logits(z)

    def sample(self, z, *, temperature=1.0, generator=None):
        return sample_cells(self._logits(z), temperature, self.n_tracks, generator)
