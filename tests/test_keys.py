"""Key signatures: the key arithmetic, Krumhansl–Schmuckler estimation, and keys kept by
rolls, read by quantize and written by render (read back by mido, pretty_midi, music21)."""

from __future__ import annotations

from fractions import Fraction

import mido
import numpy as np
import pretty_midi
import pytest
from conftest import make_roll, meta_events, midi_file, note, to_bytes, track

from midivae import Track, quantize, render
from midivae.midi.keys import (MAJOR_PROFILE, MINOR_PROFILE, estimate_key, from_tonic, key_correlations,
                          key_name, to_mido, tonic, transpose_key)
from midivae.midi.render import to_pretty_midi

ALL_KEYS = [(f, m) for m in (0, 1) for f in range(-7, 8)]


# -- key arithmetic -----------------------------------------------------------------

def test_names_match_mido_and_music():
    assert {to_mido(f, m): (f, m) for f, m in ALL_KEYS} == \
        {name: sf_mi for sf_mi, name in mido.midifiles.meta._key_signature_decode.items()}
    assert [key_name(f, m) for f, m in [(0, 0), (0, 1), (-3, 0), (3, 1), (-6, 1), (7, 0)]] == \
        ["C major", "A minor", "Eb major", "F# minor", "Eb minor", "C# major"]


def test_tonic_and_from_tonic():
    # tonic pitch class by hand: Eb major 3, C minor 0, B major 11, G# minor 8, Cb major 11
    assert [tonic(f, m) for f, m in [(-3, 0), (-3, 1), (5, 0), (5, 1), (-7, 0)]] == [3, 0, 11, 8, 11]
    for f, m in ALL_KEYS:
        assert tonic(*from_tonic(tonic(f, m), m)) == tonic(f, m)
        if -6 <= f <= 5:  # the fewest-accidental spellings come back as they are
            assert from_tonic(tonic(f, m), m) == (f, m)
    assert from_tonic(6, 0) == (-6, 0) and from_tonic(1, 0) == (-5, 0)  # Gb major, Db major


@pytest.mark.parametrize("key, semitones, expected", [
    ((0, 0), 2, (2, 0)), ((0, 1), 1, (-5, 1)), ((-3, 0), -3, (0, 0)), ((7, 0), 12, (7, 0)),
    ((7, 0), 0, (7, 0)), ((2, 1), -14, (0, 1)), ((1, 0), 5, (0, 0))])
def test_transpose_key(key, semitones, expected):
    assert transpose_key(*key, semitones) == expected


def test_bad_keys_are_refused():
    for bad in [(8, 0), (-8, 1), (0, 2)]:
        with pytest.raises(ValueError, match="a key is"):
            key_name(*bad)
        with pytest.raises(ValueError, match="a key is"):
            make_roll([], 4, key_signatures=[(0, *bad)])


# -- Krumhansl–Schmuckler -------------------------------------------------------------

def test_correlations_are_pearson_against_rotated_profiles():
    x = np.random.default_rng(0).random(12)
    r = key_correlations(x)
    for t in range(12):
        for mode, profile in enumerate((MAJOR_PROFILE, MINOR_PROFILE)):
            rotated = [profile[(c - t) % 12] for c in range(12)]
            assert r[mode, t] == pytest.approx(np.corrcoef(x, rotated)[0, 1])
    assert key_correlations(MAJOR_PROFILE)[0, 0] == pytest.approx(1.0)
    assert np.isnan(key_correlations(np.ones(12))).all()


def scale_roll(pitches, tonic_pitch, n_tracks=1, drums=()):
    """Each scale pitch for one step, the tonic for four more (a cadence on it)."""
    notes = [(0, p, i, i + 1, 80) for i, p in enumerate(pitches)]
    notes.append((0, tonic_pitch, len(pitches), len(pitches) + 4, 80))
    notes += [(1, p, 0, 2, 80) for p in drums]
    return make_roll(notes, len(pitches) + 4, n_tracks,
                     tracks=[Track("t"), Track("kit", 0, True)][:n_tracks])


