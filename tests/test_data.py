"""midivae.data on folders built in code: windows, splits, storage, reuse, robustness, loader.

Every MIDI fixture is written with mido into tmp_path, so these tests need no
../shared data. Real sources are in test_data_sources.py.
"""

from __future__ import annotations

import json
import os
import pickle
import signal
import subprocess
import sys
from collections import Counter
from pathlib import Path

import mido
import numpy as np
import pytest
from conftest import REPO_ROOT, make_roll, meter, midi_file, name, note, program, track

from midivae import DatasetError, RollLayout, Track, quantize, render
from midivae.cli import main
from midivae.data import PrepareSettings, PreparedSet, assign_split, prepare
from midivae.data.windows import NOTE_DTYPE, WindowSettings, bar_lines, cut_windows, notes_of
from midivae.midi.roles import Role

TPB = 480
BROKEN = {"broken/empty.mid": b"", "broken/garbage.MID": b"not a midi file at all",
          "broken/truncated.midi": b"MThd\x00\x00\x00\x06\x00\x01\x00\x02\x01\xe0MTrk\x00\x00\x01\x00"}


def tune(n_bars: int, seed: int, num: int = 4, den: int = 4, drums: bool = False):
    """A two-track tune (melody, chords) of ``n_bars`` bars of num/den, random but seeded."""
    rng = np.random.default_rng(seed)
    beat = TPB * 4 // den
    bar = beat * num
    melody, chords = [name("melody"), meter(0, num, den)], [name("chords"), program(0, 24, 1)]
    for b in range(n_bars):
        for i in range(num):
            t = b * bar + i * beat
            melody += note(t, t + beat // 2 * int(rng.integers(1, 3)), int(rng.integers(60, 80)),
                           int(rng.integers(40, 120)))
        chords += note(b * bar, (b + 1) * bar, int(rng.integers(40, 55)), 70, channel=1)
    tracks = [track(*melody), track(*chords)]
    if drums:
        tracks.append(track(name("drums"), *[e for b in range(n_bars)
                                             for e in note(b * bar, b * bar + 60, 36, 100, 9)]))
    return midi_file(*tracks, tpb=TPB)


def write_folder(root: Path, good: int = 6, broken: bool = True, short: bool = True) -> set[str]:
    """``good`` tunes in nested folders with mixed suffixes, plus broken and too-short files.

    Returns the names (relative paths) that must be reported as skipped.
    """
    root.mkdir(parents=True, exist_ok=True)
    for i in range(good):
        sub = root / ("jigs" if i % 2 else "reels") / ("deep" if i == 3 else "")
        sub.mkdir(parents=True, exist_ok=True)
        meter_ = (3, 4) if i % 3 == 2 else (4, 4)
        tune(8 + i, seed=i, num=meter_[0], den=meter_[1]).save(sub / f"Tune {i}.{'MID' if i == 1 else 'mid'}")
    (root / "notes.txt").write_text("not MIDI: ignored")
    bad = set()
    if broken:
        for rel, data in BROKEN.items():
            (root / rel).parent.mkdir(parents=True, exist_ok=True)
            (root / rel).write_bytes(data)
            bad.add(rel)
    if short:
        tune(2, seed=99).save(root / "short.mid")
        bad.add("short.mid")
    return bad


@pytest.fixture
def folder(tmp_path) -> tuple[Path, set[str]]:
    root = tmp_path / "midi"
    return root, write_folder(root)


def layout_roles(layout):
    """Roles that read a rendered window back into the set's fixed layout, by track name."""
    return [Role(t.name, t.program, t.is_drum, match=lambda tr, n=t.name: tr.name == n)
            for t in layout.tracks]


