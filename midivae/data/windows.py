"""Cut a `PianoRoll` into training windows of whole bars, and split pieces.

A window is ``bars`` consecutive bars starting at a bar line (``roll.bar_starts()``),
so its length in steps follows the meter: 4 bars of 4/4 at 4 steps per beat are 64
steps, 4 bars of 6/8 are 48. Windows start every ``hop`` bars. Everything here is
numpy only and works on one piece at a time, inside a preparation worker.

Work is bounded by the roll, never by its meter: bars shorter than one step
collapse onto steps (see `PianoRoll.bar_starts`), so a piece has at most one
window per step, and at most ``max_windows`` of them are kept.
"""

from __future__ import annotations

import hashlib
from collections import Counter
from dataclasses import dataclass

import numpy as np

from midivae.midi.roll import N_PITCHES, PianoRoll

SPLITS = ("train", "valid", "test")
# A bar must last at least this many steps; windows with a meter whose bars are
# shorter (1/128 at 4 steps per beat is 1/8 of a step) are dropped as "short_bars".
MIN_BAR_STEPS = 1
# Windows kept per piece; later ones are dropped as "window_cap". 10,000 bars of
# 4/4 at hop 1 are 5.5 hours at 120 bpm, far beyond any real piece.
MAX_WINDOWS = 10_000
_CHUNK = 4096  # windows per block when bounding pitches: (chunk, 128) int32 temporaries

# One stored note: steps are relative to the start of its piece, end exclusive.
# `RollLayout.window_from_notes` and `roll_from_notes` cut windows from these.
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
    max_windows: int = MAX_WINDOWS  # keep at most this many windows per piece (the first ones)
    also_meters: tuple[tuple[int, int], ...] = ()  # or wholly in one of these (same bar length)


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
    full = last + max(1, round(num * 4 * roll.steps_per_beat / den))
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
        Windows dropped, by reason: ``"short_bars"`` (a meter whose bars are
        shorter than ``MIN_BAR_STEPS``), ``"meter"``, ``"few_notes"``,
        ``"pitch_range"``, then ``"window_cap"`` (kept windows past ``max_windows``).
    """
    n_bars = len(lines) - 1
    first = np.arange(0, max(n_bars - settings.bars + 1, 0), settings.hop)
    w = np.zeros(len(first), WINDOW_DTYPE)
    w["bar"], w["start"], w["stop"] = first, lines[first], lines[first + settings.bars]
    sigs = np.array(roll.time_signatures, np.int64).reshape(-1, 3)  # (step, num, den) rows
    at = np.searchsorted(sigs[:, 0], w["start"], side="right") - 1  # meter in force at the start
    last = np.searchsorted(sigs[:, 0], w["stop"], side="left") - 1  # meter in force at the end
    w["num"], w["den"] = sigs[at, 1], sigs[at, 2]
    w["uniform"] = last == at
    short = np.concatenate([[0], np.cumsum(sigs[:, 1] * 4 * roll.steps_per_beat
                                           < sigs[:, 2] * MIN_BAR_STEPS)])
    has_short = short[last + 1] - short[at] > 0  # a short-bar meter is in force somewhere in it
    # notes sounding in [start, stop): started before stop, minus those ended by start
    w["n_notes"] = (np.searchsorted(np.sort(notes["start"]), w["stop"], side="left")
                    - np.searchsorted(np.sort(notes["end"]), w["start"], side="right"))
    pitched = [k for k, t in enumerate(roll.tracks) if not t.is_drum]
    span = w["start"], w["stop"]
    w["low"], w["high"] = _pitch_bounds(roll.sustain, range(roll.n_tracks), *span)
    w["pitched_low"], w["pitched_high"] = _pitch_bounds(roll.sustain, pitched, *span)
    # whole bars of the meter in force: a meter restated off the bar grid cuts a bar short
    full = ((w["stop"].astype(np.int64) - w["start"]) * w["den"]
            == settings.bars * w["num"].astype(np.int64) * 4 * roll.steps_per_beat)
    keep = np.ones(len(w), bool)
    dropped: Counter = Counter()
    for reason, bad in _filters(w, has_short, full, settings):
        if n := int((keep & bad).sum()):
            dropped[reason] += n
        keep &= ~bad
    kept = w[keep]
    if len(kept) > settings.max_windows:
        dropped["window_cap"] += len(kept) - settings.max_windows
        kept = kept[:settings.max_windows]
    return kept, dropped


def _filters(w: np.ndarray, has_short: np.ndarray, full: np.ndarray, settings: WindowSettings):
    """(reason, mask of windows failing it), applied in order; each window counts once."""
    yield "short_bars", has_short
    if settings.meter is not None:  # one meter: every window exactly bars x that bar
        in_one = np.zeros(len(w), dtype=bool)
        for num, den in (settings.meter, *settings.also_meters):
            in_one |= (w["num"] == num) & (w["den"] == den)
        yield "meter", ~w["uniform"] | ~full | ~in_one
    yield "few_notes", w["n_notes"] < settings.min_notes
    if settings.pitch_range is not None:
        lo, hi = settings.pitch_range
        has = w["high"] >= w["low"]
        yield "pitch_range", has & ((w["low"] < lo) | (w["high"] > hi))


def _pitch_bounds(sustain: np.ndarray, tracks, start: np.ndarray, stop: np.ndarray):
    """Lowest and highest pitch sounding in ``tracks`` in each [start, stop); (255, 0) where silent.

    ``sustain`` has shape (K, T, 128); returns two uint8 arrays of shape (W,).
    Prefix sums cover only the pitches that sound at all, and windows go in
    blocks, so the temporaries stay within a few times the size of one track.
    """
    W = len(start)
    low, high = np.full(W, 255, np.uint8), np.zeros(W, np.uint8)
    T = sustain.shape[1]
    used = np.zeros((T, N_PITCHES), bool)  # (T, P)
    for k in tracks:
        used |= sustain[k]
    pitches = np.flatnonzero(used.any(axis=0))  # (U,) the pitches that ever sound
    if W == 0 or len(pitches) == 0:
        return low, high
    cs = np.zeros((T + 1, len(pitches)), np.int32)
    np.cumsum(used[:, pitches], axis=0, out=cs[1:])  # (T + 1, U)
    del used
    for i in range(0, W, _CHUNK):
        s = slice(i, i + _CHUNK)
        # windows padded past the last step read the final prefix sum
        present = cs[np.minimum(stop[s], T)] - cs[np.minimum(start[s], T)] > 0  # (chunk, U)
        any_ = present.any(axis=1)
        low[s] = np.where(any_, pitches[present.argmax(axis=1)], 255)
        high[s] = np.where(any_, pitches[len(pitches) - 1 - present[:, ::-1].argmax(axis=1)], 0)
    return low, high


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