@pytest.mark.parametrize("pitches, tonic_pitch, expected", [
    ([60, 62, 64, 65, 67, 69, 71, 72], 60, (0, 0)),  # C major
    ([67, 69, 71, 72, 74, 76, 78, 79], 67, (1, 0)),  # G major
    ([63, 65, 67, 68, 70, 72, 74, 75], 63, (-3, 0)),  # Eb major
    ([57, 59, 60, 62, 64, 65, 68, 69], 57, (0, 1)),  # A harmonic minor
    ([62, 64, 65, 67, 69, 70, 73, 74], 62, (-1, 1)),  # D harmonic minor
])
def test_estimate_key_of_scales(pitches, tonic_pitch, expected):
    roll = scale_roll(pitches, tonic_pitch)
    assert estimate_key(roll) == expected
    # drums do not count: loud hits on every pitch class change nothing
    assert estimate_key(scale_roll(pitches, tonic_pitch, 2, drums=range(36, 48))) == expected


def test_estimate_key_follows_transposition():
    roll = scale_roll([57, 59, 60, 62, 64, 65, 68, 69], 57)
    for s in range(-5, 7):
        assert estimate_key(roll.transpose(s)) == transpose_key(*estimate_key(roll), s)


def test_no_key_without_pitched_notes_or_with_every_pitch_class_alike():
    assert estimate_key(make_roll([], 4)) is None
    assert estimate_key(make_roll([(0, 36, 0, 4, 90)], 4, tracks=[Track("kit", 0, True)])) is None
    assert estimate_key(make_roll([(0, p, 0, 4, 90) for p in range(60, 72)], 4)) is None


# -- rolls keep keys -------------------------------------------------------------------

def keyed(**kwargs):
    return make_roll([(0, 60, 0, 8, 90), (0, 64, 8, 16, 90)], 16,
                     key_signatures=[(0, 0, 0), (8, -3, 1)], **kwargs)


def test_roll_keys_are_normalised_and_compared():
    roll = make_roll([], 8, key_signatures=[(4, 1, 0), (0, 0, 0), (4, 2, 0), (6, 2, 0)])
    assert roll.key_signatures == [(0, 0, 0), (4, 2, 0)]  # sorted, last wins, repeats dropped
    assert make_roll([], 8, key_signatures=[(2, 1, 0)]).key_signatures == [(2, 1, 0)]
    assert keyed() != keyed().replace(key_signatures=[]) and keyed() == keyed()
    assert keyed().replace(tempos=[(0, 90.0)]).key_signatures == keyed().key_signatures
    assert "key_signatures=[(0, 0, 0), (8, -3, 1)]" in repr(keyed())


def test_slices_and_bars_carry_the_key_in_force():
    roll = keyed()
    assert roll[4:12].key_signatures == [(0, 0, 0), (4, -3, 1)]
    assert roll[8:16].key_signatures == roll[10:16].key_signatures == [(0, -3, 1)]
    two_four = keyed(time_signatures=[(0, 2, 4)])  # bars of 8 steps
    assert two_four.bars(1, 2).key_signatures == [(0, -3, 1)]
    assert two_four.bars(0, 2).key_signatures == roll.key_signatures
    late = make_roll([(0, 60, 0, 8, 90)], 8, key_signatures=[(4, 2, 0)])
    assert late[0:4].key_signatures == [] and late[2:8].key_signatures == [(2, 2, 0)]


def test_transpose_moves_the_keys():
    assert keyed().transpose(2).key_signatures == [(0, 2, 0), (8, -1, 1)]  # D major, D minor
    assert keyed().transpose(-1).key_signatures == [(0, 5, 0), (8, 2, 1)]  # B major, B minor
    assert keyed().transpose(0) == keyed()


# -- files ------------------------------------------------------------------------------

def test_quantize_reads_keys_from_any_track_at_their_steps():
    mf = midi_file(track((0, mido.MetaMessage("key_signature", key="Bb")),
                         (960, mido.MetaMessage("key_signature", key="C#m"))),
                   track(note(0, 1920, 60), (1440, mido.MetaMessage("key_signature", key="Gb"))))
    roll = quantize(to_bytes(mf))
    assert roll.key_signatures == [(0, -2, 0), (8, 4, 1), (12, -6, 0)]


