"""How several voices sound together: chords, voice leading and phrase ends.

`musicstats.roll_stats` judges each track alone; a chorale whose four voices
are each a fine line can still make no harmony together. `harmony_stats`
counts what a harmony teacher checks, over a collection of rolls of one layout
(windows of a set, or a model's samples); `mixed_voices` is the null beside
which those figures mean something: real tracks, each from another window of
the same key, sounding together by chance.

Every statistic reads the pitched tracks only (drums are left out), in the
layout's order, which for voices is top to bottom (soprano, alto, tenor, bass;
melody before accompaniment). A track's *pitch* at a step is the highest pitch
it sounds there (a chorale voice sounds one). Beats are quarter notes: the step
``b * steps_per_beat``. The definitions:

- **chord**: the pitch classes sounding (all pitched tracks together) form a
  complete triad (major, minor, diminished, augmented) or seventh chord
  (dominant, major, minor, half-diminished, diminished): exactly the classes
  of one such chord on some root, doublings allowed, nothing missing or added.
- ``chord_share``: the share of *full beats* (beats where every pitched track
  sounds) whose sonority is a chord. ``full_beat_share``: full beats among
  all beats.
- **parallel fifth or octave** between tracks i and j at step t: both sound at
  t - 1 and at t, both change pitch between them, in the same direction, and
  their interval modulo 12 is 7 (a fifth) at both steps, or 0 (an octave or
  unison) at both. Only simultaneous moves count: one voice moving a step
  after the other is not a parallel. ``parallels_per_bar``: over all pairs of
  tracks, per bar; ``parallel_window_share``: rolls holding any.
- ``crossing_share``: the share of steps, among those where two neighbouring
  tracks both sound, on which some lower track (later in the layout) sounds
  above the track before it.
- ``top_stepwise_share``: the first pitched track's moves (successive onsets
  at different pitches) of one or two semitones, among all its moves.
- ``melody_chord_share``: the first track's onsets on a beat whose pitch class
  sounds in the other pitched tracks at that step, among its onsets on beats
  where the others sound.
- Phrase ends, at the roll's last beat: ``end_chord_share`` (rolls whose last
  beat sounds a chord), ``end_root_share`` (a chord whose lowest sounding pitch
  is its root: a root-position close) and ``end_held_share`` (no pitched onset
  on the last beat while something sounds: the last chord is held).

Statistics that need two pitched tracks are 0.0 for rolls with one; none is
ever NaN.
"""

from __future__ import annotations

from itertools import combinations
from typing import Sequence

import numpy as np

from midivae.midi.roll import PianoRoll

# chord shapes as pitch classes above the root
CHORDS = ((0, 4, 7), (0, 3, 7), (0, 3, 6), (0, 4, 8),  # major, minor, diminished, augmented
          (0, 4, 7, 10), (0, 4, 7, 11), (0, 3, 7, 10), (0, 3, 6, 10), (0, 3, 6, 9))


def _chord_roots() -> np.ndarray:
    """(4096,) the root of the chord whose pitch-class set is the bit mask, -1 for none."""
    table = np.full(1 << 12, -1, np.int64)
    for shape in CHORDS:
        for root in range(11, -1, -1):  # symmetric chords keep their lowest root
            table[sum(1 << ((root + i) % 12) for i in shape)] = root
    return table


CHORD_ROOT = _chord_roots()
KEYS = ("chord_share", "full_beat_share", "parallels_per_bar", "parallel_window_share",
        "crossing_share", "top_stepwise_share", "melody_chord_share", "end_chord_share",
        "end_root_share", "end_held_share")


