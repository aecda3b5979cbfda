"""PianoRoll: bar lines, slicing, bars, transposition, notes and the constructor's checks.

Every expected value is computed by hand in the test (steps, velocities, bar lines).
"""

from __future__ import annotations

import re

import numpy as np
import pytest
from conftest import make_roll, note_list

from midivae import PianoRoll, Track


def silent(n_steps, spb=4, time_signatures=((0, 4, 4),)):
    return PianoRoll.empty(1, n_steps, steps_per_beat=spb, time_signatures=time_signatures)


# -- bar_starts ---------------------------------------------------------------

@pytest.mark.parametrize("sigs, spb, n_steps, expected", [
    # a bar is num * 4 / den beats: 4/4 = 16 steps at 4 steps per beat
    ([(0, 4, 4)], 4, 40, [0, 16, 32]),
    ([(0, 3, 4)], 4, 36, [0, 12, 24]),           # 36 itself is not < n_steps
    ([(0, 6, 8)], 4, 25, [0, 12, 24]),           # 6/8 = 3 beats = 12 steps
    ([(0, 7, 8)], 2, 22, [0, 7, 14, 21]),        # 7/8 = 3.5 beats = 7 steps
    ([(0, 7, 8)], 4, 30, [0, 14, 28]),
    ([(0, 2, 2)], 4, 32, [0, 16]),
    ([(0, 5, 4)], 1, 12, [0, 5, 10]),
    ([(0, 4, 4), (32, 3, 4)], 4, 60, [0, 16, 32, 44, 56]),    # change on a bar line
    ([(0, 4, 4), (24, 3, 4)], 4, 48, [0, 16, 24, 36]),        # change mid-bar starts a bar
    ([(0, 6, 8), (24, 2, 4), (32, 4, 4)], 2, 44, [0, 6, 12, 18, 24, 28, 32, 40]),
    ([(0, 3, 4), (10, 7, 8)], 4, 40, [0, 10, 24, 38]),        # mid-bar, then 14-step bars
    ([(0, 4, 4), (64, 3, 4)], 4, 40, [0, 16, 32]),            # a change after the end
    ([(0, 4, 4)], 4, 0, []),
])
def test_bar_starts_hand_computed(sigs, spb, n_steps, expected):
    starts = silent(n_steps, spb, sigs).bar_starts()
    assert starts.dtype == np.int64
    assert starts.tolist() == expected


def test_bar_starts_off_grid_bars_stay_within_half_a_step():
    # 7/8 at one step per beat: bars are 3.5 steps, so bar lines must be rounded
    starts = silent(15, 1, [(0, 7, 8)]).bar_starts()
    assert len(starts) == 5
    assert np.all(np.diff(starts) > 0)
    assert np.all(np.abs(starts - 3.5 * np.arange(5)) <= 0.5)


# -- slicing -------------------------------------------------------------------

@pytest.fixture
def song():
    """One track, 32 steps: tempo changes at 8 and 20, 3/4 from step 16."""
    notes = [(0, 60, 0, 4, 100), (0, 62, 2, 10, 90), (0, 64, 6, 7, 80), (0, 65, 12, 20, 70)]
    return make_roll(notes, 32, tempos=[(0, 120), (8, 90), (20, 60)],
                     time_signatures=[(0, 4, 4), (16, 3, 4)], tracks=[Track("lead", 73)])


def test_slice_moves_tempo_and_meter_and_reattacks_cut_notes(song):
    part = song[4:16]
    assert part.n_steps == 12
    assert part.tempos == [(0, 120.0), (4, 90.0)]
    assert part.time_signatures == [(0, 4, 4)]  # the 3/4 at 16 is outside [4, 16)
    assert part.tracks == [Track("lead", 73)] and part.steps_per_beat == 4
    # 60 ended at 4; 62 was cut (new onset at 0 with its velocity 90); 65 is cut at the end
    assert note_list(part) == [(0, 62, 0, 6, 90), (0, 64, 2, 3, 80), (0, 65, 8, 12, 70)]


def test_slice_takes_the_tempo_and_meter_in_force(song):
    part = song[8:24]
    assert part.tempos == [(0, 90.0), (12, 60.0)]  # the change at 8 is exactly the start
    assert part.time_signatures == [(0, 4, 4), (8, 3, 4)]
    assert note_list(part) == [(0, 62, 0, 2, 90), (0, 65, 4, 12, 70)]
    later = song[18:32]
    assert later.tempos == [(0, 90.0), (2, 60.0)]
    assert later.time_signatures == [(0, 3, 4)]
    assert note_list(later) == [(0, 65, 0, 2, 70)]


