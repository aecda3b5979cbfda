"""quantize: hand-computed rolls from MIDI built in code, bad files, odd-but-valid files.

Unless a test says otherwise the files have 480 ticks per beat and are read at
4 steps per beat, so one step is 120 ticks and ``step = round(tick / 120)``.
"""

from __future__ import annotations

import io
import re
import struct
import warnings

import mido
import numpy as np
import pretty_midi
import pytest
from conftest import (make_roll, meter, midi_file, name, note, note_list, program, tempo,
                      to_bytes, track)
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from midivae import (GM_FAMILY_ROLES, MidiReadError, PianoRoll, RollTooLargeError, Role, Track,
                     quantize)


def q(mf: mido.MidiFile, spb: int = 4, **kwargs) -> PianoRoll:
    return quantize(to_bytes(mf), spb, **kwargs)


# -- the grid: onsets and ends rounded separately --------------------------------

def test_onsets_and_ends_are_rounded_separately():
    mf = midi_file(track(
        note(10, 100, 60, 1),     # 0.08 -> 0, 0.83 -> 1
        note(70, 290, 61, 2),     # 0.58 -> 1, 2.42 -> 2: one step (rounding the length gives 2)
        note(50, 290, 62, 3),     # 0.42 -> 0, 2.42 -> 2
        note(170, 430, 63, 4),    # 1.42 -> 1, 3.58 -> 4: three steps (the length 2.17 gives 2)
        note(130, 170, 64, 5),    # 1.08 -> 1, 1.42 -> 1: lasts at least one step
        note(250, 250, 65, 6),    # zero length: one step at 2
        note(890, 1010, 66, 7),   # 7.42 -> 7, 8.42 -> 8
    ))
    expected = make_roll([(0, 60, 0, 1, 1), (0, 61, 1, 2, 2), (0, 62, 0, 2, 3), (0, 63, 1, 4, 4),
                          (0, 64, 1, 2, 5), (0, 65, 2, 3, 6), (0, 66, 7, 8, 7)], 8,
                         tracks=[Track("", 0, False)])
    assert q(mf) == expected


def test_grid_is_in_ticks_and_ignores_tempo():
    # the same ticks under wildly different tempos give the same roll
    notes = [note(120, 600, 60), note(600, 700, 62)]
    slow = q(midi_file(track(tempo(0, 2_000_000), *notes)))
    fast = q(midi_file(track(tempo(0, 250_000), tempo(300, 1_234_567), *notes)))
    assert note_list(slow) == note_list(fast) == [(0, 60, 1, 5, 64), (0, 62, 5, 6, 64)]


@pytest.mark.parametrize("spb, spans, expected", [
    (1, [(100, 500), (500, 1300)], [(0, 1), (1, 3)]),      # 0.21, 1.04, 2.71
    (3, [(100, 500), (500, 1300)], [(1, 3), (3, 8)]),      # 160 ticks a step: 0.63, 3.13, 8.13
    (12, [(110, 490), (490, 1290)], [(3, 12), (12, 32)]),  # 40 ticks a step: 2.75, 12.25, 32.25
])
def test_other_grids(spb, spans, expected):
    mf = midi_file(track(*[note(s, e, 60 + 2 * i) for i, (s, e) in enumerate(spans)]))
    assert note_list(q(mf, spb)) == [(0, 60 + 2 * i, s, e, 64) for i, (s, e) in enumerate(expected)]


def test_ties_round_up():
    """A tick exactly between two steps goes to the later one, everywhere on the grid."""
    mf = midi_file(track(note(60, 180, 60), note(180, 300, 62), note(300, 420, 64)))
    assert note_list(q(mf)) == [(0, 60, 1, 2, 64), (0, 62, 2, 3, 64), (0, 64, 3, 4, 64)]


@settings(max_examples=60, deadline=None)
@given(tpb=st.sampled_from([1, 3, 96, 100, 384, 480, 960, 1024, 32767]),
       spb=st.sampled_from([1, 2, 3, 4, 6, 8, 12]),
       spans=st.lists(st.tuples(st.integers(0, 5000), st.integers(0, 3000)), min_size=1,
                      max_size=20))
def test_every_note_is_rounded_and_none_vanishes(tpb, spb, spans):
    """One note per pitch: each lands at round(start), round(end), at least one step long."""
    def rnd(tick):  # round to nearest, ties excluded below
        return (2 * tick * spb + tpb) // (2 * tpb)

    def tie(tick):
        return (2 * tick * spb) % (2 * tpb) == tpb

    spans = [(s, s + d) for s, d in spans if not tie(s) and not tie(s + d)]
    events = [note(s, e, 20 + i, 1 + i) for i, (s, e) in enumerate(spans)]
    roll = q(midi_file(track(*events), tpb=tpb), spb)
    expected = sorted((0, 20 + i, rnd(s), max(rnd(e), rnd(s) + 1), 1 + i)
                      for i, (s, e) in enumerate(spans))
    assert note_list(roll) == expected