# -- windows ------------------------------------------------------------------------
def test_windows_start_at_bar_lines_in_any_meter_and_the_meter_filter_counts():
    # 2 bars of 3/4 then 3 bars of 6/8 at 2 steps per beat: bars of 6 steps each
    notes = [(0, 60, s, s + 1, 80) for s in range(0, 30, 2)]
    roll = make_roll(notes, 30, steps_per_beat=2, time_signatures=[(0, 3, 4), (12, 6, 8)])
    lines = bar_lines(roll)
    assert lines.tolist() == [0, 6, 12, 18, 24, 30]
    w, dropped = cut_windows(roll, notes_of(roll), lines, WindowSettings(bars=2, hop=1))
    assert w["start"].tolist() == [0, 6, 12, 18] and w["stop"].tolist() == [12, 18, 24, 30]
    assert w["uniform"].tolist() == [True, False, True, True]
    assert [(n, d) for n, d in zip(w["num"], w["den"])] == [(3, 4), (3, 4), (6, 8), (6, 8)]
    only, dropped = cut_windows(roll, notes_of(roll), lines, WindowSettings(2, 1, meter=(6, 8)))
    assert only["start"].tolist() == [12, 18] and dropped == {"meter": 2}


def test_meters_of_one_bar_length_can_be_kept_together():
    # 2 bars of 2/2 then 2 bars of 4/4 at 2 steps per beat: bars of 8 steps each
    notes = [(0, 60, s, s + 1, 80) for s in range(0, 32, 2)]
    roll = make_roll(notes, 32, steps_per_beat=2, time_signatures=[(0, 2, 2), (16, 4, 4)])
    lines = bar_lines(roll)
    four, dropped = cut_windows(roll, notes_of(roll), lines, WindowSettings(1, 1, meter=(4, 4)))
    assert four["start"].tolist() == [16, 24] and dropped == {"meter": 2}
    both, dropped = cut_windows(roll, notes_of(roll), lines,
                                WindowSettings(1, 1, meter=(4, 4), also_meters=((2, 2),)))
    assert both["start"].tolist() == [0, 8, 16, 24] and dropped == {}


def test_meters_of_other_bar_lengths_cannot_be_joined():
    from midivae.data.build import PrepareSettings, parse_meters
    assert parse_meters("4/4,2/2,8/8") == ((4, 4), (2, 2), (8, 8))
    with pytest.raises(ValueError, match="meter 3/4 has bars of another length than 4/4"):
        PrepareSettings(meter="4/4,3/4")


def test_a_bar_cut_short_by_a_meter_change_never_makes_a_short_window_in_one_meter():
    # 4/4 at 2 steps per beat (8-step bars), then 3/4 (6-step bars) from step 20, mid-bar:
    # the bar at 16 lasts 4 steps. Window [8, 20) is all 4/4 but 12 steps, not 16.
    notes = [(0, 60, s, s + 1, 80) for s in range(0, 44, 2)]
    roll = make_roll(notes, 44, steps_per_beat=2, time_signatures=[(0, 4, 4), (20, 3, 4)])
    lines = bar_lines(roll)
    assert lines.tolist() == [0, 8, 16, 20, 26, 32, 38, 44]
    w, dropped = cut_windows(roll, notes_of(roll), lines, WindowSettings(2, 1, meter=(4, 4)))
    assert w["start"].tolist() == [0] and (w["stop"] - w["start"]).tolist() == [16]
    assert dropped == {"meter": 5}


def test_a_trailing_partial_bar_is_padded_when_it_has_notes_and_dropped_when_silent():
    sounding = make_roll([(0, 60, 0, 4, 80), (0, 62, 17, 18, 80)], 18)  # 4/4, 16 steps a bar
    assert bar_lines(sounding).tolist() == [0, 16, 32]
    silent = make_roll([(0, 60, 0, 16, 80)], 18)
    assert bar_lines(silent).tolist() == [0, 16]


