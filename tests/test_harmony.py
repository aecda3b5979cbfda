"""midivae.midi.harmony and midivae.midi.novelty on hand-made rolls with hand-computed answers."""

import numpy as np
import pytest
from conftest import make_roll

from midivae.midi.harmony import CHORD_ROOT, harmony_stats, mixed_voices
from midivae.midi.musicstats import roll_stats
from midivae.midi.novelty import COPY, copied_bars, nearest_overlap, novelty


def chorale(chords, n_steps=None, beat=4):
    """Four voices (soprano first), one chord per beat: chords = [(s, a, t, b), ...]."""
    notes = [(k, p, beat * i, beat * i + beat, 80) for i, chord in enumerate(chords)
             for k, p in enumerate(chord)]
    return make_roll(notes, n_steps or beat * len(chords), 4)


def mask(*pcs):
    return sum(1 << (p % 12) for p in pcs)


def test_chord_table():
    assert CHORD_ROOT[mask(0, 4, 7)] == 0  # C major
    assert CHORD_ROOT[mask(9, 0, 4)] == 9  # A minor
    assert CHORD_ROOT[mask(7, 11, 2, 5)] == 7  # G7
    assert CHORD_ROOT[mask(11, 2, 5)] == 11  # B diminished
    assert CHORD_ROOT[mask(0, 4)] == -1  # no fifth: incomplete
    assert CHORD_ROOT[mask(0, 2, 4, 7)] == -1  # an added ninth
    assert CHORD_ROOT[mask(0, 5, 7)] == -1  # a suspension


def test_a_cadence_by_hand():
    # I - IV - V7 - I in C; the soprano E F F E (the second F struck again)
    roll = chorale([(64, 60, 55, 48), (65, 60, 57, 53), (65, 62, 59, 43), (64, 60, 55, 48)])
    h = harmony_stats([roll])
    # beats: C E G | F A C | G B D F | C E G: all four are chords
    assert h["chord_share"] == 1 and h["full_beat_share"] == 1
    # soprano E -> F -> F -> E: two moves, both a semitone
    assert h["top_stepwise_share"] == 1
    assert h["crossing_share"] == 0
    # no pair keeps a fifth or an octave while both move the same way (IV -> V7 with the
    # bass falling a seventh avoids the alto-bass fifths F-C -> G-D)
    assert h["parallels_per_bar"] == 0 and h["parallel_window_share"] == 0
    # the last beat is C major over C in the bass, struck there
    assert h["end_chord_share"] == 1 and h["end_root_share"] == 1 and h["end_held_share"] == 0
    # soprano on beats against the lower voices' pitch classes: E in {C, G}? no; F in
    # {C, A, F} yes; F in {D, B, G}? no; E in {C, G}? no
    assert h["melody_chord_share"] == pytest.approx(1 / 4)


def test_parallel_fifths_and_octaves():
    # soprano and bass in octaves moving C -> D; alto and tenor in fifths moving G/C -> A/D
    roll = chorale([(72, 67, 60, 48), (74, 69, 62, 50)])
    h = harmony_stats([roll])
    # pairs moving in parallel: S-B octaves, A-T fifths, S-T (12 -> 12: octave), and T-B
    # (12 -> 12); S-A (5) and A-B (19 = 7 mod 12: a twelfth) -> A-B is a fifth too
    assert h["parallels_per_bar"] == pytest.approx(5 / 1)  # 8 steps: one bar of 4/4 at 4/beat
    assert h["parallel_window_share"] == 1
    # contrary motion keeping the octave is no parallel: S up, B down
    roll = chorale([(60, 55, 52, 48), (62, 55, 52, 38)])
    assert harmony_stats([roll])["parallels_per_bar"] == 0
    # one voice held: no parallel
    roll = chorale([(67, 64, 60, 48), (67, 64, 62, 55)])
    assert harmony_stats([roll])["parallels_per_bar"] == 0


def test_crossings_and_a_held_end():
    # the alto above the soprano on the second beat only; the last beat holds the chord
    notes = [(0, 72, 0, 8, 80), (1, 67, 0, 4, 80), (1, 74, 4, 8, 80), (2, 60, 0, 8, 80),
             (3, 48, 0, 8, 80)]
    roll = make_roll(notes, 8, 4)
    h = harmony_stats([roll])
    assert h["crossing_share"] == pytest.approx(4 / 8)
    # the last beat (steps 4..7) strikes the alto's D: not held
    assert h["end_held_share"] == 0
    held = make_roll([(k, p, 0, 8, 80) for k, p in enumerate((72, 67, 64, 48))], 8, 4)
    assert harmony_stats([held])["end_held_share"] == 1
    assert harmony_stats([held])["end_root_share"] == 1


def test_one_track_and_empty_inputs_are_defined():
    melody = make_roll([(0, 60, 0, 4, 80), (0, 62, 4, 8, 80), (0, 67, 8, 12, 80)], 16)
    h = harmony_stats([melody])
    assert h["top_stepwise_share"] == pytest.approx(1 / 2)  # C-D a step, D-G a leap
    assert h["crossing_share"] == 0 and h["melody_chord_share"] == 0
    assert all(v == 0 for v in harmony_stats([]).values())
    with pytest.raises(ValueError, match="one shape"):
        harmony_stats([melody, make_roll([], 32)])


