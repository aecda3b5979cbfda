"""midivae.data on real sources: Boulanger .mat sets, POP909, Nottingham MIDI, the music21 corpus.

Tests that read ../shared/data skip (with the reason) when it is absent; the
music21 corpus ships with music21, so those always run, on small subsets.
"""

from __future__ import annotations

import numpy as np
import pytest

from midivae import quantize, render
from midivae.data import prepare
from midivae.data.boulanger import SETS, frames_to_roll
from midivae.data.pop909 import downbeat_meter
from midivae.midi.roles import Role


def assert_windows_round_trip(prepared, every: int = 1):
    """Each window renders to MIDI that quantizes back to the same window."""
    layout = prepared.layout
    roles = [Role(t.name, t.program, t.is_drum, match=lambda tr, n=t.name: tr.name == n)
             for t in layout.tracks]
    for i in range(0, len(prepared), every):
        window = prepared.window_roll(i)
        again = quantize(render(window, estimate_key=False), layout.steps_per_beat, roles=roles,
                         velocity=prepared.velocity)  # frame rolls keep none
        assert again == window, i


# -- Boulanger frame rolls -------------------------------------------------------------
def test_frame_rolls_get_an_onset_at_every_sustain_run_start():
    frames = np.zeros((6, 88), np.uint8)
    frames[0:3, 39] = 1  # middle C (pitch 60) for three frames: one note
    frames[4:6, 39] = 1  # and again after a gap: a second note
    frames[1:2, 0] = 1  # pitch 21 for one frame
    roll = frames_to_roll(frames, frames_per_beat=1, steps_per_beat=2)
    assert roll.velocity is None and roll.time_signatures == [(0, 4, 4)]
    notes = sorted((int(n["pitch"]), int(n["start"]), int(n["end"])) for n in roll.notes())
    assert notes == [(21, 2, 4), (60, 0, 6), (60, 8, 12)]


@pytest.mark.parametrize("name", list(SETS))
def test_boulanger_sets_keep_the_published_splits(name, shared_data, tmp_path):
    _, native, published = SETS[name]
    prepared = prepare(f"boulanger:{name}", tmp_path / name, data_root=shared_data, bars=4)
    m = prepared.manifest
    kept = m["counts"]["pieces"]
    skipped = {s: sum(x["piece"].split("/")[1] == s for x in m["skipped"]) for s in kept}
    assert tuple(kept[s] + skipped[s] for s in ("train", "valid", "test")) == published
    assert all("fewer than the 4" in x["reason"] for x in m["skipped"])
    L = prepared.layout
    assert L.steps_per_beat == native and [t.name for t in L.tracks] == ["piano"]
    assert 21 <= L.low and L.low + L.n_pitches <= 109
    assert all(pid.split("/")[1] == ("train", "valid", "test")[s]
               for pid, s in zip(prepared.piece_ids, prepared.pieces["split"]))
    assert_windows_round_trip(prepared, every=97)


def test_boulanger_frames_can_be_upsampled_but_not_resampled(shared_data, tmp_path):
    from midivae import DatasetError
    fine = prepare("boulanger:jsb", tmp_path / "fine", data_root=shared_data, steps_per_beat=4,
                   limit=5)
    assert fine.layout.steps_per_beat == 4 and set(fine.windows["stop"] - fine.windows["start"]) == {64}
    with pytest.raises(DatasetError, match="multiple"):
        prepare("boulanger:nottingham", tmp_path / "odd", data_root=shared_data, steps_per_beat=3)


# -- POP909 ---------------------------------------------------------------------------
def test_downbeats_give_the_meter_with_a_pickup_bar():
    flags = np.array([0, 1, 0, 0, 0, 1, 0, 0, 1, 0, 0], bool)  # pickup of 1, 4/4, then 3/4
    sigs, notes = downbeat_meter(flags, steps_per_beat=4)
    assert sigs == [(0, 1, 4), (4, 4, 4), (20, 3, 4), (32, 3, 4)] and notes == []
    assert downbeat_meter(np.zeros(8, bool), 4)[0] == [(0, 4, 4)]


