"""The VAE: encoder, decoder and label embedding, with the generation API on tensors.

Tensors in, tensors out: windows are float (B, T, D) in {0, 1}, latents (B, Z).
``layout`` is an opaque object kept with the model and its checkpoint: the
library stores a `midivae.layout.RollLayout` there so that `midivae.generate`
can turn outputs back into piano rolls. This module never looks inside it.
"""

from __future__ import annotations

import math
from typing import Any, NamedTuple

import torch
from torch import nn

from midivae.losses import LossTerms, elbo_loss
from midivae.models.config import ModelConfig
from midivae.models.encoder import build_encoder, reparameterize
from midivae.models.decoder import build_decoder
# The decoders register themselves with `build_decoder` when their modules load.
from midivae.models.flat import FlatDecoder  # noqa: F401
from midivae.models.hierarchical import HierarchicalDecoder  # noqa: F401
from midivae.models.recurrent import RecurrentDecoder  # noqa: F401


class VAEOutput(NamedTuple):
    logits: torch.Tensor  # (B, T, L) teacher-forced logits of the decoder's output head
    mu: torch.Tensor  # (B, Z) posterior mean
    logvar: torch.Tensor  # (B, Z) posterior log-variance
    z: torch.Tensor  # (B, Z) the latent the decoder read


def lerp(a: torch.Tensor, b: torch.Tensor, t: torch.Tensor) -> torch.Tensor:
    """Linear interpolation: (Z,), (Z,), (S,) -> (S, Z)."""
    t = t[:, None]
    return (1 - t) * a + t * b


def slerp(a: torch.Tensor, b: torch.Tensor, t: torch.Tensor) -> torch.Tensor:
    """Spherical interpolation (Shoemake 1985; White 2016 for latent spaces).

    slerp(a, b; t) = sin((1 - t) w) / sin(w) * a + sin(t w) / sin(w) * b, where
    w is the angle between a and b; falls back to `lerp` when they are parallel.
    Shapes (Z,), (Z,), (S,) -> (S, Z).
    """
    cos = torch.dot(a, b) / (a.norm() * b.norm()).clamp_min(1e-12)
    omega = torch.arccos(cos.clamp(-1.0, 1.0))
    if omega.abs() < 1e-4 or (torch.pi - omega).abs() < 1e-4:
        return lerp(a, b, t)
    t = t[:, None]
    return (torch.sin((1 - t) * omega) * a + torch.sin(t * omega) * b) / torch.sin(omega)


def interpolate_latents(a: torch.Tensor, b: torch.Tensor, n: int,
                        method: str = "slerp") -> torch.Tensor:
    """``n`` latents from a to b inclusive (points of the path): (Z,), (Z,) -> (n, Z)."""
    if n < 2:
        raise ValueError(f"n must be >= 2 (the path's two ends at least), got {n!r}")
    if method not in ("slerp", "lerp"):
        raise ValueError(f"method must be 'slerp' or 'lerp', got {method!r}")
    t = torch.linspace(0.0, 1.0, n, device=a.device, dtype=a.dtype)
    out = (slerp if method == "slerp" else lerp)(a, b, t)
    out[0], out[-1] = a, b  # exact endpoints, free of rounding in the trigonometry
    return out


