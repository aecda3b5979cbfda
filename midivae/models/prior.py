"""The distribution `VAE.sample` draws latents from: N(0, I) until fitted to the aggregate
posterior of training windows (one Gaussian, or one per key), with the forms of the bars."""

from __future__ import annotations

import math
from typing import NamedTuple

import torch
from torch import nn


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
    MIXTURE = ("weights", "means", "scales", "forms", "form_weights", "noises")

    def __init__(self, latent: int):
        super().__init__()
        self.register_buffer("mean", torch.zeros(latent))
        scale = torch.empty(latent, latent)  # A: the covariance is A A^T, I until fitted
        # (torch.eye on the meta device, the checkpoint's shape check, imports torch._dynamo)
        self.register_buffer("scale", scale if scale.is_meta else torch.eye(latent))
        self.register_buffer("weights", torch.zeros(0))
        self.register_buffer("means", torch.zeros(0, latent))
        self.register_buffer("scales", torch.zeros(0, latent, 0))
        self.register_buffer("forms", torch.zeros(0, 0))
        self.register_buffer("form_weights", torch.zeros(0))
        # with a rank and ``noise``: (C,) isotropic, each component's spread along the
        # directions its rank leaves out (probabilistic PCA's noise), or (C, Z) diagonal,
        # its spread in each unit of z (`spreads`); empty: they keep the mean
        self.register_buffer("noises", torch.zeros(0))

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
            groups: torch.Tensor | None = None, min_group: int = 20,
            noise: bool | str | None = None) -> None:
        """Set to the aggregate posterior's mean and covariance (its ``rank`` principal
        directions only, when given), from the posterior means and log-variances of N >= 2
        windows: (N, Z) each; with ``groups`` (N,), to the mixture of each group's.

        A key's low-rank Gaussian draws codes near its mean, which decode to sparse music;
        ``noise`` (with a rank) gives back what the rank leaves out, as `NOISES` says:
        ``"isotropic"`` (or True): every direction gets the mean variance left out
        (probabilistic PCA, Tipping & Bishop 1999); ``"diagonal"``: each unit of z gets
        the variance the kept directions leave it (the covariance's diagonal is the data's;
        factor analysis's form, with PCA's directions)."""
        noise = _noise_kind(noise)
        z = len(self.mean)
        if mu.ndim != 2 or mu.shape != logvar.shape or mu.shape[1] != z:
            raise ValueError(f"expected mu and logvar of shape (N, {z}), got "
                             f"{tuple(mu.shape)} and {tuple(logvar.shape)}")
        if mu.shape[0] < 2:
            raise ValueError(f"fitting the prior needs at least 2 windows, got {mu.shape[0]}")
        if rank is not None and not 1 <= rank <= z:
            raise ValueError(f"rank must be in 1..{z}, got {rank!r}")
        whole = _gaussian(mu, logvar, rank, noise)  # with groups: the whole's
        self.mean.copy_(whole.mean)
        self.scale.copy_(whole.root())
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
        noises = torch.zeros(0)
        if kept:
            parts = [_gaussian(mu[groups == g], logvar[groups == g], rank, noise)
                     for g in kept]
            weights = torch.tensor(list(kept.values()), dtype=torch.float32)
            weights = weights / weights.sum()
            means = torch.stack([p.mean for p in parts])
            scales = torch.stack([p.kept for p in parts])  # (C, Z, R), largest last
            if noise == "isotropic" and r < z:  # one sigma a component
                noises = torch.tensor([p.sigma for p in parts], dtype=torch.float32)
            elif noise == "diagonal" and r < z:  # one deviation a unit and component
                noises = torch.stack([p.spread for p in parts])  # (C, Z)
        device = self.mean.device
        self.weights, self.means, self.scales, self.noises = (
            t.to(device) for t in (weights, means, scales, noises))

    def draw(self, n: int, generator: torch.Generator | None = None,
             components: torch.Tensor | None = None) -> torch.Tensor:
        """n latents (n, Z); in a mixture from ``components`` (n,) when given (`walk`)."""
        return self.walk(n, 1, 0.0, generator, components)[:, 0]

    def draw_components(self, n: int, generator: torch.Generator | None = None
                        ) -> torch.Tensor | None:
        """n of the mixture's components (its keys) drawn by their weights, (n,) long; None
        for one Gaussian."""
        if not self.components:
            return None
        device = generator.device if generator is not None else self.mean.device
        return torch.multinomial(self.weights.to(device), n, replacement=True,
                                 generator=generator)

    def walk(self, n: int, m: int, amount: float,
             generator: torch.Generator | None = None,
             components: torch.Tensor | None = None) -> torch.Tensor:
        """n draws, each followed by m - 1 latents that move from the one before: (n, m, Z).

        The standard normal noise e behind a draw (z = mean + A e) moves as
        sqrt(1 - a^2) e + a e', e' ~ N(0, I), with ``amount`` a in 0..1, so that every
        latent of the walk is itself a draw of this prior; in a mixture the walk keeps
        its component (its key): ``components`` (n,), or drawn (`draw_components`).
        Long clips are such walks, one latent per window.
        """
        device = generator.device if generator is not None else self.mean.device
        z = len(self.mean)
        width = 2 * z if len(self.noises) else z  # and Z more for the noise, when it has one
        eps = [torch.randn(n, width, generator=generator, device=device)]
        if not self.components:
            pick = None
        elif components is None:
            pick = self.draw_components(n, generator)
        elif components.shape == (n,):
            pick = components
        else:
            raise ValueError(f"expected ({n},) components, got {tuple(components.shape)}")
        for _ in range(m - 1):
            e = torch.randn(n, width, generator=generator, device=device)
            eps.append(math.sqrt(1.0 - amount**2) * eps[-1] + amount * e)
        eps = torch.stack(eps, dim=1).to(self.mean.device)  # (n, m, width)
        if not self.fitted:
            return eps
        if pick is not None:
            pick = pick.to(self.mean.device)
            r = self.scales.shape[2]
            out = (self.means[pick][:, None]
                   + torch.einsum("nzr,nmr->nmz", self.scales[pick], eps[..., :r]))
            if len(self.noises):
                out = out + self.spreads()[pick][:, None] * eps[..., z:]
            return out
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
            if self.components and len(self.noises):  # the spread left out of the rank
                draw = draw + self.spreads()[pick].double() * torch.randn(
                    n, dim, generator=generator, device=g_device).to(device).double()
            out.append(torch.where(seen, row, draw).float())  # (n, Z)
        return torch.stack(out)

    def spreads(self) -> torch.Tensor:
        """Each component's noise: the standard deviation a draw gets in each unit of z
        besides its kept directions, (C, Z); a checkpoint from before "diagonal" noise
        holds one number a component (isotropic), spread over every unit here."""
        if self.noises.ndim == 2:
            return self.noises
        return self.noises[:, None].expand(-1, len(self.mean))

    def _load_from_state_dict(self, state_dict, prefix, *args, **kwargs):
        for name in self.MIXTURE:  # sized by the checkpoint's mixture
            if prefix + name in state_dict:
                self._buffers[name] = torch.zeros(state_dict[prefix + name].shape,
                                                  device=self.mean.device)
        super()._load_from_state_dict(state_dict, prefix, *args, **kwargs)


