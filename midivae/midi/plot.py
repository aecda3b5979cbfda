"""`PianoRoll` -> picture: one piano-roll panel per track.

Each track is a panel, stacked top to bottom on a shared time axis in steps:
notes are rectangles shaded by velocity, bar lines (`PianoRoll.bar_starts`) are
dark, beat lines light (one per ``1/denominator`` note of the meter in force).
Pitched tracks are labelled with note names (MIDI 60 = C4), drum tracks with
General MIDI drum names. matplotlib loads when a function here is first called;
figures are built on the Agg canvas, so nothing touches pyplot's global state or
needs a screen.
"""

from __future__ import annotations

import io
import os

import numpy as np

from midivae.fileio import replace_atomically
from midivae.midi.roll import PianoRoll

PANEL_HEIGHT = 1.9  # inches per track panel in `plot_roll`
PNG_DPI = 100  # resolution of the PNG `plot_roll` writes
PREVIEW_SIZE = (8.0, 1.3)  # inches: width, and height per track, of the notebook preview
PREVIEW_DPI = 72
MIN_SPAN = 12  # a pitched panel shows at least an octave
CMAP = "Blues"  # velocity 1..127 maps onto the upper part of this colormap


def plot_roll(roll: PianoRoll, path: str | os.PathLike | None = None, *,
              figsize: tuple[float, float] | None = None, dpi: int = PNG_DPI):
    """Draw ``roll`` as one piano-roll panel per track; write a PNG if ``path`` is given.

    Parameters
    ----------
    roll : PianoRoll
    path : str or os.PathLike, optional
        PNG file to write (atomically, replacing any file there).
    figsize : (width, height) in inches, optional
        Default: about 0.35 inch per bar (6 to 20 wide), ``PANEL_HEIGHT`` per track.
    dpi : int
        Resolution of the written PNG.

    Returns
    -------
    matplotlib.figure.Figure
        One Axes per track, in track order. x is in steps; y in MIDI pitches.
    """
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    if roll.n_tracks == 0:
        raise ValueError(f"roll has no tracks to plot: {roll!r}")
    if figsize is None:
        width = min(max(6.0, 0.35 * len(roll.bar_starts()) + 2.0), 20.0)
        figsize = (width, 0.6 + PANEL_HEIGHT * roll.n_tracks)
    fig = Figure(figsize=figsize)
    FigureCanvasAgg(fig)
    _fixed_margins(fig, roll)
    axes = fig.subplots(roll.n_tracks, 1, sharex=True, squeeze=False)[:, 0]
    notes = roll.notes()
    bars, beats = roll.bar_starts(), beat_lines(roll)
    for k, ax in enumerate(axes):
        _draw_track(ax, roll, k, notes[notes["track"] == k], bars, beats)
    _label_bars(axes[-1], roll, bars)
    if path is not None:
        replace_atomically(path, lambda tmp: fig.savefig(tmp, format="png", dpi=dpi))
    return fig


def _fixed_margins(fig, roll: PianoRoll) -> None:
    """Margins in inches that fit the labels: pitch names (or the longest drum name) on the
    left, a title over each panel, bar numbers under the last. Set once, not measured by a
    layout engine, which took most of a picture's time."""
    width, height = fig.get_size_inches()
    drums = [k for k, t in enumerate(roll.tracks) if t.is_drum]
    left = 1.25 if drums else 0.45  # "Acoustic Bass Drum" at 6 pt, or "C#4" at 7 pt
    top, bottom, gap = 0.25, 0.45, 0.3  # a panel's title; bar numbers and the axis label
    panels = max(height - top - bottom - gap * (roll.n_tracks - 1), 0.1)
    fig.subplots_adjust(left=min(left / width, 0.4), right=1 - 0.12 / width,
                        top=1 - top / height, bottom=bottom / height,
                        hspace=gap / (panels / roll.n_tracks))


def to_png(roll: PianoRoll, *, figsize: tuple[float, float] | None = None,
           dpi: int = PREVIEW_DPI) -> bytes:
    """The roll as PNG bytes, small by default (the notebook preview)."""
    if figsize is None:
        figsize = (PREVIEW_SIZE[0], 0.5 + PREVIEW_SIZE[1] * roll.n_tracks)
    buf = io.BytesIO()
    plot_roll(roll, figsize=figsize).savefig(buf, format="png", dpi=dpi)
    return buf.getvalue()


def beat_lines(roll: PianoRoll) -> np.ndarray:
    """Step of every beat (``1/denominator`` note of the meter in force) before ``n_steps``.

    Beats restart at each time signature, as bars do. int64, shape (n_beats,).
    """
    parts = [np.zeros(0, np.int64)]
    sigs = roll.time_signatures
    for i, (step, _, den) in enumerate(sigs):
        end = min(sigs[i + 1][0] if i + 1 < len(sigs) else roll.n_steps, roll.n_steps)
        beat = 4 * roll.steps_per_beat / den  # steps per beat, may be fractional
        n = np.arange(int(np.ceil((end - step) / beat)) + 1)
        parts.append(step + np.rint(n * beat).astype(np.int64))
        parts[-1] = parts[-1][parts[-1] < end]
    return np.unique(np.concatenate(parts))


