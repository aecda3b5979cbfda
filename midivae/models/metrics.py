"""Evaluation: likelihood bounds, posterior usage, reconstruction accuracy, note F1.

Tensors in, numbers out. ``model`` is a `midivae.models.VAE`; windows are
float (B, T, D) in {0, 1} with D = K * 2 * P (onset channel first per track).
"""

from __future__ import annotations

import math

import torch

from midivae.models.losses import LN2, elbo_loss, gaussian_kl
from midivae.models.heads import split_cells
from midivae.models.encoder import reparameterize

_LOG_2PI = math.log(2 * math.pi)


def _normal_log_prob(z: torch.Tensor, mu: torch.Tensor, logvar: torch.Tensor) -> torch.Tensor:
    """log N(z; mu, diag(exp(logvar))) summed over the last axis: (B, Z) -> (B,)."""
    return -0.5 * (_LOG_2PI + logvar + (z - mu).pow(2) * torch.exp(-logvar)).sum(-1)


@torch.no_grad()
def log_importance_weights(model, x: torch.Tensor, label=None, *, k: int = 64,
                           seed: int | None = None, steps: torch.Tensor | None = None
                           ) -> torch.Tensor:
    """log p(x|z_i) + log p(z_i) - log q(z_i|x) for k draws z_i ~ q(z|x).

    With ``steps`` (B,), x is a batch of padded windows and p(x|z) is that of
    each window's first ``steps[b]`` steps (q may read the padding: any q gives
    a bound).

    Returns
    -------
    Tensor, shape (k, B), nats. Their mean over k is a Monte Carlo ELBO
    estimate; `iwae_bound` takes their log-mean-exp.
    """
    if k < 1:
        raise ValueError(f"k must be >= 1, got {k!r}")
    mu, logvar = model.posterior(x, label)
    g = None if seed is None else torch.Generator(mu.device).manual_seed(int(seed))
    zeros = torch.zeros_like(mu)
    weights = []
    for _ in range(k):
        z = reparameterize(mu, logvar, g)
        log_px = model.log_likelihood(x, z, label, steps=steps)
        weights.append(log_px + _normal_log_prob(z, zeros, zeros)
                       - _normal_log_prob(z, mu, logvar))
    return torch.stack(weights)


def iwae_bound(model, x: torch.Tensor, label=None, *, k: int = 64,
               seed: int | None = None, steps: torch.Tensor | None = None) -> torch.Tensor:
    """The importance-weighted bound on log p(x) (Burda et al. 2016, eq. 8), shape (B,), nats.

    L_k = log (1/k) sum_i p(x, z_i) / q(z_i | x); L_1 is the ELBO estimate,
    L_k rises with k towards log p(x). ``steps``: see `log_importance_weights`.
    """
    w = log_importance_weights(model, x, label, k=k, seed=seed, steps=steps)
    return torch.logsumexp(w, dim=0) - math.log(k)


def kl_per_dimension(mu: torch.Tensor, logvar: torch.Tensor) -> torch.Tensor:
    """KL(q(z|x) || N(0, I)) of each latent dimension, averaged over windows: (B, Z) -> (Z,)."""
    return gaussian_kl(mu, logvar).mean(0)


def active_units(mu: torch.Tensor, threshold: float = 1e-2) -> int:
    """Latent dimensions whose posterior mean varies with x (Burda et al. 2016, sec. 5.2).

    A unit u is active when Cov_x(E_q[u]) > ``threshold``; ``mu`` is (B, Z)
    over many windows.
    """
    return int((mu.var(0, unbiased=False) > threshold).sum())


def step_accuracy(pred: torch.Tensor, target: torch.Tensor) -> float:
    """Fraction of steps whose every cell is right (MusicVAE, Roberts et al. 2018, table 1).

    pred, target : (B, T, D); pred may be probabilities (> 0.5 counts as on).
    """
    if pred.shape != target.shape:
        raise ValueError(f"pred and target shapes differ: {tuple(pred.shape)} "
                         f"vs {tuple(target.shape)}")
    return float(((pred > 0.5) == (target > 0.5)).all(-1).float().mean())


