"""Generation on piano rolls: tensors <-> PianoRoll through the model's layout."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from midivae.run import generate
from midivae.midi.layout import RollLayout
from midivae.models import ModelConfig, VAE
from midivae.midi.roll import PianoRoll, Track

LAYOUT = RollLayout(steps_per_beat=2, low=60, n_pitches=5,
                    tracks=(Track("lead", 73), Track("bass", 33)), qpm=90.0)
T = 8  # two bars of 4/4 at 2 steps per beat


pytestmark = pytest.mark.usefixtures("one_torch_thread")


@pytest.fixture(scope="module")
def model() -> VAE:
    torch.manual_seed(0)
    cfg = ModelConfig(n_steps=T, n_tracks=2, n_pitches=5, steps_per_bar=4,
                      decoder="hierarchical", latent=6, encoder_hidden=16, decoder_hidden=16,
                      conductor_hidden=16, bar_embedding=8)
    return VAE(cfg, layout=LAYOUT).eval()


def make_roll(pitch: int, start: int, length: int) -> PianoRoll:
    onset = np.zeros((2, T, 128), bool)
    sustain = np.zeros_like(onset)
    onset[0, start, pitch] = True
    sustain[0, start:start + length, pitch] = True
    onset[1, 0, 60] = sustain[1, :, 60] = True  # a held bass note
    return PianoRoll(onset, sustain, steps_per_beat=2, tempos=[(0, 90.0)],
                     tracks=list(LAYOUT.tracks))


def test_from_windows_by_hand():
    x = np.zeros((1, T, 2, 2, 5), np.float32)  # (B, T, K, 2, P)
    x[0, 2, 0, 0, 1] = 1  # lead: onset of pitch 61 at step 2 ...
    x[0, 2:5, 0, 1, 1] = 1  # ... held to step 4
    x[0, 6, 1, 1, 4] = 0.9  # bass: sustain of pitch 64 with no onset: repaired to a note
    (roll,) = LAYOUT.from_windows(x.reshape(1, T, -1))
    notes = roll.notes()
    assert [(n["track"], n["pitch"], n["start"], n["end"]) for n in notes] == [
        (0, 61, 2, 5), (1, 64, 6, 7)]
    assert roll.tracks == list(LAYOUT.tracks) and roll.tempos == [(0, 90.0)]
    assert LAYOUT.from_array(x[0]) == roll  # (T, K, 2, P) is read like (T, D)
    velocity = np.full((T, 2, 5), 77, np.uint8)  # (T, K, P)
    assert LAYOUT.from_array(x[0], velocity).notes()["velocity"].tolist() == [77, 77]


def test_from_windows_gives_each_track_its_typical_velocity():
    layout = RollLayout(**{**LAYOUT.to_dict(), "tracks": LAYOUT.tracks, "velocities": (88, 52)})
    x = np.zeros((1, T, 2, 2, 5), np.float32)  # (B, T, K, 2, P)
    x[0, 0, 0, 0, 2] = x[0, 0:2, 0, 1, 2] = 1  # lead: 62 at steps 0..1
    x[0, 4, 0, 0, 3] = x[0, 4, 0, 1, 3] = 1  # lead: 63 at step 4
    x[0, :, 1, 1, 0] = 1  # bass: 60 held (its onset repaired)
    (roll,) = layout.from_windows(x.reshape(1, T, -1))
    assert [(int(n["track"]), int(n["pitch"]), int(n["velocity"])) for n in roll.notes()] == \
        [(0, 62, 88), (0, 63, 88), (1, 60, 52)]
    assert roll.velocity[~roll.onset].max() == 0
    velocity = np.full((T, 2, 5), 77, np.uint8)  # (T, K, P): given velocities win
    assert layout.from_array(x[0], velocity).notes()["velocity"].tolist() == [77, 77, 77]
    assert LAYOUT.from_windows(x.reshape(1, T, -1))[0].velocity is None  # no typical ones
    # rendered: the DAW sees them
    mf = roll.to_midi()
    assert [sorted({m.velocity for m in t if m.type == "note_on"}) for t in mf.tracks[1:]] == \
        [[88], [52]]


def test_typical_velocities_travel_in_the_layout_dict_and_the_checkpoint(tmp_path):
    import json

    from midivae.run.checkpoint import load_checkpoint, save_checkpoint
    layout = RollLayout(**{**LAYOUT.to_dict(), "tracks": LAYOUT.tracks, "velocities": (88, 52)})
    assert RollLayout.from_dict(json.loads(json.dumps(layout.to_dict()))) == layout
    old = {k: v for k, v in layout.to_dict().items() if k != "velocities"}
    assert RollLayout.from_dict(old).velocities is None  # dicts from before still load
    for bad in [(88,), (0, 52), (88, 128)]:
        with pytest.raises(ValueError, match="velocities must be one value in 1..127 per track"):
            RollLayout(tracks=LAYOUT.tracks, velocities=bad)
    cfg = ModelConfig(n_steps=T, n_tracks=2, n_pitches=5, steps_per_bar=8, decoder="flat",
                      latent=4, encoder_hidden=8, decoder_hidden=8)
    save_checkpoint(VAE(cfg, layout=layout), tmp_path / "m")
    model = load_checkpoint(tmp_path / "m")
    assert model.layout.velocities == (88, 52)
    with pytest.warns(UserWarning, match="notes per step"):  # an untrained model: dense clips
        notes = np.concatenate([clip.notes() for clip in generate.sample(model, 3, seed=0)])
    assert [set(notes["velocity"][notes["track"] == k].tolist()) for k in (0, 1)] == [{88}, {52}]


def test_to_windows_by_hand_and_back():
    rolls = [make_roll(62, 1, 3), make_roll(64, 4, 4)]
    x = LAYOUT.to_windows(rolls)
    assert x.shape == (2, T, 2 * 2 * 5) and x.dtype == np.float32
    expected = np.zeros((T, 2, 2, 5), np.float32)  # (T, K, 2, P), pitches 60..64
    expected[1, 0, 0, 2] = expected[1:4, 0, 1, 2] = 1  # lead: 62 at steps 1..3
    expected[0, 1, 0, 0] = expected[:, 1, 1, 0] = 1  # bass: 60 held throughout
    assert np.array_equal(x[0], expected.reshape(T, -1))
    assert LAYOUT.from_windows(x) == rolls
    with pytest.raises(ValueError, match="differ in length"):
        LAYOUT.to_windows([rolls[0], rolls[1][:4]])
    with pytest.raises(ValueError, match="outside the layout's pitches 60..64"):
        LAYOUT.to_windows([make_roll(70, 0, 1)])


def test_sample_gives_valid_rolls_reproducibly(model):
    rolls = generate.sample(model, 3, temperature=1.0, seed=4)
    assert len(rolls) == 3 and all(isinstance(r, PianoRoll) for r in rolls)
    assert all(r.n_steps == T and r.tracks == list(LAYOUT.tracks) for r in rolls)
    assert sum(r.n_notes for r in rolls) > 0
    assert generate.sample(model, 3, temperature=1.0, seed=4) == rolls
    expected = LAYOUT.from_windows(model.sample(3, temperature=1.0, seed=4).numpy())
    assert [r.replace(key_signatures=[]) for r in rolls] == expected
    from midivae.midi.keys import estimate_key
    for r, e in zip(rolls, expected):  # each clip in the key its notes suggest
        key = estimate_key(e)
        assert r.key_signatures == ([(0, *key)] if key else [])


def test_rolls_and_tensors_are_interchangeable(model):
    rolls = [make_roll(62, 1, 3), make_roll(64, 4, 4)]
    x = torch.from_numpy(LAYOUT.to_windows(rolls))
    assert torch.equal(generate.encode(model, rolls), model.encode(x))
    assert generate.reconstruct(model, rolls) == generate.reconstruct(model, x)
    assert generate.decode(model, model.encode(x)) == generate.reconstruct(model, rolls)


def test_interpolate_rolls(model):
    a, b = make_roll(61, 0, 2), make_roll(64, 2, 5)
    path = generate.interpolate(model, a, b, 4, method="lerp")
    assert len(path) == 4
    assert path[0] == generate.reconstruct(model, [a])[0]
    assert path[-1] == generate.reconstruct(model, [b])[0]


def test_attribute_vectors_on_rolls(model):
    high = [make_roll(64, 0, 4), make_roll(63, 2, 2)]
    low = [make_roll(60, 0, 4), make_roll(61, 2, 2)]
    v = generate.attribute_vector(model, high, low)
    torch.testing.assert_close(v, generate.encode(model, high).mean(0)
                               - generate.encode(model, low).mean(0))
    assert generate.apply_attribute(model, low, v, 0.0) == generate.reconstruct(model, low)
    assert len(generate.apply_attribute(model, low, v, 2.0)) == 2


def test_layout_must_match_the_model():
    cfg = ModelConfig(n_steps=T, n_tracks=2, n_pitches=5, decoder="flat", encoder="mlp")
    with pytest.raises(ValueError, match="no layout"):
        generate.sample(VAE(cfg), 1)
    with pytest.raises(ValueError, match=r"no layout \(model.layout is dict\)"):
        generate.sample(VAE(cfg, layout=LAYOUT.to_dict()), 1)
    wrong = RollLayout(n_pitches=7, tracks=LAYOUT.tracks)
    with pytest.raises(ValueError, match="7 pitches"):
        generate.sample(VAE(cfg, layout=wrong), 1)
    assert generate.layout_of(VAE(cfg, layout=LAYOUT)) is LAYOUT


def test_sampling_warns_of_silent_or_absurdly_dense_clips(model, monkeypatch):
    import warnings
    D = 2 * 2 * 5  # K * 2 * P
    half_silent = torch.zeros(4, T, D)
    half_silent[:2, 0, 0] = 1  # two clips with one note, two silent
    monkeypatch.setattr(model, "sample", lambda n, **kw: half_silent[:n])
    with pytest.warns(UserWarning, match=r"^2 of 4 clips are silent \(temperature 1\)"):
        generate.sample(model, 4)
    monkeypatch.setattr(model, "sample", lambda n, **kw: torch.ones(n, T, D))  # every cell on
    with pytest.warns(UserWarning, match=r"^3 of 3 clips hold more than 2 notes per step"):
        generate.sample(model, 3)
    monkeypatch.setattr(model, "sample", lambda n, **kw: half_silent[:2])
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        generate.sample(model, 2)  # music: no warning


def test_generated_notes_are_played_with_the_accents_of_the_step_of_the_bar_they_start_on():
    import json

    s = LAYOUT.steps_per_bar
    accents = (tuple(100 if i % 4 == 0 else 60 for i in range(s)), (50,) * s)
    layout = RollLayout(**{**LAYOUT.to_dict(), "tracks": LAYOUT.tracks, "velocities": (80, 50),
                           "accents": accents})
    assert RollLayout.from_dict(json.loads(json.dumps(layout.to_dict()))) == layout
    by_step = layout.onset_velocities(s + 3)
    assert by_step[0].tolist() == [*accents[0], 100, 60, 60] and set(by_step[1]) == {50}
    # a piece played softer: the accents scaled to its median, 40 for 80
    assert layout.onset_velocities(4, np.array([40, 50]))[0].tolist() == [50, 30, 30, 30]
    x = np.zeros((2 * s, 2, 2, 5), np.float32)
    x[0, 0, :, 2] = x[1, 0, :, 3] = x[4, 0, :, 4] = x[s, 0, :, 1] = 1  # lead on steps 0 1 4 s
    notes = layout.from_array(x).notes()
    assert [(int(n["start"]), int(n["velocity"])) for n in notes] == \
        [(0, 100), (1, 60), (4, 100), (s, 100)]
    for bad in [accents[:1], (accents[0][:-1], accents[1]), (accents[0], (0,) * s)]:
        with pytest.raises(ValueError, match="accents must be, beside velocities, one value"):
            RollLayout(tracks=LAYOUT.tracks, velocities=(80, 50), accents=bad)
    with pytest.raises(ValueError, match="accents must be, beside velocities"):
        RollLayout(tracks=LAYOUT.tracks, accents=accents)
