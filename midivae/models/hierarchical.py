"""The hierarchical decoder (MusicVAE, Roberts et al. 2018, section 3.2).

A conductor LSTM turns z into one embedding per bar. A bar decoder (a
`StepLSTM`), re-initialised from each embedding and fed it at every step,
generates its bar step by step. No recurrent state crosses a bar line, but the
inputs do: they are the window shifted by one step as a whole, so each bar's
first input is the previous bar's last step (zeros before bar 0), teacher-forced
and when sampling, as in MusicVAE. A bar thus sees a note held across its bar
line. Teacher-forced, every bar runs at once as a batch of B * n_bars short
sequences; sampling runs the bars in turn, each starting from the last step
drawn.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from midivae.models.config import ModelConfig
from midivae.models.decoder import Decoder
from midivae.models.heads import build_output
from midivae.models.recurrent import StepLSTM, initial_state


class HierarchicalDecoder(Decoder, name="hierarchical"):
    """Conductor over bars, then a bar decoder over each bar's steps.

    Uses ``n_steps`` (T) = n_bars * ``steps_per_bar`` (S), ``conductor_hidden``,
    ``conductor_layers``, ``bar_embedding`` (E), ``decoder_hidden`` and
    ``decoder_layers`` (the bar decoder), and z of size Zc = latent + condition_dim.
    """

    def __init__(self, cfg: ModelConfig):
        super().__init__(cfg)
        zc = cfg.latent + cfg.condition_dim
        self.n_bars, self.steps_per_bar = cfg.n_bars, cfg.steps_per_bar
        self.conductor_layers, self.conductor_hidden = cfg.conductor_layers, cfg.conductor_hidden
        self.conductor_init = nn.Linear(zc, 2 * cfg.conductor_layers * cfg.conductor_hidden)
        # The conductor reads z at each of its n_bars steps; its state starts from z too.
        self.conductor = nn.LSTM(zc, cfg.conductor_hidden, num_layers=cfg.conductor_layers,
                                 batch_first=True)
        self.embed = nn.Linear(cfg.conductor_hidden, cfg.bar_embedding)
        self.bar = StepLSTM(build_output(cfg), cfg.cells, cfg.bar_embedding,
                            cfg.decoder_hidden, cfg.decoder_layers,
                            cfg.steps_per_bar if cfg.place_input else 0)

    def bar_embeddings(self, z: torch.Tensor) -> torch.Tensor:
        """One embedding per bar: (B, Zc) -> (B, n_bars, E)."""
        state = initial_state(self.conductor_init, z, self.conductor_layers,
                              self.conductor_hidden)
        inputs = z[:, None].expand(-1, self.n_bars, -1)  # (B, n_bars, Zc)
        out, _ = self.conductor(inputs, state)  # (B, n_bars, Hc)
        return torch.tanh(self.embed(out))

    def carried_steps(self, x: torch.Tensor) -> torch.Tensor:
        """Each bar's first input, the previous bar's last step: (B, T, D) -> (B * n_bars, D)."""
        b, s = x.shape[0], self.steps_per_bar
        last = x[:, s - 1::s][:, :-1]  # (B, n_bars - 1, D): the last step of bars 0 .. n - 2
        return F.pad(last, (0, 0, 1, 0)).reshape(b * self.n_bars, -1)  # zeros before bar 0

    @property
    def head(self):
        return self.bar.head

    def logits(self, x, z, *, sampling_prob=0.0, input_dropout=0.0, generator=None):
        b = x.shape[0]
        emb = self.bar_embeddings(z)  # (B, n_bars, E)
        if sampling_prob > 0:
            return self._run_bars(emb, x=x, sampling_prob=sampling_prob, generator=generator)[0]
        bars = x.reshape(b * self.n_bars, self.steps_per_bar, -1)  # (B, T, D) -> (B * n_bars, S, D)
        out = self.bar.teacher_forced(bars, emb.reshape(b * self.n_bars, -1), self.carried_steps(x),
                                      input_dropout=input_dropout, generator=generator)
        return out.reshape(b, self.n_steps, -1)  # (B * n_bars, S, L) -> (B, T, L)

    def sample(self, z, *, temperature=1.0, generator=None):
        return self._run_bars(self.bar_embeddings(z), temperature=temperature,
                              generator=generator)[1]

    def _run_bars(self, emb: torch.Tensor, *, x: torch.Tensor | None = None,
                  sampling_prob: float = 1.0, temperature: float = 1.0,
                  generator: torch.Generator | None = None):
        """The bars in turn, each fed the last step fed or drawn in the bar before.

        emb: (B, n_bars, E); x: (B, T, D) for scheduled sampling, else None.
        Returns logits (B, T, L) (None when free-running) and cells (B, T, D).
        """
        s, first = self.steps_per_bar, None
        logits, cells = [], []
        for i in range(self.n_bars):
            bar_x = None if x is None else x[:, i * s:(i + 1) * s]  # (B, S, D)
            out, drawn = self.bar.step_by_step(emb[:, i], s, temperature=temperature,
                                               generator=generator, x=bar_x,
                                               sampling_prob=sampling_prob, first=first)
            logits.append(out)
            cells.append(drawn)
            first = drawn[:, -1]
        return (None if x is None else torch.cat(logits, 1)), torch.cat(cells, 1)
