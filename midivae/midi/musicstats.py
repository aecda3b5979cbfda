"""Musical statistics of a collection of rolls, and a distance between two collections.

`roll_stats` summarises rolls (a model's prior samples, or the data windows) in
numbers a musician would check: density, polyphony, range, key, rhythm and
whether every track plays. `compare` sets two summaries side by side. Definitions
follow muspy (``muspy.metrics``) and pypianoroll where those define the
statistic; each key's docstring line names its counterpart and any difference.

Rolls are counted in batches: rolls of one size, grid, meter and drum layout are
stacked and every statistic is a few numpy reductions over the stack.
"""

from __future__ import annotations

from typing import Sequence

import numpy as np

from midivae.midi.roll import BLOCK_CELLS, N_PITCHES, PianoRoll

# The 12 major scales as pitch-class masks, row r = the major scale on root r. The
# natural minor scales are the same 12 sets (A minor = C major), so muspy's 24
# scales in scale_consistency reduce to these rows.
_MAJOR = np.array([1, 0, 1, 0, 1, 1, 0, 1, 0, 1, 0, 1], bool)
SCALES = np.stack([np.roll(_MAJOR, r) for r in range(12)])  # (12 roots, 12 pitch classes)

# Scalars `compare` averages into its `distance`: statistics that are positive for
# any set with pitched notes. Shares that are often exactly 0 in data
# (empty_beat_share, silent_share, polyphony_rate) are left out, because their
# relative difference |a - b| / max(|b|, EPS) is unbounded there.
DISTANCE_KEYS = ("notes_per_bar", "sounding_share", "polyphony", "voice_polyphony",
                 "voice_single_share_mean", "pitch_range", "pitch_class_entropy",
                 "in_scale_share", "track_bar_share_min")
EPS = 1e-9  # floor of the denominator of a relative difference


def roll_stats(rolls: Sequence[PianoRoll]) -> dict[str, float | list[float]]:
    """Musical statistics of a collection of rolls.

    Three ways of averaging, named in the list of keys below:

    - *pooled*: counts summed over all rolls, then divided, so each roll weighs by
      its steps, beats or bars (for windows of one length, by roll);
    - *per roll*: computed for each roll that has a pitched onset, then averaged
      with each roll weighted by its steps (for windows of one length, the mean);
    - *per track*: pooled over rolls for each track, then the mean or minimum
      over tracks. Tracks line up by index, so all rolls need the same track count.

    Notes are counted at their onsets; a step "sounds" where sustain is on. Beats
    are quarter notes (``steps_per_beat`` steps, the last may be partial); bars
    come from ``PianoRoll.bar_starts``, so meters and meter changes count.
    Drum tracks are left out of the pitch statistics (polyphony, voice
    statistics, range, entropy, scale, pitches used), as in muspy, and count in
    the others. A statistic with nothing to average (no rolls, no steps, no
    pitched note, no sounding track) is 0.0, never NaN.

    Keys, with how each is averaged and its counterpart in ``muspy.metrics``:

    - ``n_rolls``: the number of rolls.
    - ``silent_share``: share of rolls with no note in any track.
    - ``notes_per_bar``: onsets in all tracks per bar; pooled.
    - ``sounding_share``: share of steps where any track sounds; pooled.
    - ``empty_beat_share``: share of beats with no onset in any track; pooled.
      muspy ``empty_beat_rate`` also counts a beat as full where a note only
      sounds; here only an onset does, so held notes leave beats empty.
    - ``polyphony``: distinct pitches sounding per step, pitched tracks merged
      (a unison counts once), over the steps where one sounds; pooled. muspy
      ``polyphony``.
    - ``polyphony_rate``: share of steps with 2 or more distinct pitches
      sounding; pooled. muspy ``polyphony_rate`` as documented (threshold 2).
    - ``voice_polyphony``: per track, pitches sounding per step over the steps
      where that track sounds; mean over the pitched tracks that sound.
    - ``voice_single_share_mean``, ``voice_single_share_min``: per track, share
      of its sounding steps that hold exactly one pitch; mean and minimum over
      the pitched tracks that sound.
    - ``pitch_range``: highest minus lowest pitched onset, semitones; per roll.
      muspy ``pitch_range``.
    - ``n_pitches_used``: distinct pitches of pitched onsets; per roll. muspy
      ``n_pitches_used``.
    - ``pitch_class_entropy``: Shannon entropy in bits of the pitch-class
      histogram of pitched onsets; per roll. muspy ``pitch_class_entropy``.
    - ``in_scale_share``: the largest share of pitched onsets inside one of the
      12 major scales; per roll. muspy ``scale_consistency``, whose 12 natural
      minor scales are the same pitch-class sets as the major ones.
    - ``track_bar_share_by_track``: per track (drums too), share of bars in which
      it sounds; pooled. A per-track complement of muspy ``empty_measure_rate``,
      on the real bar lines. ``track_bar_share_min``: its minimum over tracks.
    - ``notes_per_bar_by_track``: per track, its onsets per bar; pooled.
    - ``voice_polyphony_by_track``: per track, pitches sounding per step over the
      steps where it sounds (0 for a drum track or one that never sounds); pooled.
    - ``silent_track_share``: share of rolls in which some track has no note.
    - ``repeated_bar_pair_share``: share of rolls in which two consecutive bars
      with notes come back later note for note in every track (bars i, i + 1
      equal to bars j, j + 1, j >= i + 2): the repeated phrases of a song form.

    Parameters
    ----------
    rolls : sequence of PianoRoll
        All with the same number of tracks K.

    Returns
    -------
    dict
        The keys above; values are floats, except ``track_bar_share_by_track``
        (list of K floats), and the other ``_by_track`` lists.
    """
    if isinstance(rolls, PianoRoll):
        raise TypeError("roll_stats takes a sequence of rolls; wrap a single roll in a list")
    rolls = list(rolls)
    bad = [type(r).__name__ for r in rolls if not isinstance(r, PianoRoll)]
    if bad:
        raise TypeError(f"roll_stats takes PianoRoll objects, got {bad[0]}")
    n_tracks = {r.n_tracks for r in rolls}
    if len(n_tracks) > 1:
        raise ValueError(f"rolls must all have the same number of tracks (per-track statistics "
                         f"line tracks up by index), got {sorted(n_tracks)}")
    return _aggregate(_collect(rolls))


