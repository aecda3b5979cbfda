"""Completing a piece: given bars and tracks kept as they are, the rest written to fit them.

Filling in bars, continuing and harmonising are one operation on a fitted piece
(`midivae.data.fitting.Fitted`): a mask of the piece's bars by the model's tracks says
which parts are given. `complete` writes the others window by window with
`VAE.complete`, each window placed so that it holds given music on both sides
of what it writes where it can:

- a run of fewer bars than a window to write sits in the middle of its window
  (a gap between two phrases: the bars before and after it are read);
- a longer run (a continuation, a melody to harmonise) is written in windows
  that start half a window before the first bar still to write, so that each
  window reads the half window before it, given or already written.

`merged` puts the written parts into the piece as it was given: the given parts
keep their notes, register and velocities exactly; a given note whose written
neighbour does not continue it starts again at its bar (every run of sustain
begins with an onset).
"""

from __future__ import annotations

import numpy as np
import torch

from midivae.data.fitting import Fitted, median_velocities, moved, padded
from midivae.errors import ModelError
from midivae.midi.roll import PianoRoll, concatenate, sustain_starts


def windows_to_write(given: np.ndarray, window: int) -> list[int]:
    """The first bar of each window, in the order they are written, that completes a piece
    whose given parts are ``given`` (n_bars, K) bool: see the module docstring."""
    done = given.all(axis=1).copy()  # bars with nothing left to write
    n_bars, starts = len(done), []
    while not done.all():
        u = int(np.flatnonzero(~done)[0])
        run = int(np.argmax(np.append(done[u:], True)))  # bars to write from u
        start = u - (window - run) // 2 if run < window else u - window // 2
        start = max(0, min(start, n_bars - window))
        starts.append(start)
        done[start:start + window] = True
    return starts


def complete(vae, layout, cells: np.ndarray, given: np.ndarray, *, temperature: float,
             seed: int | None, particles: int, label=None, rules=(),
             progress=None) -> np.ndarray:
    """The piece's cells (T, D) bool with every part not ``given`` (n_bars, K) written.

    ``cells`` are the piece in the model's pitches, whole bars (T = n_bars * S). Each
    window reads the given parts and those written by the windows before it. The parts
    written keep ``rules`` (names in `midivae.run.guides.RULES`). ``progress(windows
    written, windows)``, optional, is called after each window.
    """
    from midivae.run.guides import guide_for

    guide = guide_for(layout, rules) if rules else None
    s, window = layout.steps_per_bar, vae.config.n_bars
    n_bars = given.shape[0]
    cells, done = cells.copy(), given.copy()
    g = np.random.default_rng(seed)
    starts = list(windows_to_write(given, window))
    for done_windows, start in enumerate(starts, 1):
        stop = min(start + window, n_bars)
        x = np.zeros((window * s, cells.shape[1]), np.float32)
        x[:(stop - start) * s] = cells[start * s:stop * s]
        mask = np.zeros((window, given.shape[1]), bool)
        mask[:stop - start] = done[start:stop]  # bars past the piece's end: written, cut
        out = vae.complete(torch.from_numpy(x)[None], torch.from_numpy(mask)[None], label,
                           temperature=temperature, seed=int(g.integers(2**62)),
                           particles=particles, guide=guide)
        cells[start * s:stop * s] = out[0, :(stop - start) * s].cpu().numpy() > 0.5
        done[start:stop] = True
        if progress is not None:
            progress(done_windows, len(starts))
    return cells


def merged(fitted: Fitted, layout, cells: np.ndarray, given: np.ndarray,
           velocities: np.ndarray) -> PianoRoll:
    """The piece as given, with its parts not ``given`` (n_bars, K) taken from ``cells``
    (T, D), the completed piece in the model's pitches from `complete`, moved back into the
    piece's register; their notes get ``velocities`` (K,), one a track, shaped by where in
    the bar they start as the layout's `accents` are (`RollLayout.onset_velocities`).

    The result is as long as ``cells`` (less the lead before a pickup), with the piece's
    tempo, meter and key; bars past the piece's end (a continuation) continue its last meter.
    """
    s = layout.steps_per_bar
    new = layout.from_array(cells)  # the model's tracks, grid and pitches, inside's steps
    vel = np.where(new.onset, layout.onset_velocities(cells.shape[0], velocities)[:, :, None], 0)
    new = moved(new.replace(velocity=vel), -fitted.shift)
    lead, roll = fitted.lead, fitted.roll
    steps = cells.shape[0] - lead
    if steps > roll.n_steps:  # a continuation: the piece runs on in silence, in its last meter
        roll = padded(roll, steps)
    onset, sustain = roll.onset.copy(), roll.sustain.copy()
    velocity = (np.zeros(onset.shape, np.uint8) if roll.velocity is None
                else roll.velocity.copy())
    for bar, track in zip(*np.nonzero(~given)):
        a, b = max(bar * s - lead, 0), min((bar + 1) * s - lead, steps)
        if a >= b:
            continue
        onset[track, a:b] = new.onset[track, a + lead:b + lead]
        sustain[track, a:b] = new.sustain[track, a + lead:b + lead]
        velocity[track, a:b] = new.velocity[track, a + lead:b + lead]
    starts = sustain_starts(sustain) & ~onset  # a given note its written neighbour cut off
    onset |= starts
    velocity = np.where(starts, velocities.astype(np.uint8)[:, None, None], velocity)
    velocity = np.where(onset, np.maximum(velocity, 1), 0).astype(np.uint8)
    return roll.replace(onset=onset[:, :steps], sustain=sustain[:, :steps],
                        velocity=None if roll.velocity is None else velocity[:, :steps],
                        tracks=fitted.tracks or roll.tracks)


def piece_cells(fitted: Fitted, layout, n_bars: int) -> np.ndarray:
    """The fitted piece in the model's pitches as cells (n_bars * S, D) bool: its windows
    joined, cut or padded with silence to ``n_bars`` bars."""
    s = layout.steps_per_bar
    inside = padded(concatenate(fitted.windows)[:n_bars * s], n_bars * s)
    return layout.flatten(layout.to_array(inside))


def track_velocities(fitted: Fitted, layout) -> np.ndarray:
    """A velocity for each track's new notes: the median of its given notes' (of all the
    piece's, for a track without any), else the layout's typical one: (K,) uint8."""
    medians = median_velocities(fitted.roll)
    if medians is not None:
        return medians
    k = layout.n_tracks
    return np.asarray(layout.velocities if layout.velocities is not None else [90] * k,
                      np.uint8)


def bars_of(fitted: Fitted, layout) -> int:
    """Bars of the fitted piece (a last partial bar counts)."""
    return -(-fitted.inside.n_steps // layout.steps_per_bar)


def bar_range(bars, n: int, name: str) -> tuple[int, int]:
    """(start, stop), checked against a piece of ``n`` bars; ModelError naming it if not."""
    try:
        start, stop = (int(b) for b in bars)
        if (start, stop) != tuple(bars):
            raise ValueError
    except (TypeError, ValueError):
        raise ModelError(f"bars={bars!r}: give (start, stop), whole numbers of bars counted "
                         "from 0") from None
    if not 0 <= start < stop:
        raise ModelError(f"bars={bars!r}: need 0 <= start < stop")
    if stop > n:
        raise ModelError(f"{name} has {n} bars: the bars to write reach past its end")
    return start, stop
