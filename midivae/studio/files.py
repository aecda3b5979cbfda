"""A studio clip as the files the page downloads: MIDI, MusicXML, WAV, one MIDI of several
clips, a zip of clips."""

from __future__ import annotations

import io
import tempfile
import zipfile
from pathlib import Path

from midivae.studio.session import BadRequest


def midi_bytes(roll) -> bytes:
    """The clip as the command line writes a generated one: each note detached by the
    gate (`midivae.midi.render.DETACHED_GATE`)."""
    from midivae.midi.render import DETACHED_GATE

    buf = io.BytesIO()
    roll.to_midi(gate=DETACHED_GATE).save(file=buf)
    return buf.getvalue()


def musicxml_bytes(roll) -> bytes:
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "clip.musicxml"
        roll.to_musicxml(path)
        return path.read_bytes()


def wav_bytes(roll) -> bytes:
    """The roll through the General MIDI SoundFont (`midivae.midi.audio`), as a WAV file,
    its notes detached as in `midi_bytes`."""
    import warnings

    from midivae.midi import audio
    from midivae.midi.render import DETACHED_GATE

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # without tinysoundfont: sine synthesis, as said there
        return audio.wav_bytes(roll, sample_rate=22050, gate=DETACHED_GATE)


FORMATS = {"mid": (midi_bytes, "audio/midi"),
           "musicxml": (musicxml_bytes, "application/vnd.recordare.musicxml+xml"),
           "wav": (wav_bytes, "audio/wav")}


def one_midi(rolls) -> bytes:
    """The clips one after another in one MIDI file (each track of the first clip's model;
    clips of other models keep their own tracks as further tracks)."""
    from midivae.midi.roll import concatenate

    same = len({tuple(r.tracks) for r in rolls}) == 1
    if same:
        return midi_bytes(concatenate([r.replace(key_signatures=[]) for r in rolls]))
    raise BadRequest("the clips come from models with other tracks: download them as a zip")


def zipped(ids: list[str], rolls) -> bytes:
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w", zipfile.ZIP_DEFLATED) as z:
        for i, (clip_id, roll) in enumerate(zip(ids, rolls)):
            z.writestr(f"{i + 1:02d}-{clip_id}.mid", midi_bytes(roll))
    return buf.getvalue()
