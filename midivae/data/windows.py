"""Cut a `PianoRoll` into training windows of whole bars, and split pieces.

A window is ``bars`` consecutive bars starting at a bar line (``roll.bar_starts()``),
so its length in steps follows the meter: 4 bars of 4/4 at 4 steps per beat are 64
steps, 4 bars of 6/8 are 48. Windows start every ``hop`` bars. Everything here is
numpy only and works on one piece at a time, inside a preparation worker.
"""

from __future__ import annotations

import hashlib
from collections import Counter
from dataclasses import dataclass

import numpy as np

from midivae.roll import N_PITCHES, PianoRoll, arrays_from_notes

SPLITS = ("train", "valid", "test")

# One stored note: steps are relative to the start of its piece, end exclusive.
NOTE_DTYPE = np.dtype([("track", "u1"), ("pitch", "u1"), ("velocity", "u1"),
                       ("start", "<u4"), ("end", "<u4")])

# One window of a piece: steps [start, stop) of the piece, its first bar, the meter
# in force at its start, whether that meter holds throughout, its note count, and
# the lowest/highest pitch of all tracks and of pitched tracks (255/0 when none).
WINDOW_DTYPE = np.dtype([("piece", "<i4"), ("start", "<u4"), ("stop", "<u4"), ("bar", "<u4"),
                         ("num", "u1"), ("den", "u1"), ("uniform", "?"), ("n_notes", "<u4"),
                         ("low", "u1"), ("high", "u1"), ("pitched_low", "u1"),
                         ("pitched_high", "u1")])


@dataclass
class WindowSettings:
    """How windows are cut and filtered (a subset of `PrepareSettings`)."""

    bars: int = 4  # bars per window
    hop: int = 1  # bars between the starts of consecutive windows
    meter: tuple[int, int] | None = None  # keep only windows wholly in this meter
    min_notes: int = 1  # drop windows with fewer notes (a cut note counts)
    pitch_range: tuple[int, int] | None = None  # (low, high) inclusive; drop windows outside


def bar_lines(roll: PianoRoll) -> np.ndarray:
    """Bar lines of ``roll``, with the end of its last bar appended.

    A trailing partial bar (the file ends before the bar is over) is padded to its
    full length when a note starts in it and dropped when it is silent, so that
    every bar a window holds has the length its meter says.

    Returns
    -------
    np.ndarray of int64, shape (n_bars + 1,)
        Steps; bar ``b`` spans ``lines[b]:lines[b + 1]``; ``lines[-1]`` may exceed
        ``roll.n_steps`` by the padding.
    """
    starts = roll.bar_starts()
    if len(starts) == 0:
        return np.zeros(1, np.int64)
    last = int(starts[-1])
    _, num, den = [s for s in roll.time_signatures if s[0] <= last][-1]
    full = last + round(num * 4 * roll.steps_per_beat / den)
    if full <= roll.n_steps:
        return np.append(starts, full)
    if roll.onset[:, last:].any():
        return np.append(starts, full)
    return starts  # the silent partial bar is not a bar


def cut_windows(roll: PianoRoll, notes: np.ndarray, lines: np.ndarray,
                settings: WindowSettings) -> tuple[np.ndarray, Counter]:
    """Every window of ``settings.bars`` bars that passes the filters.

    Parameters
    ----------
    roll : PianoRoll
        The piece, already in the dataset's track layout.
    notes : np.ndarray of NOTE_DTYPE, shape (n_notes,)
        ``roll``'s notes (see `notes_of`).
    lines : np.ndarray of int64, shape (n_bars + 1,)
        ``bar_lines(roll)``.
    settings : WindowSettings

    Returns
    -------
    windows : np.ndarray of WINDOW_DTYPE, shape (W,)
        Kept windows; the ``piece`` field is left 0 for the caller to fill.
    dropped : collections.Counter
        Windows dropped, by reason: ``"few_notes"``, ``"meter"``, ``"pitch_range"``.
    """
    n_bars = len(lines) - 1
    first = np.arange(0, max(n_bars - settings.bars + 1, 0), settings.hop)
    w = np.zeros(len(first), WINDOW_DTYPE)
    w["bar"], w["start"], w["stop"] = first, lines[first], lines[first + settings.bars]
    sig_steps = np.array([s for s, _, _ in roll.time_signatures])
    at = np.searchsorted(sig_steps, w["start"], side="right") - 1  # meter in force at the start
    w["num"] = [roll.time_signatures[i][1] for i in at]
    w["den"] = [roll.time_signatures[i][2] for i in at]
    w["uniform"] = np.searchsorted(sig_steps, w["stop"], side="left") - 1 == at
    # notes sounding in [start, stop): started before stop, minus those ended by start
    w["n_notes"] = (np.searchsorted(np.sort(notes["start"]), w["stop"], side="left")
                    - np.searchsorted(np.sort(notes["end"]), w["start"], side="right"))
    pitched = [k for k, t in enumerate(roll.tracks) if not t.is_drum]
    w["low"], w["high"] = _pitch_bounds(roll.sustain, w["start"], w["stop"])
    w["pitched_low"], w["pitched_high"] = _pitch_bounds(roll.sustain[pitched], w["start"], w["stop"])
    keep = np.ones(len(w), bool)
    dropped: Counter = Counter()
    for reason, bad in _filters(w, settings):
        if n := int((keep & bad).sum()):
            dropped[reason] += n
        keep &= ~bad
    return w[keep], dropped


