"""`PianoRoll` -> music21 score -> MusicXML: files a notation program takes as they are.

The score is built from the roll's notes at their exact steps (no MIDI round
trip, so nothing is re-quantized and no overlapping note is lost):

- one part per track that has notes, named after the track (else after its
  General MIDI instrument), with that instrument;
- every part has the roll's bars, trailing silence included, in the roll's
  meters; a first bar shorter than the meter after it (a roll that starts
  mid-bar, as `midivae.midi.score.from_music21` reads a pickup) is measure 0, marked
  implicit: an anacrusis;
- the key signatures are the roll's, else the one its notes suggest
  (`midivae.midi.render.key_signatures`), and pitches are spelled in the key in force,
  so that few accidentals are written;
- notes that start together and end together are one chord; overlapping ones go
  to voices (at most ``MAX_VOICES``; denser parts become tied chords);
- the title is the file name or ``title=``; music21's "Music21 Fragment" and
  composer "Music21" are never written.

music21 is imported when a function is first called.
"""

from __future__ import annotations

import contextlib
import os
from bisect import bisect_right
from fractions import Fraction
from pathlib import Path

import numpy as np

from midivae.fileio import replace_atomically
from midivae.midi.roll import PianoRoll, Track

MAX_VOICES = 4  # voices a staff takes in notation programs (MuseScore, Finale, Sibelius)


def to_music21(roll: PianoRoll, *, title: str = "", estimate_key: bool = True):
    """The roll as a `music21.stream.Score` (see the module docstring)."""
    from music21 import metadata, stream
    from midivae.midi.render import key_signatures

    keys = key_signatures(roll, estimate_key)
    score = stream.Score()
    sounding = [k for k in range(roll.n_tracks) if roll.onset[k].any()]
    for i, k in enumerate(sounding):
        score.insert(0, _part(roll, k, [] if roll.tracks[k].is_drum else keys, tempo_shown=i == 0))
    pickup = _pickup(roll)
    if pickup is not None:
        for part in score.parts:
            _mark_pickup(part, *pickup)
    score.metadata = metadata.Metadata(title=title)
    return score


def write_musicxml(roll: PianoRoll, path: str | os.PathLike, *, title: str | None = None,
                   estimate_key: bool = True) -> None:
    """Write the roll as MusicXML (see the module docstring).

    ``title``: the score's title; default the file name without its suffix.
    ``estimate_key``: as for `midivae.midi.render.render`. Written under a temporary
    name and renamed, so an interrupted write leaves no half-written file.
    """
    score = to_music21(roll, title=Path(path).stem if title is None else title,
                       estimate_key=estimate_key)
    with _no_default_composer():
        replace_atomically(path, lambda tmp: score.write("musicxml", fp=str(tmp)))


@contextlib.contextmanager
def _no_default_composer():
    """music21 writes "Music21" as the composer of a score that names none: not here."""
    from music21 import defaults
    author, defaults.author = defaults.author, ""
    try:
        yield
    finally:
        defaults.author = author


# -- one part --------------------------------------------------------------------

def _part(roll: PianoRoll, k: int, keys: list, tempo_shown: bool):
    """Track ``k`` as a measured `music21.stream.Part`."""
    from music21 import clef, stream
    spb = roll.steps_per_beat
    track = roll.tracks[k]
    part = stream.Part()
    inst = _instrument(track)
    part.partName = track.name or inst.instrumentName or ("Drums" if track.is_drum else "Track")
    part.id = part.partName
    part.insert(0, inst)
    meters = _insert_context(part, roll, keys, tempo_shown)
    notes = roll.notes()
    voices = _voices(notes[notes["track"] == k], track.is_drum, spb)
    if len(voices) == 1:
        for offset, element in voices[0]:
            part.insert(offset, element)
    else:
        for i, events in enumerate(voices):
            v = stream.Voice(id=str(i + 1))
            for offset, element in events:
                v.insert(offset, element)
            part.insert(0, v)
    part.makeMeasures(meterStream=meters, refStreamOrTimeRange=[0, Fraction(roll.n_steps, spb)],
                      inPlace=True)
    first = part.getElementsByClass("Measure")[0]
    first.clef = clef.PercussionClef() if track.is_drum else clef.bestClef(part, recurse=True)
    for again in list(first.getElementsByClass("KeySignature"))[1:]:  # makeMeasures copies the
        if first.elementOffset(again) == 0:  # opening key into a part with voices
            first.remove(again)
    part.makeTies(inPlace=True)
    part.makeRests(inPlace=True, fillGaps=True, timeRangeFromBarDuration=True)
    for v in part.recurse().getElementsByClass("Voice"):
        v.id = str(int(v.id) + 1)  # makeMeasures counts voices from 0, MusicXML from 1
    _spell_in_key(part)
    return part


