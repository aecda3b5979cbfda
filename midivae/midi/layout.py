"""`RollLayout`: how notes and piano rolls become a model's tensors, and back.

The one owner of the tensor layout shared by datasets, models and generation.
A window of T steps is an array of shape (T, K, 2, P): K tracks, channel 0 =
onset, channel 1 = sustain, P pitches from ``low`` up. Models see it flattened
to (T, D) with D = K * 2 * P (track-major, then onset/sustain, then pitch).
The pitch range is ``low`` and ``n_pitches`` everywhere; a user's inclusive
(low, high) is turned into them once. Every conversion is a method here:

    stored notes --window_from_notes--> (T, K, 2, P) --flatten--> (T, D)
    PianoRoll    --to_array-----------> (T, K, 2, P)
    (T, D) or (T, K, 2, P) --from_array--> PianoRoll
    rolls <--to_windows / from_windows--> (B, T, D)

This module is numpy-only; models never import it, they only get D, K and P.
"""

from __future__ import annotations

import math
import numbers
from dataclasses import asdict, dataclass, field
from typing import Sequence

import numpy as np

from midivae.midi.roll import N_PITCHES, PianoRoll, Track, arrays_from_notes, sustain_starts


MAX_STEPS_PER_BEAT = 960  # a grid finer than a fine MIDI file's ticks (960 per beat) is noise
MAX_TRACKS = 256  # far above any layout the roles make (gm: 17); (T, K, 2, P) grows with K
MAX_NUMERATOR = 255  # a MIDI time_signature event holds its numerator in one byte
MAX_DENOMINATOR = 256  # 256ths: no score writes shorter beats