def test_mixed_voices_take_tracks_from_other_rolls_of_the_key():
    rolls = [chorale([(72 + i, 67, 60, 48)]) for i in range(3)]
    mixed = mixed_voices(rolls, np.array([0, 0, 5]), seed=1)
    assert len(mixed) == 2  # the third is alone in its key
    # roll 0's tracks all come from roll 1 and roll 1's from roll 0
    assert np.array_equal(mixed[0].sustain, rolls[1].sustain)
    assert np.array_equal(mixed[1].sustain, rolls[0].sustain)
    with pytest.raises(ValueError, match="2 keys for 3 rolls"):
        mixed_voices(rolls, np.array([0, 0]))


def test_repeated_bar_pairs_and_per_track_figures():
    bar = lambda b, p: [(0, p, 16 * b + 4 * i, 16 * b + 4 * i + 4, 80) for i in range(4)]  # noqa
    aaba = make_roll(bar(0, 60) + bar(1, 62) + bar(2, 60) + bar(3, 62), 64)
    abcd = make_roll(bar(0, 60) + bar(1, 62) + bar(2, 64) + bar(3, 65), 64)
    # bars 0-1 return as 2-3 in the first; nothing returns in the second; bars 0-1 and 1-2
    # overlap and do not count as a repeat
    overlap = make_roll(bar(0, 60) + bar(1, 60) + bar(2, 60) + bar(3, 62), 64)
    assert roll_stats([aaba])["repeated_bar_pair_share"] == 1
    assert roll_stats([abcd])["repeated_bar_pair_share"] == 0
    assert roll_stats([overlap])["repeated_bar_pair_share"] == 0
    two = make_roll([(0, 60, 0, 4, 80), (1, 48, 0, 16, 80), (1, 52, 0, 8, 80)], 16, 2)
    s = roll_stats([two, make_roll([(0, 60, 0, 4, 80)], 16, 2)])
    assert s["notes_per_bar_by_track"] == [1.0, 1.0]
    assert s["voice_polyphony_by_track"] == [1.0, pytest.approx(24 / 16)]
    assert s["silent_track_share"] == 0.5


def test_nearest_overlap_by_hand():
    a = make_roll([(0, 60, 0, 8, 80), (0, 64, 8, 16, 80)], 16)  # 16 sounding cells
    b = make_roll([(0, 60, 0, 8, 80), (0, 67, 8, 16, 80)], 16)  # shares 8 of them
    up = make_roll([(0, 62, 0, 8, 80), (0, 66, 8, 16, 80)], 16)  # a, two semitones up
    assert nearest_overlap([a], [b], shifts=[0]) == pytest.approx([8 / 24])
    assert nearest_overlap([a], [a]) == pytest.approx([1.0])
    assert nearest_overlap([up], [a], shifts=[0]) == pytest.approx([0.0])
    assert nearest_overlap([up], [a], shifts=[-2]) == pytest.approx([1.0])
    assert nearest_overlap([up, a], [b, a]) == pytest.approx([1.0, 1.0])
    silent = make_roll([], 16)
    assert nearest_overlap([silent], [a]) == pytest.approx([0.0])
    with pytest.raises(ValueError, match="one shape"):
        nearest_overlap([a], [make_roll([], 32)])


def test_novelty_counts_copies_and_copied_bars():
    # a bar of two half notes, the second `up` semitones above the first
    bar = lambda b, p, up: [(0, p, 16 * b, 16 * b + 8, 80),  # noqa: E731
                            (0, p + up, 16 * b + 8, 16 * b + 16, 80)]
    train = [make_roll(bar(0, 60, 4) + bar(1, 64, 1), 32)]
    copy = make_roll(bar(0, 63, 4) + bar(1, 67, 1), 32)  # the window, 3 semitones up
    new_bar = make_roll(bar(0, 50, 2) + bar(1, 52, 3), 32)
    one_bar = make_roll(bar(0, 48, 4) + bar(1, 70, 2), 32)  # bar 0: train's, an octave down
    assert list(copied_bars([copy, new_bar, one_bar], train)) == [True, False, True]
    n = novelty([copy, new_bar, one_bar], train, [new_bar])
    assert n["copies"] == 1 and n["bar_copies"] == 2
    assert n["test_copies"] == 0 and n["test_bar_copies"] == 0
    assert n["samples_overlap_median"] == pytest.approx(0.0)
    assert n["test_overlap_median"] == pytest.approx(0.0)
    assert COPY == 0.95


def test_bar_forms_name_the_bar_each_repeats():
    from midivae.midi.musicstats import bar_forms
    bar = lambda b, p: [(0, p, 16 * b + 4 * i, 16 * b + 4 * i + 4, 80) for i in range(4)]  # noqa
    aaba = make_roll(bar(0, 60) + bar(1, 62) + bar(2, 60) + bar(3, 62), 64)
    with_rest = make_roll(bar(0, 60) + bar(1, 60) + bar(3, 60), 64)  # bar 2 silent
    assert bar_forms([aaba, with_rest]).tolist() == [[-1, -1, 0, 1], [-1, 0, -1, 0]]
    assert bar_forms([]).shape == (0, 0)
