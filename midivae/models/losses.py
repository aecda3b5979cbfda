"""The VAE objective: Bernoulli reconstruction, Gaussian KL, free bits, beta schedules.

Every cell of a window (onset and sustain of every pitch of every track at
every step) is a Bernoulli variable with a logit from the decoder. The loss is
the negative ELBO (Kingma & Welling 2014) with a weight ``beta`` on the KL term
(Higgins et al. 2017) and free bits (Kingma et al. 2016; MusicVAE, Roberts et
al. 2018). Tensors only: nothing here knows about MIDI.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass

import torch
import torch.nn.functional as F

LN2 = math.log(2.0)
BETA_KINDS = ("constant", "linear", "exponential", "cyclical")


def bernoulli_nll(logits: torch.Tensor, x: torch.Tensor,
                  steps: torch.Tensor | None = None) -> torch.Tensor:
    """Negative log-likelihood of binary cells, summed over every cell of each window.

    Parameters
    ----------
    logits : Tensor, shape (B, T, D)
        Decoder logits (log-odds) of each cell.
    x : Tensor, shape (B, T, D)
        Targets in {0, 1}, any float dtype.
    steps : Tensor, shape (B,), optional
        Sum only each window's first ``steps[b]`` steps (a padded window's real ones).

    Returns
    -------
    Tensor, shape (B,)
        -log p(x | z) in nats per window (BCE with logits, summed over T and D).
    """
    bce = F.binary_cross_entropy_with_logits(logits, x.to(logits.dtype), reduction="none")
    return sum_steps(bce.flatten(2).sum(2), steps)  # (B, T, D) -> (B, T) -> (B,)


def sum_steps(per_step: torch.Tensor, steps: torch.Tensor | None = None) -> torch.Tensor:
    """Each row's sum over steps, (B, T) -> (B,); with ``steps`` (B,), of its first
    ``steps[b]`` entries only (a padded window's real steps)."""
    if steps is not None:
        keep = torch.arange(per_step.shape[1], device=per_step.device) < steps.to(
            per_step.device)[:, None]
        per_step = per_step * keep
    return per_step.sum(1)


def gaussian_kl(mu: torch.Tensor, logvar: torch.Tensor) -> torch.Tensor:
    """KL(q(z|x) || N(0, I)) per latent dimension, in nats.

    For a diagonal Gaussian q = N(mu, exp(logvar)) against the standard normal,
    KL = 0.5 * (mu^2 + exp(logvar) - 1 - logvar) per dimension
    (Kingma & Welling 2014, appendix B).

    Parameters
    ----------
    mu, logvar : Tensor, shape (B, Z)

    Returns
    -------
    Tensor, shape (B, Z)
    """
    return 0.5 * (mu.pow(2) + logvar.exp() - 1.0 - logvar)


def kl_penalty(kl: torch.Tensor, free_bits: float = 0.0, *,
               per_dimension: bool = False) -> torch.Tensor:
    """The KL term the optimiser sees, after free bits; mean over the batch.

    MusicVAE (Roberts et al. 2018, eq. 4) lets each window keep ``free_bits``
    bits of KL at no cost: ``max(KL - free_bits * ln 2, 0)`` on the total KL of
    the window. With ``per_dimension=True`` the threshold applies to each latent
    dimension's batch-averaged KL instead, as in Kingma et al. (2016, eq. 15).
    Below the threshold the term is constant, so it sends no gradient.

    Parameters
    ----------
    kl : Tensor, shape (B, Z)
        Per-dimension KL from `gaussian_kl`, in nats.
    free_bits : float
        Threshold in bits (per window, or per dimension with ``per_dimension``).

    Returns
    -------
    Tensor, scalar, nats per window.
    """
    if free_bits < 0:
        raise ValueError(f"free_bits must be >= 0, got {free_bits!r}")
    free_nats = free_bits * LN2
    if per_dimension:
        return torch.clamp(kl.mean(0) - free_nats, min=0.0).sum()
    return torch.clamp(kl.sum(1) - free_nats, min=0.0).mean()


@dataclass(frozen=True)
class BetaSchedule:
    """The weight of the KL term as a function of the training step (0-based)."""

    kind: str = "constant"  # one of BETA_KINDS
    beta_max: float = 1.0  # the weight held (constant) or approached (the others)
    warmup_steps: int = 10_000  # linear: steps to reach beta_max; cyclical: steps per cycle
    rate: float = 0.99999  # exponential: beta_t = beta_max * (1 - rate**t) (MusicVAE)
    ramp: float = 0.5  # cyclical: fraction of each cycle spent rising (R in Fu et al. 2019)

    def __post_init__(self):
        if self.kind not in BETA_KINDS:
            raise ValueError(f"BetaSchedule kind must be one of {BETA_KINDS}, got {self.kind!r}")
        if self.beta_max < 0:
            raise ValueError(f"beta_max must be >= 0, got {self.beta_max!r}")
        if self.warmup_steps < 1:
            raise ValueError(f"warmup_steps must be >= 1, got {self.warmup_steps!r}")
        if not 0.0 <= self.rate < 1.0:
            raise ValueError(f"rate must lie in [0, 1), got {self.rate!r}")
        if not 0.0 < self.ramp <= 1.0:
            raise ValueError(f"ramp must lie in (0, 1], got {self.ramp!r}")

    def __call__(self, step: int) -> float:
        if step < 0:
            raise ValueError(f"step must be >= 0, got {step!r}")
        if self.kind == "constant":
            return self.beta_max
        if self.kind == "linear":
            return self.beta_max * min(1.0, step / self.warmup_steps)
        if self.kind == "exponential":
            # MusicVAE (Roberts et al. 2018): beta approaches beta_max as 1 - rate**t.
            return self.beta_max * (1.0 - self.rate ** step)
        # Cyclical annealing (Fu et al. 2019, eq. 5): within each cycle of
        # warmup_steps, tau = position in [0, 1); beta rises linearly while
        # tau <= ramp, then holds beta_max until the cycle restarts at zero.
        tau = (step % self.warmup_steps) / self.warmup_steps
        return self.beta_max * min(1.0, tau / self.ramp)


@dataclass
class LossTerms:
    """One batch's objective and what to report about it (means over the batch)."""

    loss: torch.Tensor  # scalar to minimise: reconstruction + beta * KL after free bits
    reconstruction: torch.Tensor  # scalar, -log p(x|z) in nats per window
    kl: torch.Tensor  # scalar, KL(q(z|x) || p(z)) in nats per window, before free bits
    n_steps: int  # T, steps per window, for the bits-per-step figures
    beta: float  # the KL weight used

    @property
    def elbo(self) -> torch.Tensor:
        """The evidence lower bound on log p(x), nats per window (a negative number)."""
        return -(self.reconstruction + self.kl)

    def to_dict(self) -> dict[str, float]:
        """Plain floats: nats per window, and bits per step (nats / (T ln 2))."""
        recon, kl = float(self.reconstruction.detach()), float(self.kl.detach())
        per_step = 1.0 / (self.n_steps * LN2)
        return {"loss": float(self.loss.detach()), "beta": float(self.beta),
                "recon_nats": recon, "kl_nats": kl, "elbo_nats": -(recon + kl),
                "recon_bits_per_step": recon * per_step, "kl_bits_per_step": kl * per_step,
                "nelbo_bits_per_step": (recon + kl) * per_step}


def elbo_loss(logits: torch.Tensor, x: torch.Tensor, mu: torch.Tensor, logvar: torch.Tensor,
              *, beta: float = 1.0, free_bits: float = 0.0, per_dimension: bool = False,
              nll: Callable[[torch.Tensor, torch.Tensor], torch.Tensor] = bernoulli_nll
              ) -> LossTerms:
    """Negative ELBO with a KL weight and free bits.

    Parameters
    ----------
    logits, x : Tensor, shape (B, T, L) and (B, T, D)
        Teacher-forced decoder logits and the binary window.
    mu, logvar : Tensor, shape (B, Z)
        The posterior q(z|x).
    beta : float
        Weight of the KL term.
    free_bits, per_dimension
        See `kl_penalty`.
    nll : callable (logits, x) -> (B,)
        The reconstruction NLL in nats per window: Bernoulli cells by default;
        a model passes its decoder's (``model.decoder.nll``).
    """
    recon = nll(logits.float(), x).mean()
    kl = gaussian_kl(mu.float(), logvar.float())
    loss = recon + beta * kl_penalty(kl, free_bits, per_dimension=per_dimension)
    return LossTerms(loss=loss, reconstruction=recon, kl=kl.sum(1).mean(),
                     n_steps=x.shape[1], beta=beta)
