"""midivae.midi.musicstats: every statistic on hand-made rolls with hand-computed answers,
plus a plain reference for the per-roll pitch statistics and the pooling rules."""

import math
import random

import numpy as np
import pytest
from conftest import make_roll

from midivae import PianoRoll, Track
from midivae.midi import musicstats
from midivae.midi.musicstats import DISTANCE_KEYS, EPS, compare, roll_stats

C_MAJOR = [60, 62, 64, 65, 67, 69, 71]
PITCH_KEYS = ["polyphony", "polyphony_rate", "voice_polyphony", "voice_single_share_mean",
              "voice_single_share_min", "pitch_range", "n_pitches_used", "pitch_class_entropy",
              "in_scale_share"]


def scale_melody(n_tracks=1, **kwargs):
    """C D E F G A B, one quarter note each (4 steps), in two 4/4 bars (32 steps)."""
    notes = [(0, p, 4 * i, 4 * i + 4, 80) for i, p in enumerate(C_MAJOR)]
    return notes, make_roll(notes, 32, n_tracks, **kwargs)


def check(stats, expected):
    assert {k: stats[k] for k in expected} == pytest.approx(expected)


def test_c_major_scale_melody():
    _, roll = scale_melody()
    stats = roll_stats([roll])
    check(stats, {"n_rolls": 1, "silent_share": 0, "notes_per_bar": 7 / 2,
                  "sounding_share": 28 / 32,
                  "empty_beat_share": 1 / 8,  # beats 0..6 start a note, beat 7 is silent
                  "polyphony": 1, "polyphony_rate": 0, "voice_polyphony": 1,
                  "voice_single_share_mean": 1, "voice_single_share_min": 1,
                  "pitch_range": 71 - 60, "n_pitches_used": 7,
                  "pitch_class_entropy": math.log2(7), "in_scale_share": 1,
                  "track_bar_share_min": 1})
    assert stats["track_bar_share_by_track"] == [1.0]


def test_chromatic_run():
    # C4 up to C5 in steps: 13 onsets, pitch class C twice, the 11 others once
    roll = make_roll([(0, 60 + i, i, i + 1, 80) for i in range(13)], 16)
    stats = roll_stats([roll])
    # a major scale holds 7 pitch classes; the best ones hold C too: 6 x 1 + 2 = 8 of 13
    entropy = -(11 * (1 / 13) * math.log2(1 / 13) + (2 / 13) * math.log2(2 / 13))
    check(stats, {"in_scale_share": 8 / 13, "pitch_class_entropy": entropy,
                  "pitch_range": 12, "n_pitches_used": 13, "notes_per_bar": 13})


def test_two_voices_one_doubling():
    # one 4/4 bar of 16 steps. Track 0: 72 then 74, one pitch throughout.
    # Track 1: 48 held, 55 added on steps 4..7 (the voice doubles there).
    roll = make_roll([(0, 72, 0, 8, 80), (0, 74, 8, 16, 80),
                      (1, 48, 0, 16, 80), (1, 55, 4, 8, 80)], 16, 2)
    stats = roll_stats([roll])
    # distinct pitches per step: 2 on steps 0-3, 3 on steps 4-7, 2 on steps 8-15
    poly = (2 * 4 + 3 * 4 + 2 * 8) / 16
    check(stats, {"polyphony": poly, "polyphony_rate": 1.0,
                  "voice_polyphony": (1.0 + (16 + 4) / 16) / 2,
                  "voice_single_share_mean": (1.0 + 12 / 16) / 2,
                  "voice_single_share_min": 12 / 16,
                  "notes_per_bar": 4, "pitch_range": 74 - 48})


def test_unison_counts_once_in_polyphony():
    roll = make_roll([(0, 60, 0, 4, 80), (1, 60, 0, 4, 80)], 8, 2)
    check(roll_stats([roll]), {"polyphony": 1.0, "polyphony_rate": 0.0, "voice_polyphony": 1.0,
                               "voice_single_share_min": 1.0, "sounding_share": 4 / 8})


def test_empty_beats_count_onsets_and_the_partial_last_beat():
    # 2 steps per beat, 11 steps: beats start at 0, 2, 4, 6, 8, 10 (the last one step long)
    pitched = [(0, 60, 0, 1, 80),  # beat 0
               (0, 62, 3, 9, 80),  # starts in beat 1, only sounds through beats 2, 3, 4
               (0, 64, 10, 11, 80)]  # beat 5, the partial one
    tracks = [Track(), Track(is_drum=True)]
    alone = make_roll(pitched, 11, 2, steps_per_beat=2, tracks=tracks)
    drum = make_roll(pitched + [(1, 36, 9, 10, 80)], 11, 2, steps_per_beat=2, tracks=tracks)
    assert roll_stats([alone])["empty_beat_share"] == pytest.approx(3 / 6)  # beats 2, 3, 4
    assert roll_stats([drum])["empty_beat_share"] == pytest.approx(2 / 6)  # the drum fills 4
    assert roll_stats([alone, drum])["empty_beat_share"] == pytest.approx(5 / 12)