def test_reattacked_notes_stay_two_notes():
    mf = midi_file(track(
        # 60: on, off, on at the same tick
        note(0, 240, 60, 10), note(240, 480, 60, 20),
        # 62: a second note-on while the first still sounds, one off at the end
        (0, mido.Message("note_on", note=62, velocity=30)),
        (240, mido.Message("note_on", note=62, velocity=40)),
        (480, mido.Message("note_off", note=62)),
        # 64: on before off at the same tick (the off closes the earlier note)
        (0, mido.Message("note_on", note=64, velocity=50)),
        (240, mido.Message("note_on", note=64, velocity=60)),
        (240, mido.Message("note_off", note=64)),
        (480, mido.Message("note_off", note=64)),
        # 65: two notes rounded onto adjacent steps (0..100 -> 0..1, 130..480 -> 1..4)
        note(0, 100, 65, 70), note(130, 480, 65, 80),
    ))
    assert note_list(q(mf)) == [
        (0, 60, 0, 2, 10), (0, 60, 2, 4, 20), (0, 62, 0, 2, 30), (0, 62, 2, 4, 40),
        (0, 64, 0, 2, 50), (0, 64, 2, 4, 60), (0, 65, 0, 1, 70), (0, 65, 1, 4, 80)]


def test_note_on_velocity_zero_is_a_note_off():
    mf = midi_file(track((0, mido.Message("note_on", note=60, velocity=90)),
                         (480, mido.Message("note_on", note=60, velocity=0))))
    assert note_list(q(mf)) == [(0, 60, 0, 4, 90)]


def test_velocity_false_keeps_no_velocities():
    roll = q(midi_file(track(note(0, 480, 60, 90))), velocity=False)
    assert roll.velocity is None
    assert note_list(roll) == [(0, 60, 0, 4, 0)]


# -- tempo and meter -------------------------------------------------------------

def test_tempo_and_meter_from_a_track_without_notes():
    mf = midi_file(track(name("piano"), note(0, 1920, 60, 100)),
                   track(tempo(960, 400_000), meter(1920, 3, 4), end=2400))
    expected = make_roll([(0, 60, 0, 16, 100)], 20, tracks=[Track("piano")],
                         tempos=[(0, 120.0), (8, 150.0)], time_signatures=[(0, 4, 4), (16, 3, 4)])
    assert q(mf) == expected


def test_tempo_events_merged_from_every_track():
    mf = midi_file(track(tempo(0, 600_000), tempo(1920, 1_000_000), note(0, 480, 60)),
                   track(note(0, 480, 62)),
                   track(tempo(960, 400_000), meter(0, 6, 8), meter(1440, 2, 4)))
    roll = q(mf)
    assert roll.tempos == [(0, 100.0), (8, 150.0), (16, 60.0)]
    assert roll.time_signatures == [(0, 6, 8), (12, 2, 4)]
    assert roll.n_tracks == 2


def test_odd_tempo_is_kept_exactly():
    roll = q(midi_file(track(tempo(0, 666_667), note(0, 480, 60))))
    assert roll.tempos == [(0, 60e6 / 666_667)]


def test_time_signatures_argument_overrides_the_file():
    mf = midi_file(track(meter(0, 6, 8), note(0, 480, 60)))
    assert q(mf, time_signatures=[(0, 3, 4), (2, 2, 4)]).time_signatures == [(0, 3, 4), (2, 2, 4)]


# -- tracks ----------------------------------------------------------------------

def test_type0_splits_channels_and_programs():
    mf = midi_file(track(name("all"),
                         program(0, 0, 0), program(0, 40, 1), program(0, 25, 9),
                         note(0, 480, 60, 100, 0), note(120, 480, 72, 90, 1),
                         note(240, 360, 36, 110, 9)), type=0)
    expected = make_roll([(0, 60, 0, 4, 100), (1, 72, 1, 4, 90), (2, 36, 2, 3, 110)], 4, 3,
                         tracks=[Track("all", 0), Track("all", 40), Track("all", 25, True)])
    assert q(mf) == expected


def test_program_change_mid_track_starts_a_roll_track():
    mf = midi_file(track(name("keys"), note(0, 480, 60), program(480, 4), note(480, 960, 62)))
    roll = q(mf)
    assert roll.tracks == [Track("keys", 0), Track("keys", 4)]
    assert note_list(roll) == [(0, 60, 0, 4, 64), (1, 62, 4, 8, 64)]


def test_tracks_in_file_order_and_empty_tracks_dropped():
    mf = midi_file(track(tempo(0, 500_000)),
                   track(name("strings"), program(0, 48, 2), note(0, 480, 55, 50, 2)),
                   track(name("empty")),
                   track(name("bass"), program(0, 33, 1), note(0, 480, 40, 60, 1)),
                   track(name("piano"), note(0, 480, 72, 70)))
    roll = q(mf)
    assert roll.tracks == [Track("strings", 48), Track("bass", 33), Track("piano", 0)]
    assert note_list(roll) == [(0, 55, 0, 4, 50), (1, 40, 0, 4, 60), (2, 72, 0, 4, 70)]


def test_type2_tracks_play_one_after_another():
    mf = midi_file(track(name("A"), tempo(0, 500_000), note(0, 480, 60, 10), end=960),
                   track(name("B"), tempo(0, 1_000_000), note(0, 480, 62, 20)),
                   type=2)
    expected = make_roll([(0, 60, 0, 4, 10), (1, 62, 8, 12, 20)], 12, 2,
                         tracks=[Track("A"), Track("B")], tempos=[(0, 120.0), (8, 60.0)])
    assert q(mf) == expected


