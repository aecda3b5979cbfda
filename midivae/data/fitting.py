"""Fitting a piece to a model's layout: your own MIDI in, as the model's windows.

A piece (a `PianoRoll` or a MIDI file) fits a model's `RollLayout` when it is on
the model's grid, its bars last as long as the model's (a shorter pickup bar and
a shorter last bar excepted), and its tracks are the model's tracks.
`fit_piece` makes it so, or says in one line why it cannot:

0. bars of another length (a 2/4 bar in a 4/4 song, a 3/4 section) are left out,
   the bars on either side joined, when bars of the model's length remain (a
   warning names them); a piece with none is refused;
1. its tracks are mapped onto the model's by `midivae.midi.roles.assign_roles`; when
   the model's own roles match none of them, its tracks with notes are taken in
   file order (a warning says so, and names any track left out);
2. pitched notes move by the whole octaves that keep most of them within the
   model's pitches; notes still outside are left out (a warning counts them);
3. a pickup bar gets silence before it, so that it ends on a bar line; the piece
   is cut at every ``bars``-th bar line into windows, the last one padded with
   silence.

`Fitted` keeps what is needed to put the model's output back: the windows'
spans, tempo and meter, and the octave move. numpy only.
"""

from __future__ import annotations

import os
import warnings
from dataclasses import dataclass, field
from fractions import Fraction
from typing import Sequence

import numpy as np

from midivae.data.windows import bar_lines
from midivae.errors import MeterError, ModelError, listed
from midivae.midi.keys import key_events
from midivae.midi.layout import RollLayout
from midivae.midi.quantize import quantize
from midivae.midi.roles import (Role, assign_roles, mapped_roles, parse_roles, role_of_each,
                                track_label)
from midivae.midi.roll import PianoRoll, Track, concatenate

# a PianoRoll, or what `midivae.quantize` reads: a path, MIDI bytes, mido.MidiFile, PrettyMIDI
Piece = PianoRoll | str | os.PathLike | bytes | object
# how a file's tracks map onto the model's: a spec, `Role`s, or {model track: file track}
Roles = str | Sequence[Role] | dict | None


class OutsidePitchesWarning(UserWarning):
    """Notes outside a layout's pitches were left out of a piece (`fit_piece`): a category of
    its own, so that a caller that counts them (`midivae.data.fitted_source`) can silence it."""


@dataclass
class Fitted:
    """A piece made to fit a layout: its windows in the layout's pitches, and how to undo that."""

    name: str  # the file, or "the roll": what messages call it
    roll: PianoRoll  # the piece on the layout's tracks, in its own register, to its last bar line
    lead: int  # silent steps put before a pickup bar so that it ends on a bar line
    inside: PianoRoll  # ``roll`` after the lead, moved by ``shift``, without notes outside
    # the layout's pitches, in the layout's meter where a pickup bar had its own
    shift: int  # semitones ``inside`` was moved by (a multiple of 12)
    spans: list[tuple[int, int]]  # (start, stop) steps of each window in ``inside``
    windows: list[PianoRoll]  # ``inside`` cut at ``spans``, each padded to a whole window
    meter: tuple[int, int]  # the piece's last meter with bars as long as the layout's
    # each layout track -> the labels of the piece's tracks merged into it (`track_label`)
    mapping: dict[str, list[str]] = field(default_factory=dict)
    # the tracks results are written with: a layout track that one of the piece's tracks
    # filled keeps that track's name and program
    tracks: list[Track] = field(default_factory=list)

    def join(self, decoded: Sequence[PianoRoll]) -> PianoRoll:
        """One decoded roll per window as the whole piece: each cut to its window's span,
        then the lead cut off, with the piece's tempo and meter, in its register, with the
        piece's keys (or, for a piece without any, those of the notes: `key_events`) and its
        velocities (`with_velocities_of`)."""
        whole = concatenate([d[:b - a] for d, (a, b) in zip(decoded, self.spans)])[self.lead:]
        whole = moved(whole.replace(tempos=self.roll.tempos,
                                    time_signatures=self.roll.time_signatures), -self.shift)
        keys = self.roll.key_signatures or key_events(whole, self.windows[0].n_steps)
        whole = whole.replace(key_signatures=keys, tracks=self.tracks or whole.tracks)
        return with_velocities_of(self.roll, whole)