def test_sparse_windows_and_windows_outside_the_pitch_range_are_dropped_and_counted():
    notes = [(0, 60, 0, 4, 80), (0, 62, 4, 8, 80)] + [(0, 100, 32, 36, 80)]
    roll = make_roll(notes, 48)  # three bars: 2 notes, silence, one high note
    w, dropped = cut_windows(roll, notes_of(roll), bar_lines(roll),
                             WindowSettings(bars=1, min_notes=1, pitch_range=(48, 84)))
    assert w["start"].tolist() == [0] and w["n_notes"].tolist() == [2]
    assert dropped == {"few_notes": 1, "pitch_range": 1}


def test_a_window_is_cut_from_stored_notes_by_hand():
    layout = RollLayout(low=60, n_pitches=4, tracks=(Track("lead"), Track("kit", is_drum=True)))
    notes = np.array([(0, 61, 90, 2, 6),  # lead, sounding before the window [4, 8): cut
                      (0, 63, 80, 5, 7),  # lead, inside
                      (1, 60, 70, 6, 12),  # drums, sounding past the window's end: cut
                      (0, 62, 99, 8, 9)], NOTE_DTYPE)  # starts at its end: outside
    expected = np.zeros((4, 2, 2, 4), bool)  # (T, K, 2, P), pitches 60..63
    expected[0, 0, 0, 1] = expected[0:2, 0, 1, 1] = True  # a cut note starts with an onset
    expected[1, 0, 0, 3] = expected[1:3, 0, 1, 3] = True
    expected[2, 1, 0, 0] = expected[2:4, 1, 1, 0] = True
    x = layout.window_from_notes(notes, 4, 8)
    assert x.dtype == bool and np.array_equal(x, expected)
    assert np.array_equal(layout.flatten(x), expected.reshape(4, 16))  # D: track, channel, pitch
    assert np.array_equal(layout.unflatten(layout.flatten(x)), x)
    down = layout.window_from_notes(notes, 4, 8, shift=-1)
    assert np.array_equal(down[:, 0], np.roll(expected[:, 0], -1, axis=-1))  # 61, 63 -> 60, 62
    assert np.array_equal(down[:, 1], expected[:, 1])  # drums never move
    assert layout.shift_bounds(61, 63) == (-1, 0)
    with pytest.raises(ValueError, match=r"outside 60\.\.63 after a shift of 1"):
        layout.window_from_notes(notes, 4, 8, shift=1)
    roll = layout.roll_from_notes(notes, 4, 8, tempos=[(0, 90.0)])
    assert roll == make_roll([(0, 61, 0, 2, 90), (0, 63, 1, 3, 80), (1, 60, 2, 4, 70)], 4, 2,
                             tempos=[(0, 90.0)], tracks=list(layout.tracks))
    assert layout.roll_from_notes(notes, 4, 8, velocity=False).velocity is None


def test_splits_come_from_a_hash_of_the_piece_identity():
    ids = [f"folder/tune{i}.mid" for i in range(3000)]
    splits = [assign_split(i, (0.8, 0.1, 0.1)) for i in ids]
    assert splits == [assign_split(i, (0.8, 0.1, 0.1)) for i in ids]  # stable
    share = Counter(splits)
    assert abs(share["train"] / 3000 - 0.8) < 0.03 and abs(share["test"] / 3000 - 0.1) < 0.03
    assert splits != [assign_split(i, (0.8, 0.1, 0.1), salt="other") for i in ids]
    assert {assign_split(i, (0, 0, 1)) for i in ids} == {"test"}


# -- preparing a folder ---------------------------------------------------------------
def test_a_folder_of_good_and_broken_files_prepares_the_good_and_names_every_broken(folder, tmp_path):
    root, bad = folder
    prepared = prepare(root, tmp_path / "set", bars=4)
    m = prepared.manifest
    assert {s["piece"] for s in m["skipped"]} == bad
    reasons = {s["piece"]: s["reason"] for s in m["skipped"]}
    assert "empty" in reasons["broken/empty.mid"]
    assert "fewer than the 4" in reasons["short.mid"]
    assert m["counts"]["items"] == 6 + len(bad)
    assert sum(m["counts"]["pieces"].values()) == 6 == len(prepared.piece_ids)
    assert "jigs/deep/Tune 3.mid" in prepared.piece_ids and "jigs/Tune 1.MID" in prepared.piece_ids
    assert m["midivae_version"] and m["source"]["kind"] == "folder"
    assert m["settings"]["bars"] == 4 and m["counts"]["notes"] == len(prepared.notes)


