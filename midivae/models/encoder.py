"""Encoders: a window (B, T, D) to the posterior q(z|x) = N(mu, diag(exp(logvar))).

Three kinds: a bidirectional LSTM or GRU over steps (MusicVAE, Roberts et al.
2018), an MLP over the flattened window for the flat model, and "bars", the
hierarchical decoder's mirror: one MLP shared by the bars summarises each bar,
and a bidirectional GRU reads the bars' summaries (cheap on a CPU, and its
weights are shared over the bars as an RNN's are over steps). Each takes an
optional condition vector (the label embedding), joined to the summary of the
window before the Gaussian head.
"""

from __future__ import annotations

import torch
from torch import nn

from midivae.models.config import ModelConfig
from midivae.models.mlp import relu_mlp


def reparameterize(mu: torch.Tensor, logvar: torch.Tensor,
                   generator: torch.Generator | None = None) -> torch.Tensor:
    """A draw z = mu + exp(logvar / 2) * eps, eps ~ N(0, I) (Kingma & Welling 2014).

    The one place a latent is drawn from q(z|x): training, `VAE.encode` and the
    IWAE bound all call it, so a seeded ``generator`` gives the same z everywhere.
    Shapes (B, Z), (B, Z) -> (B, Z).
    """
    eps = torch.randn(mu.shape, generator=generator, device=mu.device, dtype=mu.dtype)
    return mu + torch.exp(0.5 * logvar) * eps


class GaussianHead(nn.Module):
    """A linear map from a summary vector, joined to the condition when there is one, to
    (mu, logvar), each of shape (B, Z)."""

    def __init__(self, n_in: int, latent: int):
        super().__init__()
        self.proj = nn.Linear(n_in, 2 * latent)

    def forward(self, h: torch.Tensor,
                cond: torch.Tensor | None = None) -> tuple[torch.Tensor, torch.Tensor]:
        if cond is not None:
            h = torch.cat([h, cond], dim=-1)  # (B, H + C)
        mu, logvar = self.proj(h).chunk(2, dim=-1)  # (B, Z) each
        return mu, logvar


class RNNEncoder(nn.Module):
    """Bidirectional LSTM/GRU over steps; the final states of both directions summarise x.

    Parameters
    ----------
    cfg : ModelConfig
        Uses ``cells`` (D), ``encoder`` ("lstm" or "gru"), ``encoder_hidden``
        (H, per direction), ``encoder_layers``, ``latent`` (Z), ``condition_dim`` (C).
    """

    def __init__(self, cfg: ModelConfig):
        super().__init__()
        rnn = nn.LSTM if cfg.encoder == "lstm" else nn.GRU
        self.rnn = rnn(cfg.cells, cfg.encoder_hidden, num_layers=cfg.encoder_layers,
                       batch_first=True, bidirectional=True)
        self.head = GaussianHead(2 * cfg.encoder_hidden + cfg.condition_dim, cfg.latent)

    def forward(self, x: torch.Tensor, cond: torch.Tensor | None = None):
        """x: (B, T, D); cond: (B, C) or None. Returns mu, logvar: (B, Z) each."""
        _, state = self.rnn(x)
        h = state[0] if isinstance(state, tuple) else state  # (layers * 2, B, H)
        summary = torch.cat([h[-2], h[-1]], dim=-1)  # last layer, forward and backward: (B, 2H)
        return self.head(summary, cond)


class MLPEncoder(nn.Module):
    """An MLP over the flattened window (T * D inputs), for the flat model."""

    def __init__(self, cfg: ModelConfig):
        super().__init__()
        self.net = relu_mlp(cfg.n_steps * cfg.cells, cfg.encoder_hidden, cfg.encoder_layers)
        self.head = GaussianHead(cfg.encoder_hidden + cfg.condition_dim, cfg.latent)

    def forward(self, x: torch.Tensor, cond: torch.Tensor | None = None):
        """x: (B, T, D); cond: (B, C) or None. Returns mu, logvar: (B, Z) each."""
        return self.head(self.net(x.flatten(1)), cond)  # (B, T * D) -> (B, H) -> (B, Z) x 2


