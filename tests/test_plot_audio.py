"""Seeing and hearing a roll: `midivae.midi.plot` (PNG, panels, bar lines, pitch names) and
`midivae.midi.audio` (WAV length at the tempo map, sound and silence, drums, the sine fallback)."""

from __future__ import annotations

import struct
import subprocess
import sys
import wave

import numpy as np
import pytest

from conftest import make_roll
from midivae import PianoRoll, Track, quantize
from midivae.midi.audio import RELEASE_TAIL, render_wav, synthesize
from midivae.midi.plot import beat_lines, plot_roll

PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"
FALLBACK_WARNING = "tinysoundfont is not installed"


def two_tracks() -> PianoRoll:
    """Piano C4 (velocity 100) then E4 (60); a drum kit; 4/4 then 3/4 at step 16; 32 steps."""
    notes = [(0, 60, 0, 4, 100), (0, 64, 4, 8, 60),
             (1, 36, 0, 1, 100), (1, 42, 2, 3, 80), (1, 38, 4, 5, 100)]
    return make_roll(notes, 32, 2, tracks=[Track("piano"), Track("kit", is_drum=True)],
                     time_signatures=[(0, 4, 4), (16, 3, 4)])


@pytest.fixture(scope="module")
def chorale() -> PianoRoll:
    """Bach, BWV 66.6 from the music21 corpus, through MIDI bytes and `quantize`."""
    import music21
    score = music21.corpus.parse("bach/bwv66.6")
    return quantize(music21.midi.translate.streamToMidiFile(score).writestr())


def seconds(roll: PianoRoll) -> float:
    """The roll's length at its tempo map, computed step by step."""
    qpm = dict(roll.tempos)
    now, total = roll.tempos[0][1], 0.0
    for step in range(roll.n_steps):
        now = qpm.get(step, now)
        total += 60.0 / (now * roll.steps_per_beat)
    return total


def read_wav(path) -> tuple[np.ndarray, int]:
    """(samples in [-1, 1] of shape (n_frames, channels), frame rate); checks 16-bit PCM."""
    with wave.open(str(path), "rb") as w:
        assert w.getsampwidth() == 2 and w.getcomptype() == "NONE"
        frames = np.frombuffer(w.readframes(w.getnframes()), "<i2")
        return frames.reshape(-1, w.getnchannels()) / 32767.0, w.getframerate()


def rms(audio: np.ndarray, sr: int, t0: float, t1: float) -> float:
    return float(np.sqrt(np.mean(audio[round(t0 * sr):round(t1 * sr)] ** 2)))


def high_share(audio: np.ndarray, sr: int, above: float = 2000.0) -> float:
    """Share of the signal's energy above ``above`` Hz (snares and cymbals are mostly there)."""
    power = np.abs(np.fft.rfft(audio.mean(axis=1))) ** 2
    return float(power[np.fft.rfftfreq(len(audio), 1 / sr) > above].sum() / power.sum())


def collection(ax, label: str):
    (found,) = [c for c in ax.collections if c.get_label() == label]
    return found


# -- plot ---------------------------------------------------------------------

def test_plot_writes_a_png_of_the_figure_size(tmp_path):
    path = tmp_path / "roll.png"
    fig = plot_roll(two_tracks(), path, figsize=(6.0, 4.0), dpi=50)
    data = path.read_bytes()
    assert data[:8] == PNG_SIGNATURE and data[12:16] == b"IHDR"
    width, height = struct.unpack(">II", data[16:24])
    assert (width, height) == (300, 200)
    assert len(data) > 2000  # something was drawn
    assert [p.name for p in tmp_path.iterdir()] == ["roll.png"]  # no temporary file left
    assert len(fig.axes) == 2


def test_plot_has_one_panel_per_track_titled_by_name(chorale):
    fig = chorale.plot()
    assert len(fig.axes) == chorale.n_tracks == 4
    titles = [ax.get_title(loc="left") for ax in fig.axes]
    assert [t.split(" - ")[0] for t in titles] == ["Soprano", "Alto", "Tenor", "Bass"]
    for ax, k in zip(fig.axes, range(4)):
        assert len(collection(ax, "notes").get_paths()) == int(chorale.onset[k].sum())


