"""Key signatures: the MIDI key event's numbers, their names, and estimating a key from notes.

A key is ``(fifths, mode)`` as in the MIDI key-signature event: ``fifths`` counts
sharps (> 0) or flats (< 0), -7..7; ``mode`` is 0 for major, 1 for minor. A
`PianoRoll` keeps its key changes as ``(step, fifths, mode)``.

`estimate_key` is the Krumhansl–Schmuckler algorithm (Krumhansl 1990, *Cognitive
Foundations of Musical Pitch*, ch. 4): the time each pitch class sounds is
correlated with the Krumhansl–Kessler (1982) probe-tone profile of each of the 24
major and minor keys, and the best-correlated key wins. `key_events` follows a
longer clip's keys with hysteresis: one key unless the music really modulates. numpy only.
"""

from __future__ import annotations

import numpy as np

# Krumhansl & Kessler (1982), probe-tone ratings of the 12 pitch classes from the tonic up.
MAJOR_PROFILE = (6.35, 2.23, 3.48, 2.33, 4.38, 4.09, 2.52, 5.19, 2.39, 3.66, 2.29, 2.88)
MINOR_PROFILE = (6.33, 2.68, 3.52, 5.38, 2.60, 3.53, 2.54, 4.75, 3.98, 2.69, 3.34, 3.17)
# Tonic names by fifths, -7 (Cb major, Ab minor) .. 7 (C# major, A# minor), as mido spells them.
MAJOR_TONICS = ("Cb", "Gb", "Db", "Ab", "Eb", "Bb", "F", "C", "G", "D", "A", "E", "B", "F#", "C#")
MINOR_TONICS = ("Ab", "Eb", "Bb", "F", "C", "G", "D", "A", "E", "B", "F#", "C#", "G#", "D#", "A#")


def check_key(fifths: int, mode: int) -> tuple[int, int]:
    """``(fifths, mode)`` as ints, or ValueError naming the value."""
    if not (-7 <= int(fifths) <= 7 and int(mode) in (0, 1)):
        raise ValueError(f"a key is (fifths in -7..7, mode 0 = major or 1 = minor), "
                         f"got {(fifths, mode)!r}")
    return int(fifths), int(mode)


def key_name(fifths: int, mode: int) -> str:
    """``(-3, 0)`` -> ``"Eb major"``, ``(3, 1)`` -> ``"F# minor"``."""
    fifths, mode = check_key(fifths, mode)
    return f"{(MINOR_TONICS if mode else MAJOR_TONICS)[fifths + 7]} {'minor' if mode else 'major'}"


def to_mido(fifths: int, mode: int) -> str:
    """The key as mido's ``key_signature`` message names it: ``"Eb"``, ``"F#m"``."""
    fifths, mode = check_key(fifths, mode)
    return (MINOR_TONICS if mode else MAJOR_TONICS)[fifths + 7] + "m" * mode


def tonic(fifths: int, mode: int) -> int:
    """Pitch class (0 = C) of the key's tonic."""
    return (7 * fifths + (9 if mode else 0)) % 12


def from_tonic(pitch_class: int, mode: int) -> tuple[int, int]:
    """The key of a tonic pitch class, spelled with the fewest accidentals (fifths -6..5:
    Gb major rather than F#, Eb minor rather than D#)."""
    major = (int(pitch_class) + (3 if mode else 0)) % 12  # the relative major's tonic
    fifths = 7 * major % 12  # C=0, G=1, ..., F=11 -> -1
    return (fifths - 12 if fifths > 5 else fifths), int(mode)


def transpose_key(fifths: int, mode: int, semitones: int) -> tuple[int, int]:
    """The key ``semitones`` higher, spelled as `from_tonic` does (unchanged for 0 or 12k)."""
    if int(semitones) % 12 == 0:
        return check_key(fifths, mode)
    return from_tonic(tonic(fifths, mode) + int(semitones), mode)


