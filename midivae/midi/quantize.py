"""MIDI -> `PianoRoll`: snap notes to a beat grid in integer ticks.

Every note's onset and end are rounded to the nearest grid step separately, in
ticks (``step = round(tick * steps_per_beat / ticks_per_beat)``), so tempo
changes never move the grid; a note lasts at least one step. The sustain pedal
lengthens notes first, as it does when the file is played (`apply_sustain_pedal`). Tempo,
time-signature and key-signature events are read from every track. numpy + mido only.
"""

from __future__ import annotations

import io
import itertools
import numbers
import os
import warnings
from typing import Sequence

import numpy as np

from midivae.bounds import env_bound, raise_hint
from midivae.errors import MidiReadError, RollTooLargeError, describe_source, listed
from midivae.midi.keys import from_tonic
from midivae.midi.roles import Role, assign_roles
from midivae.midi.roll import N_PITCHES, PianoRoll, Track, arrays_from_notes
from midivae.midi.smf import Smf, SmfTrack, decode_text, read_file, read_smf

DRUM_CHANNEL = 9  # MIDI channel 10, counted from 0
MAX_STEPS = 500_000  # default step limit: ~35 hours at 120 bpm and 4 steps per beat
# Tracks x steps x 128 pitches, counting the role layout's tracks too when roles are
# given (both rolls exist at once): 3 bytes a cell, so quantize peaks near 400 MiB, and
# what is made of the roll (plot, reconstruct) stays within a few GiB and seconds. 32 tracks
# of 68 minutes at 120 bpm and 4 steps a beat; a 509-byte file of 15 tracks x 480,000 steps
# asked for 1.9 GB here and 4.8 GB in `reconstruct`. $MIDIVAE_MAX_CELLS raises it.
MAX_CELLS = 2**27
CELLS_ENV = "MIDIVAE_MAX_CELLS"


def quantize(source, steps_per_beat: int = 4, *, velocity: bool = True,
             beat_times: Sequence[float] | None = None,
             time_signatures: Sequence[tuple[int, int, int]] | None = None,
             roles: Sequence[Role] | None = None,
             max_steps: int = MAX_STEPS, sustain_pedal: bool = True) -> PianoRoll:
    """Quantize a MIDI file to a `PianoRoll`.

    Parameters
    ----------
    source : str, os.PathLike, bytes, mido.MidiFile or pretty_midi.PrettyMIDI
    steps_per_beat : int
        Grid steps per quarter note.
    velocity : bool
        Keep note velocities (else ``roll.velocity`` is None).
    beat_times : sequence of float, optional
        Seconds of each beat, for performance-timed MIDI whose notes are off the
        tick grid: notes are placed by their time in seconds, interpolated
        between the given beats (extrapolated past the ends), then rounded to the
        step grid. The roll's tempo map then follows the beats.
    time_signatures : list of (step, numerator, denominator), optional
        Meter to use instead of the file's.
    roles : sequence of Role, optional
        A fixed track layout: each track goes to the first role that matches,
        tracks in one role are merged, tracks matching none are dropped with a
        warning, roles with no tracks stay empty. See ``GM_FAMILY_ROLES``.
    max_steps : int
        Longest roll allowed; a longer piece raises `RollTooLargeError` before
        any array is allocated, as does one whose tracks (plus ``roles``) x steps
        x 128 exceed ``MAX_CELLS`` ($MIDIVAE_MAX_CELLS raises it). Paths to anything but a regular file, or to
        files over ``midivae.midi.smf.MAX_FILE_BYTES``, raise `MidiReadError` unread.
    sustain_pedal : bool
        Lengthen notes held by the sustain pedal (CC64), as Magenta's note-seq
        does (see `apply_sustain_pedal`); False keeps the lengths the note-offs give.

    Returns
    -------
    PianoRoll
        One track per (MIDI track, channel, program) that has notes, in file
        order; channel 10 is drums; track names and key signatures kept.
    """
    if not isinstance(steps_per_beat, numbers.Integral) or isinstance(steps_per_beat, bool) \
            or steps_per_beat < 1:  # 1.5 is no grid: int() would make it 1 unsaid
        raise ValueError(f"steps_per_beat must be a whole number >= 1, got {steps_per_beat!r}")
    if type(source).__module__.split(".")[0] == "pretty_midi":
        smf, name = _smf_from_pretty_midi(source), source
    else:
        data, name = _read_source(source)
        smf = read_smf(data, name)
        _warn_ignored(smf, name)
    if sustain_pedal:
        for t in smf.tracks:
            if t.pedals:
                t.end = apply_sustain_pedal(t)
    roll = _smf_to_roll(smf, name, int(steps_per_beat), velocity, beat_times, max_steps,
                        len(roles) if roles is not None else 0)
    if time_signatures is not None:
        roll = roll.replace(time_signatures=time_signatures)
    if roles is not None:
        roll, dropped = assign_roles(roll, roles)
        if dropped:
            warnings.warn(f"tracks matching no role were dropped: {listed(dropped)}",
                          stacklevel=2)
    return roll


