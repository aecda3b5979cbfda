"""`PianoRoll` -> WAV: hear a roll without a DAW.

The roll is rendered to MIDI by `midivae.midi.render.to_midi_file` (the one owner of
channels, programs and the tempo map) and the MIDI is played into a buffer:

- ``"tinysoundfont"`` (the ``audio`` extra): a General MIDI SoundFont, by default
  the ``TimGM6mb.sf2`` that pretty_midi ships. Drum tracks play on MIDI channel 10
  from the SoundFont's drum bank (bank 128).
- ``"sine"`` (fallback, with a warning): pretty_midi's sine synthesis for pitched
  tracks and a short noise burst per drum hit (pretty_midi leaves drums silent).

The WAV is 16-bit PCM stereo, ``seconds + RELEASE_TAIL`` long, where ``seconds``
is the roll's length at its tempo map, and peak-normalised to ``PEAK`` full scale
(as pretty_midi does for its synthesized audio). numpy + mido here; pretty_midi and
tinysoundfont load when used.
"""

from __future__ import annotations

import os
import warnings
import wave
from pathlib import Path

import mido
import numpy as np

from midivae.bounds import AUDIO_SECONDS_ENV, MAX_AUDIO_SECONDS, env_bound, raise_hint
from midivae.errors import BoundError, FileReadError
from midivae.fileio import replace_atomically
from midivae.midi.roll import PianoRoll

RELEASE_TAIL = 1.0  # seconds of audio after the roll's last step, for notes to ring out
PEAK = 0.9  # peak amplitude after normalisation, as a fraction of 16-bit full scale
DRUM_CHANNEL = 9  # MIDI channel 10, counted from 0
DRUM_BANK = 128  # SoundFont bank that holds the drum kits
DRUM_BURST = 0.03  # seconds: decay constant of the fallback's noise burst per drum hit


def default_soundfont() -> Path:
    """The General MIDI SoundFont that pretty_midi ships (``TimGM6mb.sf2``)."""
    import pretty_midi
    return Path(pretty_midi.__file__).parent / "TimGM6mb.sf2"


def render_wav(roll: PianoRoll, path: str | os.PathLike, *, soundfont: str | os.PathLike | None = None,
               sample_rate: int = 44100, gate: float = 1.0) -> str:
    """Play ``roll`` into a 16-bit stereo WAV file at ``path``, written atomically.

    Parameters
    ----------
    roll : PianoRoll
    path : str or os.PathLike
        The WAV file to write; replaced atomically if it exists.
    soundfont : str or os.PathLike, optional
        An .sf2/.sf3 file; default `default_soundfont`. Ignored (with the fallback
        warning) when tinysoundfont is not installed.
    sample_rate : int
        Frames per second, 8000..192000.
    gate : float
        The share of its last step each note sounds (above 0.5, up to 1), as the MIDI file is
        written (`midivae.midi.render.render`).

    Returns
    -------
    str
        The backend that made the sound: ``"tinysoundfont"`` or ``"sine"``.
    """
    audio, backend = synthesize(roll, soundfont=soundfont, sample_rate=sample_rate, gate=gate)
    replace_atomically(path, lambda tmp: write_wav(tmp, audio, sample_rate))
    return backend


def synthesize(roll: PianoRoll, *, soundfont: str | os.PathLike | None = None,
               sample_rate: int = 44100, gate: float = 1.0) -> tuple[np.ndarray, str]:
    """The roll's audio, as `render_wav` writes it (``gate`` as there).

    Audio longer than ``MAX_AUDIO_SECONDS`` (`midivae.bounds`; $MIDIVAE_MAX_AUDIO_SECONDS
    raises it) raises `BoundError` before any sample is allocated; a file that is not a
    SoundFont raises `FileReadError` naming it.

    Returns
    -------
    audio : np.ndarray of float32, shape (n_frames, 2)
        Stereo samples in [-PEAK, PEAK]; ``n_frames = round((seconds + RELEASE_TAIL) * sample_rate)``.
    backend : str
        ``"tinysoundfont"`` or ``"sine"``.
    """
    if not isinstance(sample_rate, (int, np.integer)) or not 8000 <= sample_rate <= 192000:
        raise ValueError(f"sample_rate must be an integer in 8000..192000, got {sample_rate!r}")
    sf = Path(soundfont) if soundfont is not None else default_soundfont()
    if not sf.is_file():
        raise FileNotFoundError(f"soundfont {str(sf)!r} is not a file")
    mf = _midi(roll, gate)
    _check_length(mf.length + RELEASE_TAIL)
    n_frames = round((mf.length + RELEASE_TAIL) * sample_rate)
    try:
        import tinysoundfont  # noqa: F401
    except ImportError:
        warnings.warn("tinysoundfont is not installed: rendering with pretty_midi's sine synthesis "
                      "(drums as noise bursts)" + (f", ignoring soundfont {str(sf)!r}" if soundfont else "")
                      + "; for General MIDI instruments install the audio extra (pip install "
                      "'midivae[audio]', or pip install --no-deps tinysoundfont where PyAudio "
                      "does not build)", stacklevel=2)
        audio, backend = _sine(roll, n_frames, sample_rate, gate), "sine"
    else:
        audio, backend = _soundfont(mf, n_frames, sample_rate, sf), "tinysoundfont"
    peak = float(np.abs(audio).max(initial=0.0))
    if peak > 0:
        audio *= PEAK / peak
    return audio, backend