def test_drums_are_channel_10_only():
    mf = midi_file(track(name("kit"), note(0, 120, 36, 100, 9), note(0, 120, 38, 100, 9)),
                   track(name("ch11"), note(0, 120, 60, 100, 10)))
    roll = q(mf)
    assert roll.tracks == [Track("kit", 0, is_drum=True), Track("ch11", 0, is_drum=False)]


@pytest.mark.parametrize("raw, expected", [
    (b"Piano", "Piano"),
    ("Café Müller".encode("latin-1"), "Café Müller"),
    ("中文 Ü".encode("utf-8"), "中文 Ü"),
])
def test_track_names_kept(raw, expected):
    text = raw.decode("latin-1")  # mido writes text as Latin-1: these are the raw bytes
    mf = midi_file(track(name(text), (0, mido.MetaMessage("track_name", name="second")),
                         note(0, 480, 60)),
                   track(note(0, 480, 62)))
    assert [t.name for t in q(mf).tracks] == [expected, ""]


# -- roles -----------------------------------------------------------------------

def band_file() -> mido.MidiFile:
    return midi_file(
        track(name("Grand"), note(0, 480, 60, 11)),
        track(name("Bass"), program(0, 33, 1), note(0, 480, 36, 22, 1)),
        track(name("Drums"), note(120, 240, 42, 33, 9)),
        track(name("E.Piano"), program(0, 4, 2), note(240, 480, 64, 44, 2)),
        track(name("Strings"), program(0, 48, 3), note(0, 960, 67, 55, 3)))


def test_roles_map_tracks_onto_a_fixed_layout():
    roles = [Role("keys", 0, match=lambda t: t.program < 8 and not t.is_drum),
             Role("bass", 33, match=lambda t: 32 <= t.program < 40),
             Role("drums", 0, True, match=lambda t: t.is_drum),
             Role("lead", 80, match=lambda t: "bass" in t.name.lower()),  # bass is taken above
             Role("pad", program=88, is_drum=False, match=lambda t: False)]
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # the strings track matches no role
        roll = q(band_file(), roles=roles)
    # Grand and E.Piano merged into keys; Strings dropped; lead and pad empty
    expected = make_roll([(0, 60, 0, 4, 11), (0, 64, 2, 4, 44), (1, 36, 0, 4, 22),
                          (2, 42, 1, 2, 33)], 8, 5,
                         tracks=[Track("keys", 0), Track("bass", 33), Track("drums", 0, True),
                                 Track("lead", 80), Track("pad", 88)])
    assert roll == expected