def key_correlations(durations) -> np.ndarray:
    """Pearson correlation of a pitch-class profile with each key's profile.

    Parameters
    ----------
    durations : array_like of float, shape (12,)
        How long each pitch class (0 = C) sounds, any unit.

    Returns
    -------
    np.ndarray of float, shape (2, 12)
        Row 0 major, row 1 minor; column = the tonic's pitch class. NaN when
        ``durations`` is flat (every pitch class equally long, or silence).
    """
    x = np.asarray(durations, float)
    if x.shape != (12,):
        raise ValueError(f"durations must have shape (12,), got {x.shape}")
    profiles = np.array([MAJOR_PROFILE, MINOR_PROFILE])  # (2, 12), tonic first
    # the profile of the key on tonic t: rating of pitch class c is profile[(c - t) % 12]
    shifted = profiles[:, (np.arange(12)[None, :] - np.arange(12)[:, None]) % 12]  # (2, t, c)
    xc = x - x.mean()
    pc = shifted - shifted.mean(axis=2, keepdims=True)
    with np.errstate(invalid="ignore", divide="ignore"):
        return (pc @ xc) / (np.linalg.norm(pc, axis=2) * np.linalg.norm(xc))


# `key_events`: a span moves to another key only when that key correlates better than the
# current one by this much, in two spans running
KEY_CHANGE_MARGIN = 0.2


def _durations(roll, start: int = 0, stop: int | None = None) -> np.ndarray:
    """(12,) steps each pitch class sounds in the roll's pitched tracks between two steps."""
    pitched = [k for k, t in enumerate(roll.tracks) if not t.is_drum]
    if not pitched:
        return np.zeros(12)
    per_pitch = roll.sustain[pitched, start:stop].sum(axis=(0, 1), dtype=np.int64)  # (128,)
    return np.bincount(np.arange(len(per_pitch)) % 12, weights=per_pitch, minlength=12)


def key_events(roll, span: int) -> list[tuple[int, int, int]]:
    """The roll's key changes as ``(step, fifths, mode)``: one key for a clip in one key.

    The key of the whole roll (`estimate_key`) holds until the music leaves it: the
    roll is cut into spans of ``span`` steps, and the key moves at a span whose best
    key correlates better than the current one by ``KEY_CHANGE_MARGIN`` when the
    next span prefers that key too (a last span alone is not enough). [] when no
    key stands out.
    """
    if span < 1:
        raise ValueError(f"span must be >= 1 step, got {span!r}")
    whole = estimate_key(roll)
    if whole is None:
        return []
    current = (int(tonic(*whole)), whole[1])  # (tonic pitch class, mode)
    starts = list(range(0, roll.n_steps, span))
    best = []
    for a in starts:
        r = key_correlations(_durations(roll, a, a + span))
        if not np.isfinite(r).any():
            best.append((None, r))
            continue
        mode, pc = np.unravel_index(np.nanargmax(r), r.shape)
        best.append(((int(pc), int(mode)), r))
    events = [(0, current)]
    for i, (a, (key, r)) in enumerate(zip(starts, best)):
        if key is None or key == current:
            continue
        gain = r[key[1], key[0]] - r[current[1], current[0]]
        if gain > KEY_CHANGE_MARGIN and i + 1 < len(best) and best[i + 1][0] == key:
            current = key
            events = events[:-1] if events[-1][0] == a else events
            events.append((a, key))
    return [(step, *from_tonic(pc, mode)) for step, (pc, mode) in events]


def estimate_key(roll) -> tuple[int, int] | None:
    """The roll's key by Krumhansl–Schmuckler over its pitched tracks, or None.

    Each pitch class is weighted by the steps it sounds (every sustained cell of
    every pitched track). None when no pitched note sounds or every pitch class
    sounds equally long (no key stands out). Ties go to major, then the lower tonic.
    """
    if not any(not t.is_drum for t in roll.tracks):
        return None
    r = key_correlations(_durations(roll))
    if not np.isfinite(r).any():
        return None
    mode, pitch_class = np.unravel_index(np.nanargmax(r), r.shape)
    return from_tonic(int(pitch_class), int(mode))
