"""render: exact round trips, what other readers see in the written file, safe writes.

``quantize(render(roll)) == roll`` over random rolls (hypothesis), and
``render(quantize(f))`` keeps every note, tempo and meter of on-grid MIDI, built
in code and real (music21 Bach chorales, a sample of Nottingham).
"""

from __future__ import annotations

import os
from fractions import Fraction

import mido
import numpy as np
import pretty_midi
import pytest
from conftest import (make_roll, meta_events, meter, midi_file, name, note, program, tempo,
                      tick_notes, to_bytes, track)
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from midivae import DEFAULT_VELOCITY, PianoRoll, Track, quantize, render
from midivae.midi.keys import estimate_key
from midivae.midi.render import to_pretty_midi

STEPS_PER_BEAT = [1, 2, 3, 4, 6, 8, 12]
NAME_CHARS = "abcxyz ABCXYZ019_-.é中♪"  # includes Latin-1 and non-Latin-1 characters


# -- quantize(render(roll)) == roll ------------------------------------------------

@st.composite
def rolls(draw, velocity=True, max_tracks=4, max_steps=48):
    """Random valid rolls: every track has a note, events only at steps < T."""
    spb = draw(st.sampled_from(STEPS_PER_BEAT))
    T = draw(st.integers(1, max_steps))
    K = draw(st.integers(1, max_tracks))
    tracks, notes = [], []
    for k in range(K):
        tracks.append(Track(draw(st.text(NAME_CHARS, max_size=10)), draw(st.integers(0, 127)),
                            draw(st.booleans())))
        for _ in range(draw(st.integers(1, 6))):
            start = draw(st.integers(0, T - 1))
            notes.append((k, draw(st.integers(0, 127)), start, draw(st.integers(start + 1, T)),
                          draw(st.integers(1, 127))))
    mpqn = st.integers(1, 0xFFFFFF)  # any tempo a MIDI file can hold
    tempos = [(0, 60e6 / draw(mpqn))] + draw(st.lists(
        st.tuples(st.integers(0, T - 1), mpqn.map(lambda m: 60e6 / m)), max_size=4))
    sig = st.tuples(st.integers(1, 16), st.sampled_from([1, 2, 4, 8, 16, 32]))
    sigs = [(0, *draw(sig))] + [(s, n, d) for s, (n, d) in draw(
        st.lists(st.tuples(st.integers(0, T - 1), sig), max_size=3))]
    keys = draw(st.lists(st.tuples(st.integers(0, T - 1), st.integers(-7, 7), st.integers(0, 1)),
                         max_size=3))
    return make_roll(notes, T, K, velocity=velocity, steps_per_beat=spb, tempos=tempos,
                     time_signatures=sigs, tracks=tracks, key_signatures=keys)


def as_rendered(roll: PianoRoll) -> PianoRoll:
    """The roll render(estimate_key=True) writes: a roll with no key gets its estimated key."""
    key = None if roll.key_signatures else estimate_key(roll)
    return roll if key is None else roll.replace(key_signatures=[(0, *key)])


@pytest.fixture(scope="module")
def outdir(tmp_path_factory):
    return tmp_path_factory.mktemp("render")


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(roll=rolls())
def test_quantize_render_is_identity(roll, outdir):
    path = outdir / "roll.mid"
    render(roll, path)
    assert quantize(path, roll.steps_per_beat) == roll
    render(roll, path, estimate_key=True)
    assert quantize(path, roll.steps_per_beat) == as_rendered(roll)


