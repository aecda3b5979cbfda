"""`PianoRoll` -> MIDI: the inverse of `quantize` (MusicXML: `midivae.midi.score`).

Writes a type-1 Standard MIDI File at exact ticks: track 0 holds the whole
tempo map, every time signature and every key signature; each roll track
becomes one named MIDI track with its program; drums go to channel 10 and other
tracks to distinct channels that skip it. Clips a model generates carry the key
their notes suggest (`midivae.run.generate` estimates it); ``estimate_key=True`` does
the same here for any roll without a key signature.

``quantize(render(roll)) == roll`` for every roll whose tracks all have notes
(a silent track is written but, having no notes, does not come back).

A grid note fills its last step, so a line of notes is legato: each ends where the
next begins. ``gate`` below 1 ends every note that share of its last step early, as a
player lifts a key between notes (`DETACHED_GATE`, what midivae writes for the clips a
model makes); any gate above 0.5 keeps the round trip, since quantize rounds ends to
the nearest step.
"""

from __future__ import annotations

import io
import os
import warnings

import mido
import numpy as np

from midivae.fileio import replace_atomically
from midivae.midi.keys import estimate_key as _estimate_key
from midivae.midi.keys import to_mido
from midivae.midi.roll import PianoRoll
from midivae.midi.smf import decode_text

DEFAULT_VELOCITY = 100  # written when the roll keeps no velocities
TICKS_PER_BEAT = 480  # the resolution written, rounded to a multiple of steps_per_beat
MELODIC_CHANNELS = tuple(c for c in range(16) if c != 9)
# The share of its last step a generated note sounds: at 4 steps a beat and 120 BPM the
# key is lifted 25 ms before the next note, so repeated and stepwise notes are heard
# apart while held chords still sound held. 1.0 is legato (the grid as it is).
DETACHED_GATE = 0.8


