"""`PianoRoll` and `Track`: the core type every other module takes or returns.

A roll is a grid of steps (``steps_per_beat`` steps per quarter note) by the 128
MIDI pitches, one layer per track. Two boolean layers make notes exact:
``sustain`` is true on every step a note sounds, ``onset`` on its first step, so
a re-attacked pitch stays two notes. Times are always steps, never seconds: the
tempo map only says how long a step lasts when the roll is played.
"""

from __future__ import annotations

from dataclasses import dataclass
from fractions import Fraction
from typing import Iterable, Sequence

import numpy as np

from midivae.midi.keys import check_key, transpose_key

N_PITCHES = 128
# Checks and conversions go over blocks of tracks of about this many cells, so a
# roll's temporaries stay small beside its arrays (4 MiB, or one track if larger).
BLOCK_CELLS = 2**22
NOTE_BATCH_CELLS = 2**18  # sustain cells `arrays_from_notes` indexes at once (2 MiB of int64)


@dataclass(frozen=True)
class Track:
    """One roll track: what a DAW shows as a track."""

    name: str = ""  # track name, as in the MIDI track_name event
    program: int = 0  # General MIDI program, 0..127 (0 = acoustic grand piano)
    is_drum: bool = False  # True: rendered on MIDI channel 10, never transposed

    def __post_init__(self):
        if not 0 <= int(self.program) <= 127:
            raise ValueError(f"Track program must be in 0..127, got {self.program!r}")


def _normalise_events(events: Iterable[Sequence], name: str, width: int,
                      from_zero: bool = True) -> list[tuple]:
    """Sort events by step; at equal steps the last wins; drop repeats of the value in force.

    ``from_zero``: the first event must lie at step 0 (else none may be given).
    """
    by_step: dict[int, tuple] = {}
    for event in events:
        if len(event) != width:
            raise ValueError(f"{name} entries must have {width} fields, got {event!r}")
        step = int(event[0])
        if step < 0:
            raise ValueError(f"{name} step must be >= 0, got {event!r}")
        by_step[step] = tuple(event[1:])
    out: list[tuple] = []
    for step in sorted(by_step):
        if not out or out[-1][1:] != by_step[step]:
            out.append((step, *by_step[step]))
    if from_zero and (not out or out[0][0] != 0):
        raise ValueError(f"{name} must start at step 0, got {out!r}")
    return out


