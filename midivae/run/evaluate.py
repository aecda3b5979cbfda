"""`evaluate`: a model judged by the music it makes, on held-out windows of a prepared set
or on your own MIDI files.

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
  training windows, and the samples that copy one (`midivae.midi.novelty`);
- ``train``: the musical statistics of those training windows, what the model learnt
  from: where the split's differ from them (POP909's test songs' bridge holds 1.5 notes at
  once, the training songs' 2.4), the samples can only follow one.

A set whose layout differs from the model's (tracks, pitch range, grid, meter,
window length) is refused with every difference named (``strict``), or its pieces
are fitted to the model as `Model.fit` fits a file; `evaluate_source` also takes a
folder of MIDI files (`midivae.data.fitted_source`). Figures on fitted windows say
what fitting changed (``fitted``) and leave novelty out: the model's training
windows are not at hand.
"""

from __future__ import annotations

import contextlib
import math
import os

import numpy as np
import torch

from midivae.data.fitted_source import fit_files, fit_set
from midivae.data.fitting import Roles, roles_for
from midivae.errors import DatasetError, ModelError
from midivae.run.generate import layout_of, sample
from midivae.models.metrics import evaluate as model_metrics
from midivae.midi.musicstats import compare, roll_stats
from midivae.run.priors import prior_windows, spread


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
             max_windows: int | None = None, rounds: int | None = None, rules=(),
             onset_biases=None, every_track: bool = False, strict: bool = True,
             roles: Roles = None, label: int | None = None, name: str = "the model") -> dict:
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
        (default: the model's own, as users get its samples), keeping ``rules`` (names in
        `midivae.run.guides.RULES`; a shipped model's card names its own).
    onset_biases : sequence of float, optional
        One number a track added to the logit of every note's start as the samples are
        drawn (`VAE.onset_biases`; a shipped model's card may give them); the
        reconstructions are measured without.
    every_track : bool
        Whether a sample's window in which a track sounds no note is drawn again
        (`VAE.sample`'s ``every_track``; a shipped model's card may ask for it).
    max_windows : int, optional
        Evaluate on N windows spread evenly over the split (in its order, so
        over its pieces) instead of all of them.
    strict : bool
        Refuse a set of another layout (`DatasetError` naming every difference);
        False: fit the split's pieces to the model (`midivae.data.fitted_source.fit_set`,
        with ``roles``, default the layout's own) and measure on their windows, as
        `evaluate_fitted` does (``label``: their label for a conditioned model).
    name : str
        What messages call the model, e.g. ``"model 'folk'"``.
    """
    from torch.utils.data import DataLoader, Subset

    from midivae.data import WindowDataset

    differences = layout_differences(model, prepared)
    if differences and strict:
        raise DatasetError(f"{prepared.path} does not fit the model: " + "; ".join(differences))
    if differences:
        _check_label(model, label, prepared.path)
        layout = layout_of(model)
        fitted = fit_set(prepared, split, layout, _bars(model), _roles(layout, roles),
                         model=name, changes=differences)
        return {"set": str(prepared.path), "split": split, **evaluate_fitted(
            model, fitted, label=label, k=k, n_samples=n_samples, temperature=temperature,
            seed=seed, batch_size=batch_size, max_windows=max_windows, rounds=rounds,
            rules=rules, onset_biases=onset_biases, every_track=every_track)}
    indices = prepared.indices(split)
    if len(indices) == 0:
        raise DatasetError(f"{prepared.path}: the {split} split holds no window")
    dataset = WindowDataset(prepared, split)
    if max_windows is not None and max_windows < len(indices):
        pick = spread(len(indices), max_windows)
        indices = indices[pick]
        dataset = Subset(dataset, pick.tolist())
    labels = (np.array([prepared.label(int(i)) for i in indices]) if model.config.n_labels
              else None)
    windows = [prepared.window_roll(int(i)) for i in indices]
    figures, samples = _figures(model, DataLoader(dataset, batch_size=batch_size), windows,
                                labels, k=k, n_samples=n_samples, temperature=temperature,
                                seed=seed, rounds=rounds, rules=rules,
                                onset_biases=onset_biases, every_track=every_track)
    out = {"set": str(prepared.path), "split": split, **figures}
    train = prepared.indices("train")
    if len(train):
        from midivae.midi.novelty import novelty

        pick = spread(len(train), min(len(train), NOVELTY_WINDOWS))
        trained = [prepared.window_roll(int(i)) for i in train[pick]]
        out["novelty"] = novelty(samples, trained, windows)
        out["train"] = roll_stats(trained)
    return out


def evaluate_source(model, source, *, split: str | None = None, strict: bool = False,
                    roles: Roles = None, label: int | None = None, name: str = "the model",
                    **figures) -> dict:
    """`evaluate` on ``source``: a prepared set (a folder with its manifest; its ``split``,
    default "test"; a set of another layout is fitted unless ``strict``), or a folder of
    MIDI files or one MIDI file, fitted to the model (`midivae.data.fitted_source.fit_files`,
    with ``roles``, default the layout's own) and measured as `evaluate_fitted` does: every
    piece, so a ``split`` given for one is refused (`DatasetError`). ``figures``: the
    keywords of `evaluate` that choose the figures (``k``, ``n_samples``, ...)."""
    from midivae.data import PreparedSet
    from midivae.data.store import SET_FILES

    if os.path.isdir(source) and any(os.path.lexists(os.path.join(source, f))
                                     for f in SET_FILES):
        return evaluate(model, PreparedSet(source), split=split or "test", strict=strict,
                        roles=roles, label=label, name=name, **figures)
    if split is not None:
        raise DatasetError(f"{source} is not a prepared set, so it has no {split!r} split: "
                           "every piece of MIDI files is evaluated (prepare them to split them)")
    if strict:
        raise DatasetError(f"{source} is not a prepared set: strict evaluation takes a "
                           "prepared set of the model's layout")
    _check_label(model, label, source)
    layout = layout_of(model)
    fitted = fit_files(source, layout, _bars(model), _roles(layout, roles), model=name)
    return evaluate_fitted(model, fitted, label=label, **figures)


def evaluate_fitted(model, fitted, *, label: int | None = None, k: int = 0,
                    n_samples: int = 256, temperature: float = 1.0, seed: int = 0,
                    batch_size: int = 256, max_windows: int | None = None,
                    rounds: int | None = None, rules=(), onset_biases=None,
                    every_track: bool = False) -> dict:
    """The figures of `evaluate` on the windows of a `FittedSource` (all given ``label``, which a
    conditioned model needs), with ``fitted``: what fitting changed (`FittedSource.to_dict`).
    Novelty is left out (``novelty_left_out`` says why): the training windows it is measured
    against are not at hand."""
    _check_label(model, label, fitted.source)
    windows = fitted.windows
    if max_windows is not None and max_windows < len(windows):
        windows = [windows[i] for i in spread(len(windows), max_windows)]
    labels = np.full(len(windows), label) if model.config.n_labels else None
    layout = layout_of(model)

    def batches():
        for a in range(0, len(windows), batch_size):
            x = torch.from_numpy(layout.to_windows(windows[a:a + batch_size]))  # (B, T, D)
            yield x, torch.from_numpy(labels[a:a + batch_size]) if labels is not None else None

    figures, _ = _figures(model, batches(), windows, labels, k=k, n_samples=n_samples,
                          temperature=temperature, seed=seed, rounds=rounds, rules=rules,
                          onset_biases=onset_biases, every_track=every_track)
    return {"source": fitted.source, "fitted": fitted.to_dict(), **figures,
            "novelty_left_out": NOVELTY_LEFT_OUT}


def _check_label(model, label: int | None, source) -> None:
    if model.config.n_labels and label is None:
        raise ModelError(f"the model is conditioned on labels: the windows fitted from {source} "
                         "need one (label=...)")


def _figures(model, batches, windows, labels, *, k, n_samples, temperature, seed,
             rounds, rules=(), onset_biases=None, every_track: bool = False
             ) -> tuple[dict, list]:
    """Reconstruction metrics over ``batches`` and the statistics of prior samples against
    ``windows`` (``labels``: one per window, for a conditioned model); and the samples,
    drawn with ``onset_biases`` (one number a track, `VAE.onset_biases`) where given and
    ``every_track`` (`VAE.sample`): the reconstructions never are."""
    model.eval()
    with torch.no_grad():
        metrics = model_metrics(model, batches, k=k, seed=seed)
        with model.onset_biases(onset_biases) if onset_biases else contextlib.nullcontext():
            samples = _samples(model, labels, n_samples, temperature, seed, rounds, rules,
                               every_track)
    data, drawn = roll_stats(windows), roll_stats(samples)
    out = {"windows": len(windows), "latent": model.config.latent, "metrics": _finite(metrics),
           "temperature": temperature,
           "rounds": model.rewrite_rounds if rounds is None else rounds,
           "rules": list(rules), "every_track": every_track, "data": data,
           "samples": drawn, "distance": compare(drawn, data)}
    if sum(not t.is_drum for t in layout_of(model).tracks) >= 2:
        out["harmony"] = harmony(samples, windows, seed)
    return out, samples


def _bars(model) -> int:
    """Bars per window of ``model``."""
    return model.config.n_steps // layout_of(model).steps_per_bar


def _roles(layout, roles: Roles):
    return roles if roles is not None else roles_for(layout)


# training windows the samples are compared with (`midivae.midi.novelty`), spread evenly over the
# split: all of them for most sets; POP909's 45,000 windows overlap (a bar's hop), so every
# ninth still holds nearly every bar
NOVELTY_WINDOWS = 5000
# why figures on fitted windows have no novelty
NOVELTY_LEFT_OUT = ("it compares the samples with the model's training windows, which only "
                    "the prepared set it was trained on holds")


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
    """The key of each of the first ``n`` windows `midivae.run.priors.prior_loader` reads
    (all by default), in its order: the root of the major scale holding most of
    its notes (`midivae.midi.musicstats.scale_roots`), -1 for a window without pitched notes.
    The groups of ``LatentPrior.fit`` for a prior with one Gaussian per key."""
    from midivae.midi.musicstats import scale_roots

    indices = _prior_indices(prepared, n)
    return torch.from_numpy(scale_roots([prepared.window_roll(int(i)) for i in indices]))


def window_forms(prepared, n: int | None = None) -> torch.Tensor:
    """The form of each of the first ``n`` windows `midivae.run.priors.prior_loader` reads
    (all by default), in its order: for each bar, the earlier bar it repeats note
    for note, or -1 (`midivae.midi.musicstats.bar_forms`). What ``LatentPrior.fit_forms`` fits."""
    from midivae.midi.musicstats import bar_forms

    indices = _prior_indices(prepared, n)
    return torch.from_numpy(bar_forms([prepared.window_roll(int(i)) for i in indices]))


def _prior_indices(prepared, n: int | None) -> np.ndarray:
    """The set's indices of the first ``n`` windows `midivae.run.priors.prior_loader` reads."""
    return prepared.indices("train")[prior_windows(prepared)][:n]


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
    labels = (np.array([prepared.label(int(i)) for i in indices]) if model.config.n_labels
              else None)
    scores = {}
    model.eval()
    for rank in [r for r in ranks if r < model.config.latent] + [None]:
        model.prior.fit(mu, logvar, rank, groups)
        with warnings.catch_warnings(), torch.no_grad():
            warnings.simplefilter("ignore")  # silent or dense clips: judged by the distance
            drawn = roll_stats(_samples(model, labels, n_samples, temperature, seed,
                                        rounds=0))  # the prior's own draws
        scores[rank] = compare(drawn, data)["distance"]["value"]
    best = min(scores, key=scores.get)
    model.prior.fit(mu, logvar, best, groups)
    return best, scores


def _samples(model, labels: np.ndarray | None, n: int, temperature: float, seed: int,
             rounds: int | None = None, rules=(), every_track: bool = False):
    """``n`` prior samples; for a conditioned model spread over the labels in the proportions
    of ``labels`` (one per window)."""
    if not model.config.n_labels:
        return sample(model, n, temperature=temperature, seed=seed, rounds=rounds,
                      rules=rules, every_track=every_track)
    counts = np.bincount(labels, minlength=model.config.n_labels)
    shares = np.round(counts / counts.sum() * n).astype(int)
    rolls = []
    for label, m in enumerate(shares):
        if m:
            rolls += sample(model, int(m), temperature=temperature, seed=seed + label, label=label,
                            rounds=rounds, rules=rules, every_track=every_track)
    return rolls


def _finite(d: dict) -> dict:
    return {k: (v if not isinstance(v, float) or math.isfinite(v) else None) for k, v in d.items()}