def to_midi_file(roll: PianoRoll, estimate_key: bool = False, gate: float = 1.0
                 ) -> mido.MidiFile:
    """The roll as a type-1 `mido.MidiFile` (see module docstring).

    Every track's end_of_track lies at the roll's last step: the clip length a
    DAW shows, trailing silence included. No other event marks it.
    ``estimate_key``: a roll without key signatures gets an estimated one at step 0.
    ``gate``: the share of its last step each note sounds, above 0.5 and up to 1 (module
    docstring).
    """
    _check_gate(gate)
    spb = roll.steps_per_beat
    tps = max(1, TICKS_PER_BEAT // spb)  # ticks per step
    if spb * tps > 32767:
        raise ValueError(f"steps_per_beat={spb} exceeds what a MIDI file can resolve (32767)")
    end = roll.n_steps * tps
    conductor = [(s * tps, mido.MetaMessage("set_tempo", tempo=_mpqn(q))) for s, q in roll.tempos]
    conductor += [(s * tps, mido.MetaMessage("time_signature", numerator=n, denominator=d))
                  for s, n, d in roll.time_signatures]
    conductor += [(s * tps, mido.MetaMessage("key_signature", key=to_mido(f, m)))
                  for s, f, m in key_signatures(roll, estimate_key)]
    mf = mido.MidiFile(type=1, ticks_per_beat=spb * tps)
    mf.tracks.append(_track(conductor, max(end, max(t for t, _ in conductor))))
    notes = roll.notes()
    channels = _channels(roll)
    # ticks each note_off comes before its step's end: under half a step, so ends read back
    early = min(round((1 - gate) * tps), (tps - 1) // 2)
    for k, track in enumerate(roll.tracks):
        ch = channels[k]
        events = [(0, mido.MetaMessage("track_name", name=_encode_name(track.name))),
                  (0, mido.Message("program_change", channel=ch, program=track.program))]
        mine = notes[notes["track"] == k]
        vel = mine["velocity"] if roll.velocity is not None else np.full(len(mine), DEFAULT_VELOCITY)
        # offs sort before ons at the same tick, so a re-attacked pitch stays two notes
        events += [(int(e) * tps - early, mido.Message("note_off", channel=ch, note=int(p),
                                                       velocity=0))
                   for p, e in zip(mine["pitch"], mine["end"])]
        events += [(int(s) * tps, mido.Message("note_on", channel=ch, note=int(p), velocity=int(v)))
                   for p, s, v in zip(mine["pitch"], mine["start"], vel)]
        mf.tracks.append(_track(events, end))
    return mf


def key_signatures(roll: PianoRoll, estimate_key: bool = False) -> list[tuple[int, int, int]]:
    """The key signatures rendered: the roll's own, else (with ``estimate_key``) the key
    estimated from its pitched notes at step 0, else none."""
    if roll.key_signatures or not estimate_key:
        return list(roll.key_signatures)
    key = _estimate_key(roll)
    return [] if key is None else [(0, *key)]


def render(roll: PianoRoll, path: str | os.PathLike | None = None, *,
           estimate_key: bool = False, gate: float = 1.0) -> mido.MidiFile:
    """Render a roll to MIDI, optionally writing it to ``path``.

    ``estimate_key``: give a roll that has no key signature the key its notes
    suggest (Krumhansl–Schmuckler, `midivae.midi.keys.estimate_key`); False writes none.
    ``gate``: the share of its last step each note sounds, above 0.5 and up to 1 (legato,
    the default); `DETACHED_GATE` is what the command line writes for generated clips.

    The file is written under a temporary name in the target folder and then
    renamed, so an interrupted write never leaves a half-written file.

    Returns
    -------
    mido.MidiFile
        The type-1 file written (`quantize` reads it back as it is); see
        `to_pretty_midi` for a `pretty_midi.PrettyMIDI`.
    """
    mf = to_midi_file(roll, estimate_key, gate)
    if path is not None:
        replace_atomically(path, lambda tmp: mf.save(str(tmp)))
    return mf


def to_pretty_midi(roll: PianoRoll, estimate_key: bool = False, gate: float = 1.0):
    """The rendered roll as pretty_midi reads it (a `pretty_midi.PrettyMIDI`).

    pretty_midi keeps no end_of_track, so its ``get_end_time`` (and a file it
    writes) would stop at the last event: the meter in force is restated at the
    roll's end in ``time_signature_changes``, a no-op that keeps the clip length.
    """
    import pretty_midi

    buf = io.BytesIO()
    to_midi_file(roll, estimate_key, gate).save(file=buf)
    buf.seek(0)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)  # pretty_midi's tick-scale notes
        pm = pretty_midi.PrettyMIDI(buf)
    if roll.n_steps > roll.time_signatures[-1][0]:
        _, n, d = roll.time_signatures[-1]
        tps = max(1, TICKS_PER_BEAT // roll.steps_per_beat)
        pm.time_signature_changes.append(
            pretty_midi.TimeSignature(n, d, pm.tick_to_time(roll.n_steps * tps)))
    return pm


def _check_gate(gate) -> None:
    """ValueError unless 0.5 < gate <= 1: a shorter note would come back a step short."""
    if isinstance(gate, bool) or not isinstance(gate, (int, float)) or not 0.5 < gate <= 1:
        raise ValueError(f"gate must be a number above 0.5 and up to 1 (the share of its last "
                         f"step a note sounds), got {gate!r}")


def _mpqn(qpm: float) -> int:
    return min(max(round(60e6 / qpm), 1), 0xFFFFFF)


def _encode_name(name: str) -> str:
    """The str whose Latin-1 bytes (what mido writes) `smf.decode_text` reads back as ``name``.

    Latin-1 where it reads back unchanged, UTF-8 bytes otherwise (names beyond
    Latin-1, and Latin-1 names whose bytes happen to be valid UTF-8).
    """
    try:
        if decode_text(name.encode("latin-1")) == name:
            return name
    except UnicodeEncodeError:
        pass
    return name.encode("utf-8").decode("latin-1")


def _channels(roll: PianoRoll) -> list[int]:
    melodic = [k for k, t in enumerate(roll.tracks) if not t.is_drum]
    if len(melodic) > len(MELODIC_CHANNELS):
        warnings.warn(f"{len(melodic)} pitched tracks share {len(MELODIC_CHANNELS)} MIDI channels; "
                      "tracks on a shared channel keep their own MIDI track and program",
                      stacklevel=3)
    out = [9] * roll.n_tracks
    for i, k in enumerate(melodic):
        out[k] = MELODIC_CHANNELS[i % len(MELODIC_CHANNELS)]
    return out


def _track(events: list[tuple[int, object]], end: int) -> mido.MidiTrack:
    """A track from (absolute tick, message) pairs, stable-sorted, ending at ``end``.

    The messages are the caller's fresh ones: each gets its delta time in place (a copy
    per message took most of the time a render did)."""
    track = mido.MidiTrack()
    now = 0
    for tick, msg in sorted(events, key=lambda e: e[0]):
        msg.time = tick - now
        track.append(msg)
        now = tick
    track.append(mido.MetaMessage("end_of_track", time=max(end - now, 0)))
    return track