def _warn_ignored(smf: Smf, name) -> None:
    """One warning naming the meta events the reader skipped (tempo 0, meter 0/4): the file
    is read as if they were not there, which its user should hear of."""
    n = sum(t.n_ignored for t in smf.tracks)
    if n:
        events = [f"{what} at tick {tick} of track {i + 1}"
                  for i, t in enumerate(smf.tracks) for tick, what in t.ignored]
        warnings.warn(f"{describe_source(name)}: ignored {n} event(s) that no music can mean "
                      f"({listed(events, total=n)}); it is read as if they were not there",
                      stacklevel=3)


def _read_source(source) -> tuple[bytes, object]:
    if isinstance(source, (str, os.PathLike)):
        return read_file(source), os.fspath(source)
    if isinstance(source, (bytes, bytearray, memoryview)):
        return bytes(source), source
    if type(source).__module__.split(".")[0] == "mido":
        buf = io.BytesIO()
        try:
            source.save(file=buf)
        except Exception as err:  # a malformed in-memory object cannot be serialised
            raise MidiReadError(source, f"cannot serialise the MidiFile: {err}") from err
        return buf.getvalue(), source
    raise TypeError("source must be a path, bytes, mido.MidiFile or pretty_midi.PrettyMIDI, "
                    f"got {type(source).__name__}")


def apply_sustain_pedal(track: SmfTrack) -> list[int]:
    """Note ends of ``track`` with its sustain pedal applied (Magenta note-seq's rule).

    A note released (at tick ``e``) while its channel's pedal is down (after every
    pedal change at ticks <= ``e``) sounds on until the pedal comes up, or until
    the same pitch is struck again on that channel, whichever is first; if
    neither happens it sounds to the end (-1). The drum channel is left alone:
    a drum note's length means nothing. Returns the new ``track.end``.
    """
    n = len(track.pitch)
    start, end = np.asarray(track.start, np.int64), np.asarray(track.end, np.int64)
    channel = np.asarray(track.channel, np.int64)
    key = channel * 128 + np.asarray(track.pitch, np.int64)
    # the next onset of each note's (channel, pitch), -1 when there is none
    order = np.lexsort((np.arange(n), start, key))
    same = key[order[1:]] == key[order[:-1]]
    next_onset = np.full(n, -1, np.int64)
    next_onset[order[:-1][same]] = start[order[1:][same]]
    ticks, chans, downs = (np.asarray(c) for c in zip(*track.pedals))
    out = end.copy()
    for c in np.unique(chans[chans != DRUM_CHANNEL]):
        p_ticks, p_down = ticks[chans == c], downs[chans == c].astype(bool)
        notes = np.flatnonzero((channel == c) & (end >= 0))
        last = np.searchsorted(p_ticks, end[notes], side="right") - 1  # change in force at e
        held = notes[(last >= 0) & p_down[np.maximum(last, 0)]]
        ups = np.append(p_ticks[~p_down], -1)  # -1 past the last release: never released
        release = ups[np.searchsorted(ups[:-1], end[held], side="right")]  # first one after e
        nxt = next_onset[held]
        both = np.where((release >= 0) & (nxt >= 0), np.minimum(release, nxt), -1)
        out[held] = np.where(both >= 0, both, np.maximum(release, nxt))  # -1: to the end
    return out.tolist()


