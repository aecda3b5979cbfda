"""The flat (MLP) decoder: one MLP emits the context of every step of the window at once.

Given z the steps are independent, except that the categorical head's "hold"
continues the step before; within a step the output head (see
`midivae.models.heads`) makes the cells independent, ordered or categorical.
"""

from __future__ import annotations

import torch

from midivae.models.config import ModelConfig
from midivae.models.decoder import Decoder
from midivae.models.heads import build_output
from midivae.models.mlp import relu_mlp


class FlatDecoder(Decoder, name="flat"):
    """An MLP from z to every step's context at once.

    Uses ``decoder_hidden`` (H) and ``decoder_layers`` hidden ReLU layers;
    outputs T * C numbers, C the output head's context size (D for
    independent cells).
    """

    def __init__(self, cfg: ModelConfig):
        super().__init__(cfg)
        self.head = build_output(cfg)
        self.net = relu_mlp(cfg.latent + cfg.condition_dim, cfg.decoder_hidden,
                            cfg.decoder_layers, cfg.n_steps * self.head.context_size)

    def _context(self, z: torch.Tensor) -> torch.Tensor:
        return self.net(z).view(z.shape[0], self.n_steps, -1)  # (B, T * C) -> (B, T, C)

    def logits(self, x, z, *, sampling_prob=0.0, input_dropout=0.0, generator=None):
        # No past steps to feed: only the made output reads x (each step's earlier cells).
        return self.head.logits(self._context(z), x)

    def sample(self, z, *, temperature=1.0, generator=None):
        # The categorical head draws the steps in order (hold reads the step before).
        return self.head.sample_steps(self._context(z), temperature, generator)