def test_bar_and_beat_lines_at_the_meters_steps():
    fig = plot_roll(two_tracks())
    for ax in fig.axes:
        bars = [seg[0][0] for seg in collection(ax, "bar lines").get_segments()]
        beats = [seg[0][0] for seg in collection(ax, "beat lines").get_segments()]
        assert bars == [0, 16, 28]  # a 16-step 4/4 bar, then 12-step 3/4 bars
        assert beats == [4, 8, 12, 20, 24]  # quarter notes that are not bar lines


def test_beat_lines_follow_the_denominator():
    roll = make_roll([], 24, 1, time_signatures=[(0, 6, 8)])
    assert beat_lines(roll).tolist() == list(range(0, 24, 2))  # eighth notes at 4 steps per beat
    assert roll.bar_starts().tolist() == [0, 12]


def test_y_ticks_are_note_names_at_their_pitches(chorale):
    ax = plot_roll(two_tracks()).axes[0]
    names = dict(zip(ax.get_yticks(), (t.get_text() for t in ax.get_yticklabels())))
    assert names[60] == "C4" and names[64] == "E4"
    for ax in chorale.plot().axes:
        labels = [t.get_text() for t in ax.get_yticklabels()]
        assert labels and all(label[0] in "CDEFGAB" and label[-1].isdigit() for label in labels)


def test_drum_panel_names_general_midi_drums():
    ax = plot_roll(two_tracks()).axes[1]
    assert [t.get_text() for t in ax.get_yticklabels()] == \
        ["Bass Drum 1", "Acoustic Snare", "Closed Hi Hat"]
    assert ax.get_title(loc="left") == "kit - drums"


def test_velocity_shades_the_notes():
    notes = collection(plot_roll(two_tracks()).axes[0], "notes")
    loud, soft = notes.get_facecolors()  # C4 at velocity 100, E4 at 60
    assert loud[:3].sum() < soft[:3].sum()  # louder is darker


def test_repr_png_is_a_small_png():
    roll = two_tracks()
    data = roll._repr_png_()
    assert data[:8] == PNG_SIGNATURE
    width, height = struct.unpack(">II", data[16:24])
    assert width <= 800 and height <= 400
    assert PianoRoll.empty(0, 8)._repr_png_() is None


def test_plot_and_audio_load_no_torch(tmp_path):
    code = ("import sys; from midivae import PianoRoll; r = PianoRoll.empty(1, 8); "
            f"r.plot({str(tmp_path / 'a.png')!r}); r.to_wav({str(tmp_path / 'a.wav')!r}); "
            "print('torch' in sys.modules)")
    out = subprocess.run([sys.executable, "-W", "ignore", "-c", code], capture_output=True,
                         text=True, check=True)
    assert out.stdout.strip() == "False"


# -- audio with tinysoundfont ---------------------------------------------------

@pytest.fixture
def soundfont():
    pytest.importorskip("tinysoundfont", reason="the audio extra: pip install --no-deps tinysoundfont")


def test_wav_length_follows_the_tempo_map(tmp_path, soundfont):
    # 8 steps of 1/8 s, then 24 steps of 1/4 s: the note at step 16 starts at 3.0 s
    roll = make_roll([(0, 60, 0, 4, 100), (0, 64, 16, 20, 100)], 32, tempos=[(0, 120.0), (8, 60.0)])
    assert seconds(roll) == pytest.approx(7.0)
    for sr in (44100, 22050):
        assert render_wav(roll, tmp_path / "a.wav", sample_rate=sr) == "tinysoundfont"
        audio, rate = read_wav(tmp_path / "a.wav")
        assert rate == sr and audio.shape[1] == 2
        assert len(audio) / sr == pytest.approx(7.0 + RELEASE_TAIL, abs=0.002)
        assert rms(audio, sr, 2.0, 2.99) < 1e-3 < 0.05 < rms(audio, sr, 3.0, 3.5)


def test_chorale_wav_has_the_rolls_length_and_sound(tmp_path, chorale, soundfont):
    assert chorale.to_wav(tmp_path / "bwv66.wav") == "tinysoundfont"
    audio, sr = read_wav(tmp_path / "bwv66.wav")
    assert len(audio) / sr == pytest.approx(seconds(chorale) + RELEASE_TAIL, abs=0.002)
    assert np.abs(audio).max() == pytest.approx(0.9, abs=0.01)
    assert rms(audio, sr, 0.0, seconds(chorale)) > 0.05


