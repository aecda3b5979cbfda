"""`evaluate`: a model judged by the music it makes, on held-out windows of a prepared set.

Three groups of figures, one dict (what ``midivae evaluate --json`` writes):

- ``metrics``: -ELBO and (with ``k``) the IWAE bound in bits per step, KL,
  active units, step accuracy teacher-forced and free-running (decoded at
  temperature 0 from the posterior mean), onset precision/recall/F1 of the
  free-running reconstructions (`midivae.models.metrics.evaluate`);
- ``samples`` and ``data``: the musical statistics (`midivae.midi.musicstats`) of
  prior samples at ``temperature`` and of the split's windows;
- ``distance``: how far the samples' statistics are from the data's
  (`midivae.midi.musicstats.compare`), with the per-statistic differences;
- ``harmony`` (sets of several pitched tracks): how the tracks sound together
  in the samples, the data and a null of mixed voices (`midivae.midi.harmony`);
- ``novelty``: how close the samples and the split's windows come to the
  training windows, and the samples that copy one (`midivae.midi.novelty`).

A set whose layout differs from the model's (tracks, pitch range, grid, meter,
window length) is refused with every difference named.
"""

from __future__ import annotations

import math

import numpy as np
import torch

from midivae.errors import DatasetError
from midivae.run.generate import layout_of, sample
from midivae.models.metrics import evaluate as model_metrics
from midivae.midi.musicstats import compare, roll_stats


def layout_differences(model, prepared) -> list[str]:
    """What differs between the model's layout and a prepared set's, in words (empty: fits)."""
    mine, theirs = layout_of(model), prepared.layout
    out = []
    if [(t.name, t.is_drum) for t in mine.tracks] != [(t.name, t.is_drum) for t in theirs.tracks]:
        out.append(f"tracks {[t.name for t in theirs.tracks]} where the model has "
                   f"{[t.name for t in mine.tracks]}")
    if (mine.low, mine.n_pitches) != (theirs.low, theirs.n_pitches):
        out.append(f"pitches {theirs.pitches[0]}..{theirs.pitches[-1]} where the model "
                   f"has {mine.pitches[0]}..{mine.pitches[-1]}")
    if mine.steps_per_beat != theirs.steps_per_beat:
        out.append(f"{theirs.steps_per_beat} steps per beat where the model has "
                   f"{mine.steps_per_beat}")
    if tuple(mine.time_signature) != tuple(theirs.time_signature):
        out.append("meter {}/{} where the model has {}/{}".format(*theirs.time_signature,
                                                              *mine.time_signature))
    steps = prepared.window_steps if not out else None
    if steps is not None and steps != model.config.n_steps:
        out.append(f"windows of {steps} steps where the model has {model.config.n_steps}")
    return out


def evaluate(model, prepared, *, split: str = "test", k: int = 0, n_samples: int = 256,
             temperature: float = 1.0, seed: int = 0, batch_size: int = 256,
             max_windows: int | None = None, rounds: int | None = None) -> dict:
    """Every figure of the module docstring for ``model`` on ``prepared``'s ``split``.

    Parameters
    ----------
    model : VAE
        With its layout (as `midivae.run.checkpoint.load_checkpoint` gives it).
    prepared : PreparedSet
    split : str
        "train", "valid" or "test".
    k : int
        Importance samples for the IWAE bound (0: not computed).
    n_samples, temperature, seed
        Prior samples drawn for the musical statistics; for a conditioned model
        they are spread over the labels in the proportions of the split.
    rounds : int, optional
        Rounds of `VAE.rewrite` after each prior draw, as `VAE.sample` takes them
        (default: the model's own, as users get its samples).
    max_windows : int, optional
        Evaluate on N windows spread evenly over the split (in its order, so
        over its pieces) instead of all of them.
    """
    from torch.utils.data import DataLoader, Subset

    from midivae.data import WindowDataset

    differences = layout_differences(model, prepared)
    if differences:
        raise DatasetError(f"{prepared.path} does not fit the model: " + "; ".join(differences))
    indices = prepared.indices(split)
    if len(indices) == 0:
        raise DatasetError(f"{prepared.path}: the {split} split holds no window")
    dataset = WindowDataset(prepared, split)
    if max_windows is not None and max_windows < len(indices):
        pick = np.unique(np.linspace(0, len(indices) - 1, max_windows).round().astype(np.int64))
        indices = indices[pick]
        dataset = Subset(dataset, pick.tolist())
    model.eval()
    with torch.no_grad():
        metrics = model_metrics(model, DataLoader(dataset, batch_size=batch_size), k=k, seed=seed)
        samples = _samples(model, prepared, indices, n_samples, temperature, seed, rounds)
    windows = [prepared.window_roll(int(i)) for i in indices]
    data, drawn = roll_stats(windows), roll_stats(samples)
    out = {"set": str(prepared.path), "split": split, "windows": int(len(indices)),
           "latent": model.config.latent, "metrics": _finite(metrics),
           "temperature": temperature,
           "rounds": model.rewrite_rounds if rounds is None else rounds, "data": data,
           "samples": drawn, "distance": compare(drawn, data)}
    if sum(not t.is_drum for t in prepared.layout.tracks) >= 2:
        out["harmony"] = harmony(samples, windows, seed)
    train = prepared.indices("train")
    if len(train):
        from midivae.midi.novelty import novelty

        pick = np.unique(np.linspace(0, len(train) - 1, min(len(train), NOVELTY_WINDOWS))
                         .round().astype(np.int64))
        out["novelty"] = novelty(samples, [prepared.window_roll(int(i)) for i in train[pick]],
                                 windows)
    return out