def harmony_stats(rolls: Sequence[PianoRoll]) -> dict[str, float]:
    """The statistics of the module docstring for rolls of one shape and grid.

    Parameters
    ----------
    rolls : sequence of PianoRoll
        All with the same tracks, steps and steps per beat (windows of a set or
        samples of a model).

    Returns
    -------
    dict
        ``KEYS`` -> float, pooled over the rolls.
    """
    rolls = list(rolls)
    if not rolls:
        return {key: 0.0 for key in KEYS}
    shapes = {(r.onset.shape, r.steps_per_beat, tuple(t.is_drum for t in r.tracks))
              for r in rolls}
    if len(shapes) > 1:
        raise ValueError(f"harmony_stats takes rolls of one shape and grid, got {len(shapes)}")
    first = rolls[0]
    pitched = [k for k, t in enumerate(first.tracks) if not t.is_drum]
    onset = np.stack([r.onset[pitched] for r in rolls])  # (B, K, T, P)
    sustain = np.stack([r.sustain[pitched] for r in rolls])
    counts = _count(onset, sustain, first.steps_per_beat)
    n_bars = len(rolls) * len(first.bar_starts())
    c = counts
    return {
        "chord_share": _ratio(c["chord_beats"], c["full_beats"]),
        "full_beat_share": _ratio(c["full_beats"], c["beats"]),
        "parallels_per_bar": _ratio(c["parallels"], n_bars),
        "parallel_window_share": _ratio(c["parallel_rolls"], len(rolls)),
        "crossing_share": _ratio(c["crossed_steps"], c["pair_steps"]),
        "top_stepwise_share": _ratio(c["steps_moves"], c["moves"]),
        "melody_chord_share": _ratio(c["melody_in_chord"], c["melody_on_beats"]),
        "end_chord_share": _ratio(c["end_chords"], len(rolls)),
        "end_root_share": _ratio(c["end_roots"], len(rolls)),
        "end_held_share": _ratio(c["end_held"], len(rolls)),
    }


def _ratio(num, den) -> float:
    return float(num) / float(den) if den else 0.0


def top_pitch(sustain: np.ndarray) -> np.ndarray:
    """The highest sounding pitch, -1 where none: bool (..., P) -> int (...)."""
    p = sustain.shape[-1]
    highest = p - 1 - sustain[..., ::-1].argmax(axis=-1)
    return np.where(sustain.any(axis=-1), highest, -1)


def parallel_counts(pitch: np.ndarray) -> np.ndarray:
    """Parallel fifths and octaves (see the module docstring) in each roll, over every pair
    of tracks: ``pitch`` (B, K, T) int, each track's sounding pitch or -1 (`top_pitch`)
    -> (B,) int."""
    b, k, t = pitch.shape
    sounds = pitch >= 0
    par = np.zeros(b, np.int64)
    if t < 2:
        return par
    for i, j in combinations(range(k), 2):  # pairs moving together, same direction,
        a, c = pitch[:, i], pitch[:, j]  # keeping a fifth or an octave
        both = sounds[:, i] & sounds[:, j]
        ok = both[:, 1:] & both[:, :-1]
        da, dc = np.diff(a, axis=1), np.diff(c, axis=1)
        iv = (a - c) % 12
        same = (iv[:, 1:] == iv[:, :-1]) & ((iv[:, 1:] == 0) | (iv[:, 1:] == 7))
        par += (ok & (da != 0) & (dc != 0) & (np.sign(da) == np.sign(dc)) & same).sum(1)
    return par


def _pc_masks(sustain: np.ndarray) -> np.ndarray:
    """Bit masks of the pitch classes sounding in any track: (B, K, T, P) -> (B, T) int."""
    merged = sustain.any(axis=1)  # (B, T, P)
    p = merged.shape[-1]
    padded = np.pad(merged, ((0, 0), (0, 0), (0, -p % 12)))
    pcs = padded.reshape(*merged.shape[:2], -1, 12).any(axis=2)  # (B, T, 12)
    return (pcs * (1 << np.arange(12))).sum(axis=-1)