def _check_length(seconds: float) -> None:
    """`BoundError` for audio longer than `midivae.bounds.MAX_AUDIO_SECONDS` (or its
    environment variable's bound), before a sample is allocated."""
    most = env_bound(AUDIO_SECONDS_ENV, MAX_AUDIO_SECONDS)
    if seconds > most:
        hours, minutes = seconds / 3600, seconds / 60
        length = (f"{hours:,.1f} hours" if hours >= 1 else f"{minutes:.1f} minutes"
                  if minutes >= 1 else f"{seconds:.1f} s")
        raise BoundError(f"{length} of audio at the roll's tempo map, more than the {most:,} s "
                         "one render makes" + raise_hint(AUDIO_SECONDS_ENV))


def wav_bytes(roll: PianoRoll, *, soundfont: str | os.PathLike | None = None,
              sample_rate: int = 44100, gate: float = 1.0) -> bytes:
    """The WAV file `render_wav` would write, as bytes (for a notebook:
    ``IPython.display.Audio(wav_bytes(roll))``)."""
    import io

    audio, _ = synthesize(roll, soundfont=soundfont, sample_rate=sample_rate, gate=gate)
    buffer = io.BytesIO()
    write_wav(buffer, audio, sample_rate)
    return buffer.getvalue()


def write_wav(path, audio: np.ndarray, sample_rate: int) -> None:
    """Write float samples of shape (n_frames, channels) in [-1, 1] as 16-bit PCM to a path or
    a binary file object (not atomic)."""
    pcm = np.round(np.clip(audio, -1.0, 1.0) * 32767).astype("<i2")
    with wave.open(path if hasattr(path, "write") else str(path), "wb") as w:
        w.setnchannels(pcm.shape[1])
        w.setsampwidth(2)
        w.setframerate(int(sample_rate))
        w.writeframes(pcm.tobytes())


def _midi(roll: PianoRoll, gate: float) -> mido.MidiFile:
    from midivae.midi.render import to_midi_file
    return to_midi_file(roll, gate=gate)


def _soundfont(mf: mido.MidiFile, n_frames: int, sample_rate: int, soundfont: Path) -> np.ndarray:
    """Play ``mf`` through tinysoundfont, each event at its own frame. Shape (n_frames, 2)."""
    import tinysoundfont

    synth = tinysoundfont.Synth(samplerate=sample_rate)
    try:
        sfid = synth.sfload(str(soundfont))
    except RuntimeError as e:  # not a SoundFont: a text file, a truncated download
        raise FileReadError(soundfont, f"not a SoundFont tinysoundfont can read ({e})") from None
    synth.program_select(DRUM_CHANNEL, sfid, DRUM_BANK, 0, is_drums=True)
    audio = np.zeros((n_frames, 2), np.float32)  # stereo interleaved, as tinysoundfont renders
    out = memoryview(audio).cast("B")
    frame_bytes = audio.itemsize * 2
    now, done = 0.0, 0
    for msg in mf:  # all tracks merged in time order; msg.time is seconds since the last message
        now += msg.time
        frame = min(round(now * sample_rate), n_frames)
        if frame > done:
            synth.generate_simple(frame - done, buffer=out[done * frame_bytes:frame * frame_bytes])
            done = frame
        if msg.type == "note_on" and msg.velocity > 0:
            synth.noteon(msg.channel, msg.note, msg.velocity)
        elif msg.type in ("note_on", "note_off"):
            synth.noteoff(msg.channel, msg.note)
        elif msg.type == "program_change":
            drums = msg.channel == DRUM_CHANNEL
            synth.program_select(msg.channel, sfid, DRUM_BANK if drums else 0, msg.program,
                                 is_drums=drums)
    if done < n_frames:
        synth.generate_simple(n_frames - done, buffer=out[done * frame_bytes:])
    return audio


def _sine(roll: PianoRoll, n_frames: int, sample_rate: int, gate: float) -> np.ndarray:
    """pretty_midi's sine synthesis, plus a decaying noise burst per drum hit. Shape (n_frames, 2)."""
    from midivae.midi.render import to_pretty_midi

    pm = to_pretty_midi(roll, gate=gate)
    mono = np.zeros(n_frames)
    pitched = pm.synthesize(fs=sample_rate, normalize=False)[:n_frames]  # drums come back silent
    mono[:len(pitched)] = pitched
    rng = np.random.default_rng(0)  # the same noise every time
    burst_len = int(5 * DRUM_BURST * sample_rate)
    envelope = np.exp(-np.arange(burst_len) / (DRUM_BURST * sample_rate))
    unit = 0.5 / (max(1, len(pm.instruments)) * 2**15)  # pretty_midi's level: velocity / (tracks * 2**15)
    for inst in (i for i in pm.instruments if i.is_drum):
        for note in inst.notes:
            start = round(note.start * sample_rate)
            burst = rng.standard_normal(burst_len) * envelope * note.velocity * unit
            mono[start:start + burst_len] += burst[:max(0, n_frames - start)]
    return np.repeat(mono[:, None], 2, axis=1).astype(np.float32)