# training windows the samples are compared with (`midivae.midi.novelty`), spread evenly over the
# split: all of them for most sets; POP909's 45,000 windows overlap (a bar's hop), so every
# ninth still holds nearly every bar
NOVELTY_WINDOWS = 5000


def harmony(samples, windows, seed: int = 0) -> dict:
    """How the tracks sound together (`midivae.midi.harmony.harmony_stats`) in the samples, in the
    data's windows, and in the null of the data's tracks each from another window of the
    same key (`midivae.midi.harmony.mixed_voices`): {"samples", "data", "null"}."""
    from midivae.midi.harmony import harmony_stats, mixed_voices
    from midivae.midi.musicstats import scale_roots

    null = mixed_voices(windows, scale_roots(windows), seed=seed)
    return {"samples": harmony_stats(samples), "data": harmony_stats(windows),
            "null": harmony_stats(null)}


PRIOR_RANKS = (8, 16, 32, 64, 128, 256)  # tried by `choose_prior_rank`, beside full rank


def window_keys(prepared, n: int | None = None) -> torch.Tensor:
    """The key of each of the first ``n`` training windows (all by default), in the order
    `midivae.run.priors.prior_loader` reads them: the root of the major scale holding most of
    its notes (`midivae.midi.musicstats.scale_roots`), -1 for a window without pitched notes.
    The groups of ``LatentPrior.fit`` for a prior with one Gaussian per key."""
    from midivae.midi.musicstats import scale_roots

    indices = prepared.indices("train")[:n]
    return torch.from_numpy(scale_roots([prepared.window_roll(int(i)) for i in indices]))


def window_forms(prepared, n: int | None = None) -> torch.Tensor:
    """The form of each of the first ``n`` training windows (all by default), in the order
    `midivae.run.priors.prior_loader` reads them: for each bar, the earlier bar it repeats note
    for note, or -1 (`midivae.midi.musicstats.bar_forms`). What ``LatentPrior.fit_forms`` fits."""
    from midivae.midi.musicstats import bar_forms

    indices = prepared.indices("train")[:n]
    return torch.from_numpy(bar_forms([prepared.window_roll(int(i)) for i in indices]))


def choose_prior_rank(model, prepared, mu: torch.Tensor, logvar: torch.Tensor, *,
                      ranks=PRIOR_RANKS, split: str = "valid", n_samples: int = 128,
                      temperature: float = 1.0, seed: int = 0,
                      groups: torch.Tensor | None = None) -> tuple[int | None, dict]:
    """Fit ``model.prior`` to the posteriors ``mu``, ``logvar`` (N, Z) at each rank below Z,
    and at full rank (None), and keep the rank whose samples' musical statistics are the
    closest (`midivae.midi.musicstats.compare`'s distance) to those of ``split``'s windows: a
    rank chosen on held-out data. With ``groups``, each rank's prior is the mixture of one
    Gaussian per group (``LatentPrior.fit``). Returns (the rank kept, {rank: distance})."""
    import warnings

    indices = prepared.indices(split)
    if len(indices) == 0:
        raise DatasetError(f"{prepared.path}: the {split} split holds no window to choose "
                           "the prior's rank on")
    data = roll_stats([prepared.window_roll(int(i)) for i in indices])
    scores = {}
    model.eval()
    for rank in [r for r in ranks if r < model.config.latent] + [None]:
        model.prior.fit(mu, logvar, rank, groups)
        with warnings.catch_warnings(), torch.no_grad():
            warnings.simplefilter("ignore")  # silent or dense clips: judged by the distance
            drawn = roll_stats(_samples(model, prepared, indices, n_samples, temperature, seed,
                                        rounds=0))  # the prior's own draws
        scores[rank] = compare(drawn, data)["distance"]["value"]
    best = min(scores, key=scores.get)
    model.prior.fit(mu, logvar, best, groups)
    return best, scores


def _samples(model, prepared, indices: np.ndarray, n: int, temperature: float, seed: int,
             rounds: int | None = None):
    if not model.config.n_labels:
        return sample(model, n, temperature=temperature, seed=seed, rounds=rounds)
    labels = np.array([prepared.label(int(i)) for i in indices])
    counts = np.bincount(labels, minlength=model.config.n_labels)
    shares = np.round(counts / counts.sum() * n).astype(int)
    rolls = []
    for label, m in enumerate(shares):
        if m:
            rolls += sample(model, int(m), temperature=temperature, seed=seed + label, label=label,
                            rounds=rounds)
    return rolls


def _finite(d: dict) -> dict:
    return {k: (v if not isinstance(v, float) or math.isfinite(v) else None) for k, v in d.items()}