def scale_roots(rolls: Sequence[PianoRoll]) -> np.ndarray:
    """For each roll, the root (0 = C, ..., 11 = B) of the major scale holding most of its
    pitched onsets, the scale ``in_scale_share`` scores it by (ties: the lowest root; the
    relative minor is the same set); -1 for a roll with no pitched onset."""
    out = np.full(len(rolls), -1, np.int64)
    for i, r in enumerate(rolls):
        pitched = [k for k, t in enumerate(r.tracks) if not t.is_drum]
        hist = r.onset[pitched].sum(axis=(0, 1)) if pitched else np.zeros(0)
        if hist.sum():
            pc = np.bincount(np.arange(len(hist)) % 12, weights=hist, minlength=12)
            out[i] = int((SCALES.astype(np.int64) @ pc).argmax())
    return out


def compare(stats_a: dict, stats_b: dict) -> dict[str, dict]:
    """Two `roll_stats` summaries side by side, ``b`` the reference (e.g. the data).

    For every key whose value is a number in both: ``{"a", "b", "abs_diff":
    |a - b|, "rel_diff": |a - b| / max(|b|, EPS)}``. Under ``"distance"``:
    ``{"value": mean rel_diff over DISTANCE_KEYS, "keys": the keys used}``, i.e.
    notes_per_bar, sounding_share, polyphony, voice_polyphony,
    voice_single_share_mean, pitch_range, pitch_class_entropy, in_scale_share and
    track_bar_share_min, where both dicts have them. 0 means equal on all of them;
    0.1 means 10% apart on average.
    """
    out: dict[str, dict] = {}
    for key in [k for k in stats_a if k in stats_b]:  # in a's order, for readable JSON
        a, b = stats_a[key], stats_b[key]
        if _is_number(a) and _is_number(b):
            diff = abs(float(a) - float(b))
            out[key] = {"a": float(a), "b": float(b), "abs_diff": diff,
                        "rel_diff": diff / max(abs(float(b)), EPS)}
    used = [k for k in DISTANCE_KEYS if k in out]
    if not used:
        raise ValueError(f"compare: the two dicts share none of DISTANCE_KEYS {DISTANCE_KEYS}")
    out["distance"] = {"value": float(np.mean([out[k]["rel_diff"] for k in used])),
                       "keys": used}
    return out


def _is_number(x) -> bool:
    return isinstance(x, (int, float, np.integer, np.floating)) and not isinstance(x, bool)


# -- counting ------------------------------------------------------------------