@torch.no_grad()
def reconstruction_accuracy(model, x: torch.Tensor, label=None, *,
                            free_running: bool = False) -> float:
    """`step_accuracy` of the reconstruction of x from its posterior mean.

    Teacher-forced: each step's most likely cells given the true past steps
    (`Decoder.most_likely`: logit > 0, or the argmax class).
    Free-running: the decoder feeds back its own most likely steps (temperature 0).
    """
    if free_running:
        pred = model.reconstruct(x, label, temperature=0.0)
    else:
        x = x.to(model.device)
        pred = model.decoder.most_likely(model(x, label, sample_latent=False).logits, x)
    return step_accuracy(pred, x.to(pred.device))


def onset_counts(pred: torch.Tensor, target: torch.Tensor, n_tracks: int) -> tuple[int, int, int]:
    """(true positives, predicted onsets, true onsets) over every onset cell.

    pred, target : (B, T, D), D = K * 2 * P; ``n_tracks`` is K.
    """
    if pred.shape != target.shape:
        raise ValueError(f"pred and target shapes differ: {tuple(pred.shape)} "
                         f"vs {tuple(target.shape)}")
    p_on = split_cells(pred, n_tracks)[..., 0, :] > 0.5  # (B, T, D) -> (B, T, K, P)
    t_on = split_cells(target, n_tracks)[..., 0, :] > 0.5
    return int((p_on & t_on).sum()), int(p_on.sum()), int(t_on.sum())


def track_onset_counts(pred: torch.Tensor, target: torch.Tensor,
                       n_tracks: int) -> list[tuple[int, int, int]]:
    """`onset_counts` of each track alone: K (true positives, predicted, true) triples."""
    p_on = split_cells(pred, n_tracks)[..., 0, :] > 0.5  # (B, T, K, P)
    t_on = split_cells(target, n_tracks)[..., 0, :] > 0.5
    return [(int((p_on[..., k, :] & t_on[..., k, :]).sum()), int(p_on[..., k, :].sum()),
             int(t_on[..., k, :].sum())) for k in range(n_tracks)]


def track_step_accuracy(pred: torch.Tensor, target: torch.Tensor, n_tracks: int) -> list[float]:
    """`step_accuracy` of each track alone: the share of steps whose every cell of that
    track is right, K floats."""
    right = ((split_cells(pred, n_tracks) > 0.5) == (split_cells(target, n_tracks) > 0.5))
    return [float(right[..., k, :, :].flatten(-2).all(-1).float().mean())
            for k in range(n_tracks)]  # (B, T, K, 2, P) -> K shares


def prf(tp: int, n_pred: int, n_true: int) -> tuple[float, float, float]:
    """(precision, recall, F1) from counts.

    When nothing is predicted and nothing is true, all three are 1.0;
    otherwise a ratio with a zero denominator is 0.0.
    """
    if n_pred == 0 and n_true == 0:
        return 1.0, 1.0, 1.0
    precision = tp / n_pred if n_pred else 0.0
    recall = tp / n_true if n_true else 0.0
    f1 = 2 * precision * recall / (precision + recall) if precision + recall else 0.0
    return precision, recall, f1


def onset_prf(pred: torch.Tensor, target: torch.Tensor, n_tracks: int) -> tuple[float, float, float]:
    """Note-onset precision, recall and F1 of pred against target, shapes (B, T, D)."""
    return prf(*onset_counts(pred, target, n_tracks))