class BarEncoder(nn.Module):
    """An MLP over each bar's S * D cells, shared by the bars, then a bidirectional GRU over
    the bars' summaries; its final states summarise x.

    Uses ``steps_per_bar`` (S; T must be whole bars), ``encoder_hidden`` (H: the MLP's
    width, each bar's summary and the GRU's units per direction), ``encoder_layers``
    (the MLP's hidden layers), ``latent`` and ``condition_dim``. With ``bar_latents``, z
    is one code per bar, each from the GRU's outputs (both directions) at its bar through
    one Gaussian head shared by the bars. With ``track_latents`` as well, one code per bar
    and track (see `_by_track`).
    """

    def __init__(self, cfg: ModelConfig):
        super().__init__()
        self.steps_per_bar, self.bar_latents = cfg.steps_per_bar, cfg.bar_latents
        self.tracks = cfg.n_tracks if cfg.track_latents else 0
        h = cfg.encoder_hidden
        if self.tracks:  # one track's bar and its one-hot id -> (H,), then all tracks' -> GRU
            self.bar = relu_mlp(cfg.steps_per_bar * 2 * cfg.n_pitches + self.tracks, h,
                                cfg.encoder_layers)
            self.rnn = nn.GRU(self.tracks * h, h, batch_first=True, bidirectional=True)
            self.head = GaussianHead(3 * h + cfg.condition_dim,
                                     cfg.latent // (cfg.n_bars * self.tracks))
            return
        self.bar = relu_mlp(cfg.steps_per_bar * cfg.cells, h, cfg.encoder_layers)
        self.rnn = nn.GRU(h, h, batch_first=True, bidirectional=True)
        code = cfg.latent // cfg.n_bars if cfg.bar_latents else cfg.latent
        self.head = GaussianHead(2 * h + cfg.condition_dim, code)

    def forward(self, x: torch.Tensor, cond: torch.Tensor | None = None):
        """x: (B, T, D); cond: (B, C) or None. Returns mu, logvar: (B, Z) each."""
        b, t, d = x.shape
        n_bars = t // self.steps_per_bar
        if self.tracks:
            return self._by_track(x.reshape(b, n_bars, self.steps_per_bar, self.tracks, -1),
                                  cond)
        bars = self.bar(x.reshape(b, n_bars, self.steps_per_bar * d))
        out, h = self.rnn(bars)  # (B, n_bars, H) -> out (B, n_bars, 2H), h (2, B, H)
        if not self.bar_latents:
            return self.head(torch.cat([h[0], h[1]], dim=-1), cond)  # (B, 2H): both directions
        if cond is not None:
            cond = cond[:, None].expand(-1, n_bars, -1)  # (B, n_bars, C)
        mu, logvar = self.head(out, cond)  # (B, n_bars, Z / n_bars) each
        return mu.flatten(1), logvar.flatten(1)  # bar by bar: (B, Z)

    def _by_track(self, bars: torch.Tensor, cond: torch.Tensor | None):
        """track_latents: bars (B, n_bars, S, K, 2P) -> mu, logvar (B, Z), bar by bar, then
        track by track. Each track's bar is summarised alone (with its track's one-hot id);
        the GRU reads every track's summary, and each track's code reads its own summary and
        the GRU's output at its bar."""
        b, n_bars, _, k, _ = bars.shape
        own = bars.transpose(2, 3).flatten(3)  # (B, n_bars, K, S * 2P)
        ids = torch.eye(k, device=bars.device, dtype=bars.dtype).expand(b, n_bars, k, k)
        h = self.bar(torch.cat([own, ids], dim=-1))  # (B, n_bars, K, H)
        out, _ = self.rnn(h.flatten(2))  # (B, n_bars, K * H) -> (B, n_bars, 2H)
        summary = torch.cat([h, out[:, :, None].expand(-1, -1, k, -1)], dim=-1)  # (.., K, 3H)
        if cond is not None:
            cond = cond[:, None, None].expand(-1, n_bars, k, -1)  # (B, n_bars, K, C)
        mu, logvar = self.head(summary, cond)  # (B, n_bars, K, Z / (n_bars K)) each
        return mu.flatten(1), logvar.flatten(1)


def build_encoder(cfg: ModelConfig) -> nn.Module:
    """The encoder named by ``cfg.encoder``."""
    if cfg.encoder == "mlp":
        return MLPEncoder(cfg)
    return BarEncoder(cfg) if cfg.encoder == "bars" else RNNEncoder(cfg)