def test_slice_velocity_of_a_cut_note_is_its_latest_onset():
    # pitch 62 sounds 2..10, re-attacked at 5 with velocity 30
    roll = make_roll([(0, 62, 2, 5, 90), (0, 62, 5, 10, 30)], 12)
    assert note_list(roll[6:]) == [(0, 62, 0, 4, 30)]
    assert note_list(roll[3:]) == [(0, 62, 0, 2, 90), (0, 62, 2, 7, 30)]


def test_slice_bounds(song):
    assert song[:] == song
    assert song[0:32] == song
    assert song[-8:] == song[24:32]
    assert song[28:100].n_steps == 4
    empty = song[10:10]
    assert empty.n_steps == 0 and empty.n_notes == 0 and empty.tempos == [(0, 90.0)]
    assert song[20:10].n_steps == 0


def test_slice_without_velocity_stays_without():
    roll = make_roll([(0, 60, 0, 8, 100)], 8, velocity=False)
    part = roll[3:6]
    assert part.velocity is None
    assert note_list(part) == [(0, 60, 0, 3, 0)]


def test_slice_does_not_change_the_original(song):
    before = note_list(song)
    song[5:9]
    assert note_list(song) == before


@pytest.mark.parametrize("key", [slice(0, 8, 2), 3, (slice(0, 4),)])
def test_slice_rejects_steps_and_indices(song, key):
    with pytest.raises(TypeError, match="sliced by steps"):
        song[key]


# -- bars ----------------------------------------------------------------------

def test_bars_are_slices_at_bar_lines():
    roll = make_roll([(0, 60, 0, 20, 100), (0, 67, 30, 40, 50), (0, 72, 50, 56, 60)], 56)
    # 4/4 at 4 steps per beat: bar lines 0, 16, 32, 48; the last bar is 8 steps
    assert roll.bars(1, 3) == roll[16:48]
    assert roll.bars(0) == roll
    assert roll.bars(3) == roll[48:56]
    assert note_list(roll.bars(1, 2)) == [(0, 60, 0, 4, 100), (0, 67, 14, 16, 50)]
    assert roll.bars(2, 2).n_steps == 0


def test_bars_follow_meter_changes():
    roll = make_roll([(0, 60, 20, 30, 100)], 48, time_signatures=[(0, 4, 4), (24, 3, 4)])
    assert roll.bars(1, 2) == roll[16:24]  # the mid-bar change cut bar 1 short
    part = roll.bars(2, 3)
    assert part == roll[24:36]
    assert part.time_signatures == [(0, 3, 4)]
    assert note_list(part) == [(0, 60, 0, 6, 100)]


@pytest.mark.parametrize("start, stop", [(3, 5), (2, 1), (-1, 2), (5, None)])
def test_bars_out_of_range(start, stop):
    with pytest.raises(ValueError, match="bars"):
        silent(64).bars(start, stop)


# -- transpose -----------------------------------------------------------------

@pytest.fixture
def band():
    notes = [(0, 60, 0, 4, 100), (0, 72, 4, 8, 90), (1, 36, 0, 1, 110), (1, 127, 2, 3, 30)]
    return make_roll(notes, 8, 2, tracks=[Track("piano", 0), Track("drums", 0, is_drum=True)])


def test_transpose_moves_pitched_tracks_only(band):
    up = band.transpose(5)
    assert note_list(up) == [(0, 65, 0, 4, 100), (0, 77, 4, 8, 90),
                             (1, 36, 0, 1, 110), (1, 127, 2, 3, 30)]
    assert up.tracks == band.tracks and up.tempos == band.tempos
    assert note_list(band)[0] == (0, 60, 0, 4, 100)  # the original is unchanged
    assert band.transpose(0) == band
    assert band.transpose(5).transpose(-5) == band


def test_transpose_to_the_edges(band):
    assert note_list(band.transpose(-60))[:2] == [(0, 0, 0, 4, 100), (0, 12, 4, 8, 90)]
    assert note_list(band.transpose(55))[:2] == [(0, 115, 0, 4, 100), (0, 127, 4, 8, 90)]


def test_transpose_error_names_track_and_pitch(band):
    msg = ("transpose(-61): track 0 (piano) has pitch 60, which would become -1, "
           "outside 0..127")
    with pytest.raises(ValueError, match=re.escape(msg)):
        band.transpose(-61)
    msg = "transpose(56): track 0 (piano) has pitch 72, which would become 128, outside 0..127"
    with pytest.raises(ValueError, match=re.escape(msg)):
        band.transpose(56)