@torch.no_grad()
def evaluate(model, batches, *, k: int = 0, seed: int = 0) -> dict[str, float]:
    """Every metric over an iterable of ``(x, label)`` batches (or bare x), averaged per window.

    Returns nats per window and bits per step for reconstruction (one draw of
    z per window, seeded), KL and ELBO,
    the IWAE bound when ``k`` > 0, active units, step accuracy (teacher-forced
    and free-running) and onset precision/recall/F1 of the free-running output (with
    several tracks, each track's onset F1 and free-running accuracy too:
    ``onset_f1_by_track``, ``acc_free_running_by_track``).
    """
    was_training = model.training
    model.eval()
    sums: dict[str, float] = {}
    mus, n, onsets, by_track = [], 0, [0, 0, 0], {}
    free_by_track = [0.0] * model.config.n_tracks  # steps right, weighted by windows
    g = torch.Generator(model.device).manual_seed(seed)
    for batch in batches:
        x, label = batch if isinstance(batch, (tuple, list)) else (batch, None)
        x = x.to(model.device)
        label = label if model.config.n_labels else None
        out = model(x, label)  # evaluation mode: decoded from the posterior mean
        drawn = model(x, label, sample_latent=True, generator=g)  # z ~ q(z|x), for the ELBO
        recon = model.decoder.nll(drawn.logits, x)
        kl = gaussian_kl(out.mu, out.logvar).sum(1)
        free = model.reconstruct(x, label)
        counts = onset_counts(free, x, model.config.n_tracks)
        if model.config.n_tracks > 1:
            for t, c in enumerate(track_onset_counts(free, x, model.config.n_tracks)):
                by_track[t] = [a + b for a, b in zip(by_track.get(t, [0, 0, 0]), c)]
            free_by_track = [a + acc * len(x) for a, acc in zip(
                free_by_track, track_step_accuracy(free, x, model.config.n_tracks))]
        forced = model.decoder.most_likely(out.logits, x)  # each step given the true past
        row = {"recon_nats": float(recon.sum()), "kl_nats": float(kl.sum()),
               "acc_teacher_forced": step_accuracy(forced, x) * len(x),
               "acc_free_running": step_accuracy(free, x) * len(x)}
        if k:
            row["iwae_nats"] = float(iwae_bound(model, x, label, k=k, seed=seed).sum())
        for key, v in row.items():
            sums[key] = sums.get(key, 0.0) + v
        mus.append(out.mu)
        n += len(x)
        onsets = [a + c for a, c in zip(onsets, counts)]
    model.train(was_training)
    res = {key: v / n for key, v in sums.items()}
    res["elbo_nats"] = -(res["recon_nats"] + res["kl_nats"])
    per_step = 1.0 / (model.config.n_steps * LN2)
    res["nelbo_bits_per_step"] = -res["elbo_nats"] * per_step
    if k:
        res["iwae_bits_per_step"] = -res["iwae_nats"] * per_step
    res["active_units"] = active_units(torch.cat(mus))
    res["onset_precision"], res["onset_recall"], res["onset_f1"] = prf(*onsets)
    if by_track:  # several tracks: each one's onset F1 and free-running accuracy too
        res["onset_f1_by_track"] = [prf(*by_track[t])[2] for t in sorted(by_track)]
        res["acc_free_running_by_track"] = [a / n for a in free_by_track]
    return res


@torch.no_grad()
def mean_loss_terms(model, batches, *, beta: float, free_bits: float = 0.0,
                    device: str | torch.device = "cpu", seed: int = 0) -> dict[str, float]:
    """The training objective's terms averaged per window over ``batches``, with z drawn
    from q(z|x) by a generator seeded with ``seed`` (so the ELBO is a bound and the
    figure repeats), and the active units over every window's posterior mean."""
    was_training = model.training
    model.eval()
    device = torch.device(device)
    g = torch.Generator(device).manual_seed(seed)
    totals: dict[str, float] = {}
    n, mus = 0, []
    for batch in batches:
        x, label = batch if isinstance(batch, (tuple, list)) else (batch, None)
        x = x.to(device)
        label = label.to(device) if label is not None and model.config.n_labels else None
        out = model(x, label, sample_latent=True, generator=g)
        terms = elbo_loss(out.logits, x, out.mu, out.logvar, beta=beta, free_bits=free_bits,
                          nll=model.decoder.nll)
        for key, v in terms.to_dict().items():
            totals[key] = totals.get(key, 0.0) + v * len(x)
        n += len(x)
        mus.append(out.mu.float())
    model.train(was_training)
    res = {key: v / max(n, 1) for key, v in totals.items()}
    if mus:
        res["active_units"] = active_units(torch.cat(mus))
    return res