class LatentPrior(nn.Module):
    """The distribution `VAE.sample` draws z from.

    N(0, I), the prior the ELBO is trained against, until `fit` sets it to the
    Gaussian with the mean and covariance of the aggregate posterior q(z) =
    1/N sum_n q(z | x_n) over training windows: Cov(mu) + E[diag(exp(logvar))].
    A model whose KL sits far above zero (a code per bar, hundreds of nats)
    leaves most of N(0, I) where no window's code lies, and the bars' and
    tracks' codes of one window are correlated (one key, one texture), which
    N(0, I) draws independently; the fitted Gaussian keeps those correlations.
    This is ex-post density estimation (Ghosh et al. 2020, "From Variational to
    Deterministic Autoencoders", sec. 4) with one Gaussian. With a ``rank``,
    only the covariance's ``rank`` principal directions vary and z keeps the
    mean along the others (a low-rank Gaussian, probabilistic PCA without its
    noise term; Tipping & Bishop 1999). The ELBO, the IWAE bound and the KL
    stay against N(0, I).

    With ``groups`` (one whole number per window, such as the key each window
    is in), `fit` makes it a mixture: one Gaussian per group of at least
    ``min_group`` windows, weighted by the group's share of them. A key is a
    discrete factor of the music, which one Gaussian can only blur: its draws
    between two keys' codes decode to notes of neither.
    """

    # the mixture's buffers: (C,) weights, (C, Z) means, (C, Z, R) low-rank scales; empty
    # (C = 0) for one Gaussian; and the forms (see `fit_forms`): (F, n_bars) bars repeated,
    # (F,) their weights; all sized by the checkpoint they are loaded from
    MIXTURE = ("weights", "means", "scales", "forms", "form_weights")

    def __init__(self, latent: int):
        super().__init__()
        self.register_buffer("mean", torch.zeros(latent))
        self.register_buffer("scale", torch.eye(latent))  # A: the covariance is A A^T
        self.register_buffer("weights", torch.zeros(0))
        self.register_buffer("means", torch.zeros(0, latent))
        self.register_buffer("scales", torch.zeros(0, latent, 0))
        self.register_buffer("forms", torch.zeros(0, 0))
        self.register_buffer("form_weights", torch.zeros(0))

    @torch.no_grad()
    def fit_forms(self, forms: torch.Tensor) -> None:
        """Learn how often the training windows repeat their bars: ``forms`` (N, n_bars), for
        each window and bar the earlier bar it repeats note for note (-1: none). `draw_forms`
        then draws these forms in proportion; an empty (0, n_bars) clears them."""
        if forms.ndim != 2 or bool(((forms < -1) | (forms >= torch.arange(forms.shape[1]))
                                    ).any()):
            raise ValueError("forms must be (N, n_bars), each bar -1 or an earlier bar")
        unique, counts = torch.unique(forms.long(), dim=0, return_counts=True)
        device = self.mean.device
        self.forms = unique.float().to(device)  # stored as float, as every buffer here
        self.form_weights = (counts / counts.sum()).float().to(device)

    def draw_forms(self, n: int, generator: torch.Generator | None = None
                   ) -> torch.Tensor | None:
        """n forms (n, n_bars) long, drawn as the training windows have them; None when none
        were fitted (the bars then repeat only as their codes make them)."""
        if not len(self.form_weights):
            return None
        device = generator.device if generator is not None else self.mean.device
        pick = torch.multinomial(self.form_weights.to(device), n, replacement=True,
                                 generator=generator).to(self.mean.device)
        return self.forms[pick].long()

    @property
    def fitted(self) -> bool:
        return bool(self.weights.numel()) or bool(self.mean.any()) or not torch.equal(
            self.scale, torch.eye(len(self.mean), device=self.mean.device))

    @property
    def components(self) -> int:
        """Gaussians in the mixture; 0 for one Gaussian (or N(0, I))."""
        return len(self.weights)

    @torch.no_grad()
    def fit(self, mu: torch.Tensor, logvar: torch.Tensor, rank: int | None = None,
            groups: torch.Tensor | None = None, min_group: int = 20) -> None:
        """Set to the aggregate posterior's mean and covariance (its ``rank`` principal
        directions only, when given), from the posterior means and log-variances of N >= 2
        windows: (N, Z) each; with ``groups`` (N,), to the mixture of each group's."""
        z = len(self.mean)
        if mu.ndim != 2 or mu.shape != logvar.shape or mu.shape[1] != z:
            raise ValueError(f"expected mu and logvar of shape (N, {z}), got "
                             f"{tuple(mu.shape)} and {tuple(logvar.shape)}")
        if mu.shape[0] < 2:
            raise ValueError(f"fitting the prior needs at least 2 windows, got {mu.shape[0]}")
        if rank is not None and not 1 <= rank <= z:
            raise ValueError(f"rank must be in 1..{z}, got {rank!r}")
        mean, scale = _gaussian(mu, logvar, rank)  # with groups too: the whole's Gaussian
        self.mean.copy_(mean)
        self.scale.copy_(scale)
        kept: dict[int, int] = {}  # group: windows
        if groups is not None:
            if groups.shape != mu.shape[:1]:
                raise ValueError(f"expected one group per window, ({mu.shape[0]},), got "
                                 f"{tuple(groups.shape)}")
            groups = groups.to(mu.device)
            found = dict(zip(*(t.tolist() for t in torch.unique(groups, return_counts=True))))
            kept = {g: c for g, c in found.items() if c >= max(2, min_group)}
            if not kept:
                raise ValueError(f"no group holds {max(2, min_group)} windows: {found}")
        z, r = len(self.mean), len(self.mean) if rank is None else rank
        weights, means, scales = torch.zeros(0), torch.zeros(0, z), torch.zeros(0, z, 0)
        if kept:
            parts = [_gaussian(mu[groups == g], logvar[groups == g], rank) for g in kept]
            weights = torch.tensor(list(kept.values()), dtype=torch.float32)
            weights, means = weights / weights.sum(), torch.stack([m for m, _ in parts])
            scales = torch.stack([a[:, z - r:] for _, a in parts])  # eigh: largest last
        device = self.mean.device
        self.weights, self.means, self.scales = (t.to(device) for t in (weights, means, scales))

    def draw(self, n: int, generator: torch.Generator | None = None) -> torch.Tensor:
        """n latents (n, Z)."""
        return self.walk(n, 1, 0.0, generator)[:, 0]

    def walk(self, n: int, m: int, amount: float,
             generator: torch.Generator | None = None) -> torch.Tensor:
        """n draws, each followed by m - 1 latents that move from the one before: (n, m, Z).

        The standard normal noise e behind a draw (z = mean + A e) moves as
        sqrt(1 - a^2) e + a e', e' ~ N(0, I), with ``amount`` a in 0..1, so that every
        latent of the walk is itself a draw of this prior; in a mixture the walk keeps
        its component (its key). Long clips are such walks, one latent per window.
        """
        device = generator.device if generator is not None else self.mean.device
        z = len(self.mean)
        eps = [torch.randn(n, z, generator=generator, device=device)]
        pick = (torch.multinomial(self.weights.to(device), n, replacement=True,
                                  generator=generator) if self.components else None)
        for _ in range(m - 1):
            e = torch.randn(n, z, generator=generator, device=device)
            eps.append(math.sqrt(1.0 - amount**2) * eps[-1] + amount * e)
        eps = torch.stack(eps, dim=1).to(self.mean.device)  # (n, m, Z)
        if not self.fitted:
            return eps
        if pick is not None:
            pick = pick.to(self.mean.device)
            r = self.scales.shape[2]
            return (self.means[pick][:, None]
                    + torch.einsum("nzr,nmr->nmz", self.scales[pick], eps[..., :r]))
        return self.mean + eps @ self.scale.T

    def _load_from_state_dict(self, state_dict, prefix, *args, **kwargs):
        for name in self.MIXTURE:  # sized by the checkpoint's mixture
            if prefix + name in state_dict:
                self._buffers[name] = torch.zeros(state_dict[prefix + name].shape,
                                                  device=self.mean.device)
        super()._load_from_state_dict(state_dict, prefix, *args, **kwargs)