def _insert_context(part, roll: PianoRoll, keys: list, tempo_shown: bool):
    """Put the roll's meters, ``keys`` and tempos into ``part``; returns the meters alone
    (the stream `makeMeasures` cuts bars by)."""
    from music21 import key, meter, stream, tempo
    spb = roll.steps_per_beat
    meters = stream.Stream()
    for s, n, d in roll.time_signatures:
        meters.insert(Fraction(s, spb), meter.TimeSignature(f"{n}/{d}"))
        part.insert(Fraction(s, spb), meter.TimeSignature(f"{n}/{d}"))
    for s, fifths, mode in keys:
        part.insert(Fraction(s, spb), key.KeySignature(fifths).asKey("minor" if mode else "major"))
    for s, qpm in roll.tempos:
        mark = tempo.MetronomeMark(number=round(qpm, 3), referent=1.0)
        mark.style.hideObjectOnPrint = not tempo_shown  # one visible tempo, on the top part
        part.insert(Fraction(s, spb), mark)
    return meters


def _instrument(track: Track):
    from music21 import instrument
    if track.is_drum:
        return instrument.UnpitchedPercussion()
    try:
        return instrument.instrumentFromMidiProgram(track.program)
    except instrument.InstrumentException:  # programs music21 has no class for
        inst = instrument.Instrument()
        inst.midiProgram = track.program
        return inst


def _voices(notes: np.ndarray, drums: bool, spb: int) -> list[list[tuple]]:
    """A track's notes as voices of (offset in quarters, Note or Chord), none overlapping.

    Notes with the same start and end make one chord; each chord goes to the first
    voice free at its start. More than ``MAX_VOICES`` voices become one voice of
    chords cut at every start and end, tied across the cuts.
    """
    groups: dict[tuple[int, int], list[tuple[int, int]]] = {}
    for n in notes:
        groups.setdefault((int(n["start"]), int(n["end"])), []).append(
            (int(n["pitch"]), int(n["velocity"])))
    ends: list[int] = []
    voices: list[list[tuple]] = []
    for (start, end), members in sorted(groups.items()):
        free = next((i for i, e in enumerate(ends) if e <= start), None)
        if free is None:
            ends.append(end)
            voices.append([])
            free = len(ends) - 1
        ends[free] = end
        voices[free].append((Fraction(start, spb), _chord(members, end - start, drums, spb)))
    if len(voices) > MAX_VOICES:
        return [_tied_chords(groups, drums, spb)]
    return voices or [[]]


def _tied_chords(groups: dict, drums: bool, spb: int) -> list[tuple]:
    """Every note cut at every start and end in the track, as chords; a cut note is tied."""
    from music21 import tie
    cuts = sorted({s for s, _ in groups} | {e for _, e in groups})
    out = []
    for a, b in zip(cuts, cuts[1:]):
        sounding = [(p, v, s, e) for (s, e), members in groups.items() if s < b and e > a
                    for p, v in members]
        if not sounding:
            continue
        ties = [tie.Tie("continue" if s < a and e > b else "start" if e > b else "stop")
                if s < a or e > b else None for _, _, s, e in sounding]
        out.append((Fraction(a, spb), _chord([(p, v) for p, v, _, _ in sounding], b - a, drums,
                                             spb, ties)))
    return out


def _chord(members: list[tuple[int, int]], steps: int, drums: bool, spb: int,
           ties: list | None = None):
    """A Note (Unpitched for drums) or a Chord of ``members`` (pitch, velocity) lasting
    ``steps``; ``ties``: a `music21.tie.Tie` or None per member."""
    from music21 import chord, note, percussion
    from music21.midi.percussion import MIDIPercussionException, PercussionMapper
    made = []
    for (pitch, velocity), tied in zip(members, ties or [None] * len(members)):
        if drums:
            n = note.Unpitched()
            try:
                n.storedInstrument = PercussionMapper().midiPitchToInstrument(pitch)
            except MIDIPercussionException:
                pass
        else:
            n = note.Note(pitch)
        if velocity:
            n.volume.velocity = velocity
        if tied is not None:
            n.tie = tied
        made.append(n)
    if len(made) == 1:
        element = made[0]
    else:
        element = percussion.PercussionChord(made) if drums else chord.Chord(made)
    element.quarterLength = Fraction(steps, spb)
    return element


