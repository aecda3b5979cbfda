"""The sampling prior's inputs: the posteriors of training windows, and fitting the prior
to them (`midivae.models.prior.LatentPrior`, ex-post density estimation)."""

from __future__ import annotations

from typing import Iterable

import numpy as np
import torch


def batch_parts(batch) -> tuple[torch.Tensor, torch.Tensor | None]:
    """A batch is ``(x, label)`` (from the datasets) or a bare x."""
    if isinstance(batch, (tuple, list)):
        return batch[0], batch[1] if len(batch) > 1 else None
    return batch, None


def to_device(batch, model, device: torch.device):
    """x on the device, and the label too when the model is conditioned (else None)."""
    x, label = batch_parts(batch)
    label = label.to(device) if label is not None and model.config.n_labels else None
    return x.to(device, non_blocking=True), label


PRIOR_WINDOWS = 20_000  # at most this many training windows fit the sampling prior


def posteriors(model, batches: Iterable, *, device: str | torch.device = "cpu",
               max_windows: int = PRIOR_WINDOWS) -> tuple[torch.Tensor, torch.Tensor]:
    """Posterior means and log-variances (N, Z) each of the first ``max_windows`` windows
    in ``batches`` (``(x, label)`` or x). The model's train/eval mode is kept."""
    was_training = model.training
    model.eval()
    mus, logvars, n = [], [], 0
    with torch.no_grad():
        for batch in batches:
            x, label = to_device(batch, model, device)
            mu, logvar = model.posterior(x[:max_windows - n], None if label is None
                                         else label[:max_windows - n])
            mus.append(mu.float())
            logvars.append(logvar.float())
            n += len(mu)
            if n >= max_windows:
                break
    model.train(was_training)
    return torch.cat(mus), torch.cat(logvars)


def fit_prior(model, batches: Iterable, *, device: str | torch.device = "cpu",
              max_windows: int = PRIOR_WINDOWS, rank: int | None = None) -> int:
    """Fit ``model.prior`` (`midivae.models.prior.LatentPrior`, of ``rank`` when given) to
    the aggregate posterior of the first ``max_windows`` windows in ``batches``; returns how
    many were read."""
    mu, logvar = posteriors(model, batches, device=device, max_windows=max_windows)
    model.prior.fit(mu, logvar, rank)
    return len(mu)


def spread(n: int, m: int) -> np.ndarray:
    """``min(m, n)`` positions spread evenly over ``range(n)``, in order."""
    return np.unique(np.linspace(0, n - 1, min(m, n)).round().astype(np.int64))


def prior_windows(prepared, max_windows: int | None = None) -> np.ndarray:
    """The training windows the prior is fitted to, as positions in the train split, in
    order: all of them, or ``max_windows`` (default `PRIOR_WINDOWS`) spread evenly over it. Spread over every piece:
    the first 20,000 of POP909's 45,000 windows were its first 40% of songs, whose bridge
    plays chords (3.3 notes at once against 2.2 over all songs), and the prior fitted to
    them drew samples with chordal bridges (`benchmarks/quality.py`'s pop figures)."""
    return spread(len(prepared.indices("train")),
                  PRIOR_WINDOWS if max_windows is None else max_windows)


def prior_loader(prepared, batch_size: int = 256):
    """The windows of `prior_windows` in order, unaugmented: the windows `fit_prior` reads."""
    from midivae.data import make_loader
    return make_loader(prepared, "train", batch_size=batch_size, shuffle=False,
                       sampler=prior_windows(prepared).tolist())