def test_gm_family_roles():
    assert len(GM_FAMILY_ROLES) == 17
    assert sum(r.is_drum for r in GM_FAMILY_ROLES) == 1 and GM_FAMILY_ROLES[-1].is_drum
    assert len({r.name for r in GM_FAMILY_ROLES}) == 17
    roll = q(band_file(), roles=GM_FAMILY_ROLES)
    assert roll.n_tracks == 17
    assert [t.program // 8 for t in roll.tracks[:16]] == list(range(16))
    assert [(t.name, t.program, t.is_drum) for t in roll.tracks] == \
        [(r.name, r.program, r.is_drum) for r in GM_FAMILY_ROLES]
    # piano family 0 (Grand + E.Piano), bass 4, ensemble 6 (program 48), drums last
    assert note_list(roll) == [(0, 60, 0, 4, 11), (0, 64, 2, 4, 44), (4, 36, 0, 4, 22),
                               (6, 67, 0, 8, 55), (16, 42, 1, 2, 33)]


# -- beat_times ------------------------------------------------------------------

def seconds_file(spans, tpb=1000, extra=()):
    """Notes at times in seconds at 120 bpm (2000 ticks per second at 1000 ticks per beat)."""
    return midi_file(track(*[note(round(s * 2000), round(e * 2000), p, 80) for s, e, p in spans],
                           *extra), tpb=tpb)


BEATS = [0.0, 0.6, 1.1, 1.8, 2.3, 2.9]  # irregular beats, in seconds


def test_beat_times_place_notes_on_the_given_beats():
    mf = seconds_file([(0.02, 0.58, 60),   # beat 0.03 -> step 0; beat 0.97 -> step 4
                       (0.62, 1.08, 62),   # beat 1.04 -> 4; 1.96 -> 8
                       (1.45, 2.30, 64),   # beat 2.5 -> 10; beat 4 -> 16
                       (2.31, 2.88, 65)],  # beat 4.02 -> 16; 4.97 -> 20
                      extra=[(5800, mido.MetaMessage("marker", text="end"))])  # 2.9 s
    roll = q(mf, beat_times=BEATS)
    assert note_list(roll) == [(0, 60, 0, 4, 80), (0, 62, 4, 8, 80), (0, 64, 10, 16, 80),
                               (0, 65, 16, 20, 80)]
    assert roll.n_steps == 20


def test_beat_times_tempo_map_follows_the_beats():
    roll = q(seconds_file([(0.0, 2.9, 60)]), beat_times=BEATS)
    steps = [s for s, _ in roll.tempos]
    assert steps == [0, 4, 8, 12, 16]
    assert [60 / qpm for _, qpm in roll.tempos] == pytest.approx(np.diff(BEATS), abs=1e-6)


def test_beat_times_use_the_files_tempo_map():
    # 120 bpm to tick 1000 (0.5 s), then 240 bpm: tick 1500 is 0.625 s, tick 2000 is 0.75 s
    mf = midi_file(track(tempo(1000, 250_000), note(1500, 2000, 60)), tpb=1000)
    roll = q(mf, beat_times=[0.0, 0.5, 1.0])
    assert note_list(roll) == [(0, 60, 5, 6, 64)]  # beats 1.25 and 1.5


def test_beat_times_on_pop909(pop909):
    path = pop909[0]
    beats = np.loadtxt(path.parent / "beat_midi.txt")[:, 0]
    roll = quantize(path, 4, beat_times=beats)
    pm = pretty_midi.PrettyMIDI(str(path))
    n_file = sum(len(i.notes) for i in pm.instruments)
    assert roll.n_tracks == len(pm.instruments)
    assert 0.97 * n_file <= roll.n_notes <= n_file  # only same-step collisions merge notes
    assert abs(roll.n_steps - 4 * (len(beats) - 1)) <= 8 * 4


# -- bad input -------------------------------------------------------------------

def good_bytes() -> bytes:
    return to_bytes(midi_file(track(tempo(0, 500_000), meter(0, 3, 4)),
                              track(name("a"), note(0, 480, 60), note(480, 960, 62)),
                              track(name("b"), note(0, 960, 48, 70, 1))))


def with_track_length(data: bytes, chunk: int, length: int) -> bytes:
    """``data`` with the length field of track chunk ``chunk`` (0-based) replaced."""
    pos = 14
    for _ in range(chunk):
        pos += 8 + struct.unpack(">I", data[pos + 4:pos + 8])[0]
    return data[:pos + 4] + struct.pack(">I", length) + data[pos + 8:]


def raw_file(events: bytes, fmt=0, ntracks=1, division=480) -> bytes:
    """A file with one MTrk chunk holding ``events`` (raw bytes, lengths set right)."""
    return (b"MThd" + struct.pack(">IHHH", 6, fmt, ntracks, division)
            + b"MTrk" + struct.pack(">I", len(events)) + events)


EOT = b"\x00\xff\x2f\x00"
BAD_FILES = {
    "empty": (b"", "empty"),
    "text": (b"hello, this is not a MIDI file at all", "not a MIDI file"),
    "png": (b"\x89PNG\r\n\x1a\n" + bytes(40), "not a MIDI file"),
    "header_only_4": (b"MThd", "truncat"),
    "short_header": (good_bytes()[:12], "truncat"),
    "header_length_0": (b"MThd" + struct.pack(">IHHH", 0, 1, 1, 480) + good_bytes()[14:],
                        "header"),
    "header_length_huge": (b"MThd\xff\xff\xff\xff" + good_bytes()[8:], "header"),
    "track_length_huge": (with_track_length(good_bytes(), 1, 0xFFFFFFFF), "claims|corrupt"),
    "track_length_long": (with_track_length(good_bytes(), 2, 1000), "claims|corrupt|truncat"),
    "track_length_short": (with_track_length(good_bytes(), 1, 7), "truncat|corrupt"),
    "format_3": (raw_file(EOT, fmt=3), "format"),
    "zero_division": (raw_file(EOT, division=0), "ticks per beat"),
    "absurd_ticks": (raw_file(b"\xff\xff\xff\x7f\x90\x3c\x40" * 12 + EOT), "tick"),
    "long_vlq": (raw_file(b"\x81\x81\x81\x81\x01\x90\x3c\x40" + EOT), "variable-length"),
    "no_running_status": (raw_file(b"\x00\x3c\x40" + EOT), "status"),
    "unknown_status": (raw_file(b"\x00\xf4\x00" + EOT), "status"),
    "meta_past_end": (raw_file(b"\x00\xff\x03\x7fabc"), "meta|truncat"),
    "sysex_past_end": (raw_file(b"\x00\xf0\x7f\x01\x02"), "sysex|truncat"),
    "note_data_corrupt": (raw_file(b"\x00\x90\x3c\xc0" + EOT), "corrupt|status"),
}


@pytest.mark.parametrize("key", sorted(BAD_FILES))
def test_bad_file_raises_midi_read_error_naming_file_and_reason(tmp_path, key):
    data, reason = BAD_FILES[key]
    path = tmp_path / f"{key}.mid"
    path.write_bytes(data)
    with pytest.raises(MidiReadError, match=re.escape(str(path)) + "(?i:.*(" + reason + "))") as e:
        quantize(path)
    assert isinstance(e.value, ValueError)
    with pytest.raises(MidiReadError, match="(?i)" + reason):  # bytes too
        quantize(data)


def chunk_ends(data: bytes) -> list[int]:
    """Offsets at which the header and each chunk end."""
    ends, pos = [14], 14
    while pos < len(data):
        pos += 8 + struct.unpack(">I", data[pos + 4:pos + 8])[0]
        ends.append(pos)
    return ends


def test_every_truncation_raises(tmp_path):
    data = good_bytes()
    path = tmp_path / "cut.mid"
    for n in sorted(set(range(len(data))) - set(chunk_ends(data))):  # boundaries: see below
        path.write_bytes(data[:n])
        with pytest.raises(MidiReadError, match=re.escape(str(path))) as e:
            quantize(path)
        if n >= 14:  # a whole header, then part of the tracks
            assert "truncat" in e.value.reason.lower(), (n, e.value.reason)


@pytest.mark.parametrize("n_tracks", [0, 1, 2])
def test_declared_tracks_missing_is_truncation(tmp_path, n_tracks):
    # the file ends right after track chunk n_tracks of the 3 its header declares
    data = good_bytes()
    path = tmp_path / f"{n_tracks}_of_3.mid"
    path.write_bytes(data[:chunk_ends(data)[n_tracks]])
    with pytest.raises(MidiReadError, match=re.escape(str(path)) + "(?i:.*truncat)"):
        quantize(path)


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.lists(st.tuples(st.integers(0, 10_000), st.integers(0, 255)), min_size=1, max_size=6))
def test_corrupted_bytes_never_escape_as_other_errors(flips):
    data = bytearray(good_bytes())
    for at, value in flips:
        data[at % len(data)] = value
    try:
        roll = quantize(bytes(data), max_steps=20_000)
    except MidiReadError:
        return
    assert isinstance(roll, PianoRoll)