def test_transpose_unnamed_track_and_no_velocity():
    roll = make_roll([(0, 120, 0, 2, 1)], 4, velocity=False)
    assert note_list(roll.transpose(7)) == [(0, 127, 0, 2, 0)]
    with pytest.raises(ValueError, match=re.escape("track 0 (unnamed) has pitch 120")):
        roll.transpose(8)


# -- notes ---------------------------------------------------------------------

def test_notes_on_a_hand_made_roll():
    T = 8
    onset = np.zeros((2, T, 128), bool)
    sustain = np.zeros((2, T, 128), bool)
    velocity = np.zeros((2, T, 128), np.uint8)
    sustain[0, 0:4, 60] = True           # 60: re-attacked at step 2 -> two notes
    onset[0, [0, 2], 60] = True
    velocity[0, [0, 2], 60] = [100, 50]
    sustain[0, 5:8, 64] = True           # 64: sounds to the end of the roll
    onset[0, 5, 64] = True
    velocity[0, 5, 64] = 64
    sustain[0, 1, 0] = onset[0, 1, 0] = True   # pitch 0, one step
    velocity[0, 1, 0] = 1
    sustain[1, 3, 127] = onset[1, 3, 127] = True
    velocity[1, 3, 127] = 127
    roll = PianoRoll(onset, sustain, velocity)
    notes = roll.notes()
    assert notes.dtype.names == ("track", "pitch", "start", "end", "velocity")
    assert [tuple(int(x) for x in n) for n in notes] == [   # sorted by (track, start, pitch)
        (0, 60, 0, 2, 100), (0, 0, 1, 2, 1), (0, 60, 2, 4, 50), (0, 64, 5, 8, 64),
        (1, 127, 3, 4, 127)]
    assert roll.n_notes == 5
    assert roll.replace(velocity=None).notes()["velocity"].tolist() == [0] * 5


def test_notes_of_an_empty_roll():
    assert len(PianoRoll.empty(3, 16).notes()) == 0
    assert len(PianoRoll.empty(0, 0).notes()) == 0


# -- constructor ---------------------------------------------------------------

def arrays(T=4):
    onset = np.zeros((1, T, 128), bool)
    sustain = np.zeros((1, T, 128), bool)
    onset[0, 0, 60] = sustain[0, 0:2, 60] = True
    return onset, sustain


def test_onset_without_sustain():
    onset, sustain = arrays()
    onset[0, 3, 61] = True
    with pytest.raises(ValueError, match="onset implies sustain"):
        PianoRoll(onset, sustain)


def test_sustain_run_without_onset():
    onset, sustain = arrays()
    sustain[0, 2:4, 62] = True
    with pytest.raises(ValueError, match="must begin with an onset"):
        PianoRoll(onset, sustain)
    onset, sustain = arrays()
    sustain[0, 3, 60] = True  # a second run of 60 after a gap at step 2
    with pytest.raises(ValueError, match="must begin with an onset"):
        PianoRoll(onset, sustain)


@pytest.mark.parametrize("onset_shape, sustain_shape", [
    ((1, 4, 128), (1, 5, 128)), ((4, 128), (4, 128)), ((1, 4, 127), (1, 4, 127)),
    ((1, 4, 128, 1), (1, 4, 128, 1))])
def test_wrong_shapes(onset_shape, sustain_shape):
    with pytest.raises(ValueError, match=r"shape \(tracks, steps, 128\)"):
        PianoRoll(np.zeros(onset_shape, bool), np.zeros(sustain_shape, bool))


def test_velocity_checks():
    onset, sustain = arrays()
    with pytest.raises(ValueError, match="velocity must have shape"):
        PianoRoll(onset, sustain, np.zeros((1, 4, 127), np.uint8))
    with pytest.raises(ValueError, match="every onset needs a velocity"):
        PianoRoll(onset, sustain, np.zeros((1, 4, 128), np.uint8))
    big = np.zeros((1, 4, 128), np.int64)
    big[0, 0, 60] = 128
    with pytest.raises(ValueError, match="velocity must lie in 0..127"):
        PianoRoll(onset, sustain, big)
    # velocities off the onsets are dropped
    v = np.full((1, 4, 128), 7, np.uint8)
    assert PianoRoll(onset, sustain, v).velocity.sum() == 7