def fit_piece(piece: Piece, layout: RollLayout, bars: int, roles: Roles, *,
              model: str = "the model", fall_back: bool = True,
              name: str | None = None) -> Fitted:
    """Fit ``piece`` to ``layout`` in windows of ``bars`` bars (see the module docstring).

    Parameters
    ----------
    piece : PianoRoll, path, bytes, mido.MidiFile or pretty_midi.PrettyMIDI
        Anything but a roll is quantized on the layout's grid.
    layout : RollLayout
    bars : int
        Bars per window.
    roles : str or list of Role
        How the piece's tracks map onto the layout's (as many roles as tracks).
    model : str
        What messages call the model, e.g. ``"model 'chorale'"``.
    fall_back : bool
        Take the tracks in file order when ``roles`` matches none of them.
    name : str, optional
        What messages call the piece (default: its file, or "the roll").

    Raises `ModelError`, naming the piece, when its grid differs from the layout's,
    its bars differ in length from the layout's (a shorter pickup bar and a shorter
    last bar excepted), or none of its notes can be used.
    """
    read_as, roll = _read(piece, layout)
    name = name or read_as
    roll = _bars_of_the_layout(name, roll, layout, model)
    lead, meter = _check_grid(name, roll, layout, model)
    roll, mapping, tracks = _map_tracks(name, roll, layout, roles, model, fall_back)
    end = int(bar_lines(roll)[-1])
    roll = padded(roll[:end], end)  # to its last bar line: a silent partial bar goes
    shift = _octave_shift(roll, layout)
    inside = _inside(name, _after_lead(roll, lead, layout).transpose(shift), layout, model)
    lines = bar_lines(inside)
    cuts = lines[::bars].tolist()
    cuts += [inside.n_steps] if cuts[-1] < inside.n_steps else []
    spans = list(zip(cuts[:-1], cuts[1:]))
    n_steps = bars * layout.steps_per_bar
    assert all(b - a <= n_steps for a, b in spans), spans  # bars can only be shorter
    return Fitted(name, roll, lead, inside, shift, spans,
                  [padded(inside[a:b], n_steps) for a, b in spans], meter, mapping, tracks)


def _after_lead(roll: PianoRoll, lead: int, layout: RollLayout) -> PianoRoll:
    """The roll after ``lead`` silent steps, its pickup bar in the layout's meter, so that
    the pickup ends on the layout's first bar line."""
    if not lead:
        return roll
    meters = [(0, *layout.time_signature)] + roll.time_signatures[1:]
    silence = PianoRoll.empty(roll.n_tracks, lead, velocity=roll.velocity is not None,
                              steps_per_beat=roll.steps_per_beat, tempos=roll.tempos[:1],
                              time_signatures=meters[:1], tracks=roll.tracks)
    return concatenate([silence, roll.replace(time_signatures=meters)])


def _read(piece: Piece, layout: RollLayout) -> tuple[str, PianoRoll]:
    if isinstance(piece, PianoRoll):
        return "the roll", piece
    if isinstance(piece, (str, os.PathLike)):
        return os.fspath(piece), quantize(piece, steps_per_beat=layout.steps_per_beat)
    if isinstance(piece, (bytes, bytearray)) or _midi_object(piece):
        name = getattr(piece, "filename", None) or f"the {type(piece).__name__} given"
        return str(name), quantize(piece, steps_per_beat=layout.steps_per_beat)
    raise TypeError(f"a piece is a PianoRoll, a MIDI file path or bytes, a mido.MidiFile or a "
                    f"pretty_midi.PrettyMIDI; got {type(piece).__name__}")