def test_drum_track_changes_no_pitch_statistic():
    tracks = [Track(), Track(is_drum=True)]
    notes, plain = scale_melody(2, tracks=tracks)
    # out-of-scale drum "pitches", two at once, far outside the melody's range, all in bar 1
    hits = [(1, 36, 16, 17, 90), (1, 42, 16, 17, 90), (1, 37, 29, 30, 90), (1, 49, 29, 30, 90)]
    drums = make_roll(notes + hits, 32, 2, tracks=tracks)
    a, b = roll_stats([plain]), roll_stats([drums])
    assert {k: b[k] for k in PITCH_KEYS} == pytest.approx({k: a[k] for k in PITCH_KEYS})
    assert b["in_scale_share"] == 1 and b["pitch_range"] == 11
    # ... and counts in density, sounding, empty beats and bars per track
    check(b, {"notes_per_bar": (7 + 4) / 2, "sounding_share": 29 / 32,
              "empty_beat_share": 0.0})
    assert a["track_bar_share_by_track"] == [1.0, 0.0]
    assert b["track_bar_share_by_track"] == [1.0, 0.5]


def test_a_pitched_track_would_change_them():
    """The same hits on a pitched track do move the pitch statistics (the test above can fail)."""
    notes, plain = scale_melody(2)
    hits = [(1, 36, 16, 17, 90), (1, 42, 16, 17, 90), (1, 37, 29, 30, 90), (1, 49, 29, 30, 90)]
    a, b = roll_stats([plain]), roll_stats([make_roll(notes + hits, 32, 2)])
    assert b["pitch_range"] == 71 - 36 and b["in_scale_share"] < 1
    assert b["voice_single_share_min"] == 0.0 and a["voice_single_share_min"] == 1.0


def all_finite(stats):
    values = [v for v in stats.values() if not isinstance(v, list)]
    values += [v for v in stats.values() if isinstance(v, list) for v in v]
    return all(math.isfinite(v) for v in values)


def test_silent_and_empty_inputs_are_defined():
    silent = roll_stats([make_roll([], 16, 2)])
    assert all_finite(silent)
    check(silent, {"n_rolls": 1, "silent_share": 1, "notes_per_bar": 0, "sounding_share": 0,
                   "empty_beat_share": 1, "polyphony": 0, "voice_polyphony": 0,
                   "voice_single_share_min": 0, "pitch_range": 0, "pitch_class_entropy": 0,
                   "in_scale_share": 0, "track_bar_share_min": 0})
    assert silent["track_bar_share_by_track"] == [0.0, 0.0]

    nothing = roll_stats([])
    assert all_finite(nothing) and nothing["n_rolls"] == 0
    assert nothing["track_bar_share_by_track"] == []
    assert set(nothing) == set(silent)

    no_steps = roll_stats([PianoRoll.empty(2, 0)])  # a roll of zero steps: no beats, no bars
    assert all_finite(no_steps)
    check(no_steps, {"n_rolls": 1, "silent_share": 1, "empty_beat_share": 0,
                     "notes_per_bar": 0})

    only_drums = make_roll([(0, 36, 0, 1, 90)], 16, tracks=[Track(is_drum=True)])
    stats = roll_stats([only_drums])
    assert all_finite(stats)
    check(stats, {"silent_share": 0, "notes_per_bar": 1, "pitch_range": 0, "polyphony": 0,
                  "voice_single_share_min": 0, "track_bar_share_min": 1})


def test_silent_roll_in_a_collection():
    _, melody = scale_melody()
    stats = roll_stats([melody, make_roll([], 32)])
    check(stats, {"n_rolls": 2, "silent_share": 0.5,
                  "notes_per_bar": 7 / 4, "sounding_share": 28 / 64,  # pooled over both
                  "empty_beat_share": 9 / 16,
                  "pitch_range": 11, "pitch_class_entropy": math.log2(7),  # the melody only
                  "in_scale_share": 1, "voice_single_share_min": 1,
                  "track_bar_share_min": 2 / 4})