def test_pop909_songs_are_quantized_against_their_beats_with_three_tracks(shared_data, tmp_path):
    prepared = prepare("pop909", tmp_path / "pop", data_root=shared_data, limit=3, bars=4)
    assert [t.name for t in prepared.layout.tracks] == ["melody", "bridge", "piano"]
    assert prepared.manifest["counts"]["skipped"] == 0 and len(prepared.piece_ids) == 3
    for piece, piece_id in enumerate(prepared.piece_ids):  # e.g. "pop909/074"
        beats = np.loadtxt(shared_data / piece_id / "beat_midi.txt")
        downbeats = np.flatnonzero(beats[:, 2] > 0) * 4
        starts = prepared.windows[prepared.windows["piece"] == piece]["start"]
        assert len(starts) and set(starts.tolist()) <= set(downbeats.tolist()), piece_id
    assert_windows_round_trip(prepared, every=7)


# -- a MIDI folder: Nottingham -----------------------------------------------------------
def test_nottingham_midi_prepares_in_every_meter_in_two_processes(nottingham, tmp_path):
    prepared = prepare(nottingham[0].parent, tmp_path / "nott", bars=4, limit=30, workers=2,
                       roles="order:melody,chords")
    m = prepared.manifest
    assert m["counts"]["items"] == 30 and m["counts"]["skipped"] == 0
    assert {"4/4", "6/8", "3/4"} <= set(m["counts"]["meters"])
    assert_windows_round_trip(prepared, every=13)


# -- the music21 corpus ----------------------------------------------------------------
def test_bach_chorales_from_the_music21_corpus_have_four_voices(tmp_path):
    prepared = prepare("bach-chorales", tmp_path / "bach", limit=3, bars=2)
    assert [t.name for t in prepared.layout.tracks] == ["soprano", "alto", "tenor", "bass"]
    m = prepared.manifest
    assert m["counts"]["items"] == 3 and m["source"]["chorales"] == 350
    assert len(prepared.piece_ids) + m["counts"]["skipped"] == 3
    for i in range(0, len(prepared), 5):  # every voice sounds in the chorale windows
        assert prepared.window_array(i)[:, :, 1].any(axis=(0, 2)).all()
    assert_windows_round_trip(prepared)


def test_a_pickup_bar_keeps_the_scores_bar_lines():
    from midivae.midi.score import measure_meter
    from music21 import meter, note, stream
    part = stream.Part()
    lengths = [1, 3, 2, 1, 3]  # pickup, full bar, a 3/4 bar split 2 + 1 at a fermata, full bar
    for i, q in enumerate(lengths):
        m = stream.Measure(number=i)
        if i == 0:
            m.insert(0, meter.TimeSignature("3/4"))
        m.append(note.Note("C4", quarterLength=q))
        part.append(m)
    assert measure_meter(part, steps_per_beat=4) == [(0, 1, 4), (4, 3, 4), (16, 3, 4),
                                                       (28, 3, 4)]


def test_the_corpus_traps_are_converted_not_crashed(tmp_path):
    from midivae.data.corpus import ScoreItem
    bwv277 = ScoreItem("bach/bwv277", "bach/bwv277", chorale=True).load(4, True)
    assert any("repeats not expanded" in w for w in bwv277.warnings)
    assert bwv277.roll.n_notes > 0
    # altdeu10 tune 5 shares one TimeSignature object between measures in the ABC parse
    tune = ScoreItem("altdeu10/5", "essenFolksong/altdeu10", 5).load(4, True)
    assert tune.roll.n_notes > 0 and tune.roll.n_tracks == 1


def test_essen_folk_prepares_melodies(tmp_path):
    prepared = prepare("essen-folk", tmp_path / "essen", limit=12, bars=2)
    m = prepared.manifest
    assert m["source"]["tunes"] > 8000 and m["counts"]["items"] == 12
    assert [t.name for t in prepared.layout.tracks] == ["melody"]
    assert len(prepared.piece_ids) + m["counts"]["skipped"] == 12
    assert_windows_round_trip(prepared, every=3)


def test_the_datasets_readme_example_runs(tmp_path, monkeypatch, capsys):
    import re

    from conftest import REPO_ROOT
    text = (REPO_ROOT / "datasets" / "README.md").read_text()
    code = re.search(r"```python\n(.*?)```", text, flags=re.S).group(1)
    monkeypatch.chdir(tmp_path)
    exec(compile(code, "datasets/README.md", "exec"), {})
    assert (tmp_path / "window0.mid").is_file() and (tmp_path / "datasets" / "bach-tiny").is_dir()
    assert "torch.float32 torch.int64" in capsys.readouterr().out
