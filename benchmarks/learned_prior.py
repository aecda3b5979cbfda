"""An autoregressive prior over a bar-and-track model's codes, fitted after training and
judged by the music its draws decode to (issue 21: "try a prior learned with the model").

The shipped pop model's code is 8 bars x 3 tracks x 32 units. This script reads the
training windows' posteriors (as ``midivae fit-prior`` does), fits a GRU over the 24
codes (bar by bar; piano, bridge, melody within a bar) whose every step is a mixture of
diagonal Gaussians, optionally started from the window's key, and evaluates the model
with its prior draws replaced by this one's (``midivae evaluate``'s figures on the
validation split: 100 windows, 256 samples). It prints its held-out negative
log-likelihood as it trains, then the samples' statistics beside the data's::

    .venv/bin/python benchmarks/learned_prior.py                    # on draws of q(z)
    .venv/bin/python benchmarks/learned_prior.py --on mu --key      # on the means, by key

Measured (README, "pop"): the draws are as dense as the songs but out of key, so the
shipped model keeps its Gaussian prior by key.
"""

from __future__ import annotations

import argparse
import math
import time
from pathlib import Path

import torch
import torch.nn.functional as F
from torch import nn

from midivae.data import PreparedSet
from midivae.run.checkpoint import load_checkpoint
from midivae.run.evaluate import evaluate, window_keys
from midivae.run.priors import posteriors, prior_loader

ROOT = Path(__file__).resolve().parents[1]
KEYS = 12  # and one more index for a window without a key