def pitch_name(pitch: int) -> str:
    """Scientific pitch name with sharps, MIDI 60 = ``"C4"``."""
    import pretty_midi
    return pretty_midi.note_number_to_name(int(pitch))


def drum_name(pitch: int) -> str:
    """General MIDI percussion name of a drum-channel key, or the key number if it has none."""
    import pretty_midi
    return pretty_midi.note_number_to_drum_name(int(pitch)) or str(int(pitch))


def _draw_track(ax, roll: PianoRoll, k: int, notes: np.ndarray, bars: np.ndarray,
                beats: np.ndarray) -> None:
    """One panel: grid, notes shaded by velocity, pitch (or drum) names, the track's title."""
    import matplotlib
    from matplotlib.collections import PolyCollection
    from midivae.midi.render import DEFAULT_VELOCITY

    track = roll.tracks[k]
    lo, hi = _pitch_window(notes["pitch"], track.is_drum)
    y0, y1 = lo - 0.5, hi + 0.5
    ax.vlines(np.setdiff1d(beats, bars), y0, y1, colors="0.88", linewidths=0.5,
              zorder=0.5, label="beat lines")
    ax.vlines(bars, y0, y1, colors="0.45", linewidths=0.9, zorder=1, label="bar lines")
    vel = notes["velocity"] if roll.velocity is not None else np.full(len(notes), DEFAULT_VELOCITY)
    cmap = matplotlib.colormaps[CMAP]
    s, e, p = notes["start"], notes["end"], notes["pitch"]
    boxes = np.stack([np.stack([s, p - 0.4], 1), np.stack([e, p - 0.4], 1),
                      np.stack([e, p + 0.4], 1), np.stack([s, p + 0.4], 1)], 1)  # (N, 4 corners, xy)
    ax.add_collection(PolyCollection(boxes, facecolors=cmap(0.35 + 0.65 * vel / 127),
                                     edgecolors=cmap(1.0), linewidths=0.4, zorder=2,
                                     label="notes"))
    ax.set_xlim(0, max(roll.n_steps, 1))
    ax.set_ylim(y0, y1)
    ticks = _pitch_ticks(lo, hi, notes["pitch"], track.is_drum)
    ax.set_yticks(ticks, [drum_name(t) if track.is_drum else pitch_name(t) for t in ticks],
                  fontsize=6 if track.is_drum else 7)
    ax.grid(axis="y", color="0.93", linewidth=0.5)
    ax.set_axisbelow(True)
    name = track.name or f"track {k + 1}"
    ax.set_title(f"{name} - {_instrument(track)}", fontsize=9, loc="left")
    if not len(notes):
        ax.text(0.5, 0.5, "(no notes)", transform=ax.transAxes, ha="center", va="center",
                color="0.5", fontsize=8)


def _pitch_window(pitches: np.ndarray, is_drum: bool) -> tuple[int, int]:
    """Lowest and highest pitch a panel shows: the used range (at least an octave if pitched)."""
    if not len(pitches):
        return (35, 81) if is_drum else (48, 71)  # GM drum keys; C3..B4
    lo, hi = int(pitches.min()), int(pitches.max())
    if is_drum:
        return lo, hi
    short = max(0, MIN_SPAN - (hi - lo + 1))
    lo, hi = lo - short // 2, hi + short - short // 2
    shift = max(0, -lo) - max(0, hi - 127)  # keep the window inside 0..127
    return lo + shift, hi + shift


def _pitch_ticks(lo: int, hi: int, used: np.ndarray, is_drum: bool) -> list[int]:
    """Drums: every key played. Pitched: every C, or every natural note when fewer than two Cs show."""
    if is_drum:
        return sorted({int(p) for p in used})
    cs = [p for p in range(lo, hi + 1) if p % 12 == 0]
    return cs if len(cs) >= 2 else [p for p in range(lo, hi + 1) if p % 12 in (0, 2, 4, 5, 7, 9, 11)]


def _label_bars(ax, roll: PianoRoll, bars: np.ndarray) -> None:
    """Bar numbers (from 1) under the bottom panel, thinned to about 16 labels."""
    every = max(1, -(-len(bars) // 16))
    shown = np.arange(0, len(bars), every)
    ax.set_xticks(bars[shown], [str(i + 1) for i in shown], fontsize=7)
    ax.set_xlabel(f"bar ({roll.steps_per_beat} steps per beat)", fontsize=8)


def _instrument(track) -> str:
    import pretty_midi
    return "drums" if track.is_drum else pretty_midi.program_to_instrument_name(track.program)