class PianoRoll:
    """A multi-track piano roll on a beat grid.

    Parameters
    ----------
    onset, sustain : array_like of bool, shape (K, T, 128)
        K tracks, T steps, 128 MIDI pitches. ``onset`` marks the first step of
        each note, ``sustain`` every step it sounds; onset implies sustain and
        every run of sustain begins with an onset.
    velocity : array_like of uint8, shape (K, T, 128), optional
        Velocity (1..127) of the note starting at each onset; zero elsewhere.
        ``None`` when velocities were not kept (rendering then uses
        ``midivae.midi.render.DEFAULT_VELOCITY``).
    steps_per_beat : int
        Steps per quarter note.
    tempos : list of (step, qpm)
        Tempo map in quarter notes per minute; the first entry is at step 0.
    time_signatures : list of (step, numerator, denominator)
        Meter changes; the first entry is at step 0.
    tracks : list of Track, length K
    key_signatures : list of (step, fifths, mode)
        Key changes, as in the MIDI key-signature event (see `midivae.midi.keys`):
        ``fifths`` sharps (> 0) or flats (< 0), ``mode`` 0 major, 1 minor. Empty
        when the key is unknown (rendering may then estimate one); before the
        first entry no key is stated.
    """

    __slots__ = ("onset", "sustain", "velocity", "steps_per_beat", "tempos",
                 "time_signatures", "tracks", "key_signatures")

    def __init__(self, onset, sustain, velocity=None, *, steps_per_beat: int = 4,
                 tempos: Iterable[Sequence] = ((0, 120.0),),
                 time_signatures: Iterable[Sequence] = ((0, 4, 4),),
                 tracks: Sequence[Track] | None = None,
                 key_signatures: Iterable[Sequence] = ()):
        onset = np.asarray(onset, dtype=bool)
        sustain = np.asarray(sustain, dtype=bool)
        if onset.ndim != 3 or onset.shape[2] != N_PITCHES or onset.shape != sustain.shape:
            raise ValueError("onset and sustain must both have shape (tracks, steps, 128), "
                             f"got {onset.shape} and {sustain.shape}")
        for b in track_blocks(onset.shape):
            if (onset[b] & ~sustain[b]).any():
                raise ValueError("onset implies sustain: some onset steps are not sustained")
            if (sustain_starts(sustain[b]) & ~onset[b]).any():
                raise ValueError("every run of sustain must begin with an onset")
        if velocity is not None:
            velocity = _checked_velocity(np.asarray(velocity), onset)
        if int(steps_per_beat) < 1:
            raise ValueError(f"steps_per_beat must be >= 1, got {steps_per_beat!r}")
        tracks = [Track() for _ in range(onset.shape[0])] if tracks is None else list(tracks)
        if len(tracks) != onset.shape[0]:
            raise ValueError(f"{len(tracks)} tracks given for {onset.shape[0]} roll tracks")
        tempos = [(s, float(q)) for s, q in _normalise_events(tempos, "tempos", 2)]
        if any(not q > 0 for _, q in tempos):
            raise ValueError(f"tempos must be positive, got {tempos!r}")
        sigs = [(s, int(n), int(d)) for s, n, d in
                _normalise_events(time_signatures, "time_signatures", 3)]
        if any(n < 1 or d < 1 or d & (d - 1) for _, n, d in sigs):
            raise ValueError(f"time signatures need numerator >= 1 and a power-of-two "
                             f"denominator, got {sigs!r}")
        keys = [(s, *check_key(f, m)) for s, f, m in
                _normalise_events(key_signatures, "key_signatures", 3, from_zero=False)]
        self.onset, self.sustain, self.velocity = onset, sustain, velocity
        self.steps_per_beat = int(steps_per_beat)
        self.tempos, self.time_signatures, self.tracks = tempos, sigs, tracks
        self.key_signatures = keys

    # -- size ----------------------------------------------------------------
    @property
    def n_tracks(self) -> int:
        return self.onset.shape[0]

    @property
    def n_steps(self) -> int:
        return self.onset.shape[1]

    @property
    def n_notes(self) -> int:
        return int(self.onset.sum())

    def __repr__(self) -> str:
        names = ", ".join(t.name or f"program {t.program}" for t in self.tracks[:8])
        names += ", ..." if len(self.tracks) > 8 else ""
        return (f"PianoRoll({self.n_tracks} tracks x {self.n_steps} steps, {self.n_notes} notes, "
                f"{self.steps_per_beat} steps/beat, tempos={self.tempos[:3]}"
                f"{'...' if len(self.tempos) > 3 else ''}, "
                f"time_signatures={self.time_signatures[:3]}"
                f"{'...' if len(self.time_signatures) > 3 else ''}, "
                + (f"key_signatures={self.key_signatures[:3]}"
                   f"{'...' if len(self.key_signatures) > 3 else ''}, " if self.key_signatures
                   else "") + f"tracks=[{names}])")

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, PianoRoll):
            return NotImplemented
        if (self.velocity is None) != (other.velocity is None):
            return False
        return (self.steps_per_beat == other.steps_per_beat and self.tempos == other.tempos
                and self.time_signatures == other.time_signatures and self.tracks == other.tracks
                and self.key_signatures == other.key_signatures
                and np.array_equal(self.onset, other.onset)
                and np.array_equal(self.sustain, other.sustain)
                and (self.velocity is None or np.array_equal(self.velocity, other.velocity)))

    __hash__ = None  # mutable arrays inside

    def replace(self, **changes) -> "PianoRoll":
        """A new roll with some fields replaced (arrays are shared, not copied)."""
        fields = dict(onset=self.onset, sustain=self.sustain, velocity=self.velocity,
                      steps_per_beat=self.steps_per_beat, tempos=self.tempos,
                      time_signatures=self.time_signatures, tracks=self.tracks,
                      key_signatures=self.key_signatures)
        fields.update(changes)
        onset, sustain, velocity = fields.pop("onset"), fields.pop("sustain"), fields.pop("velocity")
        return PianoRoll(onset, sustain, velocity, **fields)

    # -- bars ----------------------------------------------------------------
    def bar_starts(self) -> np.ndarray:
        """Step of every bar line before ``n_steps``, for any meter and meter changes.

        A bar lasts ``numerator * 4 / denominator`` beats, its line rounded to the
        nearest step (half to even). A time signature that changes mid-bar starts a
        new bar there. Bars shorter than one step (1/128 at 4 steps per beat) cannot
        be told apart on the grid: every step of them is one bar line, so no step is
        listed twice and there are at most ``n_steps`` bars. Returns int64 array,
        shape (n_bars,).
        """
        sigs = self.time_signatures
        parts = [np.zeros(0, np.int64)]
        for i, (step, num, den) in enumerate(sigs):
            end = min(sigs[i + 1][0] if i + 1 < len(sigs) else self.n_steps, self.n_steps)
            if step < end:
                parts.append(step + _rounded_multiples(Fraction(num * 4 * self.steps_per_beat, den),
                                                       end - step))
        return np.concatenate(parts)

    def bars(self, start: int, stop: int | None = None) -> "PianoRoll":
        """Bars ``start`` (inclusive) to ``stop`` (exclusive) as a new roll."""
        lines = np.append(self.bar_starts(), self.n_steps)
        n_bars = len(lines) - 1
        stop = n_bars if stop is None else stop
        if not 0 <= start <= stop <= n_bars:
            raise ValueError(f"bars({start}, {stop}) outside the roll's {n_bars} bars")
        return self[int(lines[start]):int(lines[stop])]

    # -- slicing and transposition -------------------------------------------
    def __getitem__(self, key: slice) -> "PianoRoll":
        """Steps ``key.start`` to ``key.stop`` as a new roll.

        Tempo, meter and key in force at the start move to step 0. A note cut by the
        start gets an onset at step 0 (with its velocity), so the slice is a
        valid roll that renders and re-quantizes to itself.
        """
        if not isinstance(key, slice) or key.step not in (None, 1):
            raise TypeError(f"a PianoRoll is sliced by steps, e.g. roll[16:32]; got {key!r}")
        start, stop, _ = key.indices(self.n_steps)
        stop = max(start, stop)
        onset = self.onset[:, start:stop].copy()
        sustain = self.sustain[:, start:stop].copy()
        velocity = None if self.velocity is None else self.velocity[:, start:stop].copy()
        if start > 0 and stop > start:
            cut = sustain[:, 0] & ~onset[:, 0]  # notes that began before the slice
            for k, p in zip(*np.nonzero(cut)):
                onset[k, 0, p] = True
                if velocity is not None:
                    began = np.flatnonzero(self.onset[k, :start + 1, p])
                    velocity[k, 0, p] = self.velocity[k, began[-1], p] if len(began) else 1
        return PianoRoll(onset, sustain, velocity, steps_per_beat=self.steps_per_beat,
                         tempos=events_in(self.tempos, start, stop),
                         time_signatures=events_in(self.time_signatures, start, stop),
                         tracks=self.tracks,
                         key_signatures=events_in(self.key_signatures, start, stop))

    def transpose(self, semitones: int) -> "PianoRoll":
        """Shift every pitched track, and the key signatures, by ``semitones``; drum tracks
        are untouched. Keys are respelled with the fewest accidentals (`midivae.midi.keys`).

        Raises ``ValueError`` naming the track and pitch when a note would leave 0..127.
        """
        semitones = int(semitones)
        onset, sustain = self.onset.copy(), self.sustain.copy()
        velocity = None if self.velocity is None else self.velocity.copy()
        for k, track in enumerate(self.tracks):
            if track.is_drum or semitones == 0:
                continue
            used = np.flatnonzero(self.sustain[k].any(axis=0))
            if len(used) and not (0 <= used[0] + semitones and used[-1] + semitones <= 127):
                bad = used[0] if used[0] + semitones < 0 else used[-1]
                raise ValueError(f"transpose({semitones}): track {k} ({track.name or 'unnamed'}) "
                                 f"has pitch {bad}, which would become {bad + semitones}, "
                                 "outside 0..127")
            for arr, src in ((onset, self.onset), (sustain, self.sustain), (velocity, self.velocity)):
                if arr is not None:
                    arr[k] = np.roll(src[k], semitones, axis=1)
        keys = [(s, *transpose_key(f, m, semitones)) for s, f, m in self.key_signatures]
        return self.replace(onset=onset, sustain=sustain, velocity=velocity, key_signatures=keys)

    def pitch_range(self, pitched_only: bool = True) -> tuple[int, int] | None:
        """(lowest, highest) pitch sounding in the roll, or None when it is empty."""
        keep = [k for k, t in enumerate(self.tracks) if not (pitched_only and t.is_drum)]
        used = np.flatnonzero(self.sustain[keep].any(axis=(0, 1))) if keep else []
        return (int(used[0]), int(used[-1])) if len(used) else None

    # -- notes ---------------------------------------------------------------
    def notes(self) -> np.ndarray:
        """Every note as a structured array sorted by (track, start, pitch).

        Fields: ``track``, ``pitch``, ``start`` and ``end`` (steps, end exclusive),
        ``velocity`` (0 when the roll keeps none). Shape (n_notes,).
        """
        K, T, P = self.onset.shape
        # columns (K, P, T+1): a note ends at the first later step that is silent or
        # re-attacked; only steps that end a note are marked, so there are n_notes marks
        sus, ons = self.sustain.transpose(0, 2, 1), self.onset.transpose(0, 2, 1)  # (K, P, T)
        ends = np.zeros((K, P, T + 1), dtype=bool)
        ends[:, :, 1:] = sus
        ends[:, :, 1:T] &= ~sus[:, :, 1:] | ons[:, :, 1:]
        starts = np.flatnonzero(ons)  # flat index into (K, P, T)
        k, rest = np.divmod(starts, P * T)
        p, t = np.divmod(rest, T)
        flat_e = np.flatnonzero(ends)
        nxt = flat_e[np.searchsorted(flat_e, k * P * (T + 1) + p * (T + 1) + t, side="right")]
        out = np.zeros(len(starts), dtype=[("track", "i4"), ("pitch", "i4"), ("start", "i8"),
                                           ("end", "i8"), ("velocity", "u1")])
        out["track"], out["pitch"], out["start"] = k, p, t
        out["end"] = nxt - (k * P * (T + 1) + p * (T + 1))
        if self.velocity is not None:
            out["velocity"] = self.velocity[k, t, p]
        return np.sort(out, order=["track", "start", "pitch"])

    # -- conversions (thin wrappers over the free functions) -----------------
    def to_midi(self, path=None, **kwargs):
        """Render to MIDI; see `midivae.midi.render`."""
        from midivae.midi.render import render
        return render(self, path, **kwargs)

    def to_musicxml(self, path, **kwargs):
        """Write MusicXML for notation programs; see `midivae.midi.notation.write_musicxml`."""
        from midivae.midi.notation import write_musicxml
        return write_musicxml(self, path, **kwargs)

    @classmethod
    def empty(cls, n_tracks: int, n_steps: int, *, velocity: bool = True, **kwargs) -> "PianoRoll":
        """A silent roll of the given size; keyword arguments as for the constructor."""
        shape = (n_tracks, n_steps, N_PITCHES)
        vel = np.zeros(shape, np.uint8) if velocity else None
        return cls(np.zeros(shape, bool), np.zeros(shape, bool), vel, **kwargs)

    # -- seeing and hearing (thin wrappers over midivae.midi.plot and midivae.midi.audio) --
    def plot(self, path=None, **kwargs):
        """One piano-roll panel per track, as a matplotlib Figure; see `midivae.midi.plot.plot_roll`."""
        from midivae.midi.plot import plot_roll
        return plot_roll(self, path, **kwargs)

    def to_wav(self, path=None, **kwargs):
        """Write a WAV through a General MIDI SoundFont and return the backend that played it
        (`midivae.midi.audio.render_wav`); without a path, return the WAV's bytes instead
        (``IPython.display.Audio(roll.to_wav())`` plays it in a notebook)."""
        from midivae.midi.audio import render_wav, wav_bytes
        if path is None:
            return wav_bytes(self, **kwargs)
        return render_wav(self, path, **kwargs)

    def save(self, path, **kwargs):
        """Write the roll in the format ``path``'s suffix names; returns ``path``.

        ``.mid``/``.midi``: MIDI (`to_midi`); ``.musicxml``/``.xml``: MusicXML
        (`to_musicxml`); ``.png``: a picture (`plot`); ``.wav``: audio (`to_wav`).
        Keyword arguments go to that writer. ValueError for any other suffix.
        """
        import os
        writers = {".mid": self.to_midi, ".midi": self.to_midi, ".musicxml": self.to_musicxml,
                   ".xml": self.to_musicxml, ".png": self.plot, ".wav": self.to_wav}
        suffix = os.path.splitext(os.fspath(path))[1].lower()
        if suffix not in writers:
            raise ValueError(f"save({os.fspath(path)!r}): unknown suffix {suffix!r}; use one of "
                             f"{', '.join(writers)}")
        writers[suffix](path, **kwargs)
        return path

    def _repr_png_(self) -> bytes | None:
        """A small picture of the roll, for notebooks (None when there are no tracks)."""
        from midivae.midi.plot import to_png
        return to_png(self) if self.n_tracks else None


