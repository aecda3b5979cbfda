"""`RollLayout`: how a piano roll becomes a model's input, and back.

The one tensor layout shared by datasets, models and generation. A window of
T steps is an array of shape (T, K, 2, P): K tracks, channel 0 = onset,
channel 1 = sustain, P pitches from ``low`` up. Models see it flattened to
(T, D) with D = K * 2 * P (track-major, then onset/sustain, then pitch).
This module is numpy-only; models never import it, they only get D, K and P.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field

import numpy as np

from midivae.roll import N_PITCHES, PianoRoll, Track, sustain_starts


@dataclass(frozen=True)
class RollLayout:
    """What is needed to turn a (T, D) model tensor back into a `PianoRoll`."""

    steps_per_beat: int = 4  # grid resolution, steps per quarter note
    low: int = 0  # lowest MIDI pitch represented
    n_pitches: int = N_PITCHES  # pitches low .. low + n_pitches - 1
    tracks: tuple[Track, ...] = field(default=(Track(),))  # the fixed track layout
    time_signature: tuple[int, int] = (4, 4)  # meter of generated windows
    qpm: float = 120.0  # tempo written into rendered windows
    labels: tuple[str, ...] = ()  # names of the conditioning labels, by index (none: unlabelled)

    def __post_init__(self):
        if not (0 <= self.low and self.n_pitches >= 1 and self.low + self.n_pitches <= N_PITCHES):
            raise ValueError(f"pitch range low={self.low}, n_pitches={self.n_pitches} "
                             "must lie within 0..127")
        object.__setattr__(self, "tracks", tuple(self.tracks))
        object.__setattr__(self, "time_signature", tuple(self.time_signature))
        object.__setattr__(self, "labels", tuple(self.labels))

    @property
    def n_tracks(self) -> int:
        return len(self.tracks)

    @property
    def channels(self) -> int:
        """D, the size of one step of the flattened tensor."""
        return self.n_tracks * 2 * self.n_pitches

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
        return d

    @classmethod
    def from_dict(cls, d: dict) -> "RollLayout":
        d = dict(d)
        d["tracks"] = tuple(Track(**t) for t in d.get("tracks", [{}]))
        d["time_signature"] = tuple(d.get("time_signature", (4, 4)))
        d["labels"] = tuple(d.get("labels", ()))
        return cls(**d)

    def label_index(self, name: str) -> int:
        """Index of a conditioning label by name; ValueError listing the names otherwise."""
        if name not in self.labels:
            raise ValueError(f"unknown label {name!r}; this model knows {list(self.labels) or 'none'}")
        return self.labels.index(name)


def to_array(roll: PianoRoll, layout: RollLayout) -> np.ndarray:
    """A roll as a bool array of shape (T, K, 2, P) in ``layout``.

    Raises ValueError when the roll's track count differs from the layout's or a
    note lies outside the layout's pitch range.
    """
    if roll.n_tracks != layout.n_tracks:
        raise ValueError(f"roll has {roll.n_tracks} tracks, layout expects {layout.n_tracks}")
    hi = layout.low + layout.n_pitches
    outside = roll.sustain[:, :, :layout.low].any() or roll.sustain[:, :, hi:].any()
    if outside:
        raise ValueError(f"roll has notes outside the layout's pitches {layout.low}..{hi - 1}: "
                         f"{roll.pitch_range(pitched_only=False)}")
    both = np.stack([roll.onset[:, :, layout.low:hi], roll.sustain[:, :, layout.low:hi]], axis=2)
    return np.ascontiguousarray(both.transpose(1, 0, 2, 3))  # (K, T, 2, P) -> (T, K, 2, P)


def from_array(x: np.ndarray, layout: RollLayout, velocity: np.ndarray | None = None) -> PianoRoll:
    """Turn a (T, D) or (T, K, 2, P) array (bool, or probabilities > 0.5) into a roll.

    Repairs what a model may emit: an onset implies sustain, and a run of
    sustain without an onset at its start gets one. ``velocity``, if given, has
    shape (T, K, P) and is used at onsets.
    """
    x = np.asarray(x)
    if x.dtype != bool:
        x = x > 0.5
    T = x.shape[0]
    x = x.reshape(T, layout.n_tracks, 2, layout.n_pitches).transpose(1, 0, 2, 3)  # K, T, 2, P
    onset = np.zeros((layout.n_tracks, T, N_PITCHES), bool)
    sustain = np.zeros_like(onset)
    hi = layout.low + layout.n_pitches
    onset[:, :, layout.low:hi] = x[:, :, 0]
    sustain[:, :, layout.low:hi] = x[:, :, 1] | x[:, :, 0]
    onset |= sustain_starts(sustain)
    vel = None
    if velocity is not None:
        vel = np.zeros(onset.shape, np.uint8)
        vel[:, :, layout.low:hi] = np.asarray(velocity).transpose(1, 0, 2)
        vel = np.where(onset, np.clip(vel, 1, 127), 0)
    num, den = layout.time_signature
    return PianoRoll(onset, sustain, vel, steps_per_beat=layout.steps_per_beat,
                     tempos=[(0, layout.qpm)], time_signatures=[(0, num, den)],
                     tracks=list(layout.tracks))
