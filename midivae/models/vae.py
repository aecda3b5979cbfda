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
import torch.nn.functional as F
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

    def conditional(self, z: torch.Tensor, known: torch.Tensor, n: int,
                    generator: torch.Generator | None = None,
                    noise: float = 0.1) -> torch.Tensor:
        """n draws for each row of z (B, Z) that keep its ``known`` (B, Z) bool dimensions and
        draw the others from the prior given them: (B, n, Z).

        Each Gaussian is z = m + A e, e ~ N(0, I_R) (N(0, I) unfitted: m = 0, A = I); the
        known part is read as m_o + A_o e plus N(0, ``noise`` I), since a window's code need
        not lie in a low-rank prior's span. Then e | z_o is N(mu_e, P^-1) with
        P = I + A_o^T A_o / noise and mu_e = P^-1 A_o^T (z_o - m_o) / noise; in a mixture
        the component is drawn first by its weight times the likelihood of z_o.
        """
        if z.ndim != 2 or known.shape != z.shape or z.shape[1] != len(self.mean):
            raise ValueError(f"expected z and known of shape (B, {len(self.mean)}), got "
                             f"{tuple(z.shape)} and {tuple(known.shape)}")
        device, dim = self.mean.device, len(self.mean)
        if self.components:
            means, scales, log_w = self.means, self.scales, self.weights.log()
        elif self.fitted:
            means, scales, log_w = self.mean[None], self.scale[None], self.mean.new_zeros(1)
        else:
            means = self.mean.new_zeros(1, dim)
            scales, log_w = torch.eye(dim, device=device)[None], self.mean.new_zeros(1)
        g_device = generator.device if generator is not None else device
        out = []
        for row, seen in zip(z.to(device).double(), known.to(device)):
            a_o = scales[:, seen].double()  # (C, O, R)
            d = (row[seen] - means[:, seen].double())  # (C, O)
            r = a_o.shape[2]
            prec = torch.eye(r, dtype=torch.float64, device=device) + \
                a_o.transpose(1, 2) @ a_o / noise  # (C, R, R)
            chol = torch.linalg.cholesky(prec)
            b = (a_o.transpose(1, 2) @ d[..., None]) / noise  # (C, R, 1)
            mu_e = torch.cholesky_solve(b, chol)[..., 0]  # (C, R)
            # log N(d; 0, noise I + A_o A_o^T) by Woodbury and the determinant lemma
            quad = (d * d).sum(1) / noise - (b[..., 0] * mu_e).sum(1)
            logdet = 2 * chol.diagonal(dim1=1, dim2=2).log().sum(1) + seen.sum() * math.log(noise)
            post = log_w.double() - 0.5 * (quad + logdet)
            pick = torch.multinomial(torch.softmax(post, 0).float().to(g_device), n,
                                     replacement=True, generator=generator).to(device)
            eps = torch.randn(n, r, generator=generator, device=g_device).to(device).double()
            # e = mu_e + L^-T eps has covariance (L L^T)^-1 = P^-1
            e = mu_e[pick] + torch.linalg.solve_triangular(
                chol[pick].transpose(1, 2), eps[..., None], upper=True)[..., 0]
            draw = means[pick].double() + (scales[pick].double() @ e[..., None])[..., 0]
            out.append(torch.where(seen, row, draw).float())  # (n, Z)
        return torch.stack(out)

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