def _midi_object(piece) -> bool:
    """Whether ``piece`` is a mido.MidiFile or a pretty_midi.PrettyMIDI."""
    import mido
    import pretty_midi

    return isinstance(piece, (mido.MidiFile, pretty_midi.PrettyMIDI))


def _check_grid(name: str, roll: PianoRoll, layout: RollLayout,
                model: str) -> tuple[int, tuple[int, int]]:
    """The piece's grid and meters against the layout's; returns (the lead a pickup bar
    needs, the piece's last meter with the layout's bar length).

    Every meter must have bars as long as the layout's, except a pickup (a first
    meter that lasts one shorter bar) and a shorter last bar.
    """
    if roll.steps_per_beat != layout.steps_per_beat:
        raise ModelError(f"{name}: {roll.steps_per_beat} steps per beat, {model} uses "
                         f"{layout.steps_per_beat}; quantize it with "
                         f"steps_per_beat={layout.steps_per_beat}")
    bar = layout.steps_per_bar
    end = max(int(bar_lines(roll)[-1]), 1)  # a silent partial bar at the end is no bar
    sigs = [e for e in roll.time_signatures if e[0] < end]
    stops = [e[0] for e in sigs[1:]] + [end]
    lead, other, fits = 0, [], [layout.time_signature]
    for i, ((start, num, den), stop) in enumerate(zip(sigs, stops)):
        length = Fraction(num * 4 * roll.steps_per_beat, den)
        if length == bar:
            fits.append((num, den))
        elif length < bar and stop - start <= length and 0 < i == len(sigs) - 1:
            pass  # a shorter last bar
        elif length < bar and stop - start <= length and i == 0 < len(sigs) - 1:
            lead = bar - (stop - start)  # a pickup bar
        else:
            other.append(f"{num}/{den}")
    if other:
        num, den = layout.time_signature
        lengths = sorted({int(Fraction(int(n) * 4 * roll.steps_per_beat, int(d)))
                          for n, d in (m.split("/") for m in other)})
        raise MeterError(f"{name} is in {', '.join(sorted(set(other)))}, but {model} makes "
                         f"{num}/{den}: its bars would not line up with the model's "
                         f"({bar} steps)", tuple(lengths))
    return lead, fits[-1]


def _bars_of_the_layout(name: str, roll: PianoRoll, layout: RollLayout,
                        model: str) -> PianoRoll:
    """``roll`` as it is when `_check_grid` takes its meters; else without its bars of
    another length than the layout's (the bars on either side joined; a warning names the
    bars left out). Raises `_check_grid`'s `ModelError` when no bar has the layout's length."""
    try:
        _check_grid(name, roll, layout, model)
        return roll
    except ModelError:
        if roll.steps_per_beat != layout.steps_per_beat:
            raise
        lines = bar_lines(roll)
        lines[-1] = min(lines[-1], roll.n_steps)
        fits = np.diff(lines) == layout.steps_per_bar
        if not fits.any():
            raise
    runs, odd = [], []  # runs of bars that fit: [first, stop); the bars that do not
    for b, ok in enumerate(fits):
        if not ok:
            odd.append(b)
        elif runs and runs[-1][1] == b:
            runs[-1][1] = b + 1
        else:
            runs.append([b, b + 1])
    meters = sorted({"{1}/{2}".format(*[e for e in roll.time_signatures
                                        if e[0] <= lines[b]][-1]) for b in odd})
    num, den = layout.time_signature
    warnings.warn(f"{name}: {_bar_ranges(odd)} ({', '.join(meters)}) left out: {model} "
                  f"makes {num}/{den} and their bars would not line up with its "
                  f"({layout.steps_per_bar} steps); the bars either side are joined",
                  stacklevel=4)
    return concatenate([roll[int(lines[a]):int(lines[b])] for a, b in runs])