def test_roll_too_large_raises_before_allocating(tmp_path):
    # a note 2**27 beats in: 2**29 steps, far beyond memory if it were allocated
    path = tmp_path / "huge.mid"
    path.write_bytes(to_bytes(midi_file(track(note(2**27, 2**27 + 1, 60)), tpb=1)))
    with pytest.raises(RollTooLargeError, match=re.escape(str(path))) as e:
        quantize(path)
    assert isinstance(e.value, ValueError)


def test_max_steps_bound():
    data = to_bytes(midi_file(track(note(0, 1440, 60))))  # 12 steps
    assert quantize(data, max_steps=12).n_steps == 12
    with pytest.raises(RollTooLargeError):
        quantize(data, max_steps=11)


def test_bad_arguments():
    data = to_bytes(midi_file(track(note(0, 480, 60))))
    with pytest.raises(ValueError, match="steps_per_beat"):
        quantize(data, 0)
    with pytest.raises(TypeError, match="source"):
        quantize(12345)


# -- odd but valid ---------------------------------------------------------------

def test_no_notes():
    roll = q(midi_file(track(tempo(0, 400_000), meter(0, 3, 4), end=1920)))
    assert roll == PianoRoll.empty(0, 16, tempos=[(0, 150.0)], time_signatures=[(0, 3, 4)])


def test_zero_tracks():
    roll = quantize(b"MThd" + struct.pack(">IHHH", 6, 1, 0, 480))
    assert roll == PianoRoll.empty(0, 0)


def test_note_never_switched_off_ends_at_the_last_tick():
    mf = midi_file(track((480, mido.Message("note_on", note=60, velocity=90)), end=960),
                   track(note(0, 120, 62), end=2400))  # the file's last tick is 2400
    assert note_list(q(mf)) == [(0, 60, 4, 20, 90), (1, 62, 0, 1, 64)]


def test_note_never_switched_off_at_the_last_tick_lasts_one_step():
    mf = midi_file(track(note(0, 480, 62), (1920, mido.Message("note_on", note=60, velocity=90))))
    roll = q(mf)
    assert note_list(roll) == [(0, 60, 16, 17, 90), (0, 62, 0, 4, 64)]
    assert roll.n_steps == 17


def test_zero_length_notes():
    mf = midi_file(track(note(0, 0, 60), note(480, 480, 62), note(960, 960, 64)))
    roll = q(mf)
    assert note_list(roll) == [(0, 60, 0, 1, 64), (0, 62, 4, 5, 64), (0, 64, 8, 9, 64)]


@pytest.mark.parametrize("tpb, spans, spb, expected", [
    (1, [(0, 1), (1, 3)], 4, [(0, 4), (4, 12)]),
    (1, [(0, 1), (1, 3)], 1, [(0, 1), (1, 3)]),
    (32767, [(0, 4095), (8192, 32767)], 4, [(0, 1), (1, 4)]),  # 0.4999 -> 0 -> one step; 1.00003
    (32767, [(0, 32767 * 3)], 12, [(0, 36)]),
])
def test_extreme_resolutions(tpb, spans, spb, expected):
    mf = midi_file(track(*[note(s, e, 60 + i) for i, (s, e) in enumerate(spans)]), tpb=tpb)
    assert note_list(q(mf, spb)) == [(0, 60 + i, s, e, 64) for i, (s, e) in enumerate(expected)]