def test_every_window_renders_to_midi_that_quantizes_back_to_the_same_window(folder, tmp_path):
    root, _ = folder
    prepared = prepare(root, tmp_path / "set", bars=2, hop=1, roles="order:melody,chords")
    layout, roles = prepared.layout, layout_roles(prepared.layout)
    assert len(prepared) > 50
    for i in range(len(prepared)):
        window = prepared.window_roll(i)
        again = quantize(render(window, estimate_key=False), layout.steps_per_beat, roles=roles)
        assert again == window, i
        # the model-side tensor, through from_array, renders back to the same tensor
        x = prepared.window_array(i)  # (T, K, 2, P)
        sig = window.time_signatures[0][1:]
        roll = layout.from_array(layout.flatten(x)).replace(time_signatures=[(0, *sig)])
        back = quantize(render(roll, estimate_key=False), layout.steps_per_beat, roles=roles)
        assert np.array_equal(layout.to_array(back), x), i


def test_splits_are_disjoint_by_piece_and_the_same_for_any_number_of_workers(folder, tmp_path):
    root, _ = folder
    one = prepare(root, tmp_path / "one", bars=2, workers=1, splits=(0.5, 0.25, 0.25))
    two = prepare(root, tmp_path / "two", bars=2, workers=2, splits=(0.5, 0.25, 0.25))
    assert one.piece_ids == two.piece_ids
    for name_ in ("windows", "notes", "pieces"):
        assert np.array_equal(getattr(one, name_), getattr(two, name_)), name_
    pieces_of = {s: set(one.windows["piece"][one.indices(s)].tolist())
                 for s in ("train", "valid", "test")}
    assert not (pieces_of["train"] & pieces_of["valid"] or pieces_of["train"] & pieces_of["test"]
                or pieces_of["valid"] & pieces_of["test"])
    assert sum(len(one.indices(s)) for s in pieces_of) == len(one)
    expected = [assign_split(p, (0.5, 0.25, 0.25)) for p in one.piece_ids]
    assert [("train", "valid", "test")[s] for s in one.pieces["split"]] == expected


def test_same_settings_reuse_the_set_and_changed_settings_rebuild_it(folder, tmp_path):
    root, _ = folder
    out = tmp_path / "set"
    first = prepare(root, out, bars=2)
    stamp = (out / "manifest.json").stat().st_mtime_ns
    again = prepare(root, out, bars=2)
    assert again.reused and not first.reused
    assert (out / "manifest.json").stat().st_mtime_ns == stamp
    longer = prepare(root, out, bars=4)
    assert not longer.reused and longer.manifest["settings"]["bars"] == 4
    assert len(longer) < len(first)
    assert not prepare(root, out, bars=4, force=True).reused
    (root / "new.mid").write_bytes((root / "reels" / "Tune 0.mid").read_bytes())
    assert not prepare(root, out, bars=4).reused  # the source changed
    assert [p.name for p in tmp_path.iterdir() if p.name.startswith(".")] == []


def pedalled_tune(n_bars: int = 4):
    """Four staccato quarters a bar, the sustain pedal down over the first half of each bar."""
    events = [name("piano"), meter(0, 4, 4)]
    for b in range(n_bars):
        events += [(b * 4 * TPB, mido.Message("control_change", control=64, value=127)),
                   (b * 4 * TPB + 2 * TPB, mido.Message("control_change", control=64, value=0))]
        events += [e for i in range(4) for e in note((4 * b + i) * TPB, (4 * b + i) * TPB + 120,
                                                     60 + i)]
    return midi_file(track(*events), tpb=TPB)