def _per_cell(mask: torch.Tensor, cfg: ModelConfig) -> torch.Tensor:
    """A mask of bars and tracks (B, n_bars, K) as one of cells (B, T, D)."""
    steps = mask.repeat_interleave(cfg.steps_per_bar, 1)  # (B, T, K)
    return steps.repeat_interleave(cfg.cells // cfg.n_tracks, 2)


def infill_masks(n: int, cfg: ModelConfig, share: float,
                 generator: torch.Generator | None = None,
                 device: torch.device | str = "cpu") -> torch.Tensor:
    """Given parts for infill training: (n, n_bars, K) bool, about ``share`` of the windows
    with some bars and tracks given, the others with none.

    Each infilled window has one of four kinds of mask, equally often: given tracks (each
    kept with probability 1/2, at least one and not all; a melody to harmonise); a gap of
    1 to n_bars / 2 bars between given ones (to fill in); given first bars (to continue);
    and given bars and tracks at random, each with probability 1/2. With one track, the
    first kind is the last.
    """
    bars, k = cfg.n_bars, cfg.n_tracks
    r = lambda *shape: torch.rand(*shape, generator=generator)  # noqa: E731
    mask = torch.zeros(n, bars, k, dtype=torch.bool)
    kind = torch.randint(0, 4, (n,), generator=generator)
    kind = torch.where(r(n) < share, kind, -1)  # -1: nothing given
    tracks = r(n, k) < 0.5
    if k > 1:  # at least one track kept and one left out
        out = torch.randint(0, k, (n,), generator=generator)
        tracks[torch.arange(n), (out + torch.randint(1, k, (n,), generator=generator)) % k] = True
        tracks[torch.arange(n), out] = False
    length = torch.randint(1, max(1, bars // 2) + 1, (n,), generator=generator)
    start = (r(n) * (bars - length + 1)).long()
    index = torch.arange(bars)
    gap = (index >= start[:, None]) & (index < (start + length)[:, None])  # (n, bars)
    first = (index < torch.randint(1, max(2, bars), (n,), generator=generator)[:, None])
    mask = torch.where((kind == 0)[:, None, None] & torch.tensor(k > 1), tracks[:, None], mask)
    mask = torch.where((kind == 1)[:, None, None], ~gap[..., None], mask)
    mask = torch.where((kind == 2)[:, None, None], first[..., None], mask)
    mask = torch.where(((kind == 3) | (kind == 0) & torch.tensor(k == 1))[:, None, None],
                       r(n, bars, k) < 0.5, mask)
    return mask.to(device)


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
                generator: torch.Generator | None = None,
                given: torch.Tensor | None = None) -> VAEOutput:
        """Encode, pick z, decode teacher-forced.

        z is reparameterised, mu + exp(logvar / 2) * eps (Kingma & Welling
        2014), in training mode and the posterior mean in evaluation mode,
        unless ``sample_latent`` says otherwise.

        ``given`` (B, n_bars, K) bool, for a model with given_input: a window with any part
        given is infilled: the encoder reads its given cells only, the codes of the other
        parts are zero, and the decoder reads the given cells (see `complete`, which decodes
        the same way). A window with nothing given is an ordinary one.
        """
        x = self._check(x)
        cond = self._condition(label, x.shape[0])
        seen, known, pair = x, None, None
        if given is not None:
            if not self.config.given_input:
                raise ValueError("given cells need a model with given_input")
            seen, known, pair = self._infill_inputs(x, given)
        mu, logvar = self.encoder(seen, cond)
        z = mu
        if self.training if sample_latent is None else sample_latent:
            z = reparameterize(mu, logvar, generator)
        if known is not None:
            z = z * known
        extra = {} if pair is None else {"given": pair}
        logits = self.decoder.logits(x, self._code(z, cond), sampling_prob=sampling_prob,
                                     input_dropout=input_dropout, generator=generator, **extra)
        return VAEOutput(logits, mu, logvar, z)

    def _infill_inputs(self, x: torch.Tensor, given: torch.Tensor):
        """What an infilled window's encoder and decoder read: the cells the encoder sees
        (B, T, D), the latent units kept (B, Z) float (all for a window with nothing given,
        else the given parts' codes), and the decoder's (cells, mask)."""
        cfg = self.config
        any_given = given.flatten(1).any(1)  # (B,)
        cells = _per_cell(given, cfg)  # (B, T, D)
        seen = torch.where(cells | ~any_given[:, None, None], x, 0.0)
        known = self.decoder.known_codes(given)
        known = F.pad(known, (0, cfg.latent - known.shape[1])) | ~any_given[:, None]
        return seen, known.to(x.dtype), (x, given)

    def loss(self, x: torch.Tensor, label=None, *, beta: float = 1.0, free_bits: float = 0.0,
             per_dimension: bool = False, sampling_prob: float = 0.0,
             input_dropout: float = 0.0, infill: float = 0.0,
             generator: torch.Generator | None = None) -> LossTerms:
        """Negative ELBO of a batch; see `midivae.losses.elbo_loss`. ``infill``: the share of
        windows trained as infilling (`infill_masks`; a model with given_input)."""
        given = (infill_masks(x.shape[0], self.config, infill, generator, device=self.device)
                 if infill > 0 else None)
        out = self(x, label, sampling_prob=sampling_prob, input_dropout=input_dropout,
                   given=given)
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

    @torch.no_grad()
    def complete(self, x: torch.Tensor, mask: torch.Tensor, label=None, *,
                 temperature: float = 0.5, seed: int | None = None, particles: int = 16,
                 rounds: int = 2) -> torch.Tensor:
        """Windows that keep the given parts of x and draw the rest to fit them: (B, T, D).

        ``mask`` (B, n_bars, K) bool sets the given bars and tracks: their cells are x's,
        unchanged. Each of ``rounds``: the window as it stands (first with silence where
        nothing is given) is encoded; the codes of the given parts are kept and the others
        drawn from the prior given them (`LatentPrior.conditional`), ``particles`` draws a
        window; then a decoder that `completes` draws the window bar by bar, weighting
        its draws by the likelihood of the given cells (`HierarchicalDecoder.sample`),
        and any other decoder draws whole windows, of which the one under which the window
        with its given cells is most likely is kept.
        """
        x = self._check(x)
        cfg = self.config
        b, k = x.shape[0], cfg.n_tracks
        mask = torch.as_tensor(mask, device=self.device)
        if mask.shape != (b, cfg.n_bars, k) or mask.dtype != torch.bool:
            raise ValueError(f"expected a bool mask of shape ({b}, {cfg.n_bars}, {k}), "
                             f"got {mask.dtype} {tuple(mask.shape)}")
        if particles < 1 or rounds < 1:
            raise ValueError(f"particles and rounds must be >= 1, got {particles}, {rounds}")
        per_cell = _per_cell(mask, cfg)  # (B, T, D)
        g = _generator(seed, self.device)
        fill = torch.where(per_cell, x, 0.0)
        rows = lambda t: t.repeat_interleave(particles, 0)  # noqa: E731  (B, ...) -> (B * N, ...)
        cond = self._condition(label, b)
        cond = None if cond is None else rows(cond)
        if self.config.given_input:  # decoded as trained: given codes, given cells read
            seen, known, _ = self._infill_inputs(x, mask)
            mu, _ = self.posterior(seen, label)
            code = self._code(rows(mu * known), cond)
            fill = self.decoder.sample(code, temperature=temperature, generator=g,
                                       given=(rows(x), rows(mask)), particles=particles)
            return torch.where(per_cell, x, fill)
        for _ in range(rounds):
            mu, _ = self.posterior(fill, label)
            known = self.decoder.known_codes(mask)
            known = torch.zeros_like(mu, dtype=torch.bool) if known is None else \
                F.pad(known, (0, cfg.latent - known.shape[1]))
            z = self.prior.conditional(mu, known, particles, g).flatten(0, 1)  # (B * N, Z)
            code = self._code(z, cond)
            if self.decoder.completes:
                fill = self.decoder.sample(code, temperature=temperature, generator=g,
                                           given=(rows(x), rows(mask)), particles=particles)
            else:
                drawn = torch.where(rows(per_cell),
                                    rows(x), self.decoder.sample(code, temperature=temperature,
                                                                 generator=g))
                best = self.decoder.log_likelihood(drawn, code).view(b, particles).argmax(1)
                fill = drawn.view(b, particles, *x.shape[1:])[torch.arange(b), best]
            fill = torch.where(per_cell, x, fill)
        return fill

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