# -- keys -------------------------------------------------------------------------

def _spell_in_key(part) -> None:
    """Respell every pitch of ``part`` in the key in force at it (a MIDI pitch alone is
    spelled G# even in A-flat major)."""
    flat = part.flatten()
    keys = list(flat.getElementsByClass("KeySignature"))
    if not keys:
        return
    at = [flat.elementOffset(k) for k in keys]
    spellings = [_spellings(k) for k in keys]
    for n in flat.notes:
        i = max(bisect_right(at, flat.elementOffset(n)) - 1, 0)
        for p in getattr(n, "pitches", ()):
            _respell(p, spellings[i])


def _spellings(key_signature) -> dict[int, str]:
    """Pitch class -> name in a key: its scale (and a minor key's raised seventh), then
    sharps in sharp keys, flats in flat keys and music21's own choice (C#, Eb, F#, G#,
    Bb) in C major and A minor for the rest."""
    from music21 import key, pitch
    minor = getattr(key_signature, "mode", "major") == "minor"
    k = key.KeySignature(key_signature.sharps).asKey("minor" if minor else "major")
    names = {p.pitchClass: p.name for p in k.getPitches()}
    if minor:
        seventh = k.pitchFromDegree(7).transpose("A1")
        names.setdefault(seventh.pitchClass, seventh.name)
    for pc in range(12):
        if pc not in names:
            p = pitch.Pitch(pc)
            alter = p.accidental.alter if p.accidental else 0
            if key_signature.sharps < 0 < alter:
                p = p.getHigherEnharmonic()  # C# -> Db
            elif key_signature.sharps > 0 > alter:
                p = p.getLowerEnharmonic()  # Eb -> D#
            names[pc] = p.name
    return names


def _respell(p, names: dict[int, str]) -> None:
    """Give pitch ``p`` the name ``names`` has for its pitch class, keeping what sounds."""
    from music21 import pitch
    midi = p.midi
    q = pitch.Pitch(names[p.pitchClass])
    q.octave = p.octave
    q.octave += round((midi - q.midi) / 12)  # B#, Cb: the octave moves with the letter
    p.step, p.accidental, p.octave = q.step, q.accidental, q.octave


# -- pickup -----------------------------------------------------------------------

def _pickup(roll: PianoRoll) -> tuple[Fraction, int, int] | None:
    """(pickup length in quarters, meter after it) when the roll's first bar is a pickup:
    its meter lasts one bar, shorter than a bar of the meter that follows."""
    sigs = roll.time_signatures
    lines = roll.bar_starts()
    if len(sigs) < 2 or len(lines) < 2 or lines[1] != sigs[1][0]:
        return None
    (_, n0, d0), (_, n1, d1) = sigs[0], sigs[1]
    if Fraction(n0 * 4, d0) >= Fraction(n1 * 4, d1):
        return None
    return Fraction(n0 * 4, d0), n1, d1


def _mark_pickup(part, length: Fraction, num: int, den: int) -> None:
    """Measure 0, implicit (written ``implicit="yes"``), in the meter after it; the full
    bars are numbered from 1."""
    from music21 import meter, stream
    measures = list(part.getElementsByClass("Measure"))
    first = measures[0]
    for ts in list(first.getElementsByClass("TimeSignature")):
        first.remove(ts)
    first.insert(0, meter.TimeSignature(f"{num}/{den}"))
    if len(measures) > 1:  # the meter is stated at the pickup now
        for ts in list(measures[1].getElementsByClass("TimeSignature")):
            if (ts.numerator, ts.denominator) == (num, den) and measures[1].elementOffset(ts) == 0:
                measures[1].remove(ts)
    first.paddingLeft = float(Fraction(num * 4, den) - length)
    first.showNumber = stream.enums.ShowNumber.NEVER
    for i, m in enumerate(measures):
        m.number = i