def _filters(w: np.ndarray, settings: WindowSettings):
    """(reason, mask of windows failing it), applied in order; each window counts once."""
    if settings.meter is not None:
        num, den = settings.meter
        yield "meter", ~w["uniform"] | (w["num"] != num) | (w["den"] != den)
    yield "few_notes", w["n_notes"] < settings.min_notes
    if settings.pitch_range is not None:
        lo, hi = settings.pitch_range
        has = w["high"] >= w["low"]
        yield "pitch_range", has & ((w["low"] < lo) | (w["high"] > hi))


def _pitch_bounds(sustain: np.ndarray, start: np.ndarray, stop: np.ndarray):
    """Lowest and highest pitch sounding in each [start, stop); (255, 0) where silent.

    ``sustain`` has shape (K, T, 128); returns two uint8 arrays of shape (W,).
    """
    W = len(start)
    if W == 0 or sustain.shape[0] == 0:
        return np.full(W, 255, np.uint8), np.zeros(W, np.uint8)
    used = sustain.any(axis=0)  # (T, P)
    T = used.shape[0]
    cs = np.zeros((T + 1, N_PITCHES), np.int32)
    np.cumsum(used, axis=0, out=cs[1:])
    # windows padded past the last step read the final prefix sum
    present = cs[np.minimum(stop, T)] - cs[np.minimum(start, T)] > 0  # (W, P)
    any_ = present.any(axis=1)
    low = np.where(any_, present.argmax(axis=1), 255)
    high = np.where(any_, N_PITCHES - 1 - present[:, ::-1].argmax(axis=1), 0)
    return low.astype(np.uint8), high.astype(np.uint8)


def notes_of(roll: PianoRoll) -> np.ndarray:
    """The roll's notes as a compact NOTE_DTYPE array sorted by start, shape (n_notes,)."""
    src = roll.notes()
    out = np.zeros(len(src), NOTE_DTYPE)
    for name in NOTE_DTYPE.names:
        out[name] = src[name]
    return out[np.argsort(out["start"], kind="stable")]


def assign_split(piece_id: str, fractions: tuple[float, ...], salt: str = "") -> str:
    """The split of a piece, from a hash of its identity: stable across runs and machines.

    ``fractions`` gives the share of train, valid and test; the piece's SHA-256
    maps to a number in [0, 1) that falls in one of them.
    """
    digest = hashlib.sha256(f"{salt}\x00{piece_id}".encode()).digest()
    u = int.from_bytes(digest[:8], "big") / 2**64
    edges = np.cumsum(fractions) / np.sum(fractions)
    return SPLITS[min(int(np.searchsorted(edges, u, side="right")), len(SPLITS) - 1)]


def window_array(notes: np.ndarray, start: int, stop: int, n_tracks: int, low: int,
                 n_pitches: int, shift: int = 0, drums: np.ndarray | None = None) -> np.ndarray:
    """A window as the model layout's bool array, built from its piece's notes.

    Parameters
    ----------
    notes : np.ndarray of NOTE_DTYPE
        Notes of the piece that may overlap the window (any superset works).
    start, stop : int
        The window's steps in the piece.
    n_tracks, low, n_pitches : int
        The layout: K tracks, pitches ``low .. low + n_pitches - 1``.
    shift : int
        Semitones to transpose pitched tracks by (augmentation).
    drums : np.ndarray of bool, shape (K,), optional
        Tracks that are never transposed.

    Returns
    -------
    np.ndarray of bool, shape (T, K, 2, P)
        T = stop - start; channel 0 onset, channel 1 sustain (see `midivae.layout`).
    """
    T = stop - start
    s = notes["start"].astype(np.int64)
    e = notes["end"].astype(np.int64)
    inside = (s < stop) & (e > start)
    s, e, n = np.maximum(s[inside], start) - start, np.minimum(e[inside], stop) - start, notes[inside]
    k = n["track"].astype(np.int64)
    p = n["pitch"].astype(np.int64) - low
    if shift and drums is not None:
        p = p + np.where(drums[k], 0, shift)
    elif shift:
        p = p + shift
    if len(p) and (p.min() < 0 or p.max() >= n_pitches):
        raise ValueError(f"window [{start}, {stop}) has pitches outside {low}..{low + n_pitches - 1}"
                         f" after a shift of {shift}")
    onset, sustain, _ = arrays_from_notes(n_tracks, T, k, p, s, e, n_pitches=n_pitches)
    both = np.stack([onset, sustain], axis=2)  # (K, T, 2, P)
    return np.ascontiguousarray(both.transpose(1, 0, 2, 3))  # (K, T, 2, P) -> (T, K, 2, P)