def _gaussian(mu: torch.Tensor, logvar: torch.Tensor, rank: int | None
              ) -> tuple[torch.Tensor, torch.Tensor]:
    """(mean (Z,), A (Z, Z)) of the aggregate posterior of windows' (mu, logvar), (N, Z)
    each: the covariance A A^T is Cov(mu) + E[diag(exp(logvar))], with only its ``rank``
    largest principal directions kept when given; A's columns ascend by variance."""
    z = mu.shape[1]
    mu, logvar = mu.double(), logvar.double()
    cov = torch.cov(mu.T, correction=0) + torch.diag(logvar.exp().mean(0))
    values, vectors = torch.linalg.eigh(cov)  # ascending
    values = values.clamp_min(0.0)
    if rank is not None:
        values[:z - rank] = 0.0  # all but the rank largest
    return mu.mean(0).float(), (vectors * values.sqrt()).float()


def _generator(seed: int | None, device: torch.device) -> torch.Generator | None:
    return None if seed is None else torch.Generator(device).manual_seed(int(seed))


class VAE(nn.Module):
    """A VAE over Bernoulli piano-roll windows.

    Parameters
    ----------
    config : ModelConfig
    layout : object, optional
        The data's layout, kept as given (the library passes a `RollLayout`;
        models never import the MIDI layer, so it is typed ``Any`` here).
    """

    def __init__(self, config: ModelConfig, layout: Any = None):
        super().__init__()
        self.config = config
        self.layout = layout  # opaque here: a midivae.layout.RollLayout, or None for a bare model
        self.label_embedding = (nn.Embedding(config.n_labels, config.label_dim)
                                if config.n_labels else None)
        self.encoder = build_encoder(config)
        self.decoder = build_decoder(config)
        self.prior = LatentPrior(config.latent)  # what `sample` draws z from

    @property
    def device(self) -> torch.device:
        return next(self.parameters()).device

    # -- pieces --------------------------------------------------------------
    def _check(self, x: torch.Tensor) -> torch.Tensor:
        cfg = self.config
        if x.ndim != 3 or tuple(x.shape[1:]) != (cfg.n_steps, cfg.cells):
            raise ValueError(f"expected windows of shape (B, {cfg.n_steps}, {cfg.cells}), "
                             f"got {tuple(x.shape)}")
        return x.to(self.device, torch.float32)

    def _condition(self, label, batch: int) -> torch.Tensor | None:
        """Label embedding (B, C), or None for an unconditioned model (labels ignored)."""
        if self.label_embedding is None:
            return None
        if label is None:
            raise ValueError(f"this model is conditioned on {self.config.n_labels} labels: "
                             "pass label=")
        label = torch.as_tensor(label, device=self.device).long()
        label = label.expand(batch) if label.ndim == 0 else label
        if label.shape != (batch,) or label.min() < 0 or label.max() >= self.config.n_labels:
            raise ValueError(f"label must be an int or shape ({batch},) in "
                             f"0..{self.config.n_labels - 1}, got {label.tolist()}")
        return self.label_embedding(label)

    @staticmethod
    def _code(z: torch.Tensor, cond: torch.Tensor | None) -> torch.Tensor:
        return z if cond is None else torch.cat([z, cond], dim=-1)  # (B, Z + C)

    def posterior(self, x: torch.Tensor, label=None) -> tuple[torch.Tensor, torch.Tensor]:
        """q(z|x): mu and logvar, each (B, Z), of windows x (B, T, D)."""
        x = self._check(x)
        return self.encoder(x, self._condition(label, x.shape[0]))

    def log_likelihood(self, x: torch.Tensor, z: torch.Tensor, label=None, *,
                       steps: torch.Tensor | None = None) -> torch.Tensor:
        """Teacher-forced log p(x | z) in nats, summed over cells: (B, T, D), (B, Z) -> (B,).

        ``steps`` (B,): count only each window's first steps (a padded window).
        """
        x = self._check(x)
        return self.decoder.log_likelihood(x, self._code(z, self._condition(label, x.shape[0])),
                                           steps)

    def forward(self, x: torch.Tensor, label=None, *, sample_latent: bool | None = None,
                sampling_prob: float = 0.0, input_dropout: float = 0.0,
                generator: torch.Generator | None = None) -> VAEOutput:
        """Encode, pick z, decode teacher-forced.

        z is reparameterised, mu + exp(logvar / 2) * eps (Kingma & Welling
        2014), in training mode and the posterior mean in evaluation mode,
        unless ``sample_latent`` says otherwise.
        """
        x = self._check(x)
        cond = self._condition(label, x.shape[0])
        mu, logvar = self.encoder(x, cond)
        z = mu
        if self.training if sample_latent is None else sample_latent:
            z = reparameterize(mu, logvar, generator)
        logits = self.decoder.logits(x, self._code(z, cond), sampling_prob=sampling_prob,
                                     input_dropout=input_dropout, generator=generator)
        return VAEOutput(logits, mu, logvar, z)

    def loss(self, x: torch.Tensor, label=None, *, beta: float = 1.0, free_bits: float = 0.0,
             per_dimension: bool = False, sampling_prob: float = 0.0,
             input_dropout: float = 0.0) -> LossTerms:
        """Negative ELBO of a batch; see `midivae.losses.elbo_loss`."""
        out = self(x, label, sampling_prob=sampling_prob, input_dropout=input_dropout)
        return elbo_loss(out.logits, self._check(x), out.mu, out.logvar, beta=beta,
                         free_bits=free_bits, per_dimension=per_dimension, nll=self.decoder.nll)

    # -- generation ----------------------------------------------------------
    @torch.no_grad()
    def encode(self, x: torch.Tensor, label=None, *, sample: bool = False,
               seed: int | None = None) -> torch.Tensor:
        """Latents (B, Z) of windows (B, T, D): the posterior mean, or a draw with ``sample``."""
        mu, logvar = self.posterior(x, label)
        if not sample:
            return mu
        return reparameterize(mu, logvar, _generator(seed, mu.device))

    @torch.no_grad()
    def decode(self, z: torch.Tensor, label=None, *, temperature: float = 0.0,
               seed: int | None = None) -> torch.Tensor:
        """Windows (B, T, D) in {0, 1} from latents (B, Z); temperature 0: most likely cells."""
        z = z.to(self.device, torch.float32)
        if z.ndim != 2 or z.shape[1] != self.config.latent:
            raise ValueError(f"expected latents of shape (B, {self.config.latent}), "
                             f"got {tuple(z.shape)}")
        code = self._code(z, self._condition(label, z.shape[0]))
        return self.decoder.sample(code, temperature=temperature,
                                   generator=_generator(seed, z.device))

    @torch.no_grad()
    def sample(self, n: int, *, temperature: float = 1.0, seed: int | None = None,
               label=None) -> torch.Tensor:
        """n windows (n, T, D) from the prior: z drawn from `prior` (N(0, I) unless fitted),
        then decoded at a temperature; with the prior's forms (`LatentPrior.fit_forms`), each
        window repeats bars as a drawn training window's form does."""
        g = _generator(seed, self.device)
        z = self.prior.draw(n, g)
        code = self._code(z, self._condition(label, n))
        repeats = self.prior.draw_forms(n, g) if self.config.decoder == "hierarchical" else None
        if repeats is None:  # only a decoder that draws bar by bar can repeat a bar
            return self.decoder.sample(code, temperature=temperature, generator=g)
        return self.decoder.sample(code, temperature=temperature, generator=g, repeats=repeats)

    def reconstruct(self, x: torch.Tensor, label=None, *, temperature: float = 0.0,
                    seed: int | None = None) -> torch.Tensor:
        """decode(encode(x)): (B, T, D) -> (B, T, D), free-running from the posterior mean."""
        return self.decode(self.encode(x, label), label, temperature=temperature, seed=seed)

    def interpolate(self, a: torch.Tensor, b: torch.Tensor, n: int = 5, *,
                    method: str = "slerp", label=None, temperature: float = 0.0,
                    seed: int | None = None) -> torch.Tensor:
        """``n`` windows along the path between the latents of a and b (each (T, D)):
        (n, T, D)."""
        za, zb = self.encode(torch.stack([a, b]), label)  # (2, Z)
        z = interpolate_latents(za, zb, n, method)  # (n, Z)
        return self.decode(z, label, temperature=temperature, seed=seed)

    def attribute_vector(self, x_with: torch.Tensor, x_without: torch.Tensor, *,
                         label_with=None, label_without=None) -> torch.Tensor:
        """Mean latent of windows with a property minus those without (MusicVAE sec. 5.4): (Z,)."""
        return (self.encode(x_with, label_with).mean(0)
                - self.encode(x_without, label_without).mean(0))

    def apply_attribute(self, x: torch.Tensor, vector: torch.Tensor, strength: float = 1.0, *,
                        label=None, temperature: float = 0.0,
                        seed: int | None = None) -> torch.Tensor:
        """decode(encode(x) + strength * vector): (B, T, D) -> (B, T, D)."""
        z = self.encode(x, label) + strength * vector.to(self.device)
        return self.decode(z, label, temperature=temperature, seed=seed)