def _bar_ranges(bars: list[int]) -> str:
    """0-based bar indices as "bar 3" or "bars 1-2, 17" (1-based)."""
    parts, first = [], bars[0]
    for prev, b in zip(bars, bars[1:] + [None]):
        if b != prev + 1:
            parts.append(f"{first + 1}" if first == prev else f"{first + 1}-{prev + 1}")
            first = b
    return ("bar " if len(bars) == 1 else "bars ") + ", ".join(parts)


def _map_tracks(name: str, roll: PianoRoll, layout: RollLayout, roles: Roles, model: str,
                fall_back: bool) -> tuple[PianoRoll, dict[str, list[str]], list[Track]]:
    """The roll on the layout's tracks, which of its tracks went where, and the tracks to
    write results with (see `Fitted`)."""
    if isinstance(roles, dict):
        roles = mapped_roles([t.name for t in layout.tracks], roles)
    elif isinstance(roles, str):
        roles = parse_roles(roles)
    mapped, dropped = assign_roles(roll, roles)
    if mapped.n_tracks != layout.n_tracks:
        raise ModelError(f"roles: {mapped.n_tracks} tracks given, {model} makes "
                         f"{layout.n_tracks}")
    if fall_back and roll.n_notes and not mapped.n_notes:
        roles = _in_order(roll, layout)
        mapped, dropped = assign_roles(roll, roles)
        warnings.warn(f"{name}: no track matches the tracks of {model} "
                      f"({', '.join(t.name for t in layout.tracks)}); its tracks are taken "
                      "in file order", stacklevel=4)
    if dropped:
        warnings.warn(f"{name}: tracks left out (they match none of the tracks of {model}): "
                      f"{listed(dropped)}", stacklevel=4)
    if not mapped.n_notes:
        raise ModelError(f"{name}: no notes for the tracks of {model}")
    into = role_of_each(roll.tracks, roles)
    mapping = {t.name: [track_label(s, k) for k, s in enumerate(roll.tracks)
                        if into[k] == i and roll.onset[k].any()]
               for i, t in enumerate(layout.tracks)}
    tracks = list(layout.tracks)
    for i, t in enumerate(layout.tracks):
        sources = [s for k, s in enumerate(roll.tracks) if into[k] == i and roll.onset[k].any()]
        if len(sources) == 1 and not t.is_drum and not sources[0].is_drum:
            tracks[i] = Track(sources[0].name or t.name, sources[0].program, False)
    return mapped.replace(tracks=list(layout.tracks)), mapping, tracks


def _octave_shift(roll: PianoRoll, layout: RollLayout) -> int:
    """The multiple of 12 that puts most pitched notes within the layout's pitches (the
    smallest such move), keeping every note within 0..127."""
    notes = roll.notes()
    p = notes["pitch"][~layout.drums[notes["track"]]].astype(np.int64)
    if not len(p):
        return 0
    lo, hi = layout.low, layout.pitches[-1]
    moves = [s for s in range(-120, 121, 12) if p.min() + s >= 0 and p.max() + s <= 127]
    return max(moves, key=lambda s: (int(((p + s >= lo) & (p + s <= hi)).sum()), -abs(s)))


def _inside(name: str, roll: PianoRoll, layout: RollLayout, model: str) -> PianoRoll:
    """The roll without the notes outside the layout's pitches (a warning counts them)."""
    outside = np.ones(roll.onset.shape[2], bool)
    outside[layout.low:layout.low + layout.n_pitches] = False
    lost = int(roll.onset[:, :, outside].sum())
    if not lost:
        return roll
    warnings.warn(f"{name}: {lost} of {roll.n_notes} notes lie outside the pitches of {model} "
                  f"({layout.low}..{layout.pitches[-1]}) and are left out",
                  OutsidePitchesWarning, stacklevel=4)
    onset, sustain = roll.onset.copy(), roll.sustain.copy()
    onset[:, :, outside] = sustain[:, :, outside] = False
    velocity = None if roll.velocity is None else np.where(onset, roll.velocity, 0)
    return roll.replace(onset=onset, sustain=sustain, velocity=velocity)