def test_to_wav_without_a_path_gives_the_same_wav_as_bytes(tmp_path, soundfont):
    roll = make_roll([(0, 60, 0, 4, 100), (0, 64, 8, 12, 100)], 16)
    data = roll.to_wav()
    assert isinstance(data, bytes) and data[:4] == b"RIFF" and data[8:12] == b"WAVE"
    roll.to_wav(tmp_path / "a.wav")
    assert (tmp_path / "a.wav").read_bytes() == data


def test_sound_where_notes_sound_and_silence_in_a_rest(tmp_path, soundfont):
    # C4 for 0.5 s, a rest of 2.5 s, E4 for 0.5 s (120 qpm, 1/8 s per step)
    roll = make_roll([(0, 60, 0, 4, 100), (0, 64, 24, 28, 100)], 32)
    render_wav(roll, tmp_path / "a.wav")
    audio, sr = read_wav(tmp_path / "a.wav")
    assert rms(audio, sr, 0.0, 0.45) > 0.05
    assert rms(audio, sr, 3.0, 3.45) > 0.05
    assert rms(audio, sr, 1.5, 2.95) < 1e-3  # the rest, once the first note has died away
    assert rms(audio, sr, 0.0, 0.45) > 100 * rms(audio, sr, 1.5, 2.95)


def test_drums_sound_as_drums(soundfont):
    hits = [(0, p, s, s + 2, 100) for s, p in zip(range(0, 32, 4), [36, 38, 42, 38] * 2)]
    drums, _ = synthesize(make_roll(hits, 32, tracks=[Track("kit", is_drum=True)]))
    piano, _ = synthesize(make_roll(hits, 32, tracks=[Track("piano")]))
    assert rms(drums, 44100, 0, 4) > 0.02 and rms(piano, 44100, 0, 4) > 0.02
    assert not np.allclose(drums, piano, atol=0.05)
    # a kit is noisy, piano keys 36..42 are not (about 10% against 0.7% of the energy here)
    assert high_share(drums, 44100) > 5 * high_share(piano, 44100)


def test_bad_arguments_raise_before_writing(tmp_path, soundfont):
    path = tmp_path / "a.wav"
    path.write_bytes(b"old")
    roll = two_tracks()
    with pytest.raises(ValueError, match="sample_rate"):
        render_wav(roll, path, sample_rate=100)
    with pytest.raises(FileNotFoundError, match="missing.sf2"):
        render_wav(roll, path, soundfont=tmp_path / "missing.sf2")
    (tmp_path / "junk.sf2").write_bytes(b"not a soundfont")
    with pytest.raises(ValueError, match="junk.sf2"):
        render_wav(roll, path, soundfont=tmp_path / "junk.sf2")
    assert path.read_bytes() == b"old"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["a.wav", "junk.sf2"]


# -- the fallback without tinysoundfont -----------------------------------------

def test_without_tinysoundfont_it_warns_and_writes_sine_audio(tmp_path, monkeypatch):
    monkeypatch.setitem(sys.modules, "tinysoundfont", None)  # import tinysoundfont -> ImportError
    roll = two_tracks()
    with pytest.warns(UserWarning, match=FALLBACK_WARNING):
        assert roll.to_wav(tmp_path / "a.wav") == "sine"
    audio, sr = read_wav(tmp_path / "a.wav")
    assert len(audio) / sr == pytest.approx(seconds(roll) + RELEASE_TAIL, abs=0.002)
    assert rms(audio, sr, 0.0, 1.0) > 0.05
    assert rms(audio, sr, 2.0, seconds(roll)) < 1e-3  # nothing sounds after step 8


def test_fallback_drums_are_not_silent(monkeypatch):
    monkeypatch.setitem(sys.modules, "tinysoundfont", None)
    hits = [(0, 38, s, s + 1, 100) for s in range(0, 16, 4)]
    with pytest.warns(UserWarning, match=FALLBACK_WARNING):
        audio, backend = synthesize(make_roll(hits, 16, tracks=[Track("kit", is_drum=True)]))
    assert backend == "sine" and rms(audio, 44100, 0, 2) > 0.01
