"""Whether a model's samples are new music or copies of the windows it was trained on.

A sample is compared with every reference window (the training windows) under
each transposition in ``shifts`` (the transpositions training used), and keeps
its best *overlap*: the Jaccard index of the two rolls' sounding cells (track,
step, pitch where sustain is on), ``|A & B| / |A | B|``: 1 for the same notes, 0
for none in common. The same figure for held-out test windows is the yardstick: a
model whose samples sit closer to the training windows than unseen music of the
same kind does is recalling, not composing. A *copy* is a sample whose best
overlap is at least ``COPY`` (0.95); a *bar copy* is a sample holding a bar whose
cells in every track, with notes, equal a training bar's at some transposition.
"""

from __future__ import annotations

from typing import Sequence

import numpy as np

from midivae.midi.roll import PianoRoll

COPY = 0.95  # best overlap from which a sample counts as a copy of a training window
SHIFTS = tuple(range(-3, 4))  # midivae train's default transposition, +-3 semitones


def _cells(rolls: Sequence[PianoRoll], low: int, high: int) -> np.ndarray:
    """Sounding cells in pitches low..high - 1, flattened: (N, K * T * (high - low)) bool."""
    return np.stack([r.sustain[:, :, low:high] for r in rolls]).reshape(len(rolls), -1)


def _shifted(sustain: np.ndarray, shift: int) -> np.ndarray:
    """(..., P) cells moved up by ``shift`` pitches, those moved past either end dropped."""
    if not shift:
        return sustain
    out = np.zeros_like(sustain)
    if shift > 0:
        out[..., shift:] = sustain[..., :-shift]
    else:
        out[..., :shift] = sustain[..., -shift:]
    return out


def nearest_overlap(rolls: Sequence[PianoRoll], reference: Sequence[PianoRoll],
                    shifts: Sequence[int] = SHIFTS, block: int = 2048) -> np.ndarray:
    """Each roll's best overlap (Jaccard index of sounding cells) with any reference window
    under any of ``shifts`` semitones: (N,) float in [0, 1]; 0 for an empty roll.

    All rolls and reference windows must have one shape (tracks, steps).
    """
    rolls, reference = list(rolls), list(reference)
    if not rolls:
        return np.zeros(0)
    if not reference:
        raise ValueError("nearest_overlap needs at least one reference window")
    shapes = {r.onset.shape for r in rolls + reference}
    if len(shapes) > 1:
        raise ValueError(f"nearest_overlap takes rolls of one shape, got {sorted(shapes)}")
    used = np.flatnonzero(np.any([r.sustain.any(axis=(0, 1)) for r in rolls + reference],
                                 axis=0))
    if not len(used):
        return np.zeros(len(rolls))
    span = max(abs(s) for s in shifts) if len(shifts) else 0
    low, high = max(0, used[0] - span), min(rolls[0].sustain.shape[2], used[-1] + 1 + span)
    ref = _cells(reference, low, high).astype(np.float32)  # (M, D)
    ref_sizes = ref.sum(axis=1)
    mine = np.stack([r.sustain for r in rolls])  # (N, K, T, 128)
    best = np.zeros(len(rolls))
    for shift in shifts:
        a = _shifted(mine, shift)[..., low:high].reshape(len(rolls), -1).astype(np.float32)
        sizes = a.sum(axis=1)
        for start in range(0, len(ref), block):
            inter = a @ ref[start:start + block].T  # (N, m)
            union = sizes[:, None] + ref_sizes[None, start:start + block] - inter
            jac = np.where(union > 0, inter / np.maximum(union, 1), 0.0)
            best = np.maximum(best, jac.max(axis=1))
    return best


def _bar_keys(roll: PianoRoll) -> list[bytes | None]:
    """Each bar's cells in every track, moved down to its lowest sounding pitch (so equal
    under any transposition), as bytes; None for a bar where some track is silent."""
    starts = [int(s) for s in roll.bar_starts()] + [roll.n_steps]
    keys = []
    for a, b in zip(starts[:-1], starts[1:]):
        sustain = roll.sustain[:, a:b]
        if not sustain.any(axis=(1, 2)).all():
            keys.append(None)
            continue
        low = int(np.flatnonzero(sustain.any(axis=(0, 1)))[0])
        cells = _shifted(np.stack([roll.onset[:, a:b], sustain]), -low)
        keys.append(np.packbits(cells).tobytes() + (b - a).to_bytes(4, "little"))
    return keys


def copied_bars(rolls: Sequence[PianoRoll], reference: Sequence[PianoRoll]) -> np.ndarray:
    """Whether each roll holds a bar, every track sounding, whose onset and sustain cells
    equal a reference bar's under some transposition: (N,) bool."""
    seen = {k for r in reference for k in _bar_keys(r) if k is not None}
    return np.array([any(k is not None and k in seen for k in _bar_keys(r)) for r in rolls],
                    bool)


def novelty(samples: Sequence[PianoRoll], train: Sequence[PianoRoll],
            test: Sequence[PianoRoll], shifts: Sequence[int] = SHIFTS) -> dict[str, float]:
    """The figures of the module docstring: the median and mean best overlap of the samples
    and of the test windows with the training windows, the samples that copy a training
    window (overlap >= COPY) and those that copy a whole training bar, and the same counts
    for the test windows (music the model never saw: the yardstick)."""
    drawn = nearest_overlap(samples, train, shifts)
    held_out = nearest_overlap(test, train, shifts)
    return {"samples_overlap_median": float(np.median(drawn)) if len(drawn) else 0.0,
            "samples_overlap_mean": float(drawn.mean()) if len(drawn) else 0.0,
            "test_overlap_median": float(np.median(held_out)) if len(held_out) else 0.0,
            "test_overlap_mean": float(held_out.mean()) if len(held_out) else 0.0,
            "copies": int((drawn >= COPY).sum()),
            "bar_copies": int(copied_bars(samples, train).sum()),
            "test_copies": int((held_out >= COPY).sum()),
            "test_bar_copies": int(copied_bars(test, train).sum()),
            "samples": len(drawn), "train_windows": len(train), "test_windows": len(held_out)}