def test_bars_follow_the_meter():
    notes = [(0, 60, 4 * i, 4 * i + 4, 80) for i in range(12)]  # 12 quarter notes, 48 steps
    four = make_roll(notes, 48, time_signatures=[(0, 4, 4)])  # bars at 0, 16, 32
    three = make_roll(notes, 48, time_signatures=[(0, 3, 4)])  # bars at 0, 12, 24, 36
    assert roll_stats([four])["notes_per_bar"] == pytest.approx(12 / 3)
    assert roll_stats([three])["notes_per_bar"] == pytest.approx(12 / 4)
    # 4/4 then 3/4 from step 16, 40 steps: bars at 0, 16, 28
    change = make_roll(notes[:10], 40, time_signatures=[(0, 4, 4), (16, 3, 4)])
    assert roll_stats([change])["notes_per_bar"] == pytest.approx(10 / 3)
    # notes at steps 0 and 14: two bars of 3/4 (0-11, 12-23), one of the two 4/4 bars
    two = [(0, 60, 0, 1, 80), (0, 62, 14, 15, 80)]
    assert roll_stats([make_roll(two, 24, time_signatures=[(0, 3, 4)])])[
        "track_bar_share_by_track"] == [1.0]
    assert roll_stats([make_roll(two, 24)])["track_bar_share_by_track"] == [0.5]


def test_compare_known_dicts():
    a = {k: 1.0 for k in DISTANCE_KEYS}
    b = {k: 1.0 for k in DISTANCE_KEYS}
    a["notes_per_bar"], b["notes_per_bar"] = 1.0, 2.0  # relative to b: 1/2 (to a it would be 1)
    a["polyphony"], b["polyphony"] = 3.0, 2.0  # 1/2
    a["silent_share"], b["silent_share"] = 0.25, 0.0  # b = 0: divided by EPS, not in distance
    a["empty_beat_share"], b["empty_beat_share"] = 0.0, 0.0
    a["track_bar_share_by_track"], b["track_bar_share_by_track"] = [1.0], [0.0]  # not a scalar
    a["only_in_a"] = 5.0
    out = compare(a, b)
    assert out["notes_per_bar"] == {"a": 1.0, "b": 2.0, "abs_diff": 1.0, "rel_diff": 0.5}
    assert out["polyphony"]["rel_diff"] == pytest.approx(0.5)
    assert out["silent_share"]["rel_diff"] == pytest.approx(0.25 / EPS)
    assert out["empty_beat_share"]["rel_diff"] == 0.0
    assert "track_bar_share_by_track" not in out and "only_in_a" not in out
    assert out["distance"]["keys"] == list(DISTANCE_KEYS)
    assert out["distance"]["value"] == pytest.approx(1.0 / len(DISTANCE_KEYS))


def test_compare_of_roll_stats():
    _, melody = scale_melody()
    same = compare(roll_stats([melody]), roll_stats([melody]))
    assert same["distance"]["value"] == 0.0
    half = compare(roll_stats([melody, make_roll([], 32)]), roll_stats([melody]))
    assert half["notes_per_bar"]["rel_diff"] == pytest.approx(0.5)
    assert half["distance"]["value"] > 0
    with pytest.raises(ValueError, match="DISTANCE_KEYS"):
        compare({"x": 1.0}, {"x": 2.0})


def test_bad_inputs():
    with pytest.raises(ValueError, match=r"same number of tracks.*\[1, 2\]"):
        roll_stats([make_roll([], 8, 1), make_roll([], 8, 2)])
    with pytest.raises(TypeError, match="wrap"):
        roll_stats(make_roll([], 8))
    with pytest.raises(TypeError, match="PianoRoll"):
        roll_stats([np.zeros((1, 8, 128), bool)])


# -- a plain reference and the pooling rules on random rolls -------------------

def random_rolls(n, seed=0):
    """Rolls of five layouts (size, grid, meter, drums), a few notes each, some silent."""
    rng = random.Random(seed)
    layouts = [dict(n_steps=32, steps_per_beat=4, time_signatures=[(0, 4, 4)],
                    tracks=[Track(), Track(is_drum=True)]),
               dict(n_steps=24, steps_per_beat=2, time_signatures=[(0, 3, 4)],
                    tracks=[Track(), Track()]),
               dict(n_steps=40, steps_per_beat=4, time_signatures=[(0, 4, 4), (16, 3, 4)],
                    tracks=[Track(is_drum=True), Track()]),
               # the first layout's size with another meter, and with other drums
               dict(n_steps=32, steps_per_beat=4, time_signatures=[(0, 3, 4)],
                    tracks=[Track(), Track(is_drum=True)]),
               dict(n_steps=32, steps_per_beat=4, time_signatures=[(0, 4, 4)],
                    tracks=[Track(is_drum=True), Track()])]
    rolls = []
    for _ in range(n):
        lay = dict(rng.choice(layouts))
        T = lay.pop("n_steps")
        notes = []
        for _ in range(rng.choice([0, 1, 3, 8, 20])):
            start = rng.randrange(T)
            notes.append((rng.randrange(2), rng.randrange(30, 90), start,
                          rng.randrange(start + 1, T + 1), 80))
        rolls.append(make_roll(notes, T, 2, **lay))
    return rolls