def _count(onset: np.ndarray, sustain: np.ndarray, steps_per_beat: int) -> dict[str, int]:
    b, k, t, _ = onset.shape
    pitch = top_pitch(sustain)  # (B, K, T)
    sounds = pitch >= 0
    beats = np.arange(0, t, steps_per_beat)
    masks = _pc_masks(sustain)  # (B, T)
    roots = CHORD_ROOT[masks]  # (B, T)
    full = sounds[:, :, beats].all(axis=1)  # (B, beats)
    out = {"beats": b * len(beats), "full_beats": int(full.sum()),
           "chord_beats": int((full & (roots[:, beats] >= 0)).sum())}
    par = parallel_counts(pitch)
    out["parallels"], out["parallel_rolls"] = int(par.sum()), int((par > 0).sum())
    # crossings between neighbours
    if k > 1:
        both = sounds[:, :-1] & sounds[:, 1:]  # (B, K - 1, T)
        crossed = both & (pitch[:, :-1] < pitch[:, 1:])
        out["pair_steps"] = int(both.any(axis=1).sum())
        out["crossed_steps"] = int(crossed.any(axis=1).sum())
    else:
        out["pair_steps"] = out["crossed_steps"] = 0
    # the top track's melodic moves
    top_on = top_pitch(onset[:, 0]) if k else np.full((b, t), -1)  # (B, T)
    moves = steps_moves = 0
    for row in top_on:
        notes = row[row >= 0]
        d = np.abs(np.diff(notes))
        d = d[d > 0]
        moves += len(d)
        steps_moves += int((d <= 2).sum())
    out["moves"], out["steps_moves"] = moves, steps_moves
    # the first track's onsets on beats against the others' pitch classes
    if k > 1:
        others = _pc_masks(sustain[:, 1:])[:, beats]  # (B, beats)
        mel = top_on[:, beats]
        on = (mel >= 0) & (others > 0)
        hit = on & (((others >> np.where(mel >= 0, mel % 12, 0)) & 1) > 0)
        out["melody_on_beats"], out["melody_in_chord"] = int(on.sum()), int(hit.sum())
    else:
        out["melody_on_beats"] = out["melody_in_chord"] = 0
    # the last beat
    last = beats[-1] if len(beats) else 0
    end_root = roots[:, last] if t else np.full(b, -1)
    lowest = np.where(sounds[:, :, last], pitch[:, :, last], 10**6).min(axis=1) if t else end_root
    chord = end_root >= 0
    out["end_chords"] = int(chord.sum())
    out["end_roots"] = int((chord & (lowest % 12 == end_root)).sum())
    if t:
        struck = onset[:, :, last:].any(axis=(1, 2, 3))  # (B,) any onset from the last beat on
        out["end_held"] = int((~struck & sounds[:, :, last].any(axis=1)).sum())
    else:
        out["end_held"] = 0
    return out


def mixed_voices(rolls: Sequence[PianoRoll], keys: np.ndarray, seed: int = 0
                 ) -> list[PianoRoll]:
    """The null of real voices sounding together by chance: for each roll, a roll whose
    track k is track k of another roll of the same key (``keys``, one per roll, as
    `midivae.midi.musicstats.scale_roots` gives), each track from a different one where the
    key has enough rolls. Rolls alone in their key are left out."""
    rolls = list(rolls)
    keys = np.asarray(keys)
    if len(keys) != len(rolls):
        raise ValueError(f"mixed_voices: {len(keys)} keys for {len(rolls)} rolls")
    rng = np.random.default_rng(seed)
    out = []
    for i, roll in enumerate(rolls):
        same = np.flatnonzero(keys == keys[i])
        same = same[same != i]
        if not len(same):
            continue
        picks = rng.choice(same, size=roll.n_tracks, replace=len(same) < roll.n_tracks)
        parts = [rolls[j] for j in picks]
        onset = np.stack([r.onset[k] for k, r in enumerate(parts)])
        sustain = np.stack([r.sustain[k] for k, r in enumerate(parts)])
        velocity = (None if any(r.velocity is None for r in parts)
                    else np.stack([r.velocity[k] for k, r in enumerate(parts)]))
        out.append(roll.replace(onset=onset, sustain=sustain, velocity=velocity))
    return out