def test_rendered_keys_read_back_by_mido_pretty_midi_and_music21(tmp_path):
    music21 = pytest.importorskip("music21")
    roll = keyed()
    path = tmp_path / "keys.mid"
    render(roll, path)
    mf = mido.MidiFile(path)
    assert [(t, i, m.key) for t, i, m in meta_events(mf, "key_signature")] == \
        [(0, 0, "C"), (8 * 120, 0, "Cm")]
    assert quantize(path) == roll
    pm = pretty_midi.PrettyMIDI(str(path))
    assert [(ks.time, ks.key_number) for ks in pm.key_signature_changes] == [(0, 0), (1.0, 12 + 0)]
    assert quantize(pm) == quantize(to_pretty_midi(roll)) == roll
    part = music21.converter.parse(str(path)).parts[0]
    assert [(Fraction(k.getOffsetInHierarchy(part)), k.sharps, k.mode)
            for k in part.recurse().getElementsByClass("KeySignature")] == \
        [(0, 0, "major"), (2, -3, "minor")]


def test_a_keyless_roll_is_rendered_in_its_estimated_key_when_asked(tmp_path):
    roll = scale_roll([63, 65, 67, 68, 70, 72, 74, 75], 63)  # Eb major, no key signature
    assert roll.key_signatures == []
    mf = render(roll, estimate_key=True)
    assert [(t, m.key) for t, _, m in meta_events(mf, "key_signature")] == [(0, "Eb")]
    assert quantize(mf) == roll.replace(key_signatures=[(0, -3, 0)])
    assert meta_events(render(roll), "key_signature") == []
    assert quantize(render(roll)) == roll
    # an explicit key wins over the estimate; drums alone give no key
    assert quantize(render(roll.replace(key_signatures=[(0, 2, 1)]),
                           estimate_key=True)).key_signatures == [(0, 2, 1)]
    kit = make_roll([(0, 36, 0, 1, 100)], 4, tracks=[Track("kit", 0, True)])
    assert meta_events(render(kit, estimate_key=True), "key_signature") == []


def test_pretty_midi_keeps_a_keys_tonic_not_its_spelling():
    roll = make_roll([(0, 66, 0, 4, 90)], 4, key_signatures=[(0, 6, 0), (2, 7, 1)])  # F#, A#m
    assert quantize(render(roll)) == roll
    assert quantize(to_pretty_midi(roll)).key_signatures == [(0, -6, 0), (2, -5, 1)]  # Gb, Bbm


# -- key events over a clip -----------------------------------------------------------

def scale_run(tonic_pc: int, start: int, stop: int) -> list[tuple]:
    """A major scale up from ``tonic_pc`` (above middle C), a note every 2 steps, tonic
    and fifth held longest: (track, pitch, on, off, velocity) for make_roll."""
    steps = (0, 2, 4, 5, 7, 9, 11, 12, 7, 4, 0, 7)
    notes, t, i = [], start, 0
    while t < stop:
        notes.append((0, 60 + tonic_pc + steps[i % len(steps)], t, min(t + 2, stop), 80))
        t, i = t + 2, i + 1
    return notes


def test_one_key_for_a_clip_in_one_key_and_a_change_where_it_modulates():
    from midivae.midi.keys import key_events

    span = 16
    c_major = make_roll(scale_run(0, 0, 64), 64)
    assert key_events(c_major, span) == [(0, 0, 0)]
    moving = make_roll(scale_run(0, 0, 32) + scale_run(6, 32, 64), 64)  # C major, then F#
    assert key_events(moving, span) == [(0, 0, 0), (32, -6, 0)]  # spelt Gb
    # one last span in a far key is not a modulation
    tail = make_roll(scale_run(0, 0, 48) + scale_run(6, 48, 64), 64)
    assert key_events(tail, span) == [(0, 0, 0)]
    assert key_events(make_roll([], 64), span) == []
    with pytest.raises(ValueError, match="span must be >= 1 step"):
        key_events(c_major, 0)


def test_a_long_sample_and_a_reconstruction_write_one_key(tmp_path):
    import midivae

    folk = midivae.load("folk")
    (clip,) = folk.sample(1, bars=2 * folk.bars, temperature=0.5, seed=1)
    assert len(clip.key_signatures) <= 2  # one, unless its 32 bars really modulate
    tune = make_roll(scale_run(7, 0, 16 * 16 * 3), 16 * 16 * 3)  # G major, 48 bars
    out = folk.reconstruct(tune)
    assert out.key_signatures == [(0, 1, 0)]  # G major once (the tune carries no key)
    keyed = tune.replace(key_signatures=[(0, 1, 0)])
    assert folk.reconstruct(keyed).key_signatures == [(0, 1, 0)]  # the piece's own kept