MUSPY_MAJOR = [1, 0, 1, 0, 1, 1, 0, 1, 0, 1, 0, 1]  # muspy.metrics._get_scale, root C
MUSPY_MINOR = [1, 0, 1, 1, 0, 1, 0, 1, 1, 0, 1, 0]


def reference_pitch_stats(roll):
    """muspy's loops over notes: pitch range, entropy, scale consistency over 24 scales."""
    pitches = [int(n["pitch"]) for n in roll.notes() if not roll.tracks[n["track"]].is_drum]
    if not pitches:
        return None
    counts = [sum(p % 12 == c for p in pitches) for c in range(12)]
    entropy = -sum(n / len(pitches) * math.log2(n / len(pitches)) for n in counts if n)
    scales = [np.roll(m, r) for m in (MUSPY_MAJOR, MUSPY_MINOR) for r in range(12)]
    best = max(sum(s[p % 12] for p in pitches) for s in scales) / len(pitches)
    return {"pitch_range": max(pitches) - min(pitches), "n_pitches_used": len(set(pitches)),
            "pitch_class_entropy": entropy, "in_scale_share": best}


def test_per_roll_pitch_statistics_match_muspy_loops():
    for roll in random_rolls(40):
        expected = reference_pitch_stats(roll)
        if expected is not None:
            check(roll_stats([roll]), expected)


def test_pooling_and_batching(monkeypatch):
    rolls = random_rolls(60, seed=1)
    stats = roll_stats(rolls)
    bars = sum(len(r.bar_starts()) for r in rolls)
    steps = sum(r.n_steps for r in rolls)
    assert stats["notes_per_bar"] == pytest.approx(sum(r.n_notes for r in rolls) / bars)
    assert stats["sounding_share"] == pytest.approx(
        sum(int(r.sustain.any(axis=(0, 2)).sum()) for r in rolls) / steps)
    assert stats["silent_share"] == pytest.approx(sum(r.n_notes == 0 for r in rolls) / 60)
    # per-roll statistics: means over the rolls with pitched notes, weighted by steps
    ref = [(r.n_steps, reference_pitch_stats(r)) for r in rolls]
    ref = [(w, e) for w, e in ref if e is not None]
    for key in ("pitch_range", "pitch_class_entropy", "in_scale_share"):
        mean = sum(w * e[key] for w, e in ref) / sum(w for w, _ in ref)
        assert stats[key] == pytest.approx(mean)
    # the order of the rolls and the batch size change nothing
    monkeypatch.setattr(musicstats, "BLOCK_CELLS", 1)  # one roll per batch
    again = roll_stats(rolls[::-1])
    for key in [k for k in stats if k.endswith("_by_track")]:
        assert again.pop(key) == pytest.approx(stats.pop(key))
    assert again == pytest.approx(stats)


def test_scale_roots_name_the_major_scale_holding_most_notes():
    _, c_major = scale_melody()
    g_major = make_roll([(0, p + 7, 4 * i, 4 * i + 4, 80) for i, p in enumerate(C_MAJOR)], 32)
    # C D E F# G: in G major (5 of 5) and in D major only 4; C major holds 4 as well
    mostly_g = make_roll([(0, p, 4 * i, 4 * i + 4, 80) for i, p in enumerate([60, 62, 64, 66,
                                                                              67])], 32)
    # A minor's notes are C major's set: root 0, the lowest of the tie with nothing else
    a_minor = make_roll([(0, p, 4 * i, 4 * i + 4, 80) for i, p in enumerate([57, 59, 60, 62,
                                                                             64, 65, 67])], 32)
    tracks = [Track(), Track(is_drum=True)]
    drums_only = make_roll([(1, 37, 0, 1, 90), (1, 42, 4, 5, 90)], 32, 2, tracks=tracks)
    silent = make_roll([], 32)
    roots = musicstats.scale_roots([c_major, g_major, mostly_g, a_minor, drums_only, silent])
    assert roots.tolist() == [0, 7, 7, 0, -1, -1]
    # the drums' "pitches" never count: the C major melody beside C# / F# hits stays in C
    notes, _ = scale_melody(2, tracks=tracks)
    hits = [(1, 37, 0, 1, 90), (1, 42, 4, 5, 90), (1, 49, 8, 9, 90), (1, 54, 12, 13, 90)]
    with_drums = make_roll(notes + hits, 32, 2, tracks=tracks)
    assert musicstats.scale_roots([with_drums]).tolist() == [0]