def _collect(rolls: list[PianoRoll]) -> dict[str, np.ndarray]:
    """Per-roll counts (see `_count`), rolls of one layout counted in stacked batches."""
    groups: dict[tuple, list[PianoRoll]] = {}
    for r in rolls:
        drums = tuple(t.is_drum for t in r.tracks)
        key = (r.onset.shape, r.steps_per_beat, tuple(r.time_signatures), drums)
        groups.setdefault(key, []).append(r)
    parts = []
    for group in groups.values():
        first = group[0]
        pitched = np.array([not t.is_drum for t in first.tracks], bool)
        bar_lines = first.bar_starts()
        beat_lines = np.arange(0, first.n_steps, first.steps_per_beat)  # quarter notes
        per_batch = max(1, BLOCK_CELLS // max(1, first.onset.size))
        for i in range(0, len(group), per_batch):
            batch = group[i:i + per_batch]
            onset = np.stack([r.onset for r in batch])  # (B, K, T, P)
            sustain = np.stack([r.sustain for r in batch])  # (B, K, T, P)
            parts.append(_count(onset, sustain, pitched, bar_lines, beat_lines))
    if not parts:  # no rolls: counts of an empty batch, so every sum is 0
        empty = np.zeros((0, 0, 0, N_PITCHES), bool)
        parts.append(_count(empty, empty, np.zeros(0, bool), np.zeros(0, np.int64),
                            np.zeros(0, np.int64)))
    return {name: np.concatenate([p[name] for p in parts]) for name in parts[0]}


def _count(onset: np.ndarray, sustain: np.ndarray, pitched: np.ndarray,
           bar_lines: np.ndarray, beat_lines: np.ndarray) -> dict[str, np.ndarray]:
    """Counts of B rolls of one layout: arrays of shape (B,) or (B, K).

    ``onset``, ``sustain``: bool (B, K, T, P); ``pitched``: bool (K,), False for
    drum tracks; ``bar_lines``, ``beat_lines``: first step of each bar and beat.
    """
    B, K, T, P = onset.shape
    per_step = sustain.sum(axis=3, dtype=np.int32)  # (B, K, T) pitches sounding per track
    step_on = per_step > 0  # (B, K, T)
    merged = sustain[:, pitched].any(axis=1).sum(axis=2)  # (B, T) distinct pitched pitches
    onset_hist = onset[:, pitched].sum(axis=(1, 2))  # (B, P) pitched onsets by pitch
    pitched_bk = np.broadcast_to(pitched, (B, K))
    counts = {
        "steps": np.full(B, T), "bars": np.full(B, len(bar_lines)),
        "beats": np.full(B, len(beat_lines)),
        "onsets": onset.sum(axis=(1, 2, 3)),
        "sounding_steps": step_on.any(axis=1).sum(axis=1),
        "pitch_steps": (merged > 0).sum(axis=1), "pitch_cells": merged.sum(axis=1),
        "multi_steps": (merged >= 2).sum(axis=1),
        "track_steps": np.where(pitched_bk, step_on.sum(axis=2), 0),  # (B, K)
        "track_cells": np.where(pitched_bk, per_step.sum(axis=2), 0),
        "track_single": np.where(pitched_bk, (per_step == 1).sum(axis=2), 0),
        "track_bars": np.zeros((B, K), np.int64), "empty_beats": np.zeros(B, np.int64),
        "track_onsets": onset.sum(axis=(2, 3)),  # (B, K)
        "repeats": np.array([_repeats_bar_pair(o, s_, bar_lines)
                             for o, s_ in zip(onset, sustain)], bool),
    }
    if T:
        counts["track_bars"] = np.logical_or.reduceat(step_on, bar_lines, axis=2).sum(axis=2)
        beat_hit = np.logical_or.reduceat(onset.any(axis=(1, 3)), beat_lines, axis=1)  # (B, beats)
        counts["empty_beats"] = (~beat_hit).sum(axis=1)
    counts.update(_pitch_counts(onset_hist))
    return counts


def bar_forms(rolls: Sequence[PianoRoll]) -> np.ndarray:
    """Each roll's form: for each bar, the earliest bar before it with the same notes in
    every track (onset and sustain cells alike, some note in it), else -1. Rolls of one bar
    grid: (N, n_bars) int64. ``[-1, -1, 0, 1]`` is a two-bar phrase played twice."""
    out = []
    for r in rolls:
        lines = r.bar_starts()
        ends = list(lines[1:]) + [r.n_steps]
        seen: dict[bytes, int] = {}
        form = []
        for j, (a, b) in enumerate(zip(lines, ends)):
            if not r.onset[:, a:b].any():
                form.append(-1)
                continue
            key = (np.packbits(np.stack([r.onset[:, a:b], r.sustain[:, a:b]])).tobytes()
                   + int(b - a).to_bytes(4, "little"))
            form.append(seen.get(key, -1))
            seen.setdefault(key, j)
        out.append(form)
    lengths = {len(f) for f in out}
    if len(lengths) > 1:
        raise ValueError(f"bar_forms takes rolls of one bar grid, got {sorted(lengths)} bars")
    return np.array(out, np.int64).reshape(len(out), lengths.pop() if lengths else 0)


def _repeats_bar_pair(onset: np.ndarray, sustain: np.ndarray, bar_lines: np.ndarray) -> bool:
    """Whether two consecutive bars with notes come back later, note for note, in all
    tracks: bars (i, i + 1) equal to bars (j, j + 1) for some j >= i + 2. (K, T, P) each."""
    ends = list(bar_lines[1:]) + [onset.shape[1]]
    keys = [np.packbits(np.stack([onset[:, a:b], sustain[:, a:b]])).tobytes()
            + int(b - a).to_bytes(4, "little")
            if onset[:, a:b].any() else None for a, b in zip(bar_lines, ends)]
    first: dict[tuple, int] = {}
    for i in range(len(keys) - 1):
        pair = (keys[i], keys[i + 1])
        if None in pair:
            continue
        if pair in first and i >= first[pair] + 2:
            return True
        first.setdefault(pair, i)
    return False


def _pitch_counts(onset_hist: np.ndarray) -> dict[str, np.ndarray]:
    """Per-roll pitch statistics from pitched onsets by pitch, int (B, P)."""
    B, P = onset_hist.shape
    used = onset_hist > 0
    has = used.any(axis=1)
    lowest, highest = used.argmax(axis=1), P - 1 - used[:, ::-1].argmax(axis=1)
    padded = np.pad(onset_hist, ((0, 0), (0, -P % 12)))  # (B, 132): 11 whole octaves
    pc = padded.reshape(B, -(-P // 12), 12).sum(axis=1)  # (B, 12) onsets by pitch class
    total = pc.sum(axis=1)
    prob = pc / np.maximum(total, 1)[:, None]
    logs = np.log2(np.where(prob > 0, prob, 1.0))
    in_scale = (pc @ SCALES.T.astype(np.int64)).max(axis=1)  # best of the 12 scales
    return {"has_pitch": has, "pitch_range": np.where(has, highest - lowest, 0),
            "n_pitches": used.sum(axis=1), "entropy": -(prob * logs).sum(axis=1),
            "in_scale": in_scale / np.maximum(total, 1)}


# -- averaging -----------------------------------------------------------------

def _ratio(num, den) -> float:
    """num / den as a float; 0.0 when the denominator is 0."""
    return float(num) / float(den) if den else 0.0


def _aggregate(c: dict[str, np.ndarray]) -> dict[str, float | list[float]]:
    """The statistics of `roll_stats` from the per-roll counts of `_count`."""
    n, s = len(c["steps"]), {name: c[name].sum(axis=0) for name in c}  # s: pooled counts
    w = np.where(c["has_pitch"], c["steps"], 0)  # per-roll weights: steps, if it has pitches
    per_roll = {key: _ratio((w * c[name]).sum(), w.sum()) for key, name in
                (("pitch_range", "pitch_range"), ("n_pitches_used", "n_pitches"),
                 ("pitch_class_entropy", "entropy"), ("in_scale_share", "in_scale"))}
    plays = s["track_steps"] > 0  # (K,) pitched tracks that sound somewhere
    voice_poly = s["track_cells"][plays] / s["track_steps"][plays]
    single = s["track_single"][plays] / s["track_steps"][plays]
    by_track = [_ratio(b, s["bars"]) for b in s["track_bars"]]
    notes_by_track = [_ratio(o, s["bars"]) for o in s["track_onsets"]]
    poly_by_track = [_ratio(cells, steps) for cells, steps in
                     zip(s["track_cells"], s["track_steps"])]
    return {
        "n_rolls": float(n), "silent_share": _ratio((c["onsets"] == 0).sum(), n),
        "notes_per_bar": _ratio(s["onsets"], s["bars"]),
        "sounding_share": _ratio(s["sounding_steps"], s["steps"]),
        "empty_beat_share": _ratio(s["empty_beats"], s["beats"]),
        "polyphony": _ratio(s["pitch_cells"], s["pitch_steps"]),
        "polyphony_rate": _ratio(s["multi_steps"], s["steps"]),
        "voice_polyphony": float(voice_poly.mean()) if plays.any() else 0.0,
        "voice_single_share_mean": float(single.mean()) if plays.any() else 0.0,
        "voice_single_share_min": float(single.min()) if plays.any() else 0.0,
        **per_roll,
        "track_bar_share_min": min(by_track, default=0.0),
        "track_bar_share_by_track": by_track,
        "notes_per_bar_by_track": notes_by_track,
        "voice_polyphony_by_track": poly_by_track,
        "silent_track_share": _ratio((c["track_onsets"] == 0).any(axis=1).sum(), n),
        "repeated_bar_pair_share": _ratio(c["repeats"].sum(), n),
    }