def test_the_sustain_pedal_setting_reaches_the_notes_and_rebuilds_the_set(tmp_path):
    root = tmp_path / "midi"
    root.mkdir()
    pedalled_tune().save(root / "pedal.mid")
    held = prepare(root, tmp_path / "set", bars=2, splits=(1, 0, 0))
    assert held.manifest["settings"]["sustain_pedal"] is True
    # beats 1 and 2 of each bar sound until the pedal comes up (step 8 of the bar); 3, 4 are short
    by_bar = sorted((int(n["start"]) % 16, int(n["end"]) - int(n["start"])) for n in held.notes
                    if n["start"] < 16)
    assert by_bar == [(0, 8), (4, 4), (8, 1), (12, 1)]
    raw = prepare(root, tmp_path / "set", bars=2, splits=(1, 0, 0), sustain_pedal=False)
    assert not raw.reused and raw.manifest["settings"]["sustain_pedal"] is False
    assert sorted(int(n["end"]) - int(n["start"]) for n in raw.notes) == [1] * 16
    assert prepare(root, tmp_path / "set", bars=2, splits=(1, 0, 0), sustain_pedal=False).reused
    code = main(["prepare", str(root), "--out", str(tmp_path / "set"), "--bars", "2",
                 "--splits", "1,0,0", "--quiet", "--workers", "1"])
    assert code == 0 and PreparedSet(tmp_path / "set").manifest["settings"]["sustain_pedal"]
    code = main(["prepare", str(root), "--out", str(tmp_path / "set"), "--bars", "2",
                 "--splits", "1,0,0", "--quiet", "--workers", "1", "--no-sustain-pedal"])
    assert code == 0 and not PreparedSet(tmp_path / "set").manifest["settings"]["sustain_pedal"]


def test_the_layout_carries_each_tracks_median_training_velocity(tmp_path):
    root = tmp_path / "midi"
    root.mkdir()
    # melody velocities 30, 50, 50, 90 and 40, 60, 100 (train), chords always 70;
    # a piece in valid with velocity 1 everywhere must not count
    tunes = {"a.mid": ([30, 50, 50, 90], 70), "b.mid": ([40, 60, 100, 60], 70),
             "v/c.mid": ([1, 1, 1, 1], 1)}
    for rel, (melody_v, chord_v) in tunes.items():
        (root / rel).parent.mkdir(exist_ok=True)
        melody = [name("melody"), meter(0, 4, 4)] + [
            e for b in range(4) for i, v in enumerate(melody_v)
            for e in note((4 * b + i) * TPB, (4 * b + i + 1) * TPB, 60 + i, v)]
        chords = [name("chords")] + [e for b in range(4)
                                     for e in note(4 * b * TPB, 4 * (b + 1) * TPB, 48, chord_v, 1)]
        midi_file(track(*melody), track(*chords), tpb=TPB).save(root / rel)
    splits = {"a.mid": "train", "b.mid": "train", "v/c.mid": "valid"}
    salt = next(s for s in map(str, range(1000)) if all(
        assign_split(p, (0.6, 0.4, 0), s) == want for p, want in splits.items()))
    prepared = prepare(root, tmp_path / "set", bars=2, splits=(0.6, 0.4, 0), split_salt=salt,
                       roles="order:melody,chords")
    # melody: 32 training notes, 4 of each of 30 40 50 50 60 60 90 100 -> lower median 50
    assert prepared.layout.velocities == (50, 70)
    assert PreparedSet(prepared.path).layout.velocities == (50, 70)  # stored in the manifest
    # by the step of the bar a note starts on: the melody's beats are 30 50 50 90 in a.mid,
    # 40 60 100 60 in b.mid (lower medians 30 50 50 60); steps without notes: the median
    accents = prepared.typical_accents(min_notes=1)
    assert accents[0] == (30, 50, 50, 50, 50, 50, 50, 50, 50, 50, 50, 50, 60, 50, 50, 50)
    assert accents[1] == (70,) * 16
    assert prepared.typical_accents() == ((50,) * 16, (70,) * 16)  # too few notes a step
    plain = prepare(root, tmp_path / "plain", bars=2, splits=(0.6, 0.4, 0), split_salt=salt,
                    roles="order:melody,chords", velocity=False)
    assert plain.layout.velocities is None