class CodePrior(nn.Module):
    """p(z) = prod_i p(c_i | c_<i, key), each a mixture of ``components`` diagonal
    Gaussians over one code c_i of ``units``."""

    def __init__(self, codes: int, units: int, hidden: int, components: int, keyed: bool):
        super().__init__()
        self.codes, self.units, self.components = codes, units, components
        self.position = nn.Parameter(torch.zeros(codes, units))
        self.gru = nn.GRU(2 * units, hidden, batch_first=True)
        self.out = nn.Linear(hidden, components * (2 * units + 1))
        self.key = nn.Embedding(KEYS + 1, hidden) if keyed else None

    def _start(self, key: torch.Tensor) -> torch.Tensor | None:
        return None if self.key is None else self.key(key)[None].contiguous()

    def _mixture(self, h: torch.Tensor):
        o = self.out(h).unflatten(-1, (self.components, 2 * self.units + 1))
        u = self.units
        return o[..., 0], o[..., 1:u + 1], o[..., u + 1:].clamp(-7, 3)  # logits, mean, log sd

    def nll(self, c: torch.Tensor, key: torch.Tensor) -> torch.Tensor:
        """-log p of codes (N, codes, units): (N,)."""
        previous = F.pad(c[:, :-1], (0, 0, 1, 0))
        h, _ = self.gru(torch.cat([previous, self.position.expand(len(c), -1, -1)], -1),
                        self._start(key))
        logits, mean, log_sd = self._mixture(h)
        x = c[:, :, None]
        lp = (-0.5 * ((x - mean) / log_sd.exp()) ** 2 - log_sd
              - 0.5 * math.log(2 * math.pi)).sum(-1)
        return -torch.logsumexp(F.log_softmax(logits, -1) + lp, -1).sum(1)

    @torch.no_grad()
    def sample(self, key: torch.Tensor, generator: torch.Generator) -> torch.Tensor:
        n = len(key)
        out, h = torch.zeros(n, self.codes, self.units), self._start(key)
        previous, rows = torch.zeros(n, 1, self.units), torch.arange(n)
        for i in range(self.codes):
            step, h = self.gru(torch.cat([previous, self.position[i].expand(n, 1, -1)], -1), h)
            logits, mean, log_sd = self._mixture(step[:, 0])
            k = torch.multinomial(F.softmax(logits, -1), 1, generator=generator)[:, 0]
            out[:, i] = mean[rows, k] + log_sd[rows, k].exp() * torch.randn(
                n, self.units, generator=generator)
            previous = out[:, i:i + 1]
        return out


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--model", default=str(ROOT / "midivae" / "pretrained" / "pop.safetensors"))
    p.add_argument("--set", default=str(ROOT / "datasets" / "quality" / "pop-8bar"))
    p.add_argument("--hidden", type=int, default=256)
    p.add_argument("--components", type=int, default=8)
    p.add_argument("--epochs", type=int, default=15)
    p.add_argument("--on", choices=("q", "mu"), default="q",
                   help="fit draws of each window's posterior (q) or its mean (mu)")
    p.add_argument("--key", action="store_true", help="start each draw from a window's key")
    p.add_argument("--temperature", type=float, default=1.0, help="the decoder's")
    args = p.parse_args()
    torch.manual_seed(0)
    torch.set_num_threads(1)
    model, prepared = load_checkpoint(args.model), PreparedSet(args.set)
    bars, tracks = model.decoder.n_bars, model.decoder.tracks
    units = model.config.latent // (bars * tracks)

    def codes(z):  # (N, Z) -> (N, bars * tracks, units), the tracks drawn last first
        return z.view(-1, bars, tracks, units).flip(2).reshape(-1, bars * tracks, units)

    def latents(c):
        return c.view(-1, bars, tracks, units).flip(2).reshape(-1, bars * tracks * units)

    started = time.monotonic()
    mu, logvar = posteriors(model, prior_loader(prepared))
    keys = window_keys(prepared, len(mu)).long()
    keys = torch.where(keys < 0, torch.full_like(keys, KEYS), keys)
    sd = (0.5 * logvar).exp()
    held = torch.randperm(len(mu))
    held, train = held[:1000], held[1000:]
    prior = CodePrior(bars * tracks, units, args.hidden, args.components, args.key)
    opt = torch.optim.Adam(prior.parameters(), 1e-3)

    def draw(i, g=None):
        noise = torch.randn(len(i), mu.shape[1], generator=g) if args.on == "q" else 0
        return mu[i] + sd[i] * noise

    held_z = draw(held, torch.Generator().manual_seed(1))
    per_unit = model.config.latent
    for epoch in range(args.epochs):
        prior.train()
        for batch in train[torch.randperm(len(train))].split(256):
            loss = prior.nll(codes(draw(batch)), keys[batch]).mean() / per_unit
            opt.zero_grad()
            loss.backward()
            nn.utils.clip_grad_norm_(prior.parameters(), 1.0)
            opt.step()
        prior.eval()
        with torch.no_grad():
            nll = prior.nll(codes(held_z), keys[held]).mean().item() / per_unit
        print(f"epoch {epoch}: held-out -log p {nll:.4f} nats a unit "
              f"({time.monotonic() - started:.0f} s)", flush=True)
    g = torch.Generator().manual_seed(0)
    drawn = latents(prior.sample(keys[torch.randint(len(keys), (256,), generator=g)], g))
    model.prior.draw = lambda n, generator=None: drawn[:n]  # what VAE.sample draws
    r = evaluate(model, prepared, split="valid", n_samples=256, temperature=args.temperature,
                 max_windows=100)
    s, d, h = r["samples"], r["data"], r["harmony"]

    def listed(xs):
        return " / ".join(f"{x:.2f}" for x in xs)

    print(f"notes a bar by track {listed(s['notes_per_bar_by_track'])} (data "
          f"{listed(d['notes_per_bar_by_track'])}); in the scale {s['in_scale_share']:.3f} "
          f"({d['in_scale_share']:.3f}); a silent track {s['silent_track_share']:.3f} "
          f"({d['silent_track_share']:.3f}); melody on the chord "
          f"{h['samples']['melody_chord_share']:.3f} ({h['data']['melody_chord_share']:.3f}); "
          f"nearest training window {r['novelty']['samples_overlap_median']:.3f} "
          f"({r['novelty']['test_overlap_median']:.3f}), copies {r['novelty']['copies']}")


if __name__ == "__main__":
    main()