@settings(max_examples=100, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(roll=rolls())
def test_quantize_of_the_returned_pretty_midi_is_identity(roll):
    assert quantize(render(roll), roll.steps_per_beat) == roll


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(roll=rolls(velocity=False))
def test_render_without_velocities_uses_the_default(roll, outdir):
    path = outdir / "novel.mid"
    render(roll, path)
    assert quantize(path, roll.steps_per_beat, velocity=False) == roll
    back = quantize(path, roll.steps_per_beat)
    assert set(back.velocity[back.onset].tolist()) == {DEFAULT_VELOCITY}


def test_to_midi_is_render(tmp_path):
    roll = make_roll([(0, 60, 0, 3, 70)], 4)
    a, b = tmp_path / "a.mid", tmp_path / "b.mid"
    render(roll, a)
    roll.to_midi(b)
    assert a.read_bytes() == b.read_bytes()
    assert quantize(roll.to_midi()) == roll


@pytest.mark.parametrize("label", ["Piano", "Café Müller", "中文", "Ã©tude", ""])
@pytest.mark.parametrize("via", ["file", "pretty_midi"])
def test_track_names_round_trip(tmp_path, label, via):
    roll = make_roll([(0, 60, 0, 1, 1)], 2, tracks=[Track(label, 5)])
    render(roll, tmp_path / "n.mid")
    back = quantize(tmp_path / "n.mid" if via == "file" else to_pretty_midi(roll))
    assert back.tracks == [Track(label, 5)]


# -- render(quantize(f)) keeps on-grid MIDI ----------------------------------------

def _normalise(events, default):
    """(beat, value) events -> the map in force: sorted, last wins at a time, repeats dropped."""
    at = {Fraction(0): default}
    for beat, value in sorted(events, key=lambda e: e[0]):  # stable: file order breaks ties
        at[beat] = value
    out = []
    for beat in sorted(at):
        if not out or out[-1][1] != at[beat]:
            out.append((beat, at[beat]))
    return out


def summary(mf: mido.MidiFile) -> dict:
    """What render(quantize(f)) must keep, in beats: notes, tempo map, meters."""
    tpb = mf.ticks_per_beat
    notes = []
    for tr in mf.tracks:
        label = next((m.name for m in tr if m.type == "track_name"), "")
        tick, programs, open_ = 0, [0] * 16, {}
        for m in tr:
            tick += m.time
            if m.type == "program_change":
                programs[m.channel] = m.program
            elif m.type == "note_on" and m.velocity > 0:
                open_[(m.channel, m.note)] = (tick, m.velocity, programs[m.channel])
            elif m.type in ("note_on", "note_off") and (m.channel, m.note) in open_:
                start, vel, prog = open_.pop((m.channel, m.note))
                notes.append((label, m.channel == 9, prog, m.note, Fraction(start, tpb),
                              Fraction(tick - start, tpb), vel))
    tempos = [(Fraction(t, tpb), m.tempo) for t, _, m in meta_events(mf, "set_tempo")]
    sigs = [(Fraction(t, tpb), (m.numerator, m.denominator))
            for t, _, m in meta_events(mf, "time_signature")]
    return {"notes": sorted(notes), "tempos": _normalise(tempos, 500_000),
            "time_signatures": _normalise(sigs, (4, 4))}


def on_grid(mf: mido.MidiFile, spb: int) -> bool:
    """Every note and meta tick on the grid; no same-pitch overlaps, zero-length or open notes."""
    for tr in mf.tracks:
        tick, open_ = 0, {}
        for m in tr:
            tick += m.time
            if m.type in ("note_on", "note_off", "set_tempo", "time_signature") and \
                    (tick * spb) % mf.ticks_per_beat:
                return False
            key = (getattr(m, "channel", None), getattr(m, "note", None))
            if m.type == "note_on" and m.velocity > 0:
                if key in open_:
                    return False
                open_[key] = tick
            elif m.type in ("note_on", "note_off") and key in open_:
                if open_.pop(key) == tick:
                    return False
        if open_:
            return False
    return True


def assert_render_keeps(mf: mido.MidiFile, spb: int, tmp_path):
    assert on_grid(mf, spb), "the fixture itself must be on the grid"
    out = tmp_path / "back.mid"
    render(quantize(to_bytes(mf), spb), out)
    back = mido.MidiFile(out)
    want, got = summary(mf), summary(back)
    assert got["tempos"] == want["tempos"]
    assert got["time_signatures"] == want["time_signatures"]
    assert len(got["notes"]) == len(want["notes"])
    assert got["notes"] == want["notes"]


def built_file(kind: str) -> mido.MidiFile:
    if kind == "type0":
        return midi_file(track(name("all"), tempo(0, 600_000), meter(0, 3, 4),
                               program(0, 40, 0), program(0, 33, 1), program(0, 0, 9),
                               note(0, 240, 76, 101, 0), note(240, 720, 79, 102, 0),
                               note(0, 1440, 40, 50, 1), note(0, 120, 36, 127, 9),
                               note(720, 840, 38, 1, 9), tempo(1440, 300_000),
                               note(1440, 1560, 0, 60, 1), note(1440, 2880, 127, 61, 0)), type=0)
    return midi_file(track(tempo(0, 500_000), meter(0, 6, 8), tempo(720, 750_000),
                           meter(1440, 7, 8), meter(3120, 4, 4), tempo(3120, 454_545)),
                     track(name("Flute"), program(0, 73), note(0, 180, 84, 90),
                           note(180, 360, 86, 91), note(360, 1440, 88, 92),
                           note(1440, 3120, 72, 93)),
                     track(name("Kit"), program(0, 25, 9), *[note(t, t + 60, 42, 40 + t // 60, 9)
                                                            for t in range(0, 3120, 360)]),
                     track(name("Cello"), program(0, 42, 2), note(0, 3120, 36, 64, 2),
                           note(3120, 4080, 43, 65, 2)),
                     tpb=240)


@pytest.mark.parametrize("kind, spb", [("type0", 4), ("type1", 4), ("type1", 12)])
def test_render_keeps_built_midi(kind, spb, tmp_path):
    assert_render_keeps(built_file(kind), spb, tmp_path)


@pytest.fixture(scope="module")
def chorales(tmp_path_factory):
    music21 = pytest.importorskip("music21")
    out = tmp_path_factory.mktemp("chorales")
    paths = []
    for work in ["bach/bwv66.6", "bach/bwv84.5", "bach/bwv269"]:
        path = out / (work.replace("/", "_") + ".mid")
        music21.corpus.parse(work).write("midi", fp=str(path))
        paths.append(path)
    return paths


def test_render_keeps_bach_chorales(chorales, tmp_path):
    for path in chorales:
        assert_render_keeps(mido.MidiFile(path), 12, tmp_path)


def test_render_keeps_nottingham_sample(nottingham, tmp_path):
    sample = [mido.MidiFile(p) for p in nottingham[::60]]
    sample = [mf for mf in sample if on_grid(mf, 4)]
    assert len(sample) >= 10
    for mf in sample:
        assert_render_keeps(mf, 4, tmp_path)


def test_quantize_render_quantize_on_real_files(nottingham, chorales):
    """Off-grid files too: the roll of the rendered roll is the roll."""
    for path in nottingham[::100] + chorales:
        roll = quantize(path, 4)
        assert quantize(render(roll), 4) == as_rendered(roll)


# -- what other readers see -----------------------------------------------------

@pytest.fixture
def band():
    return make_roll([(0, 60, 0, 4, 100), (0, 64, 4, 6, 90), (0, 60, 6, 8, 80),
                      (1, 36, 0, 16, 70), (1, 43, 16, 24, 60),
                      (2, 36, 0, 1, 110), (2, 42, 6, 7, 90)], 32, 3,
                     steps_per_beat=4, tempos=[(0, 100.0), (12, 150.0), (20, 60e6 / 437_500)],
                     time_signatures=[(0, 3, 4), (12, 2, 4), (24, 6, 8)],
                     tracks=[Track("Lead", 73), Track("Bass", 33), Track("Drums", 25, True)],
                     key_signatures=[(0, -1, 0), (12, 2, 1)])  # F major, then B minor


def step_seconds(roll: PianoRoll, step: float) -> float:
    """Seconds at a step under the roll's tempo map (as written: whole microseconds per beat)."""
    total, tempos = 0.0, roll.tempos + [(float("inf"), None)]
    for (s0, qpm), (s1, _) in zip(tempos, tempos[1:]):
        if step <= s0:
            break
        total += (min(step, s1) - s0) * round(60e6 / qpm) / 1e6 / roll.steps_per_beat
    return total


def test_render_file_layout_read_by_mido(band, tmp_path):
    path = tmp_path / "band.mid"
    render(band, path)
    mf = mido.MidiFile(path)
    assert mf.type == 1 and len(mf.tracks) == 4
    tps = mf.ticks_per_beat // band.steps_per_beat
    assert mf.ticks_per_beat % band.steps_per_beat == 0
    # track 0: the whole tempo map and every meter, and no notes
    assert all(t == 0 for _, t, _ in meta_events(mf, "set_tempo"))
    assert all(t == 0 for _, t, _ in meta_events(mf, "time_signature"))
    assert not any(m.type in ("note_on", "note_off") for m in mf.tracks[0])
    assert [(t // tps, m.tempo) for t, _, m in meta_events(mf, "set_tempo")] == \
        [(0, 600_000), (12, 400_000), (20, 437_500)]
    sigs = _normalise([(Fraction(t, tps), (m.numerator, m.denominator))
                       for t, _, m in meta_events(mf, "time_signature")], (4, 4))
    assert sigs == [(0, (3, 4)), (12, (2, 4)), (24, (6, 8))]
    assert [(t // tps, i, m.key) for t, i, m in meta_events(mf, "key_signature")] == \
        [(0, 0, "F"), (12, 0, "Bm")]
    # one named track per roll track with its program
    for k, trk in enumerate(band.tracks, start=1):
        names = [m.name for m in mf.tracks[k] if m.type == "track_name"]
        progs = [m.program for m in mf.tracks[k] if m.type == "program_change"]
        assert names == [trk.name] and progs == [trk.program]
    notes = [(ti - 1, p, s // tps, e // tps, v) for ti, ch, p, s, e, v in tick_notes(mf)]
    assert sorted(notes) == sorted(tuple(int(x) for x in n) for n in band.notes())


def test_render_read_by_pretty_midi(band, tmp_path):
    path = tmp_path / "band.mid"
    returned = render(band, path)
    assert isinstance(returned, mido.MidiFile) and quantize(returned) == band
    for pm in (pretty_midi.PrettyMIDI(str(path)), to_pretty_midi(band)):
        assert [(i.name, i.program, i.is_drum) for i in pm.instruments] == \
            [("Lead", 73, False), ("Bass", 33, False), ("Drums", 25, True)]
        got = sorted((k, n.pitch, n.start, n.end, n.velocity)
                     for k, inst in enumerate(pm.instruments) for n in inst.notes)
        want = sorted((int(k), int(p), step_seconds(band, s), step_seconds(band, e), int(v))
                      for k, p, s, e, v in band.notes())
        assert [g[:2] + g[4:] for g in got] == [w[:2] + w[4:] for w in want]
        np.testing.assert_allclose([g[2:4] for g in got], [w[2:4] for w in want], atol=1e-6)
        times, qpm = pm.get_tempo_changes()
        np.testing.assert_allclose(times, [0, step_seconds(band, 12), step_seconds(band, 20)],
                                   atol=1e-6)
        np.testing.assert_allclose(qpm, [100, 150, 60e6 / 437_500])
        sigs = _normalise([(round(ts.time, 6), (ts.numerator, ts.denominator))
                           for ts in pm.time_signature_changes], (4, 4))
        assert sigs == [(0, (3, 4)), (round(step_seconds(band, 12), 6), (2, 4)),
                        (round(step_seconds(band, 24), 6), (6, 8))]
        assert [(round(ks.time, 6), ks.key_number) for ks in pm.key_signature_changes] == \
            [(0, 5), (round(step_seconds(band, 12), 6), 12 + 11)]  # F major, B minor


def test_render_read_by_music21(band, tmp_path):
    music21 = pytest.importorskip("music21")
    path = tmp_path / "band.mid"
    render(band, path)
    score = music21.converter.parse(str(path)).stripTies()
    parts = list(score.parts)
    assert [p.partName for p in parts] == ["Lead", "Bass", "Drums"]
    for k, part in enumerate(parts):
        programs = {i.midiProgram for i in part.recurse().getElementsByClass("Instrument")}
        assert band.tracks[k].program in programs
        got = sorted((Fraction(n.offset), Fraction(n.quarterLength), n.volume.velocity)
                     + ((tuple(p.midi for p in n.pitches),) if k < 2 else ())
                     for n in part.flatten().notes)
        want = sorted((Fraction(int(s), 4), Fraction(int(e - s), 4), int(v))
                      + (((int(p),),) if k < 2 else ())
                      for kk, p, s, e, v in band.notes() if kk == k)
        assert got == want
    marks = sorted({(Fraction(m.offset), m.getQuarterBPM())
                    for m in score.flatten().getElementsByClass("MetronomeMark")})
    assert [beat for beat, _ in marks] == [0, 3, 5]
    assert [bpm for _, bpm in marks] == pytest.approx([100, 150, 60e6 / 437_500], abs=0.01)
    sigs = _normalise([(Fraction(ts.offset), ts.ratioString)
                       for ts in parts[0].flatten().getElementsByClass("TimeSignature")], "4/4")
    assert sigs == [(0, "3/4"), (3, "2/4"), (6, "6/8")]
    for part in parts:
        keys = [(Fraction(k.getOffsetInHierarchy(part)), k.sharps, k.mode)
                for k in part.recurse().getElementsByClass("KeySignature")]
        assert keys == [(0, -1, "major"), (3, 2, "minor")]


def test_clip_length_is_the_end_of_track_and_nothing_else(band, tmp_path):
    """A DAW's clip length: every track ends at the roll's last step, trailing silence kept,
    and no meta event is repeated to mark it."""
    quiet = make_roll([tuple(int(x) for x in n) for n in band.notes()], 40, 3,
                      tempos=band.tempos, time_signatures=band.time_signatures,
                      tracks=band.tracks, key_signatures=band.key_signatures)
    assert quiet.notes()["end"].max() == 24  # 16 steps of trailing silence
    path = tmp_path / "clip.mid"
    render(quiet, path)
    mf = mido.MidiFile(path)
    tps = mf.ticks_per_beat // 4
    for trk in mf.tracks:
        assert trk[-1].type == "end_of_track"
        assert sum(m.time for m in trk) == 40 * tps
    sigs = [(t // tps, m.numerator, m.denominator) for t, _, m in meta_events(mf, "time_signature")]
    assert sigs == [(0, 3, 4), (12, 2, 4), (24, 6, 8)]  # once each, none at the end
    assert [t // tps for t, _, _ in meta_events(mf, "set_tempo")] == [0, 12, 20]
    assert quantize(path) == quiet
    # pretty_midi: from the file, the meters as written; through to_pretty_midi, the
    # clip length survives in its end time (and in files it writes)
    from_file = pretty_midi.PrettyMIDI(str(path))
    assert [(round(ts.time, 6), ts.numerator, ts.denominator)
            for ts in from_file.time_signature_changes] == \
        [(0, 3, 4), (round(step_seconds(quiet, 12), 6), 2, 4),
         (round(step_seconds(quiet, 24), 6), 6, 8)]
    assert quantize(from_file) == quiet
    pm = to_pretty_midi(quiet)
    assert pm.get_end_time() == pytest.approx(step_seconds(quiet, 40))
    assert quantize(pm) == quiet
    pm.write(str(tmp_path / "again.mid"))
    assert quantize(tmp_path / "again.mid") == quiet


@pytest.mark.parametrize("drums", [[], [0], [3], [0, 7, 15]])
def test_channels(drums, tmp_path):
    K = 15 + len(drums)  # every melodic channel in use
    roll = make_roll([(k, 60, 0, 1, 1) for k in range(K)], 2, K,
                     tracks=[Track(f"t{k}", k, k in drums) for k in range(K)])
    render(roll, tmp_path / "c.mid")
    mf = mido.MidiFile(tmp_path / "c.mid")
    channels = []
    for trk in mf.tracks[1:]:
        used = {m.channel for m in trk if hasattr(m, "channel")}
        assert len(used) == 1
        channels.append(used.pop())
    assert [channels[k] for k in drums] == [9] * len(drums)
    melodic = [c for k, c in enumerate(channels) if k not in drums]
    assert 9 not in melodic and len(set(melodic)) == len(melodic) == 15


# -- no half-written file ---------------------------------------------------------

def test_missing_directory_raises_and_leaves_nothing(band, tmp_path):
    with pytest.raises(OSError):
        render(band, tmp_path / "missing" / "out.mid")
    assert list(tmp_path.iterdir()) == []


def test_written_via_temp_and_rename(band, tmp_path, monkeypatch):
    path = tmp_path / "out.mid"
    renames = []
    real_replace = os.replace

    def spy(src, dst):
        renames.append((os.fspath(src), os.fspath(dst)))
        assert not os.path.exists(dst)  # the target is untouched until the rename
        assert os.path.dirname(os.fspath(src)) == os.fspath(tmp_path)  # same filesystem
        real_replace(src, dst)

    monkeypatch.setattr(os, "replace", spy)
    render(band, path)
    assert len(renames) == 1 and renames[0][1] == os.fspath(path)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["out.mid"]
    assert quantize(path) == band


def test_failed_rename_keeps_the_old_file_and_no_temp(band, tmp_path, monkeypatch):
    path = tmp_path / "out.mid"
    path.write_bytes(b"old contents")

    def fail(src, dst):
        raise OSError("disk full")

    monkeypatch.setattr(os, "replace", fail)
    with pytest.raises(OSError, match="disk full"):
        render(band, path)
    assert path.read_bytes() == b"old contents"
    assert [p.name for p in tmp_path.iterdir()] == ["out.mid"]


def test_unrenderable_roll_writes_nothing(tmp_path):
    roll = make_roll([(0, 60, 0, 1, 1)], 2, steps_per_beat=40_000)  # > 32767 ticks per beat
    with pytest.raises(ValueError, match="steps_per_beat"):
        render(roll, tmp_path / "x.mid")
    assert list(tmp_path.iterdir()) == []


def test_roll_layout_keeps_label_names_through_its_dict():
    from midivae import RollLayout, Track
    layout = RollLayout(low=40, n_pitches=12, tracks=(Track("melody"),), labels=("a", "b"))
    again = RollLayout.from_dict(layout.to_dict())
    assert again == layout and again.label_index("b") == 1
    with pytest.raises(ValueError, match="unknown label 'c'; this model knows \\['a', 'b'\\]"):
        again.label_index("c")
    assert RollLayout.from_dict({k: v for k, v in layout.to_dict().items() if k != "labels"}).labels == ()


# -- gate: notes detached by a share of their last step ---------------------------

def test_a_gate_ends_each_note_that_share_of_its_last_step_early():
    roll = make_roll([(0, 60, 0, 2, 90), (0, 62, 2, 3, 80), (0, 62, 3, 4, 70)], 4)  # 4 steps a beat
    step = 480 // 4
    assert [n[3:] for n in tick_notes(render(roll))] == [
        (0, 2 * step, 90), (2 * step, 3 * step, 80), (3 * step, 4 * step, 70)]  # legato
    assert [n[3:] for n in tick_notes(render(roll, gate=0.8))] == [
        (0, 2 * step - 24, 90), (2 * step, 3 * step - 24, 80), (3 * step, 4 * step - 24, 70)]
    mf = render(roll, gate=0.8)
    assert sum(m.time for m in mf.tracks[1]) == 4 * step  # the clip keeps its length


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(roll=rolls(), gate=st.floats(0.5, 1.0, exclude_min=True))
def test_a_gate_above_half_a_step_reads_back_as_the_same_roll(roll, gate):
    assert quantize(render(roll, gate=gate), roll.steps_per_beat) == roll


@pytest.mark.parametrize("gate", [0.5, 0.3, 1.01, float("nan"), True, "0.8"])
def test_a_gate_outside_half_to_one_is_refused(gate):
    roll = make_roll([(0, 60, 0, 2, 90)], 4)
    with pytest.raises(ValueError, match=r"gate must be a number above 0.5 and up to 1.*got"):
        render(roll, gate=gate)
