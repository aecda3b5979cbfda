"""MusicXML through `midivae.midi.notation`: files a notation program takes as they are.

Every part as many measures as the roll has bars, a pickup marked as one, the
title and track names set (not music21's defaults), a key and few accidentals;
each file read back with music21 and checked against the roll's notes.
"""

from __future__ import annotations

import re
from fractions import Fraction

import pytest
from conftest import make_roll

from midivae import Track
from midivae.midi.notation import to_music21
from midivae.midi.score import from_music21

music21 = pytest.importorskip("music21")


def read_back(path):
    return music21.converter.parse(str(path))


def notes_by_part(score) -> list[list[tuple]]:
    """(offset in quarters, MIDI pitch, length in quarters) of every note, part by part,
    tied notes joined (music21's stripTies mixes up voices that skip a measure)."""
    out = []
    for part in score.parts:
        pieces = sorted((Fraction(n.getOffsetInHierarchy(part)), m.pitch.midi,
                         Fraction(n.quarterLength), m.tie.type if m.tie else None)
                        for n in part.recurse().notes
                        for m in (n.notes if n.isChord else [n]) if hasattr(m, "pitch"))
        whole, open_ = [], {}
        for start, pitch, length, tie in pieces:
            if tie in ("continue", "stop") and pitch in open_ and \
                    open_[pitch][0] + open_[pitch][1] == start:
                first, so_far = open_.pop(pitch)
                start, length = first, so_far + length
            if tie in ("start", "continue"):
                open_[pitch] = (start, length)
            else:
                whole.append((start, pitch, length))
        out.append(sorted(whole + [(s, p, n) for p, (s, n) in open_.items()]))
    return out


def roll_notes(roll, shift: Fraction = Fraction(0)) -> list[list[tuple]]:
    spb = roll.steps_per_beat
    return [sorted((Fraction(int(s), spb) + shift, int(p), Fraction(int(e - s), spb))
                   for kk, p, s, e, _ in roll.notes() if kk == k)
            for k in range(roll.n_tracks) if roll.onset[k].any()]


def test_to_musicxml_round_trip(tmp_path):
    roll = make_roll([(0, 72, 0, 4, 90), (0, 74, 4, 6, 90), (0, 76, 6, 8, 90), (0, 77, 8, 16, 90),
                      (1, 48, 0, 8, 70), (1, 52, 0, 8, 70), (1, 55, 8, 16, 70)], 16, 2,
                     tracks=[Track("Right", 0), Track("Left", 0)])
    path = tmp_path / "score.musicxml"
    roll.to_musicxml(path)
    assert [p.name for p in tmp_path.iterdir()] == ["score.musicxml"]
    score = read_back(path)
    assert len(score.parts) == 2
    assert notes_by_part(score) == roll_notes(roll)


def test_to_musicxml_time_signatures(tmp_path):
    """Each meter change once, where the roll has it (no restated meter mid-bar)."""
    roll = make_roll([(0, 60, 0, 4, 100), (0, 64, 4, 6, 90), (0, 67, 24, 32, 80)], 32,
                     tempos=[(0, 100.0)], time_signatures=[(0, 3, 4), (24, 6, 8)])
    roll.to_musicxml(tmp_path / "meters.musicxml")
    part = read_back(tmp_path / "meters.musicxml").parts[0]
    sigs = [(Fraction(ts.getOffsetInHierarchy(part)), ts.ratioString)
            for ts in part.recurse().getElementsByClass("TimeSignature")]
    assert sigs == [(0, "3/4"), (6, "6/8")]


@pytest.fixture
def uneven():
    """Three voices ending at different bars, a silent track, a meter change after two of
    them have ended, and three bars of trailing silence: 7 bars in all."""
    return make_roll([(0, 72, 0, 4, 90), (0, 74, 4, 8, 90),  # bar 0 only
                      (1, 60, 0, 32, 80), (1, 62, 32, 40, 80),  # into bar 2
                      (3, 36, 0, 2, 100), (3, 38, 56, 58, 100)],  # drums into bar 4
                     96, 4, time_signatures=[(0, 4, 4), (48, 3, 4)],
                     tracks=[Track("Flute", 73), Track("Cello", 42), Track("Silent", 0),
                             Track("Kit", 0, True)])