def _smf_from_pretty_midi(pm) -> Smf:
    """A PrettyMIDI's instruments, tempo map, meters, keys and pedals at its own tick
    resolution.

    Read directly (not through ``pm.write``, which truncates tempos to whole
    microseconds the wrong way): one track per instrument, drums on channel 10.
    """
    res = pm.resolution
    conductor = SmfTrack(tempos=[(int(t), round(scale * res * 1e6)) for t, scale in pm._tick_scales],
                         time_signatures=[(pm.time_to_tick(ts.time), ts.numerator, ts.denominator)
                                          for ts in pm.time_signature_changes],
                         # pretty_midi keeps a key's tonic, not its spelling: the fewest accidentals
                         key_signatures=[(pm.time_to_tick(ks.time),
                                          *from_tonic(ks.key_number % 12, ks.key_number // 12))
                                         for ks in pm.key_signature_changes])
    tracks = [conductor]
    for inst in pm.instruments:
        t = SmfTrack(name=decode_text(inst.name.encode("latin-1", "replace")))
        for n in inst.notes:
            t.channel.append(DRUM_CHANNEL if inst.is_drum else 0)
            t.program.append(int(inst.program))
            t.pitch.append(int(n.pitch))
            t.start.append(pm.time_to_tick(n.start))
            t.end.append(pm.time_to_tick(n.end))
            t.velocity.append(int(n.velocity))
        t.pedals = _pedal_changes([(pm.time_to_tick(cc.time), cc.value >= 64) for cc in
                                   inst.control_changes if cc.number == 64],
                                  DRUM_CHANNEL if inst.is_drum else 0)
        t.last_tick = max(t.end + [tick for tick, _, _ in t.pedals], default=0)
        tracks.append(t)
    # pretty_midi keeps no end_of_track; its private tick->time table (sized from
    # the file's last tick, when read from a file) is the only trace of trailing silence.
    file_end = len(getattr(pm, "_PrettyMIDI__tick_to_time", ())) - 2
    conductor.last_tick = max([file_end, 0] + [e[0] for e in conductor.tempos + conductor.time_signatures
                                               + conductor.key_signatures])
    return Smf(1, res, tracks)


def _pedal_changes(events: list[tuple[int, bool]], channel: int) -> list[tuple[int, int, bool]]:
    """(tick, down) pedal events, stable-sorted by tick, as (tick, channel, down) changes."""
    out, down = [], False
    for tick, now in sorted(events, key=lambda e: e[0]):
        if now != down:
            out.append((tick, channel, now))
            down = now
    return out


def _smf_to_roll(smf: Smf, name, spb: int, keep_velocity: bool, beat_times, max_steps,
                 n_roles: int = 0) -> PianoRoll:
    tpb = smf.ticks_per_beat
    keys, cols = _gather_notes(smf)
    tempos, sigs, keys_at = _gather_meta(smf)
    end_tick = max([t.last_tick + off for t, off in zip(smf.tracks, _offsets(smf))], default=0)
    end_tick = max(end_tick, int(cols["start"].max(initial=0)))
    cols["end"][cols["end"] < 0] = end_tick  # never switched off: sounds to the end
    if beat_times is None:
        to_step = lambda ticks: (2 * np.asarray(ticks, np.int64) * spb + tpb) // (2 * tpb)  # noqa: E731
        n_steps = int(to_step(end_tick))
        qpm = [(int(to_step(t)), 60e6 / m) for t, m in tempos]
    else:
        to_step, n_steps, qpm = _beat_grid(smf, tempos, beat_times, spb, end_tick, name)
    start, end = to_step(cols["start"]), to_step(cols["end"])
    end = np.maximum(end, start + 1)
    n_steps = int(max(n_steps, end.max(initial=0)))
    _check_size(name, n_steps, len(keys), n_roles, max_steps)
    onset, sustain, vel = arrays_from_notes(len(keys), n_steps, cols["track"], cols["pitch"], start, end,
                                cols["velocity"] if keep_velocity else None)
    tracks = [Track(name=smf.tracks[t].name or "", program=p, is_drum=c == DRUM_CHANNEL)
              for t, c, p in keys]
    return PianoRoll(onset, sustain, vel, steps_per_beat=spb,
                     tempos=[(0, 120.0)] + qpm,
                     time_signatures=[(0, 4, 4)] + [(int(to_step(t)), n, d) for t, n, d in sigs],
                     tracks=tracks, key_signatures=[(int(to_step(t)), f, m) for t, f, m in keys_at])


def _check_size(name, n_steps: int, n_tracks: int, n_roles: int, max_steps: int) -> None:
    """Refuse a roll whose arrays would break the step or cell limit, before allocating them."""
    roles = f" + {n_roles} roles" if n_roles else ""
    if n_steps > max_steps:
        raise RollTooLargeError(name, f"{n_steps} steps exceeds max_steps={max_steps}; "
                                "use fewer steps_per_beat or raise max_steps")
    most = env_bound(CELLS_ENV, MAX_CELLS)
    cells = (n_tracks + n_roles) * n_steps * N_PITCHES
    if cells > most:
        raise RollTooLargeError(name, f"{n_tracks} tracks{roles} x {n_steps} steps x {N_PITCHES} "
                                f"pitches are {cells:,} cells of 3 bytes, more than "
                                f"MAX_CELLS={most:,}" + raise_hint(CELLS_ENV))


def _offsets(smf: Smf) -> list[int]:
    """Tick offset of each track: 0, except in type 2 where tracks play one after another."""
    if smf.format != 2:
        return [0] * len(smf.tracks)
    return list(np.cumsum([0] + [t.last_tick for t in smf.tracks[:-1]]))


def _gather_notes(smf: Smf):
    """All notes as flat arrays, with a roll-track index per (MIDI track, channel, program).

    Roll tracks are numbered in file order, then by channel, then by program.
    One pass over every note at once: a file of 65,535 tracks costs no per-track work.
    """
    lengths = np.array([len(t.pitch) for t in smf.tracks], np.int64)
    names = ("track", "pitch", "start", "end", "velocity")
    if not lengths.sum():
        return [], {n: np.zeros(0, np.int64) for n in names}

    def column(field: str) -> np.ndarray:
        return np.fromiter(itertools.chain.from_iterable(getattr(t, field) for t in smf.tracks),
                           np.int64, count=int(lengths.sum()))

    midi_track = np.repeat(np.arange(len(smf.tracks)), lengths)
    offset = np.repeat(np.asarray(_offsets(smf), np.int64), lengths)
    # one number per (MIDI track, channel, program): sorting it sorts by all three
    combined = (midi_track * 16 + column("channel")) * 128 + column("program")
    pairs, track_idx = np.unique(combined, return_inverse=True)
    keys = [(int(c) // 2048, int(c) // 128 % 16, int(c) % 128) for c in pairs]
    end = column("end")
    cols = {"track": track_idx.astype(np.int64).reshape(-1), "pitch": column("pitch"),
            "start": column("start") + offset, "end": np.where(end < 0, -1, end + offset),
            "velocity": column("velocity")}
    return keys, cols


def _gather_meta(smf: Smf):
    """Tempo, time-signature and key-signature events of every track, each sorted by tick
    (track order breaks ties)."""
    tempos, sigs, keys = [], [], []
    for t, off in zip(smf.tracks, _offsets(smf)):
        tempos += [(tick + off, m) for tick, m in t.tempos]
        sigs += [(tick + off, n, d) for tick, n, d in t.time_signatures]
        keys += [(tick + off, f, m) for tick, f, m in t.key_signatures]
    if smf.seconds_per_tick is not None:  # SMPTE: a fixed 120 bpm defines the beat
        tempos = []
    return tuple(sorted(e, key=lambda e: e[0]) for e in (tempos, sigs, keys))


def _beat_grid(smf: Smf, tempos, beat_times, spb: int, end_tick: int, name):
    """Step mapping, length and tempo map for quantizing against given beat times."""
    beats = np.asarray(beat_times, dtype=float)
    if beats.ndim != 1 or len(beats) < 2 or not np.all(np.diff(beats) > 0):
        raise ValueError(f"beat_times for {name} must be at least two increasing times in seconds")
    seconds = _tick_to_seconds(smf, tempos)
    index = np.arange(len(beats), dtype=float)
    first, last = beats[1] - beats[0], beats[-1] - beats[-2]

    def to_beats(ticks):
        s = seconds(np.asarray(ticks, np.int64))
        pos = np.interp(s, beats, index)
        pos = np.where(s < beats[0], (s - beats[0]) / first, pos)
        return np.where(s > beats[-1], index[-1] + (s - beats[-1]) / last, pos)

    def to_step(ticks):
        return np.maximum(np.rint(to_beats(ticks) * spb).astype(np.int64), 0)

    n_steps = int(to_step(end_tick))
    mpqn = np.rint(np.diff(beats) * 1e6).astype(np.int64)
    qpm = [(i * spb, 60e6 / m) for i, m in enumerate(mpqn)]
    return to_step, n_steps, qpm


def _tick_to_seconds(smf: Smf, tempos):
    """A vectorised tick -> seconds function for the file's tempo map."""
    if smf.seconds_per_tick is not None:
        return lambda ticks: ticks * smf.seconds_per_tick
    tpb = smf.ticks_per_beat
    ticks = np.array([0] + [t for t, _ in tempos], np.int64)
    mpqn = np.array([500_000] + [m for _, m in tempos], float)
    secs = np.concatenate([[0.0], np.cumsum(np.diff(ticks) * mpqn[:-1] / (tpb * 1e6))])

    def seconds(t):
        i = np.searchsorted(ticks, t, side="right") - 1  # the tempo segment of each tick
        return secs[i] + (t - ticks[i]) * mpqn[i] / (tpb * 1e6)
    return seconds