def test_64_tracks():
    mf = midi_file(*[track(name(f"t{i}"), program(0, i, i % 16),
                           note(8 * i, 8 * i + 480, 30 + i, 1 + i, i % 16)) for i in range(64)])
    roll = q(mf)
    assert roll.tracks == [Track(f"t{i}", i, i % 16 == 9) for i in range(64)]
    start = [(8 * i + 60) // 120 for i in range(64)]  # 8i/120 rounded (never a tie)
    assert note_list(roll) == [(i, 30 + i, start[i], start[i] + 4, 1 + i) for i in range(64)]


def test_sysex_bends_controllers_and_other_meta_are_ignored():
    noise = [(0, mido.Message("sysex", data=[0x7E, 0x7F, 0x09, 0x01])),
             (0, mido.Message("control_change", control=7, value=100)),
             (10, mido.Message("pitchwheel", pitch=-8192)),
             (20, mido.Message("aftertouch", value=40)),
             (30, mido.Message("polytouch", note=60, value=30)),
             (40, mido.Message("control_change", control=1, value=127)),
             (50, mido.MetaMessage("text", text="hello")),
             (60, mido.MetaMessage("marker", text="A")),
             (70, mido.MetaMessage("key_signature", key="F#m")),
             (80, mido.MetaMessage("copyright", text="x")),
             (90, mido.MetaMessage("sequencer_specific", data=[1, 2, 3])),
             (100, mido.MetaMessage("smpte_offset")),
             (110, mido.Message("pitchwheel", pitch=8191)),
             (600, mido.Message("sysex", data=list(range(100))))]
    mf = midi_file(track(name("noisy"), *noise, note(0, 480, 60, 90), note(480, 960, 0, 1),
                         note(480, 960, 127, 127)))
    assert q(mf) == make_roll([(0, 60, 0, 4, 90), (0, 0, 4, 8, 1), (0, 127, 4, 8, 127)], 8,
                              tracks=[Track("noisy")], key_signatures=[(1, 3, 1)])


def pedal(tick: int, value: int, channel: int = 0) -> tuple:
    return (tick, mido.Message("control_change", control=64, value=value, channel=channel))


def pedal_file() -> mido.MidiFile:
    """Steps of 120 ticks; the pedal on channel 0 goes down at step 1, up at 8, down at 11."""
    return midi_file(
        track(name("piano"), pedal(120, 127), pedal(500, 100), pedal(960, 0), pedal(1000, 10),
              pedal(1320, 64),
              note(0, 240, 60),  # released under the pedal: lasts until it comes up (step 8)
              note(480, 600, 64), note(720, 840, 64),  # struck again under the pedal: ends there
              note(480, 960, 65),  # released as the pedal comes up: unchanged
              note(240, 1200, 67),  # released after it came up: unchanged
              note(1200, 1320, 72),  # released as it goes down again, never up: to the end
              end=1920),
        track(name("other channel"), note(0, 120, 48, channel=1), end=1920),
        track(name("kit"), pedal(0, 127, 9), note(0, 120, 36, channel=9), end=1920))


def test_sustain_pedal_lengthens_notes_as_note_seq_does(tmp_path):
    tracks = [Track("piano"), Track("other channel"), Track("kit", 0, True)]
    held = make_roll([(0, 60, 0, 8, 64), (0, 64, 4, 6, 64), (0, 64, 6, 8, 64), (0, 65, 4, 8, 64),
                      (0, 67, 2, 10, 64), (0, 72, 10, 16, 64), (1, 48, 0, 1, 64),
                      (2, 36, 0, 1, 64)], 16, 3, tracks=tracks)
    raw = make_roll([(0, 60, 0, 2, 64), (0, 64, 4, 5, 64), (0, 64, 6, 7, 64), (0, 65, 4, 8, 64),
                     (0, 67, 2, 10, 64), (0, 72, 10, 11, 64), (1, 48, 0, 1, 64),
                     (2, 36, 0, 1, 64)], 16, 3, tracks=tracks)
    mf = pedal_file()
    path = tmp_path / "pedal.mid"
    mf.save(path)
    assert q(mf) == quantize(path) == reference_roll(mf, 4) == held
    assert q(mf, sustain_pedal=False) == raw
    assert quantize(pretty_midi.PrettyMIDI(str(path))) == held
    assert quantize(pretty_midi.PrettyMIDI(str(path)), sustain_pedal=False) == raw


def test_running_status_and_note_off_velocity():
    # note_on 60 v=90; running status: note_on 64 v=80, then at tick 480 (delta 0x83 0x60)
    # note_on 64 v=0 (an off); then a note_off for 60 with release velocity 64
    events = (b"\x00\x90\x3c\x5a" b"\x00\x40\x50" b"\x83\x60\x40\x00" b"\x00\x80\x3c\x40" + EOT)
    roll = quantize(raw_file(events))
    assert note_list(roll) == [(0, 60, 0, 4, 90), (0, 64, 0, 4, 80)]


def test_one_hour_file():
    beats = 7200  # an hour at 120 bpm
    mf = midi_file(track(tempo(0, 500_000), note(0, beats * 480, 36, 50),
                         *[note(b * 480, b * 480 + 240, 60 + b % 12, 1 + b % 127)
                           for b in range(beats)]))
    roll = q(mf)
    assert roll.n_steps == 4 * beats
    assert roll.n_notes == beats + 1
    assert roll.sustain[0, :, 36].all()
    notes = roll.notes()
    assert notes["start"][notes["pitch"] != 36].tolist() == list(range(0, 4 * beats, 4))


# -- sources ---------------------------------------------------------------------

def mixed_file() -> mido.MidiFile:
    return midi_file(track(tempo(0, 600_000), meter(0, 3, 4), tempo(1440, 400_000),
                           meter(2880, 6, 8)),
                     track(name("Lead"), program(0, 73), note(0, 240, 72, 100),
                           note(240, 720, 74, 90), note(1440, 2880, 76, 80)),
                     track(name("Bass"), program(0, 33, 1), note(0, 1440, 36, 70, 1),
                           note(1440, 2880, 43, 60, 1)),
                     track(name("Drums"), note(0, 120, 36, 110, 9), note(720, 840, 38, 100, 9),
                           note(1440, 1560, 42, 90, 9)),
                     tpb=480)


def test_all_sources_give_the_same_roll(tmp_path):
    mf = mixed_file()
    path = tmp_path / "mixed.mid"
    mf.save(path)
    data = path.read_bytes()
    rolls = {
        "str": quantize(str(path)),
        "path": quantize(path),
        "bytes": quantize(data),
        "bytearray": quantize(bytearray(data)),
        "mido": quantize(mf),
        "mido_loaded": quantize(mido.MidiFile(path)),
        "pretty_midi": quantize(pretty_midi.PrettyMIDI(str(path))),
        "pretty_midi_bytes": quantize(pretty_midi.PrettyMIDI(io.BytesIO(data))),
    }
    expected = make_roll(
        [(0, 72, 0, 2, 100), (0, 74, 2, 6, 90), (0, 76, 12, 24, 80),
         (1, 36, 0, 12, 70), (1, 43, 12, 24, 60),
         (2, 36, 0, 1, 110), (2, 38, 6, 7, 100), (2, 42, 12, 13, 90)], 24, 3,
        tempos=[(0, 100.0), (12, 150.0)], time_signatures=[(0, 3, 4), (24, 6, 8)],
        tracks=[Track("Lead", 73), Track("Bass", 33), Track("Drums", 0, True)])
    for source, roll in rolls.items():
        assert roll == expected, source


def test_pretty_midi_built_in_code():
    pm = pretty_midi.PrettyMIDI(resolution=220, initial_tempo=120.0)
    inst = pretty_midi.Instrument(program=41, name="viola")
    inst.notes += [pretty_midi.Note(velocity=70, pitch=67, start=0.5, end=1.25),
                   pretty_midi.Note(velocity=71, pitch=69, start=1.25, end=2.0)]
    pm.instruments.append(inst)
    roll = quantize(pm)
    # 0.5 s per beat: 0.5 s = step 4, 1.25 s = step 10, 2.0 s = step 16
    assert roll.tracks == [Track("viola", 41)]
    assert note_list(roll) == [(0, 67, 4, 10, 70), (0, 69, 10, 16, 71)]
    assert roll.tempos == [(0, 120.0)]


def test_pretty_midi_source_keeps_trailing_silence(tmp_path):
    # the last note ends at step 4, the track (and the file) at step 16
    path = tmp_path / "tail.mid"
    midi_file(track(name("a"), note(0, 480, 60)), track(note(0, 240, 62), end=1920)).save(path)
    assert quantize(path).n_steps == 16
    assert quantize(pretty_midi.PrettyMIDI(str(path))) == quantize(path)


def test_sources_agree_on_utf8_track_names(tmp_path):
    path = tmp_path / "names.mid"
    midi_file(track(name("Flöte ♪".encode("utf-8").decode("latin-1")), note(0, 480, 60)),
              track(name("Café".encode("latin-1").decode("latin-1")), note(0, 480, 62))).save(path)
    want = [Track("Flöte ♪"), Track("Café")]
    assert quantize(path).tracks == want
    assert quantize(mido.MidiFile(path)).tracks == want
    assert quantize(pretty_midi.PrettyMIDI(str(path))).tracks == want


# -- real files against a reference built on mido --------------------------------

def by_tick(events):
    return sorted(events, key=lambda e: e[0])  # stable: at one tick the later event wins


def with_pedal(notes: list, pedals: dict) -> None:
    """note-seq's sustain rule, plainly: a note released while its (track, channel)'s pedal is
    down (the last CC64 at or before the release >= 64) ends at the first pedal-up after it or
    at the next onset of its pitch there, whichever is first; else at the end (None). Drums
    are left alone."""
    for i, n in enumerate(notes):
        (ti, ch, _), pitch, start, _, end = n
        events = pedals.get((ti, ch), [])
        if ch == 9 or end is None or not [v for t, v in events if t <= end][-1:] >= [64]:
            continue
        ups = [t for t, v in events if t > end and v < 64]
        onsets = [m[2] for m in notes[i + 1:] if m[0][:2] == (ti, ch) and m[1] == pitch]
        n[4] = min(ups[:1] + onsets[:1], default=None)


def reference_roll(mf: mido.MidiFile, spb: int, sustain_pedal: bool = True) -> PianoRoll:
    """The spec, written plainly over mido messages: what quantize must return."""
    tpb = mf.ticks_per_beat

    def step(tick):  # nearest step, halves up
        return (2 * tick * spb + tpb) // (2 * tpb)

    notes, tempos, sigs, keys, names, pedals = [], [], [], [], {}, {}
    key_numbers = {name: sf_mi for sf_mi, name in mido.midifiles.meta._key_signature_decode.items()}
    offset = end_tick = 0
    for ti, tr in enumerate(mf.tracks):
        tick, programs, sounding, reattack = offset, [0] * 16, {}, {}
        for m in tr:
            tick += m.time
            if m.type == "track_name":
                names.setdefault(ti, m.name)
            elif m.type == "set_tempo":
                tempos.append((tick, m.tempo))
            elif m.type == "time_signature":
                sigs.append((tick, m.numerator, m.denominator))
            elif m.type == "key_signature":
                keys.append((tick, *key_numbers[m.key]))
            elif m.type == "program_change":
                programs[m.channel] = m.program
            elif m.type == "control_change" and m.control == 64:
                pedals.setdefault((ti, m.channel), []).append((tick, m.value))
            elif m.type in ("note_on", "note_off"):
                key = (m.channel, m.note)
                if m.type == "note_on" and m.velocity > 0:
                    if key in sounding:  # re-attack: the sounding note ends here
                        notes[sounding[key]][4] = tick
                        reattack[key] = tick
                    sounding[key] = len(notes)
                    notes.append([(ti, m.channel, programs[m.channel]), m.note, tick, m.velocity,
                                  None])
                elif key in sounding:
                    n = notes[sounding[key]]
                    if not (reattack.get(key) == tick and n[2] == tick):
                        n[4] = tick
                        del sounding[key]
        end_tick = max(end_tick, tick)
        offset = tick if mf.type == 2 else 0
    if sustain_pedal:
        with_pedal(notes, pedals)
    order = sorted({n[0] for n in notes})
    index = {k: i for i, k in enumerate(order)}
    cols = [(index[k], p, step(s), step(end_tick if e is None else e), v)
            for k, p, s, v, e in notes]
    cols = [(k, p, s, max(e, s + 1), v) for k, p, s, e, v in cols]
    n_steps = max([step(end_tick)] + [e for _, _, _, e, _ in cols])
    return make_roll(cols, n_steps, len(order), steps_per_beat=spb,
                     tempos=[(0, 120.0)] + [(step(t), 60e6 / m) for t, m in by_tick(tempos)],
                     time_signatures=[(0, 4, 4)] + [(step(t), n, d) for t, n, d in by_tick(sigs)],
                     tracks=[Track(names.get(t, ""), p, c == 9) for t, c, p in order],
                     key_signatures=[(step(t), f, mi) for t, f, mi in by_tick(keys)])


def test_real_files_match_the_reference(nottingham, pop909, tmp_path):
    music21 = pytest.importorskip("music21")
    chorales = []
    for work in ["bach/bwv66.6", "bach/bwv153.1"]:
        chorales.append(tmp_path / (work.replace("/", "_") + ".mid"))
        music21.corpus.parse(work).write("midi", fp=str(chorales[-1]))
    for path in nottingham[::50] + pop909[::45] + chorales:
        mf = mido.MidiFile(path)
        for spb in (4, 12):
            assert quantize(path, spb) == reference_roll(mf, spb), (path, spb)


@st.composite
def messy_files(draw):
    """Type 0/1/2 files with overlapping and re-attacked notes, program changes, open notes,
    tempo, meter and key events in any track, and velocity-0 note-offs."""
    def event():
        ch = st.sampled_from([0, 1, 9])
        pitch = st.integers(58, 61)  # few pitches, so notes collide
        return st.one_of(
            st.builds(lambda c, p, v: mido.Message("note_on", channel=c, note=p, velocity=v),
                      ch, pitch, st.integers(0, 127)),
            st.builds(lambda c, p: mido.Message("note_off", channel=c, note=p), ch, pitch),
            st.builds(lambda c, p: mido.Message("program_change", channel=c, program=p),
                      ch, st.integers(0, 2)),
            st.builds(lambda m: mido.MetaMessage("set_tempo", tempo=m), st.integers(1, 2**24 - 1)),
            st.builds(lambda n, d: mido.MetaMessage("time_signature", numerator=n, denominator=d),
                      st.integers(1, 12), st.sampled_from([2, 4, 8])),
            st.builds(lambda k: mido.MetaMessage("key_signature", key=k),
                      st.sampled_from(sorted(mido.midifiles.meta._key_signature_encode))),
            st.builds(lambda c, v: mido.Message("control_change", channel=c, control=64, value=v),
                      ch, st.sampled_from([0, 63, 64, 127])))
    tpb = draw(st.sampled_from([1, 7, 96, 480, 1000]))
    tracks = []
    for i in range(draw(st.integers(1, 3))):
        trk = mido.MidiTrack()
        if draw(st.booleans()):
            trk.append(mido.MetaMessage("track_name", name=f"t{i}"))
        for delta, msg in draw(st.lists(st.tuples(st.integers(0, 3 * tpb), event()), max_size=25)):
            trk.append(msg.copy(time=delta))
        trk.append(mido.MetaMessage("end_of_track", time=draw(st.integers(0, 2 * tpb))))
        tracks.append(trk)
    kind = 0 if len(tracks) == 1 else draw(st.sampled_from([1, 2]))
    return midi_file(*tracks, tpb=tpb, type=kind)


@settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(mf=messy_files(), spb=st.sampled_from([1, 3, 4, 12]))
def test_messy_files_match_the_reference(mf, spb):
    assert quantize(to_bytes(mf), spb) == reference_roll(mf, spb)
    assert quantize(to_bytes(mf), spb, sustain_pedal=False) == reference_roll(mf, spb, False)