def test_every_part_has_every_bar(uneven, tmp_path):
    path = tmp_path / "uneven.musicxml"
    uneven.to_musicxml(path)
    score = read_back(path)
    bars = [(4, 4)] * 3 + [(3, 4)] * 4  # bar lines at 0, 16, 32, then every 12 steps from 48
    assert len(uneven.bar_starts()) == len(bars)
    assert [p.partName for p in score.parts] == ["Flute", "Cello", "Kit"]  # silent: no part
    for part in score.parts:
        measures = list(part.getElementsByClass("Measure"))
        assert [m.number for m in measures] == list(range(1, 8))
        assert [m.barDuration.quarterLength for m in measures] == [n * 4 / d for n, d in bars]
        assert [m.duration.quarterLength for m in measures] == [n * 4 / d for n, d in bars]
        assert [(Fraction(ts.getOffsetInHierarchy(part)), ts.ratioString) for ts in
                part.recurse().getElementsByClass("TimeSignature")] == [(0, "4/4"), (12, "3/4")]
    assert notes_by_part(score)[:2] == roll_notes(uneven)[:2]


def test_title_and_part_names_replace_music21s_defaults(uneven, tmp_path):
    uneven.to_musicxml(tmp_path / "My Clip.musicxml")
    text = (tmp_path / "My Clip.musicxml").read_text()
    assert "Music21 Fragment" not in text and "<creator" not in text
    assert re.findall(r"<work-title>(.*)</work-title>", text) == ["My Clip"]
    assert re.findall(r"<movement-title>(.*)</movement-title>", text) == ["My Clip"]
    assert re.findall(r"<part-name>(.*)</part-name>", text) == ["Flute", "Cello", "Kit"]
    uneven.to_musicxml(tmp_path / "b.musicxml", title="Étude in time")
    assert read_back(tmp_path / "b.musicxml").metadata.bestTitle == "Étude in time"
    unnamed = uneven.replace(tracks=[Track(), Track("", 33), Track(), Track("", 0, True)])
    names = [p.partName for p in to_music21(unnamed).parts]
    assert "" not in names and "Music21" not in names and len(names) == 3


def test_a_pickup_is_measure_0_marked_implicit(tmp_path):
    # one beat of pickup before 3/4 (as from_music21 reads one): G | C D E | F - - | G
    roll = make_roll([(0, 67, 0, 4, 90), (0, 72, 4, 8, 90), (0, 74, 8, 12, 90),
                      (0, 76, 12, 16, 90), (0, 77, 16, 28, 90), (0, 79, 28, 32, 90),
                      (1, 48, 4, 28, 70)], 40, 2,
                     time_signatures=[(0, 1, 4), (4, 3, 4)],
                     tracks=[Track("Melody"), Track("Bass", 32)])
    path = tmp_path / "pickup.musicxml"
    roll.to_musicxml(path)
    text = path.read_text()
    assert len(re.findall(r'<measure implicit="yes" number="0">', text)) == 2
    assert re.findall(r"<beats>(\d+)</beats>", text) == ["3", "3"]  # no 1/4 bar anywhere
    score = read_back(path)
    for part in score.parts:
        measures = list(part.getElementsByClass("Measure"))
        assert [m.number for m in measures] == [0, 1, 2, 3]
        assert measures[0].duration.quarterLength == 1 and measures[0].paddingLeft == 2
        assert [m.duration.quarterLength for m in measures[1:]] == [3, 3, 3]
    assert notes_by_part(score) == roll_notes(roll)


def test_a_chorale_with_a_pickup_comes_back_with_its_measures(tmp_path):
    original = music21.corpus.parse("bach/bwv66.6")
    roll, _ = from_music21(original, 4)
    assert roll.time_signatures[:2] == [(0, 1, 4), (4, 4, 4)]  # a one-beat pickup
    roll.to_musicxml(tmp_path / "bwv66.6.musicxml")
    again = read_back(tmp_path / "bwv66.6.musicxml")
    want = [(m.number, m.duration.quarterLength)
            for m in original.parts[0].getElementsByClass("Measure")]
    assert len(roll.bar_starts()) == len(want) + 1  # music21's MIDI export adds a beat at the end
    for part in again.parts:
        measures = [(m.number, m.duration.quarterLength)
                    for m in part.getElementsByClass("Measure")]
        assert measures[:-1] == want and measures[-1][0] == len(want)
        assert part.getElementsByClass("Measure")[0].paddingLeft == 3
    assert [k.sharps for k in again.parts[0].recurse().getElementsByClass("KeySignature")] == \
        [k.sharps for k in original.parts[0].recurse().getElementsByClass("KeySignature")][:1]