def test_an_interrupted_build_leaves_no_set_and_keeps_the_previous_one(folder, tmp_path):
    root, _ = folder
    out = tmp_path / "set"

    def interrupt(done, total):
        if done == 3:
            raise KeyboardInterrupt

    for workers in (1, 2):
        with pytest.raises(KeyboardInterrupt):
            prepare(root, out, bars=2, workers=workers, progress=interrupt)
        assert not out.exists()
        assert list(tmp_path.glob(".set*")) == []
    prepare(root, out, bars=2)
    with pytest.raises(KeyboardInterrupt):
        prepare(root, out, bars=4, progress=interrupt)
    assert PreparedSet(out).manifest["settings"]["bars"] == 2


def test_a_killed_build_leaves_no_set_and_the_next_build_cleans_up(folder, tmp_path):
    root, _ = folder
    out = tmp_path / "set"
    code = ("import os, signal, sys; from midivae.data import prepare\n"
            "def die(done, total):\n"
            "    if done == 4: os.kill(os.getpid(), signal.SIGKILL)\n"
            f"prepare({str(root)!r}, {str(out)!r}, bars=2, progress=die)\n")
    run = subprocess.run([sys.executable, "-c", code], cwd=REPO_ROOT)
    assert run.returncode == -signal.SIGKILL
    assert not out.exists() and len(list(tmp_path.glob(".set.tmp-*"))) == 1
    prepare(root, out, bars=2)
    assert out.is_dir() and list(tmp_path.glob(".set*")) == []


def test_a_worker_that_dies_costs_one_piece_not_the_build(folder, tmp_path, monkeypatch):
    import multiprocessing

    from midivae.data.folder import FileItem
    if multiprocessing.get_start_method() != "fork":
        pytest.skip("the crash is injected by monkeypatching, which needs forked workers")
    root, bad = folder
    real = FileItem.load

    def crashing(item, *args):
        if item.id == "reels/Tune 2.mid":
            os._exit(3)
        return real(item, *args)

    monkeypatch.setattr(FileItem, "load", crashing)
    prepared = prepare(root, tmp_path / "set", bars=4, workers=2)
    reasons = {s["piece"]: s["reason"] for s in prepared.manifest["skipped"]}
    assert set(reasons) == bad | {"reels/Tune 2.mid"}
    assert "worker process died" in reasons["reels/Tune 2.mid"]
    assert len(prepared.piece_ids) == 5


def test_one_meter_option_gives_equal_windows_and_counts_what_it_excluded(folder, tmp_path):
    root, _ = folder
    mixed = prepare(root, tmp_path / "mixed", bars=2)
    assert set(mixed.manifest["counts"]["meters"]) == {"4/4", "3/4"}
    only = prepare(root, tmp_path / "only", bars=2, meter="4/4")
    assert set(only.manifest["counts"]["meters"]) == {"4/4"}
    assert only.manifest["counts"]["windows_dropped"]["meter"] == mixed.manifest["counts"]["meters"]["3/4"]
    assert set((only.windows["stop"] - only.windows["start"]).tolist()) == {32}
    assert only.layout.time_signature == (4, 4)


def test_a_given_pitch_range_is_the_layout_and_the_data_range_is_recorded(folder, tmp_path):
    root, _ = folder
    auto = prepare(root, tmp_path / "auto", bars=2)
    low, high = int(auto.windows["low"].min()), int(auto.windows["high"].max())
    assert (auto.layout.low, auto.layout.n_pitches) == (low, high - low + 1)
    given = prepare(root, tmp_path / "given", bars=2, pitch_range=(36, 96))
    assert (given.layout.low, given.layout.n_pitches) == (36, 61)
    narrow = prepare(root, tmp_path / "narrow", bars=2, pitch_range=(50, 80))
    assert narrow.manifest["counts"]["windows_dropped"]["pitch_range"] > 0


