"""The decoder interface and the one registry of decoders.

A decoder maps a latent code (B, Zc) -- z, joined to the label embedding when
the model is conditioned -- to a distribution over windows (B, T, D) of cells,
D = K * 2 * P. Each decoder computes a context vector per step from z and the
past steps; its output head (`midivae.models.heads`: independent, made or
categorical) turns a step's context into the distribution of that step's
cells, and owns the loss and the most likely cells, so nothing else needs to
know which head a model has.
"""

from __future__ import annotations

import torch
from torch import nn

from midivae.models.config import ModelConfig
from midivae.models.heads import OutputHead

DECODER_CLASSES: dict[str, type["Decoder"]] = {}  # name -> class, filled by subclassing


class Decoder(nn.Module):
    """What the decoders share; subclass with ``class X(Decoder, name="x")`` to register.

    Subclasses hold their output head as ``head`` and implement `logits`
    (teacher-forced, shape (B, T, L): L = D cell logits for the Bernoulli heads,
    K(P + 2) class logits for the categorical one) and `sample`; `nll`,
    `most_likely` and `log_likelihood` ask the head.
    """

    head: OutputHead

    def __init_subclass__(cls, name: str | None = None, **kwargs):
        super().__init_subclass__(**kwargs)
        if name is not None:
            DECODER_CLASSES[name] = cls

    def __init__(self, cfg: ModelConfig):
        super().__init__()
        self.n_steps, self.n_tracks, self.cells = cfg.n_steps, cfg.n_tracks, cfg.cells

    def logits(self, x: torch.Tensor, z: torch.Tensor, *, sampling_prob: float = 0.0,
               input_dropout: float = 0.0,
               generator: torch.Generator | None = None) -> torch.Tensor:
        """Logits of every cell given z, feeding the true previous cells (teacher forcing).

        Parameters
        ----------
        x : Tensor, shape (B, T, D)
            The target window (the decoder reads its past steps, and the made
            output the earlier cells of each step).
        z : Tensor, shape (B, Zc)
        sampling_prob : float
            Scheduled sampling (Bengio et al. 2015): the probability that a past
            step fed to an autoregressive decoder is its own sample instead of x.
        input_dropout : float
            Word dropout (Bowman et al. 2016): the probability that a past step
            fed to an autoregressive decoder is replaced by silence (zeros), so
            that the decoder must take what it drops from z. Teacher-forced
            training only; the flat decoder, which reads no past steps, ignores it.

        Returns
        -------
        Tensor, shape (B, T, L), the head's logits (L = D for Bernoulli cells)
        """
        raise NotImplementedError

    def sample(self, z: torch.Tensor, *, temperature: float = 1.0,
               generator: torch.Generator | None = None) -> torch.Tensor:
        """Windows drawn from p(x | z): (B, Zc) -> (B, T, D) in {0, 1}."""
        raise NotImplementedError

    # whether `sample` takes ``given`` cells and ``particles`` (see the hierarchical decoder)
    completes = False

    def known_codes(self, mask: torch.Tensor) -> torch.Tensor | None:
        """The latent units that encode given parts: a mask (B, n_bars, K) of given bars and
        tracks -> (B, latent) bool; None when z has no code of its own per bar."""
        return None

    def nll(self, logits: torch.Tensor, x: torch.Tensor,
            steps: torch.Tensor | None = None) -> torch.Tensor:
        """-log p(x | z) in nats per window from `logits`' output and x (B, T, D): (B,);
        with ``steps`` (B,), of each window's first steps only (see the heads' ``nll``)."""
        return self.head.nll(logits, x, steps)

    def most_likely(self, logits: torch.Tensor, x: torch.Tensor) -> torch.Tensor:
        """Each step's most likely cells given the true past steps of x: (B, T, D)."""
        return self.head.most_likely(logits, x)

    def log_likelihood(self, x: torch.Tensor, z: torch.Tensor,
                       steps: torch.Tensor | None = None) -> torch.Tensor:
        """Teacher-forced log p(x | z) in nats, summed over the window (or its first
        ``steps[b]`` steps): shape (B,)."""
        return -self.nll(self.logits(x, z), x, steps)


def build_decoder(cfg: ModelConfig) -> Decoder:
    """The decoder named by ``cfg.decoder`` (the classes register when their modules load)."""
    return DECODER_CLASSES[cfg.decoder](cfg)