def test_keyless_rolls_get_a_key_and_scale_notes_no_accidentals(tmp_path):
    # E-flat major, up and down, over a held E-flat: no key in the roll
    scale = [63, 65, 67, 68, 70, 72, 74, 75, 74, 72, 70, 68, 67, 65, 63, 63]
    roll = make_roll([(0, p, 2 * i, 2 * i + 2, 90) for i, p in enumerate(scale)]
                     + [(1, 51, 0, 32, 70)], 32, 2, tracks=[Track("Right"), Track("Left")])
    path = tmp_path / "eb.musicxml"
    roll.to_musicxml(path)
    text = path.read_text()
    assert re.findall(r"<fifths>(-?\d+)</fifths>", text) == ["-3", "-3"]
    assert "<accidental" not in text
    spelled = [n.pitch.name for n in read_back(path).parts[0].flatten().notes]
    assert spelled == ["E-", "F", "G", "A-", "B-", "C", "D", "E-", "D", "C", "B-", "A-", "G", "F",
                       "E-", "E-"]
    roll.to_musicxml(tmp_path / "none.musicxml", estimate_key=False)
    assert "<fifths>" not in (tmp_path / "none.musicxml").read_text()


def test_a_rolls_own_key_is_used_and_chromatic_notes_follow_its_side(tmp_path):
    # outside the scale, F# and C# are Gb and Db in a flat key, Bb is A# in a sharp key
    flat = make_roll([(0, 66, 0, 4, 90), (0, 61, 4, 8, 90), (0, 70, 8, 16, 90)], 16,
                     key_signatures=[(0, -2, 0)])  # B-flat major
    sharp = flat.replace(key_signatures=[(0, 4, 0)])  # E major
    names = {}
    for label, roll in (("flat", flat), ("sharp", sharp)):
        roll.to_musicxml(tmp_path / f"{label}.musicxml")
        names[label] = [n.pitch.name for n in read_back(tmp_path / f"{label}.musicxml")
                        .parts[0].flatten().notes]
    assert names == {"flat": ["G-", "D-", "B-"], "sharp": ["F#", "C#", "A#"]}


def test_overlapping_and_tied_notes_come_back_whole(tmp_path):
    # a held C under moving notes (voices), and notes across bar lines (ties)
    roll = make_roll([(0, 60, 0, 16, 80), (0, 67, 0, 4, 80), (0, 69, 4, 8, 80),
                      (0, 71, 8, 14, 80), (0, 72, 14, 22, 80), (0, 48, 10, 40, 80)], 48,
                     time_signatures=[(0, 4, 4)], tracks=[Track("Piano")])
    roll.to_musicxml(tmp_path / "voices.musicxml")
    text = (tmp_path / "voices.musicxml").read_text()
    assert text.count("<clef>") == text.count("<key>") == text.count("<time>") == 1
    assert "<voice>2</voice>" in text and "<voice>3</voice>" in text
    score = read_back(tmp_path / "voices.musicxml")
    assert [m.number for m in score.parts[0].getElementsByClass("Measure")] == [1, 2, 3]
    assert notes_by_part(score) == roll_notes(roll)


def test_dense_parts_become_tied_chords_and_drums_stay_unpitched(tmp_path):
    # six overlapping notes of different lengths: more voices than a staff takes
    cluster = [(0, 60 + 2 * i, i, 8 + 3 * i, 80) for i in range(6)]
    kit = [(1, 36, 0, 1, 110), (1, 42, 0, 1, 90), (1, 38, 4, 5, 100)]
    roll = make_roll(cluster + kit, 32, 2, tracks=[Track("Pad", 88), Track("Kit", 0, True)])
    path = tmp_path / "dense.musicxml"
    roll.to_musicxml(path)
    text = path.read_text()
    assert text.count("<key>") == 1  # the drum staff takes no key signature
    assert "<voice>" not in text and "<tie " in text  # one voice of tied chords
    score = read_back(path)
    assert notes_by_part(score)[0] == roll_notes(roll)[0]
    drums = list(score.parts[1].recurse().notes)
    assert [type(n).__name__ for n in drums] == ["PercussionChord", "Unpitched"]
    assert [m.number for m in score.parts[1].getElementsByClass("Measure")] == [1, 2]


@pytest.mark.parametrize("spb", [3, 6, 12])
def test_fine_grids_keep_every_note_exactly(spb, tmp_path):
    # triplets and lengths like 5/12 of a quarter: nothing is re-quantized
    notes = [(0, 60 + i % 7, 5 * i, 5 * i + 1 + i % 4, 80) for i in range(6 * spb // 4)]
    roll = make_roll(notes, 8 * spb, steps_per_beat=spb, tracks=[Track("Fine")])
    roll.to_musicxml(tmp_path / "fine.musicxml")
    assert notes_by_part(read_back(tmp_path / "fine.musicxml")) == roll_notes(roll)