def _rounded_multiples(length: Fraction, span: int) -> np.ndarray:
    """``round(n * length)`` for n = 0, 1, ... while below ``span``, without repeats (int64).

    Exact integer arithmetic, rounding half to even as Python's ``round`` does.
    A length below one step reaches every step, so it gives ``arange(span)``.
    """
    if length < 1:
        return np.arange(span, dtype=np.int64)
    a, b = length.numerator, length.denominator
    n = np.arange(span * b // a + 2, dtype=np.int64)  # enough: round(n * a / b) >= n * a / b - 1/2
    q, r = np.divmod(n * a, b)
    q += (2 * r > b) | ((2 * r == b) & (q % 2 == 1))
    return q[q < span]


def track_blocks(shape: tuple[int, ...], cells: int = BLOCK_CELLS) -> list[slice]:
    """Slices of whole tracks, about ``cells`` cells each, covering axis 0 of ``shape``."""
    per_track = max(1, int(np.prod(shape[1:], dtype=np.int64)))
    n = max(1, cells // per_track)
    return [slice(i, i + n) for i in range(0, shape[0], n)]


def _checked_velocity(velocity: np.ndarray, onset: np.ndarray) -> np.ndarray:
    """``velocity`` as uint8, zero off the onsets; shared (not copied) when it already is."""
    if velocity.shape != onset.shape:
        raise ValueError(f"velocity must have shape {onset.shape}, got {velocity.shape}")
    if velocity.min(initial=0) < 0 or velocity.max(initial=0) > 127:
        raise ValueError("velocity must lie in 0..127")
    blocks = track_blocks(onset.shape)
    if velocity.dtype != np.uint8 or any(((velocity[b] != 0) & ~onset[b]).any() for b in blocks):
        velocity = np.where(onset, velocity, 0).astype(np.uint8)
    if any((velocity[b][onset[b]] == 0).any() for b in blocks):
        raise ValueError("every onset needs a velocity in 1..127")
    return velocity


def sustain_starts(sustain: np.ndarray) -> np.ndarray:
    """Where a run of sustain begins: bool, same shape (K, T, P) as ``sustain``."""
    starts = sustain.copy()
    starts[:, 1:] &= ~sustain[:, :-1]
    return starts


def events_in(events: list[tuple], start: int, stop: int) -> list[tuple]:
    """Tempo, meter or key events in force in [start, stop), moved so that ``start``
    becomes step 0 (none at step 0 when none is in force at ``start``)."""
    in_force = [(0, *e[1:]) for e in events if e[0] <= start][-1:]
    later = [e for e in events if start < e[0] < stop]
    return in_force + [(e[0] - start, *e[1:]) for e in later]


def arrays_from_notes(n_tracks: int, n_steps: int, track, pitch, start, end, velocity=None,
                      n_pitches: int = N_PITCHES):
    """Onset, sustain and velocity arrays from note columns: the inverse of `PianoRoll.notes`.

    Parameters
    ----------
    track, pitch, start, end : array_like of int, shape (N,)
        Each note's track, pitch (0 .. n_pitches - 1) and steps, ``start < end <= n_steps``.
    velocity : array_like of int, shape (N,), optional
        Where two notes share an onset, the later-starting one's velocity wins.

    Returns
    -------
    onset, sustain : np.ndarray of bool, shape (K, T, n_pitches)
    velocity : np.ndarray of uint8, shape (K, T, n_pitches), or None
    """
    track, pitch, start, end = (np.asarray(a, np.int64) for a in (track, pitch, start, end))
    shape = (n_tracks, n_steps, n_pitches)
    base = track * n_steps * n_pitches + pitch  # flat index of step 0 of each note's column
    onset = np.zeros(shape, bool)
    onset.flat[base + start * n_pitches] = True
    sustain = np.zeros(shape, bool)
    # sustain: every (note, step) cell a note covers, as flat indices, in batches of
    # notes covering about NOTE_BATCH_CELLS cells (held notes can cover the whole roll)
    length = end - start
    covered = np.cumsum(length)
    total = int(covered[-1]) if len(covered) else 0
    cuts = np.searchsorted(covered, np.arange(NOTE_BATCH_CELLS, total, NOTE_BATCH_CELLS),
                           side="right")
    for lo, hi in zip(np.r_[0, cuts], np.r_[cuts, len(length)]):
        n = length[lo:hi]
        first = np.repeat(base[lo:hi] + start[lo:hi] * n_pitches, n)
        within = np.arange(n.sum()) - np.repeat(np.cumsum(n) - n, n)
        sustain.flat[first + within * n_pitches] = True
    vel = None
    if velocity is not None:
        vel = np.zeros(shape, np.uint8)
        order = np.argsort(start, kind="stable")
        vel.flat[(base + start * n_pitches)[order]] = np.asarray(velocity)[order]
    return onset, sustain, vel


def concatenate(rolls: Sequence[PianoRoll]) -> PianoRoll:
    """Rolls joined in time, each starting where the one before ends.

    The rolls must share their tracks and grid (``steps_per_beat``). Each roll's
    tempo, meter and key events move with it (a repeat of the value in force is
    dropped), and notes never merge across a join, as every roll's first step
    holds the onsets of the notes sounding there. Velocities are kept: either
    every roll keeps them or none does (ValueError otherwise: what a missing
    velocity should be is rendering's choice, not this function's).
    """
    rolls = list(rolls)
    if not rolls:
        raise ValueError("concatenate needs at least one roll")
    first = rolls[0]
    for i, r in enumerate(rolls[1:], 1):
        if r.tracks != first.tracks or r.steps_per_beat != first.steps_per_beat:
            raise ValueError(f"roll {i} has other tracks or grid than roll 0: {r!r} vs {first!r}")
    kept = [r.velocity is not None for r in rolls]
    if any(kept) and not all(kept):
        raise ValueError(f"rolls {[i for i, k in enumerate(kept) if k]} keep velocities, "
                         f"rolls {[i for i, k in enumerate(kept) if not k]} do not: give "
                         "every roll velocities or none")
    offsets = np.cumsum([0] + [r.n_steps for r in rolls])
    tempos = [(s + o, q) for r, o in zip(rolls, offsets) for s, q in r.tempos]
    meters = [(s + o, n, d) for r, o in zip(rolls, offsets) for s, n, d in r.time_signatures]
    keys = [(s + o, f, m) for r, o in zip(rolls, offsets) for s, f, m in r.key_signatures]
    return PianoRoll(np.concatenate([r.onset for r in rolls], axis=1),
                     np.concatenate([r.sustain for r in rolls], axis=1),
                     np.concatenate([r.velocity for r in rolls], axis=1) if all(kept) else None,
                     steps_per_beat=first.steps_per_beat, tempos=tempos,
                     time_signatures=meters, tracks=first.tracks, key_signatures=keys)