NOISES = ("isotropic", "diagonal")  # what `LatentPrior.fit` can give back of a rank's loss


def _noise_kind(noise: bool | str | None) -> str | None:
    """None, or one of `NOISES` (True: "isotropic", as before "diagonal" was added)."""
    if noise is None or noise is False:
        return None
    if noise is True:
        return "isotropic"
    if noise not in NOISES:
        raise ValueError(f"noise must be one of {', '.join(NOISES)}, got {noise!r}")
    return noise


class _Gaussian(NamedTuple):
    """One Gaussian of the prior: z = mean + kept e + spread * e', e ~ N(0, I_R) and
    e' ~ N(0, I_Z)."""
    mean: torch.Tensor  # (Z,)
    kept: torch.Tensor  # (Z, R): the R principal directions kept, times their deviation
    spread: torch.Tensor  # (Z,): the noise's deviation in each unit (zeros: none)
    sigma: float  # isotropic noise's deviation (0 otherwise)
    values: torch.Tensor  # (Z,): the covariance's eigenvalues, ascending
    vectors: torch.Tensor  # (Z, Z): its eigenvectors

    def root(self) -> torch.Tensor:
        """A (Z, Z) with A A^T the covariance: principal directions, variance ascending."""
        z, r = self.kept.shape
        if self.spread.any() and not self.sigma:  # diagonal noise: directions of its own
            cov = self.kept.double() @ self.kept.double().T + torch.diag(
                self.spread.double() ** 2)
            values, vectors = torch.linalg.eigh(cov)
            return (vectors * values.clamp_min(0).sqrt()).float()
        values = self.values.clone()  # the kept directions hold their whole variance
        values[:z - r] = self.sigma ** 2  # and the others isotropic noise's, or none
        return (self.vectors * values.sqrt()).float()


def _gaussian(mu: torch.Tensor, logvar: torch.Tensor, rank: int | None,
              noise: str | None = None) -> _Gaussian:
    """The aggregate posterior of windows' (mu, logvar), (N, Z) each, as one Gaussian: its
    covariance is Cov(mu) + E[diag(exp(logvar))], with only its ``rank`` largest principal
    directions kept when given, and what they leave out given back as ``noise`` (see
    `LatentPrior.fit`): "isotropic": sigma^2, the mean variance left out, in every
    direction, the kept ones giving it up (lambda - sigma^2); "diagonal": each unit the
    variance the kept directions leave it."""
    z = mu.shape[1]
    mu, logvar = mu.double(), logvar.double()
    cov = torch.cov(mu.T, correction=0) + torch.diag(logvar.exp().mean(0))
    values, vectors = torch.linalg.eigh(cov)  # ascending
    values = values.clamp_min(0.0)
    r = z if rank is None else rank
    kept = vectors[:, z - r:] * values[z - r:].sqrt()
    spread, sigma = torch.zeros(z, dtype=torch.float64), 0.0
    if noise == "isotropic" and r < z:  # sigma^2 I everywhere: the kept give it up
        sigma = float(values[:z - r].mean().sqrt())
        spread[:] = sigma
        kept = vectors[:, z - r:] * (values[z - r:] - sigma ** 2).clamp_min(0.0).sqrt()
    if noise == "diagonal" and r < z:
        spread = (cov.diagonal() - (kept ** 2).sum(1)).clamp_min(0.0).sqrt()
    return _Gaussian(mu.mean(0).float(), kept.float(), spread.float(), sigma, values, vectors)
