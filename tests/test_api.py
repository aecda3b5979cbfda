"""The one-line API (`midivae.load`, `Model`) and the shipped-model registry (`midivae.run.zoo`),
on a tiny two-track model trained for a few steps on tunes written in code."""

from __future__ import annotations

import json
import re
import subprocess
import sys
import warnings
from pathlib import Path

import mido
import pytest
import torch
from conftest import meter, midi_file, name, note, note_list, program, tick_notes, track

import midivae
from midivae import ModelError, PianoRoll, concatenate
from midivae.api import Model

pytestmark = pytest.mark.usefixtures("one_torch_thread")

BEAT = 480  # ticks per quarter note in the files written here
STEPS = 32  # a window: 2 bars of 4/4 at 4 steps per beat


def tune(path: Path, i: int, *, bars: int = 8, num: int = 4, den: int = 4, up: int = 0,
         names=("melody", "bass")) -> Path:
    """A two-track tune: eighth notes over whole-bar bass notes, in ``num/den``."""
    bar = BEAT * 4 * num // den
    mel = [name(names[0]), meter(0, num, den)] + [
        note(t * BEAT // 2, t * BEAT // 2 + BEAT // 2, 60 + up + (t * (i + 1)) % 12)
        for t in range(bars * bar * 2 // BEAT)]
    bass = [name(names[1]), program(0, 33, 1)] + [
        note(b * bar, (b + 1) * bar, 43 + up + (b * i) % 5, channel=1) for b in range(bars)]
    midi_file(track(*mel), track(*bass)).save(path)
    return path


@pytest.fixture(scope="module")
def work(tmp_path_factory) -> Path:
    """Tunes, a prepared set (roles melody, bass; 2-bar 4/4 windows) and a checkpoint m
    trained for 3 steps, saved as training saves it."""
    from midivae.data import prepare
    from midivae.run.start import loaders, model_for_set
    from midivae.run.train import train

    w = tmp_path_factory.mktemp("api")
    (w / "midi").mkdir()
    for i in range(4):
        tune(w / "midi" / f"tune{i}.mid", i)
    prepared = prepare(w / "midi", w / "set", bars=2, meter="4/4", roles="names:melody,bass",
                       workers=1)
    torch.manual_seed(0)
    model, cfg = model_for_set(prepared, "flat-2bar-cpu", encoder_hidden=32, latent=8,
                               decoder_hidden=32)
    loader, _ = loaders(prepared, 4)
    train(model, loader, cfg, steps=3, checkpoint=w / "m",
          info={"roles": prepared.manifest["settings"]["roles"]})
    return w


@pytest.fixture(scope="module")
def model(work) -> Model:
    return midivae.load(work / "m.safetensors")


def quiet(f, *args, **kwargs):
    """f(*args, **kwargs) with its warnings (silent or dense clips of a 3-step model) hidden."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return f(*args, **kwargs)


# -- loading ------------------------------------------------------------------------------

def test_importing_midivae_loads_no_torch_until_load_is_used():
    code = ("import sys, midivae; assert 'torch' not in sys.modules; "
            "assert callable(midivae.load) and 'torch' in sys.modules; print(midivae.Model)")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert "midivae.api.Model" in out.stdout


def test_load_by_file_by_name_without_suffix_and_by_run_folder(work, model, tmp_path):
    import shutil
    assert model.name == "m" and model.bars == 2 and model.meter == (4, 4)
    assert [t.name for t in model.tracks] == ["melody", "bass"] and model.labels == ()
    assert model.window_steps == STEPS and model.layout.steps_per_beat == 4
    assert "2 bars of 4/4" in repr(model)
    (tmp_path / "run").mkdir()
    shutil.copy(work / "m.safetensors", tmp_path / "run" / "model.safetensors")
    folder = midivae.load(tmp_path / "run")
    assert folder.name == "run"
    assert all(torch.equal(a, b) for a, b in zip(folder.vae.state_dict().values(),
                                                 model.vae.state_dict().values()))
    assert midivae.load(str(work / "m")).name == "m"
    with pytest.raises(midivae.CheckpointError, match="not found"):
        midivae.load(tmp_path / "nothing.safetensors")


# -- sampling -----------------------------------------------------------------------------

def test_sample_gives_rolls_of_the_asked_bars(model):
    clips = quiet(model.sample, 3, temperature=0.8, seed=1)
    assert len(clips) == 3 and all(isinstance(c, PianoRoll) for c in clips)
    assert {c.n_steps for c in clips} == {STEPS} and clips[0].tracks == list(model.tracks)
    assert quiet(model.sample, 3, temperature=0.8, seed=1) == clips
    long = quiet(model.sample, 2, bars=6, seed=1)
    assert [c.n_steps for c in long] == [3 * STEPS] * 2
    assert [len(c.bar_starts()) for c in long] == [6, 6]
    assert long[0].time_signatures == [(0, 4, 4)] and long[0].tempos == [(0, model.layout.qpm)]
    with pytest.raises(ModelError, match=re.escape(
            "bars=3: model 'm' makes windows of 2 bars; ask for a multiple of 2")):
        model.sample(1, bars=3)
    with pytest.raises(ValueError, match="n must be a whole number >= 1, got 0"):
        model.sample(0)


def test_a_saved_clip_reads_back_with_the_same_notes(model, tmp_path):
    import pretty_midi
    (clip,) = quiet(model.sample, 1, seed=2)
    assert clip.n_notes and all(clip.onset[k].any() for k in range(clip.n_tracks))
    clip.save(tmp_path / "clip.mid")
    expected = sorted((int(n["track"]), int(n["pitch"]), int(n["start"]), int(n["end"]))
                      for n in clip.notes())
    ticks = 480 // 4  # per step, as render writes
    with_mido = tick_notes(mido.MidiFile(tmp_path / "clip.mid"))
    assert sorted((t - 1, p, s // ticks, e // ticks) for t, _, p, s, e, _ in with_mido) == expected
    step = 60 / model.layout.qpm / 4  # seconds
    pm = pretty_midi.PrettyMIDI(str(tmp_path / "clip.mid"))
    assert sorted((k, n.pitch, round(n.start / step), round(n.end / step))
                  for k, inst in enumerate(pm.instruments) for n in inst.notes) == expected
    assert [i.name for i in pm.instruments] == ["melody", "bass"]
    assert midivae.quantize(tmp_path / "clip.mid").notes()[["track", "pitch", "start", "end"]] \
        .tolist() == clip.notes()[["track", "pitch", "start", "end"]].tolist()


# -- your own MIDI in -------------------------------------------------------------------

def test_fit_cuts_a_piece_at_bar_lines_and_pads_the_last_window(model, tmp_path):
    song = tune(tmp_path / "song.mid", 1, bars=5)
    windows = model.fit(song)
    assert [w.n_steps for w in windows] == [STEPS] * 3
    whole = midivae.quantize(song)
    for w, start in zip(windows, (0, 32, 64)):
        assert note_list(w) == note_list(whole[start:start + STEPS])
    assert not windows[2].sustain[:, 16:].any()  # bar 6 is silence
    short = model.fit(tune(tmp_path / "short.mid", 1, bars=1))
    assert len(short) == 1 and short[0].n_steps == STEPS and not short[0].sustain[:, 16:].any()


def test_fit_maps_tracks_by_name_whatever_their_order(model, tmp_path):
    path = tmp_path / "swapped.mid"
    mel = [name("Bass guitar"), meter(0, 4, 4), note(0, BEAT * 4, 45)]
    bass = [name("Melody (flute)"), note(0, BEAT, 67)]
    midi_file(track(*mel), track(*bass)).save(path)
    (w,) = model.fit(path)
    assert note_list(w) == [(0, 67, 0, 4, 64), (1, 45, 0, 16, 64)]


def test_fit_takes_tracks_in_order_when_no_name_matches_and_says_so(model, tmp_path):
    path = tmp_path / "piano.mid"
    midi_file(track(name("Piano RH"), meter(0, 4, 4), note(0, BEAT, 64)),
              track(name("Piano LH"), note(0, BEAT, 48)),
              track(name("Strings"), note(0, BEAT, 55))).save(path)
    with pytest.warns(UserWarning) as said:
        (w,) = model.fit(path)
    assert note_list(w) == [(0, 64, 0, 4, 64), (1, 48, 0, 4, 64)]
    assert [str(m.message) for m in said] == [
        f"{path}: no track matches the tracks of model 'm' (melody, bass); its tracks are "
        "taken in file order",
        f"{path}: tracks left out (they match none of the tracks of model 'm'): Strings"]


def test_fit_moves_a_piece_by_octaves_into_the_models_pitches(model, tmp_path):
    low, high = model.layout.pitches[0], model.layout.pitches[-1]
    song = tune(tmp_path / "high.mid", 1, up=24)  # two octaves above what it was trained on
    windows = model.fit(song)
    original = model.fit(tune(tmp_path / "same.mid", 1))
    assert [note_list(w) for w in windows] == [note_list(w) for w in original]
    assert all(low <= n["pitch"] <= high for w in windows for n in w.notes())
    back = model.reconstruct(song)  # decoded in the model's range, moved back by the octaves
    assert back == model.reconstruct(tmp_path / "same.mid").transpose(24)


def test_notes_outside_the_models_pitches_are_left_out_with_a_count(model, tmp_path):
    path = tmp_path / "wide.mid"
    midi_file(track(name("melody"), meter(0, 4, 4), note(0, BEAT, 60), note(BEAT, 2 * BEAT, 100),
                    note(2 * BEAT, 3 * BEAT, 64))).save(path)
    with pytest.warns(UserWarning, match=re.escape(
            f"{path}: 1 of 3 notes lie outside the pitches of model 'm' "
            f"({model.layout.low}..{model.layout.pitches[-1]}) and are left out")):
        (w,) = model.fit(path)
    assert note_list(w) == [(0, 60, 0, 4, 64), (0, 64, 8, 12, 64)]


def test_fit_refuses_another_meter_naming_the_file_and_both_meters(model, tmp_path):
    jig = tune(tmp_path / "jig.mid", 1, num=6, den=8)
    with pytest.raises(ModelError) as err:
        model.fit(jig)
    assert str(err.value) == (f"{jig} is in 6/8, but model 'm' makes 4/4: its bars would not "
                              "line up with the model's (16 steps); the shipped model "
                              "'folk-triple' makes bars that long (3/4)")  # 6/8: 12 steps too
    assert isinstance(err.value, ValueError)
    cut = tune(tmp_path / "cut.mid", 1, num=2, den=2)  # 2/2: bars as long as 4/4's
    assert len(model.fit(cut)) == 4


def test_a_pickup_bar_ends_on_the_models_first_bar_line_and_a_short_last_bar_is_kept(
        model, tmp_path):
    path = tmp_path / "pickup.mid"
    events = [name("melody"), meter(0, 1, 4), meter(BEAT, 4, 4), meter(9 * BEAT, 2, 4),
              note(0, BEAT, 67)]  # a one-beat pickup, two bars of 4/4, a 2/4 last bar
    events += [note(BEAT + t * BEAT, 2 * BEAT + t * BEAT, 60 + t % 5) for t in range(10)]
    midi_file(track(*events)).save(path)
    song = midivae.quantize(path)
    assert song.time_signatures == [(0, 1, 4), (4, 4, 4), (36, 2, 4)] and song.n_steps == 44
    first, second = model.fit(path)
    notes = [(0, 67, 12, 16, 64)] + [(0, 60 + t % 5, 16 + 4 * t, 20 + 4 * t, 64)
                                     for t in range(10)]  # after 12 steps of silence
    assert note_list(first) == sorted(notes[:5]) and first.n_steps == 32
    assert note_list(second) == sorted((k, p, s - 32, e - 32, v) for k, p, s, e, v in notes[5:])
    assert second.n_steps == 32 and not second.sustain[:, 24:].any()  # 4/4, 2/4, then padding
    back = model.reconstruct(path)
    assert back.n_steps == 44 and back.time_signatures == song.time_signatures
    whole = model.continuation(path, bars=2, whole=True)
    assert whole.n_steps == 44 + 32 and whole.time_signatures[-1] == (44, 4, 4)


def test_bars_of_another_meter_are_left_out_and_the_bars_either_side_joined(model, tmp_path):
    # a 2/4 bar opening a 4/4 song (as in POP909), a 3/4 bar mid-piece: the 4/4 bars are
    # used, the others named in a warning; a piece with no 4/4 bar is still refused
    path = tmp_path / "odd.mid"
    events = [name("melody"), meter(0, 2, 4), meter(4 * BEAT, 4, 4), meter(8 * BEAT, 3, 4),
              meter(11 * BEAT, 4, 4)]  # bars: 2/4, 2/4, 4/4, 3/4, 4/4, 4/4
    events += [note(t * BEAT, (t + 1) * BEAT, 60 + t % 7) for t in range(19)]
    midi_file(track(*events)).save(path)
    with pytest.warns(UserWarning, match=re.escape(
            f"{path}: bars 1-2, 4 (2/4, 3/4) left out: model 'm' makes 4/4 and their bars "
            "would not line up with its (16 steps); the bars either side are joined")):
        first, second = model.fit(path)  # three bars of 4/4 in windows of two
    kept = [t for t in range(19) if 4 <= t < 8 or t >= 11]  # the beats of the 4/4 bars
    assert sorted(note_list(first) + [(k, p, s + 32, e + 32, v) for k, p, s, e, v in
                                      note_list(second)]) == sorted(
        (0, 60 + t % 7, 4 * i, 4 * i + 4, 64) for i, t in enumerate(kept))
    with pytest.warns(UserWarning, match="left out"):
        back = model.reconstruct(path)
    assert back.n_steps == 48 and back.time_signatures == [(0, 4, 4)]
    three = tmp_path / "three.mid"
    midi_file(track(meter(0, 3, 4), note(0, BEAT, 60), end=12 * BEAT)).save(three)
    with pytest.raises(ModelError, match=r"three\.mid is in 3/4, but model 'm' makes 4/4"):
        model.fit(three)


def test_a_real_chorale_with_a_pickup_and_a_short_last_bar_fits(model, tmp_path):
    """bwv66.6 from the music21 corpus: a one-beat pickup, 4/4, a three-beat last bar."""
    import music21
    from midivae.midi.score import from_music21
    roll, _ = from_music21(music21.corpus.parse("bach/bwv66.6"), 4)
    roll.to_midi(tmp_path / "bwv66.6.mid")
    song = midivae.quantize(tmp_path / "bwv66.6.mid")
    assert song.time_signatures == [(0, 1, 4), (4, 4, 4), (132, 3, 4)]
    with pytest.warns(UserWarning, match="left out .*: Soprano, Alto, Tenor"):  # Bass: bass
        assert len(model.fit(song)) == 5  # 12 + 144 steps
        back = model.reconstruct(song)
    assert back.n_steps == 144 and back.time_signatures == song.time_signatures


def test_fit_refuses_another_grid_and_a_piece_without_notes(model, tmp_path):
    roll = midivae.quantize(tune(tmp_path / "a.mid", 1), steps_per_beat=2)
    with pytest.raises(ModelError, match="the roll: 2 steps per beat, model 'm' uses 4"):
        model.fit(roll)
    midi_file(track(name("melody"), meter(0, 4, 4), end=4 * BEAT)).save(tmp_path / "empty.mid")
    with pytest.raises(ModelError, match="no notes for the tracks of model 'm'"):
        model.fit(tmp_path / "empty.mid")
    with pytest.raises(TypeError, match="a PianoRoll, a MIDI file path or bytes"):
        model.fit(42)


# -- encode, decode, reconstruct, interpolate, variations, continuation --------------------

def test_encode_gives_each_windows_mean_and_scale(model, work):
    mean, scale = model.encode([work / "midi" / "tune0.mid", work / "midi" / "tune1.mid"])
    assert mean.shape == scale.shape == (8, model.vae.config.latent)  # 4 windows each
    assert (scale > 0).all()
    one, _ = model.encode(work / "midi" / "tune1.mid")
    assert torch.allclose(one, mean[4:])
    (first,) = model.decode(mean[:1])
    assert first == model.reconstruct(model.fit(work / "midi" / "tune0.mid")[0])


def test_reconstruct_gives_the_whole_piece_in_its_tempo(model, tmp_path):
    song = tune(tmp_path / "song.mid", 2, bars=3)
    mf = mido.MidiFile(song)
    mf.tracks[0].insert(0, mido.MetaMessage("set_tempo", tempo=600_000))  # 100 qpm
    mf.save(song)
    out = model.reconstruct(song)
    assert out.n_steps == 48 and out.tempos == [(0, 100.0)] and len(out.bar_starts()) == 3
    # the model's tracks, named and played as the file's tracks that fill them
    assert [t.name for t in out.tracks] == [t.name for t in model.tracks] == ["melody", "bass"]
    assert [t.program for t in out.tracks] == [0, 33]


def test_interpolate_starts_and_ends_at_the_reconstructions(model, work):
    a, b = work / "midi" / "tune1.mid", work / "midi" / "tune3.mid"
    path = model.interpolate(a, b, steps=5)
    assert len(path) == 5 and {r.n_steps for r in path} == {STEPS}
    assert note_list(path[0]) == note_list(model.reconstruct(a)[:STEPS])
    assert note_list(path[-1]) == note_list(model.reconstruct(b)[:STEPS])
    assert concatenate(path).n_steps == 5 * STEPS
    with pytest.raises(ValueError, match="steps must be a whole number >= 2"):
        model.interpolate(a, b, steps=1)


def test_variations(model, work):
    song = work / "midi" / "tune2.mid"
    found = model.variations(song, n=3, amount=0.5, seed=4)
    assert len(found) == 3 and {r.n_steps for r in found} == {8 * 16}
    assert model.variations(song, n=3, amount=0.5, seed=4) == found
    assert model.variations(song, n=2, amount=0.0, seed=4) == [model.reconstruct(song)] * 2
    with pytest.raises(ValueError, match="amount must lie in 0..1"):
        model.variations(song, amount=1.5)


def test_reconstruct_and_variations_report_each_batch_of_windows_decoded(
        model, work, monkeypatch):
    song = work / "midi" / "tune2.mid"  # 8 bars: 4 windows
    whole = model.reconstruct(song)
    monkeypatch.setattr(midivae.api, "DECODE_WINDOWS", 3)
    calls = []
    assert model.reconstruct(song, progress=lambda *a: calls.append(a)) == whole
    assert calls == [(3, 4), (4, 4)]
    calls.clear()
    found = model.variations(song, n=2, amount=0.5, temperature=1.0, seed=4,
                             progress=lambda *a: calls.append(a))
    assert calls == [(3, 8), (4, 8), (7, 8), (8, 8)]
    # the later batches take seeds drawn from the one given: the same again
    assert model.variations(song, n=2, amount=0.5, temperature=1.0, seed=4) == found


def test_sample_reports_each_batch_of_windows_and_repeats_with_its_seed(model, monkeypatch):
    monkeypatch.setattr(midivae.api, "DECODE_WINDOWS", 3)
    calls = []
    long = model.sample(2, bars=4, temperature=1.0, seed=6, progress=lambda *a: calls.append(a))
    assert calls == [(3, 4), (4, 4)] and [r.n_steps for r in long] == [4 * 16] * 2
    assert model.sample(2, bars=4, temperature=1.0, seed=6) == long
    calls.clear()
    one = model.sample(7, temperature=1.0, seed=6, progress=lambda *a: calls.append(a))
    assert calls == [(3, 7), (6, 7), (7, 7)] and len(one) == 7
    assert one[:3] == model.sample(3, temperature=1.0, seed=6)  # the first batch: the seed's
    assert model.sample(7, temperature=1.0, seed=6) == one


def test_continuation_follows_the_piece(model, tmp_path):
    song = tune(tmp_path / "song.mid", 1, bars=3)
    cont = model.continuation(song, bars=4, seed=5)
    assert cont.n_steps == 4 * 16 and [t.name for t in cont.tracks] == ["melody", "bass"]
    assert cont.velocity is not None and set(cont.velocity[cont.onset]) == {64}
    whole = model.continuation(song, bars=4, seed=5, whole=True)
    assert whole[:48] == model.fit_piece(song) and whole[48:] == cont
    assert model.continuation(song, bars=3, seed=5).n_steps == 3 * 16  # any number of bars
    with pytest.raises(ValueError, match="bars must be a whole number >= 1"):
        model.continuation(song, bars=0)


# -- labels -------------------------------------------------------------------------------

@pytest.fixture(scope="module")
def conditioned(tmp_path_factory) -> Model:
    from midivae.run.checkpoint import save_checkpoint
    from midivae.midi.layout import RollLayout
    from midivae.models import VAE, ModelConfig
    from midivae.midi.roll import Track

    torch.manual_seed(0)
    cfg = ModelConfig(n_steps=STEPS, n_tracks=1, n_pitches=24, steps_per_bar=16, decoder="flat",
                      encoder="mlp", encoder_hidden=16, latent=4, decoder_hidden=16, n_labels=2)
    layout = RollLayout(4, 48, 24, (Track("all"),), labels=("folk", "chorale"))
    path = tmp_path_factory.mktemp("labels") / "c"
    save_checkpoint(VAE(cfg, layout=layout), path)
    return midivae.load(path)


def test_labels_by_name_or_number_and_clear_errors(model, conditioned):
    assert conditioned.labels == ("folk", "chorale")
    by_name = quiet(conditioned.sample, 2, seed=1, label="chorale")
    assert quiet(conditioned.sample, 2, seed=1, label=1) == by_name
    assert quiet(conditioned.sample, 2, seed=1, label="folk") != by_name
    with pytest.raises(ModelError, match="model 'c' is conditioned on labels: pass one of "
                       "folk, chorale"):
        conditioned.sample(1)
    with pytest.raises(ModelError, match="unknown label 'jazz'; model 'c' knows folk, chorale"):
        conditioned.sample(1, label="jazz")
    with pytest.raises(ModelError, match="unknown label 2"):
        conditioned.sample(1, label=2)
    with pytest.raises(ModelError, match="model 'm' is not conditioned on labels; "
                       "label='folk' would be ignored"):
        model.sample(1, label="folk")
    with pytest.raises(ValueError):  # a ModelError is a ValueError too
        model.sample(1, label=0)


# -- the shipped-model registry -----------------------------------------------------------

def ship(work, folder: Path, name: str, about: str = "") -> Path:
    from midivae.run.checkpoint import export_checkpoint
    return export_checkpoint(work / "m", folder / name, about=about)


def test_the_registry_lists_models_from_their_json(work, tmp_path):
    from midivae.run.zoo import shipped_models
    assert shipped_models([tmp_path]) == []
    weights = ship(work, tmp_path, "tunes", about="two-track tunes\nsecond line")
    ship(work, tmp_path, "alpha")
    found = shipped_models([tmp_path])
    assert [(m.name, m.default, m.about) for m in found] == [
        ("alpha", True, ""), ("tunes", False, "two-track tunes")]
    tunes = found[1]
    assert tunes.path == weights and tunes.size == weights.stat().st_size
    assert (tunes.tracks, tunes.bars, tunes.meter, tunes.labels) == (
        ("melody", "bass"), 2, (4, 4), ())
    (tmp_path / "models.json").write_text(json.dumps({"models": [
        {"name": "tunes", "about": "tunes, said by the index", "default": True}]}))
    assert [(m.name, m.default, m.about) for m in shipped_models([tmp_path])] == [
        ("alpha", False, ""), ("tunes", True, "tunes, said by the index")]


def test_a_model_without_readable_settings_is_left_out_with_a_warning(work, tmp_path):
    from midivae.run.zoo import shipped_models
    ship(work, tmp_path, "good")
    (tmp_path / "bad.safetensors").write_bytes(b"x")
    with pytest.warns(UserWarning, match="bad.safetensors: left out of the shipped models"):
        assert [m.name for m in shipped_models([tmp_path])] == ["good"]


def test_load_finds_shipped_models_by_name(work, tmp_path, monkeypatch):
    ship(work, tmp_path, "tunes", about="two-track tunes")
    m = midivae.load("tunes", folders=[tmp_path])
    assert m.name == "tunes" and m.bars == 2
    monkeypatch.setenv("MIDIVAE_MODELS", str(tmp_path))
    assert midivae.load("tunes").name == "tunes"
    assert midivae.load().name == "tunes"  # the default
    assert [m.name for m in midivae.shipped_models()] == ["tunes"]
    with pytest.raises(ModelError, match=re.escape(
            "unknown model 'nope': no checkpoint file or folder of that name, and no shipped "
            "model of that name (tunes)")):
        midivae.load("nope")
    monkeypatch.setenv("MIDIVAE_MODELS", str(tmp_path / "empty"))
    with pytest.raises(ModelError, match="no shipped model is installed"):
        midivae.load()


def test_the_package_folder_holds_only_shipped_model_files():
    from midivae.run.zoo import PACKAGED
    allowed = {".safetensors", ".json", ".md"}
    assert PACKAGED.is_dir() and {p.suffix for p in PACKAGED.iterdir()} <= allowed


def test_a_reconstruction_keeps_the_input_velocities_of_the_notes_it_matches():
    import numpy as np
    from conftest import make_roll

    folk = midivae.load("folk")
    notes = [(0, 67 + (i % 5), 4 * i, 4 * i + 4, 60 + 3 * (i % 16)) for i in range(64)]
    tune = make_roll(notes, 256)  # 16 bars of quarter notes, velocities 60..105
    out = folk.reconstruct(tune)
    matched = out.onset & tune.onset
    assert matched.sum() > 0.5 * tune.onset.sum()
    assert np.array_equal(out.velocity[matched], tune.velocity[matched])
    others = out.onset & ~tune.onset
    assert set(out.velocity[others].tolist()) <= {int(np.median(tune.velocity[tune.onset]))}


def duo(path: Path) -> Path:
    """A flute over a cello, 8 bars of 4/4: two named tracks with their programs."""
    flute = track(name("Flute"), program(0, 73),
                  *[note(480 * i, 480 * i + 480, 72 + i % 5, 90) for i in range(32)])
    cello = track(name("Cello"), program(0, 42, 1),
                  *[note(960 * i, 960 * i + 960, 48 + i % 3, 70, 1) for i in range(16)])
    midi_file(flute, cello).save(path)
    return path


def test_the_track_mapping_is_returned_chosen_by_map_and_written_with_the_files_tracks(tmp_path):
    chorale = midivae.load("chorale")
    song = duo(tmp_path / "duo.mid")
    with pytest.warns(UserWarning, match="taken in file order"):
        assert chorale.track_mapping(song) == {"soprano": ["'Flute'"], "alto": ["'Cello'"],
                                               "tenor": [], "bass": []}
    chosen = {"soprano": "flute", "bass": "2"}
    assert chorale.track_mapping(song, roles=chosen) == {
        "soprano": ["'Flute'"], "alto": [], "tenor": [], "bass": ["'Cello'"]}
    out = chorale.reconstruct(song, roles=chosen)
    assert [(t.name, t.program) for t in out.tracks] == [("Flute", 73), ("alto", 0),
                                                         ("tenor", 0), ("Cello", 42)]
    with pytest.raises(midivae.DatasetError, match="'sopran' is no track of the model"):
        chorale.track_mapping(song, roles={"sopran": "Flute"})


def test_the_cli_says_the_mapping_and_takes_map(tmp_path, capsys):
    from midivae.cli import main

    song = duo(tmp_path / "duo.mid")
    assert main(["reconstruct", str(song), "--out", str(tmp_path / "o"),
                 "--map", "soprano=Flute,bass=2"]) == 0
    out = capsys.readouterr().out
    assert f"{song}: soprano <- 'Flute', alto <- nothing, tenor <- nothing, bass <- 'Cello'" \
        in out
    with pytest.raises(SystemExit) as refused:
        main(["reconstruct", str(song), "--out", str(tmp_path / "o"), "--map", "soprano"])
    assert refused.value.code == 2
    assert "argument --map: 'soprano' is not MODEL_TRACK=FILE_TRACK" in capsys.readouterr().err