# -- the torch side ---------------------------------------------------------------------
def test_the_loader_yields_float_windows_in_the_layout_with_folder_labels(folder, tmp_path):
    from midivae.data import WindowDataset, make_loader
    root, _ = folder
    prepared = prepare(root, tmp_path / "set", bars=2, labels=True, meter="4/4",
                       splits=(1, 0, 0))
    assert prepared.labels == ["", "broken", "jigs", "reels"]  # from every file, read or not
    assert prepared.layout.labels == tuple(prepared.labels)
    data = WindowDataset(prepared, "train")
    x, label = data[0]
    L = data.layout
    assert x.dtype.is_floating_point and x.shape == (32, L.n_tracks * 2 * L.n_pitches)
    assert label.dtype.is_signed and label.ndim == 0
    for i in range(0, len(data), 5):
        piece = prepared.piece_ids[int(prepared.windows[data.index[i]]["piece"])]
        top = piece.split("/")[0] if "/" in piece else ""  # files at the top: unlabelled
        assert prepared.labels[int(data[i][1])] == top
    batches = list(make_loader(prepared, "train", batch_size=16))
    assert sum(len(b[0]) for b in batches) == len(data) == len(prepared)
    assert batches[0][0].shape == (16, 32, L.cells) and str(batches[0][1].dtype) == "torch.int64"


def test_transposition_shifts_pitched_tracks_within_the_range_and_never_drums(tmp_path):
    import torch

    from midivae.data import WindowDataset
    root = tmp_path / "midi"
    root.mkdir()
    for i in range(3):
        tune(4, seed=i, drums=True).save(root / f"t{i}.mid")
    prepared = prepare(root, tmp_path / "set", bars=2, roles="merge+drums", splits=(1, 0, 0))
    L = prepared.layout
    assert [t.is_drum for t in L.tracks] == [False, True]
    plain, shifted = WindowDataset(prepared), WindowDataset(prepared, transpose=5)
    torch.manual_seed(0)
    seen = set()
    for i in range(len(plain)):
        x = L.unflatten(plain[i][0])  # (T, D) -> (T, K, 2, P)
        y = L.unflatten(shifted[i][0])
        assert torch.equal(x[:, 1], y[:, 1])  # drums untouched
        assert x[:, 0].sum() == y[:, 0].sum()  # no pitched note lost at the range's edge
        s = [s for s in range(-5, 6) if torch.equal(torch.roll(x[:, 0], s, dims=-1), y[:, 0])]
        assert s
        seen.update(s)
    assert len(seen) > 1


def test_preparing_loads_no_torch_and_a_set_pickles_by_path(folder, tmp_path):
    root, _ = folder
    code = ("import sys; from midivae.data import prepare\n"
            f"prepare({str(root)!r}, {str(tmp_path / 'set')!r}, bars=2, workers=2)\n"
            "assert 'torch' not in sys.modules, 'torch was imported'\n")
    subprocess.run([sys.executable, "-c", code], check=True, cwd=REPO_ROOT)
    prepared = PreparedSet(tmp_path / "set")
    assert isinstance(prepared.notes, np.memmap)
    blob = pickle.dumps(prepared)
    assert len(blob) < 1000 and np.array_equal(pickle.loads(blob).windows, prepared.windows)


# -- settings, errors and the command --------------------------------------------------
@pytest.mark.parametrize("field, value", [("bars", 0), ("hop", -1), ("meter", "4/3"),
                                          ("pitch_range", (60, 40)), ("splits", (1, 1)),
                                          ("splits", (float("nan"), 0.1, 0.1)),
                                          ("splits", (float("inf"), 0.1, 0.1)),
                                          ("min_notes", -1), ("limit", 0)])