# -- rolls ------------------------------------------------------------------------------

def padded(roll: PianoRoll, n_steps: int, *, front: bool = False) -> PianoRoll:
    """The roll with silent steps added (after it, or before it) up to ``n_steps``."""
    extra = n_steps - roll.n_steps
    if extra <= 0:
        return roll
    width = ((0, 0), (extra, 0) if front else (0, extra), (0, 0))
    vel = None if roll.velocity is None else np.pad(roll.velocity, width)
    return roll.replace(onset=np.pad(roll.onset, width), sustain=np.pad(roll.sustain, width),
                        velocity=vel)


def with_velocities_of(source: PianoRoll, roll: PianoRoll) -> PianoRoll:
    """``roll`` (the same tracks and steps as ``source``, or fewer steps) with ``source``'s
    expression: a note that starts where one of the source's does (track, step and pitch)
    takes its velocity, any other the median velocity of its track's notes in the source
    (of all its notes, for a track without any). ``roll`` as it is when the source has no
    velocities or no notes."""
    typical = median_velocities(source)
    if typical is None or roll.n_tracks != source.n_tracks:
        return roll
    n = min(roll.n_steps, source.n_steps)
    velocity = np.where(roll.onset, typical[:, None, None], 0).astype(np.uint8)
    matched = roll.onset[:, :n] & source.onset[:, :n]
    velocity[:, :n][matched] = source.velocity[:, :n][matched]
    return roll.replace(velocity=velocity)


def median_velocities(roll: PianoRoll) -> np.ndarray | None:
    """(K,) uint8: the median velocity of each track's notes (of all the roll's notes, for a
    track without any); None for a roll without velocities or notes."""
    if roll.velocity is None or not roll.onset.any():
        return None
    overall = np.median(roll.velocity[roll.onset])
    return np.array([np.median(roll.velocity[k][roll.onset[k]]) if roll.onset[k].any()
                     else overall for k in range(roll.n_tracks)]).round().astype(np.uint8)


def moved(roll: PianoRoll, semitones: int) -> PianoRoll:
    """``roll.transpose(semitones)``, or the roll as it is when that would leave 0..127."""
    try:
        return roll.transpose(semitones)
    except ValueError:
        return roll


# -- roles ------------------------------------------------------------------------------

def roles_for(layout: RollLayout, spec: str | None = None) -> list[Role]:
    """The roles a file's tracks are mapped by: ``spec`` (the training set's) when it makes
    the layout's tracks, else the layout's own: merge, merge+drums, the GM families, or
    a track whose name contains a layout track's name."""
    def tracks_of(roles):
        return tuple(Track(r.name, r.program, r.is_drum) for r in roles)

    for candidate in ([spec] if spec else []) + ["merge", "merge+drums", "gm"]:
        try:
            roles = parse_roles(candidate)
        except ValueError:
            continue
        if tracks_of(roles) == layout.tracks:
            return roles
    return [Role(t.name, t.program, t.is_drum, match=_NamedLike(t)) for t in layout.tracks]


class _NamedLike:
    """Role matcher: a track whose name contains the layout track's name (case-insensitive),
    drums to drums."""

    def __init__(self, track: Track):
        self.name, self.is_drum = track.name.lower(), track.is_drum

    def __call__(self, track: Track) -> bool:
        return bool(self.name) and self.name in track.name.lower() \
            and track.is_drum == self.is_drum


def _in_order(roll: PianoRoll, layout: RollLayout) -> list[Role]:
    """Roles taking the roll's tracks with notes in file order: pitched tracks onto the
    layout's pitched tracks, drum tracks onto its drum tracks."""
    sounding = [k for k in range(roll.n_tracks) if roll.onset[k].any()]
    queues = {d: [k for k in sounding if roll.tracks[k].is_drum == d] for d in (False, True)}
    return [Role(t.name, t.program, t.is_drum,
                 position=queues[t.is_drum].pop(0) if queues[t.is_drum] else -1)
            for t in layout.tracks]