@pytest.mark.parametrize("kwargs, match", [
    (dict(steps_per_beat=0), "steps_per_beat"),
    (dict(tracks=[Track(), Track()]), "2 tracks given for 1 roll tracks"),
    (dict(tempos=[(4, 120)]), "tempos must start at step 0"),
    (dict(tempos=[(0, 0)]), "tempos must be positive"),
    (dict(tempos=[(0, 120), (-1, 90)]), "tempos step must be >= 0"),
    (dict(tempos=[(0,)]), "tempos entries must have 2 fields"),
    (dict(time_signatures=[(0, 3, 3)]), "power-of-two"),
    (dict(time_signatures=[(0, 0, 4)]), "numerator >= 1"),
    (dict(time_signatures=[(2, 4, 4)]), "time_signatures must start at step 0"),
])
def test_context_checks(kwargs, match):
    onset, sustain = arrays()
    with pytest.raises(ValueError, match=match):
        PianoRoll(onset, sustain, **kwargs)


def test_track_program_range():
    with pytest.raises(ValueError, match="program must be in 0..127"):
        Track("x", 128)


def test_events_are_normalised():
    onset, sustain = arrays()
    roll = PianoRoll(onset, sustain, tempos=[(8, 90), (0, 120), (4, 120), (8, 100)],
                     time_signatures=[(0, 4, 4), (16, 4, 4)])
    assert roll.tempos == [(0, 120.0), (8, 100.0)]  # sorted, repeats dropped, last wins
    assert roll.time_signatures == [(0, 4, 4)]


def test_equality():
    a = make_roll([(0, 60, 0, 2, 100)], 4)
    assert a == make_roll([(0, 60, 0, 2, 100)], 4)
    assert a != make_roll([(0, 60, 0, 2, 99)], 4)
    assert a != make_roll([(0, 60, 0, 2, 100)], 4, velocity=False)
    assert a != make_roll([(0, 60, 0, 2, 100)], 4, tracks=[Track("x")])
    assert a != make_roll([(0, 60, 0, 2, 100)], 4, tempos=[(0, 90)])
    assert a != make_roll([(0, 60, 0, 2, 100)], 4, time_signatures=[(0, 3, 4)])
    assert a != make_roll([(0, 60, 0, 2, 100)], 4, steps_per_beat=2)
    assert a != make_roll([(0, 60, 0, 2, 100)], 5)
    assert a != "a roll"


# -- concatenate and save -------------------------------------------------------

def test_concatenate_by_hand():
    from midivae import concatenate
    a = make_roll([(0, 60, 0, 8, 90)], 8, tempos=[(0, 100.0)])  # a note held to a's last step
    b = make_roll([(0, 60, 0, 4, 70), (0, 64, 2, 6, 50)], 6, tempos=[(0, 100.0), (4, 80.0)],
                  time_signatures=[(0, 3, 4)])
    ab = concatenate([a, b])
    assert ab.n_steps == 14
    assert note_list(ab) == [(0, 60, 0, 8, 90), (0, 60, 8, 12, 70), (0, 64, 10, 14, 50)]
    assert ab.tempos == [(0, 100.0), (12, 80.0)]  # b's opening tempo repeats a's: dropped
    assert ab.time_signatures == [(0, 4, 4), (8, 3, 4)]
    assert ab[:8] == a and ab[8:] == b
    assert concatenate([a]) == a


def test_concatenate_refuses_what_it_cannot_join():
    from midivae import concatenate
    a = make_roll([(0, 60, 0, 2, 90)], 4)
    with pytest.raises(ValueError, match="at least one roll"):
        concatenate([])
    with pytest.raises(ValueError, match=re.escape("rolls [0] keep velocities, rolls [1] do not")):
        concatenate([a, make_roll([], 4, velocity=False)])
    with pytest.raises(ValueError, match="roll 1 has other tracks or grid"):
        concatenate([a, make_roll([], 4, steps_per_beat=2)])
    with pytest.raises(ValueError, match="roll 1 has other tracks or grid"):
        concatenate([a, make_roll([], 4, tracks=[Track("x")])])


def test_save_writes_the_format_its_suffix_names(tmp_path):
    from midivae import quantize
    roll = make_roll([(0, 60, 0, 4, 90), (0, 67, 4, 8, 80)], 16)
    assert roll.save(tmp_path / "a.mid") == tmp_path / "a.mid"
    assert quantize(tmp_path / "a.mid") == roll
    roll.save(tmp_path / "a.MIDI")
    assert (tmp_path / "a.MIDI").read_bytes() == (tmp_path / "a.mid").read_bytes()
    roll.save(tmp_path / "a.png")
    assert (tmp_path / "a.png").read_bytes()[:4] == b"\x89PNG"
    roll.save(tmp_path / "a.musicxml")
    assert b"score-partwise" in (tmp_path / "a.musicxml").read_bytes()
    with pytest.raises(ValueError, match=r"unknown suffix '\.txt'"):
        roll.save(tmp_path / "a.txt")
    assert not (tmp_path / "a.txt").exists()