@dataclass(frozen=True)
class RollLayout:
    """A set's tensor layout: grid, pitches, tracks, meter, tempo and label names.

    Every conversion between stored notes, piano rolls and model tensors is a
    method (see the module docstring); a checkpoint stores `to_dict`.
    """

    steps_per_beat: int = 4  # grid resolution, steps per quarter note
    low: int = 0  # lowest MIDI pitch represented
    n_pitches: int = N_PITCHES  # pitches low .. low + n_pitches - 1
    tracks: tuple[Track, ...] = field(default=(Track(),))  # the fixed track layout
    time_signature: tuple[int, int] = (4, 4)  # meter of generated windows
    qpm: float = 120.0  # tempo written into rendered windows
    labels: tuple[str, ...] = ()  # names of the conditioning labels, by index (none: unlabelled)
    # typical onset velocity of each track (1..127; the training set's median), given to
    # notes of windows that carry no velocities; None: rendering's DEFAULT_VELOCITY
    velocities: tuple[int, ...] | None = None
    # each track's median onset velocity at each step of a bar (the training set's), given
    # to generated notes by the step they start on: downbeats louder where the data's are
    accents: tuple[tuple[int, ...], ...] | None = None

    def __post_init__(self):
        """Every field checked with bounds, each error naming it: a layout read from a
        file (a checkpoint, a set's manifest) may ask for anything."""
        object.__setattr__(self, "steps_per_beat",
                           _whole("steps_per_beat", self.steps_per_beat, 1, MAX_STEPS_PER_BEAT))
        object.__setattr__(self, "low", _whole("low", self.low, 0, N_PITCHES - 1))
        object.__setattr__(self, "n_pitches", _whole("n_pitches", self.n_pitches, 1, N_PITCHES))
        if self.low + self.n_pitches > N_PITCHES:
            raise ValueError(f"pitch range low={self.low}, n_pitches={self.n_pitches} "
                             "must lie within 0..127")
        object.__setattr__(self, "tracks", tuple(self.tracks))
        if not 1 <= len(self.tracks) <= MAX_TRACKS or not all(isinstance(t, Track)
                                                              for t in self.tracks):
            raise ValueError(f"tracks must be 1 to {MAX_TRACKS} tracks, got "
                             f"{len(self.tracks)}")
        object.__setattr__(self, "time_signature", _meter(self.time_signature))
        if not (isinstance(self.qpm, numbers.Real) and math.isfinite(self.qpm) and self.qpm > 0):
            raise ValueError(f"qpm must be a finite number > 0, got {self.qpm!r}")
        object.__setattr__(self, "labels", tuple(self.labels))
        if not all(isinstance(name, str) for name in self.labels):
            raise ValueError(f"labels must be names (strings), got {list(self.labels)!r:.200}")
        if self.velocities is not None:
            velocities = tuple(int(v) for v in self.velocities)
            if len(velocities) != len(self.tracks) or not all(1 <= v <= 127 for v in velocities):
                raise ValueError(f"velocities must be one value in 1..127 per track "
                                 f"({len(self.tracks)}), got {self.velocities!r}")
            object.__setattr__(self, "velocities", velocities)
        if self.accents is not None:
            try:
                accents = tuple(tuple(int(v) for v in row) for row in self.accents)
            except (TypeError, ValueError):
                accents = ()
            if (self.velocities is None or len(accents) != len(self.tracks)
                    or any(len(row) != self.steps_per_bar or not all(1 <= v <= 127 for v in row)
                           for row in accents)):
                raise ValueError(f"accents must be, beside velocities, one value in 1..127 per "
                                 f"track ({len(self.tracks)}) and step of a bar "
                                 f"({self.steps_per_bar}), got {self.accents!r:.200}")
            object.__setattr__(self, "accents", accents)
        drums = np.array([t.is_drum for t in self.tracks], bool)
        drums.setflags(write=False)
        object.__setattr__(self, "_drums", drums)  # not a field: cached for every window cut

    @property
    def n_tracks(self) -> int:
        return len(self.tracks)

    @property
    def cells(self) -> int:
        """D, the size of one step of the flattened tensor."""
        return self.n_tracks * 2 * self.n_pitches

    @property
    def pitches(self) -> range:
        """The MIDI pitches represented, ``low .. low + n_pitches - 1``."""
        return range(self.low, self.low + self.n_pitches)

    @property
    def drums(self) -> np.ndarray:
        """Which tracks are drums (never transposed): bool, shape (K,), read-only."""
        return self._drums

    @property
    def steps_per_bar(self) -> int:
        num, den = self.time_signature
        steps = num * 4 * self.steps_per_beat / den
        if steps != int(steps):
            raise ValueError(f"{num}/{den} is not a whole number of steps at "
                             f"{self.steps_per_beat} steps per beat")
        return int(steps)

    def to_dict(self) -> dict:
        d = asdict(self)
        d["tracks"] = [asdict(t) for t in self.tracks]
        d["time_signature"] = list(self.time_signature)
        d["labels"] = list(self.labels)
        d["velocities"] = None if self.velocities is None else list(self.velocities)
        d["accents"] = None if self.accents is None else [list(r) for r in self.accents]
        return d

    @classmethod
    def from_dict(cls, d: dict) -> "RollLayout":
        """Inverse of `to_dict`; ValueError or TypeError naming the field that is wrong."""
        d = dict(d)
        tracks = d.get("tracks", [{}])
        if not isinstance(tracks, list) or not all(isinstance(t, dict) for t in tracks):
            raise ValueError(f"tracks must be a list of objects, got {tracks!r:.200}")
        if not 1 <= len(tracks) <= MAX_TRACKS:
            raise ValueError(f"tracks must be 1 to {MAX_TRACKS} tracks, got {len(tracks)}")
        d["tracks"] = tuple(Track(**t) for t in tracks)
        d["time_signature"] = d.get("time_signature", (4, 4))  # checked in __post_init__
        d["labels"] = tuple(d.get("labels", ()))
        d["velocities"] = None if d.get("velocities") is None else tuple(d["velocities"])
        d["accents"] = None if d.get("accents") is None else tuple(map(tuple, d["accents"]))
        return cls(**d)

    def onset_velocities(self, n_steps: int, typical=None) -> np.ndarray | None:
        """The velocity of a generated note by track and the step it starts on, steps from a
        bar line: (K, n_steps) uint8. The track's accent at that step of the bar
        (`accents`), scaled so that its median is ``typical[k]`` (K,) where given; without
        accents, ``typical`` or `velocities` every step; None when there is neither."""
        if typical is None and self.velocities is None:
            return None
        flat = np.asarray(typical if typical is not None else self.velocities, np.float64)
        if self.accents is None:
            return np.repeat(flat.astype(np.uint8)[:, None], n_steps, 1)
        accents = np.asarray(self.accents, np.float64)  # (K, S)
        scale = flat / np.asarray(self.velocities, np.float64)  # 1 when typical is left out
        bar = np.clip(np.rint(accents * scale[:, None]), 1, 127).astype(np.uint8)
        return np.tile(bar, (1, -(-n_steps // bar.shape[1])))[:, :n_steps]

    def label_index(self, name: str) -> int:
        """Index of a conditioning label by name; ValueError listing the names otherwise."""
        if name not in self.labels:
            raise ValueError(f"unknown label {name!r}; this model knows {list(self.labels) or 'none'}")
        return self.labels.index(name)

    def shift_bounds(self, lowest: int, highest: int) -> tuple[int, int]:
        """The semitone shifts (min, max) that keep pitches ``lowest..highest`` in `pitches`.

        Empty (min > max) when the span is wider than the layout's.
        """
        return self.low - lowest, self.pitches[-1] - highest

    # -- stored notes -> window ----------------------------------------------
    def window_from_notes(self, notes: np.ndarray, start: int, stop: int,
                          shift: int = 0) -> np.ndarray:
        """Steps [start, stop) of a piece's notes as a window, transposed by ``shift``.

        Parameters
        ----------
        notes : structured np.ndarray, shape (N,)
            Fields ``track``, ``pitch``, ``start``, ``end`` (steps of the piece, end
            exclusive), as `midivae.data.windows.NOTE_DTYPE`; any superset of the
            notes sounding in the window works.
        start, stop : int
            The window's steps in the piece.
        shift : int
            Semitones to transpose pitched tracks by (augmentation); drum tracks
            keep their pitches.

        Returns
        -------
        np.ndarray of bool, shape (T, K, 2, P), T = stop - start. Raises ValueError
        when a note falls outside `pitches` after the shift.
        """
        k, pitch, s, e, _ = _clip(notes, start, stop)
        p = pitch - self.low + np.where(self.drums[k], 0, shift)
        if len(p) and (p.min() < 0 or p.max() >= self.n_pitches):
            raise ValueError(f"window [{start}, {stop}) has pitches outside {self.low}.."
                             f"{self.pitches[-1]} after a shift of {shift}")
        onset, sustain, _ = arrays_from_notes(self.n_tracks, stop - start, k, p, s, e,
                                              n_pitches=self.n_pitches)
        return _steps_first(onset, sustain)

    def roll_from_notes(self, notes: np.ndarray, start: int, stop: int, *, velocity: bool = True,
                        tempos: list | None = None,
                        time_signatures: list | None = None) -> PianoRoll:
        """Steps [start, stop) of a piece's notes as a `PianoRoll` on this layout's tracks.

        ``notes`` as in `window_from_notes` (plus ``velocity`` unless ``velocity`` is
        False); ``tempos`` and ``time_signatures`` are the window's own events
        (step 0 = ``start``), the layout's tempo and meter when not given.
        """
        k, p, s, e, vel = _clip(notes, start, stop)
        onset, sustain, vel = arrays_from_notes(self.n_tracks, stop - start, k, p, s, e,
                                                vel if velocity else None)
        return PianoRoll(onset, sustain, vel, steps_per_beat=self.steps_per_beat,
                         tempos=tempos or [(0, self.qpm)],
                         time_signatures=time_signatures or [(0, *self.time_signature)],
                         tracks=list(self.tracks))

    # -- roll <-> (T, K, 2, P) <-> (T, D) ------------------------------------
    def to_array(self, roll: PianoRoll) -> np.ndarray:
        """A roll as a bool array of shape (T, K, 2, P).

        Raises ValueError when the roll's track count differs from the layout's or a
        note lies outside `pitches`.
        """
        if roll.n_tracks != self.n_tracks:
            raise ValueError(f"roll has {roll.n_tracks} tracks, layout expects {self.n_tracks}")
        inside = slice(self.low, self.low + self.n_pitches)
        if roll.sustain[:, :, :self.low].any() or roll.sustain[:, :, inside.stop:].any():
            raise ValueError(f"roll has notes outside the layout's pitches {self.low}.."
                             f"{self.pitches[-1]}: {roll.pitch_range(pitched_only=False)}")
        return _steps_first(roll.onset[:, :, inside], roll.sustain[:, :, inside])

    def from_array(self, x: np.ndarray, velocity: np.ndarray | None = None) -> PianoRoll:
        """A (T, D) or (T, K, 2, P) array (bool, or probabilities > 0.5) as a roll.

        Repairs what a model may emit: an onset implies sustain, and a run of
        sustain without an onset at its start gets one. ``velocity``, if given, has
        shape (T, K, P) and is used at onsets; else an onset of track k gets the velocity
        of its step of the bar (`onset_velocities`: `accents`, else ``velocities[k]``; none
        when the layout has no `velocities`). The roll has the layout's tracks, grid, meter
        and tempo.
        """
        x = np.asarray(x)
        x = x if x.dtype == bool else x > 0.5
        T = x.shape[0]
        flat = x.reshape(T, math.prod(x.shape[1:]))  # (T, D) or (T, K, 2, P) -> (T, D)
        cells = self.unflatten(flat).transpose(1, 0, 2, 3)  # (T, K, 2, P) -> (K, T, 2, P)
        K = self.n_tracks
        inside = slice(self.low, self.low + self.n_pitches)
        onset = np.zeros((K, T, N_PITCHES), bool)
        sustain = np.zeros_like(onset)
        onset[:, :, inside] = cells[:, :, 0]
        sustain[:, :, inside] = cells[:, :, 1] | cells[:, :, 0]
        onset |= sustain_starts(sustain)
        vel = None
        if velocity is not None:
            vel = np.zeros(onset.shape, np.uint8)
            vel[:, :, inside] = np.asarray(velocity).transpose(1, 0, 2)  # (T, K, P) -> (K, T, P)
            vel = np.where(onset, np.clip(vel, 1, 127), 0)
        elif self.velocities is not None:
            by_step = self.onset_velocities(T)[:, :, None]  # (K, T, 1)
            vel = np.where(onset, by_step, np.uint8(0))
        return PianoRoll(onset, sustain, vel, steps_per_beat=self.steps_per_beat,
                         tempos=[(0, self.qpm)], time_signatures=[(0, *self.time_signature)],
                         tracks=list(self.tracks))

    def flatten(self, x: np.ndarray) -> np.ndarray:
        """(..., T, K, 2, P) -> (..., T, D), the model's form; a view where possible."""
        if tuple(x.shape[-3:]) != (self.n_tracks, 2, self.n_pitches):
            raise ValueError(f"expected an array (..., T, {self.n_tracks}, 2, {self.n_pitches}), "
                             f"got shape {tuple(x.shape)}")
        return x.reshape(*x.shape[:-3], self.cells)  # (..., T, K, 2, P) -> (..., T, D)

    def unflatten(self, x: np.ndarray) -> np.ndarray:
        """(..., T, D) -> (..., T, K, 2, P); the inverse of `flatten`."""
        if x.shape[-1] != self.cells:
            raise ValueError(f"expected an array (..., T, {self.cells}) for {self.n_tracks} "
                             f"track(s) x 2 x {self.n_pitches} pitches, got shape {tuple(x.shape)}")
        return x.reshape(*x.shape[:-1], self.n_tracks, 2, self.n_pitches)  # (..., T, K, 2, P)

    # -- rolls <-> a batch of model windows ------------------------------------
    def to_windows(self, rolls: Sequence[PianoRoll]) -> np.ndarray:
        """Rolls of equal length T as model windows: float32, shape (B, T, D), 0/1 values."""
        arrays = [self.to_array(roll) for roll in rolls]  # each (T, K, 2, P)
        if len({a.shape for a in arrays}) > 1:
            lengths = sorted({a.shape[0] for a in arrays})
            raise ValueError(f"rolls differ in length: {lengths} steps")
        return self.flatten(np.stack(arrays)).astype(np.float32)  # (B, T, D)

    def from_windows(self, x: np.ndarray) -> list[PianoRoll]:
        """Model windows (B, T, D), in {0, 1} or probabilities, as B rolls (see `from_array`:
        each track's notes get the layout's typical velocity)."""
        return [self.from_array(window) for window in np.asarray(x)]


def _clip(notes: np.ndarray, start: int, stop: int):
    """Columns of the notes sounding in [start, stop), their steps clipped to it and made
    relative to ``start``: (track, pitch, start, end, velocity or None), int64 shape (N,)."""
    s, e = notes["start"].astype(np.int64), notes["end"].astype(np.int64)
    inside = (s < stop) & (e > start)
    n = notes[inside]
    vel = n["velocity"] if "velocity" in (notes.dtype.names or ()) else None
    return (n["track"].astype(np.int64), n["pitch"].astype(np.int64),
            np.maximum(s[inside], start) - start, np.minimum(e[inside], stop) - start, vel)


def _steps_first(onset: np.ndarray, sustain: np.ndarray) -> np.ndarray:
    """Onset and sustain (K, T, P) as one contiguous (T, K, 2, P) array."""
    both = np.stack([onset, sustain], axis=2)  # (K, T, 2, P)
    return np.ascontiguousarray(both.transpose(1, 0, 2, 3))  # (K, T, 2, P) -> (T, K, 2, P)


def _whole(name: str, value, low: int, high: int) -> int:
    """``value`` as an int when it is a whole number in low..high; else ValueError naming it."""
    if isinstance(value, bool) or not isinstance(value, numbers.Integral) \
            or not low <= value <= high:
        raise ValueError(f"{name} must be a whole number from {low} to {high}, got {value!r:.100}")
    return int(value)


def _meter(value) -> tuple[int, int]:
    """A time signature (numerator, denominator): numerator 1..255, denominator a power of
    two up to 256; else ValueError naming ``time_signature``."""
    try:
        num, den = value
        num = _whole("numerator", num, 1, MAX_NUMERATOR)
        den = _whole("denominator", den, 1, MAX_DENOMINATOR)
    except (TypeError, ValueError):
        num = den = 0
    if num < 1 or den & (den - 1):
        raise ValueError(f"time_signature must be [numerator 1..{MAX_NUMERATOR}, a power-of-two "
                         f"denominator 1..{MAX_DENOMINATOR}], got {value!r:.100}")
    return num, den