def test_bad_settings_raise_value_error_naming_the_field(field, value):
    with pytest.raises(ValueError, match=field.split("_")[0]):
        PrepareSettings(**{field: value})


def test_bad_sources_and_bad_role_specs_raise_dataset_error(folder, tmp_path):
    with pytest.raises(DatasetError, match="neither a folder"):
        prepare(tmp_path / "nowhere", tmp_path / "set")
    with pytest.raises(DatasetError, match="roles"):
        prepare(folder[0], tmp_path / "set", roles="nonsense")
    (tmp_path / "mine").mkdir()
    (tmp_path / "mine" / "keep.txt").write_text("user data")
    with pytest.raises(DatasetError, match="not a prepared set"):
        prepare(folder[0], tmp_path / "mine")


def test_the_prepare_command_draws_progress_prints_the_summary_and_sets_the_exit_code(
        folder, tmp_path, capsys, monkeypatch):
    root, bad = folder
    monkeypatch.setattr(sys.stderr, "isatty", lambda: True)  # as on a terminal
    assert main(["prepare", str(root), "--out", str(tmp_path / "set"), "--bars", "4",
                 "--workers", "1"]) == 0
    out, err = capsys.readouterr()
    assert "10/10" in err and "piece" in err  # the progress bar (10 files)
    monkeypatch.undo()
    assert all(b in out for b in bad) and "windows: train" in out
    manifest = json.loads((tmp_path / "set" / "manifest.json").read_text())
    assert manifest["settings"]["bars"] == 4
    only_bad = tmp_path / "bad"
    write_folder(only_bad, good=0)
    assert main(["prepare", str(only_bad), "--out", str(tmp_path / "none")]) == 1
    err = capsys.readouterr().err
    assert "no window" in err and "piece/s" not in err  # off a terminal: no bar
    assert main(["prepare", str(root), "--meter", "x"]) == 2


def test_sources_joined_with_plus_alternate_and_label_each_piece(tmp_path):
    from midivae.data import prepare
    from midivae.data.sources import resolve_source

    src = resolve_source("bach-chorales+essen-folk")
    assert src.kind == "several"
    assert [it.label for it in src.items[:4]] == ["bach-chorales", "essen-folk"] * 2
    assert src.items[0].id == "bach-chorales/" + resolve_source("bach-chorales").items[0].id
    assert src.roles == "merge"  # the two sets' own layouts differ
    assert len(src.items) == (len(resolve_source("bach-chorales").items)
                              + len(resolve_source("essen-folk").items))

    prepared = prepare("bach-chorales+essen-folk", tmp_path / "set", limit=8, bars=2,
                       roles="order:melody", workers=1)
    assert prepared.labels == ["bach-chorales", "essen-folk"]
    named = list(prepared.piece_ids) + [s["piece"] for s in prepared.manifest["skipped"]]
    assert Counter(p.split("/")[0] for p in named) == {"bach-chorales": 4, "essen-folk": 4}
    labels = {prepared.label(int(i)) for i in prepared.indices()}
    assert labels == {0, 1}
    for i in prepared.indices():
        piece = prepared.piece_ids[int(prepared.windows[int(i)]["piece"])]
        assert prepared.label(int(i)) == (0 if piece.startswith("bach-chorales/") else 1)


def test_a_prepared_set_says_what_a_model_needs(folder, tmp_path):
    root, _ = folder
    one_meter = prepare(root, tmp_path / "a", bars=2, meter="4/4", workers=1)
    assert (one_meter.bars, one_meter.meter, one_meter.window_steps) == (2, (4, 4), 32)
    assert sum(one_meter.n_windows.values()) == len(one_meter)
    mixed = prepare(root, tmp_path / "b", bars=2, workers=1)
    assert (mixed.meter, mixed.window_steps) == (None, None)
