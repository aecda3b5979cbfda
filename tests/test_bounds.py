"""Bounded work for tiny inputs: what a small or odd file can cost is bounded by the file.

Each case is a tiny hostile input built in code that used to cost seconds and
gigabytes, or hang: a meter whose bars are shorter than a step, thousands of
one-note tracks, held notes over a long roll, and paths that are devices or
FIFOs. Memory is measured with tracemalloc (numpy's arrays are traced); what
could hang runs in a child process with a timeout and a memory limit.
"""

from __future__ import annotations

import importlib
import json
import os
import subprocess
import sys
import textwrap
import tracemalloc

import numpy as np
import pytest
from conftest import REPO_ROOT, make_roll

from midivae import MidiReadError, PianoRoll, RollTooLargeError, quantize
from midivae.data import prepare
from midivae.data.windows import MAX_WINDOWS, WindowSettings, bar_lines, cut_windows, notes_of
from midivae.midi.quantize import MAX_CELLS
from midivae.midi.roles import Role
from midivae.midi.roll import arrays_from_notes
from midivae.midi.smf import MAX_FILE_BYTES

MiB = 2**20
quantize_module = importlib.import_module("midivae.midi.quantize")  # `midivae.midi.quantize` is the function


# -- raw MIDI bytes (mido is too slow for 65,535 tracks) ---------------------------
def vlq(n: int) -> bytes:
    out = [n & 0x7F]
    while n := n >> 7:
        out.append(0x80 | (n & 0x7F))
    return bytes(reversed(out))


def chunk(events: bytes) -> bytes:
    return b"MTrk" + len(events).to_bytes(4, "big") + events


def smf(*tracks: bytes, tpb: int = 1) -> bytes:
    header = (1).to_bytes(2, "big") + len(tracks).to_bytes(2, "big") + tpb.to_bytes(2, "big")
    return b"MThd" + (6).to_bytes(4, "big") + header + b"".join(chunk(t) for t in tracks)


def held_note(beats: int, pitch: int = 60, meter: bytes = b"") -> bytes:
    """Track events: an optional meter, then one note held ``beats`` ticks (1 tick a beat)."""
    return (meter + b"\x00\x90" + bytes([pitch, 64]) + vlq(beats) + b"\x80" + bytes([pitch, 0])
            + b"\x00\xff\x2f\x00")


ONE_128 = b"\x00\xff\x58\x04\x01\x07\x18\x08"  # time signature 1/128


def peak_bytes(f) -> tuple[object, int]:
    """``f()`` and the peak of traced memory it allocated (numpy included)."""
    tracemalloc.start()
    try:
        tracemalloc.reset_peak()
        base = tracemalloc.get_traced_memory()[0]
        out = f()
        return out, tracemalloc.get_traced_memory()[1] - base
    finally:
        tracemalloc.stop()


def run_child(code: str, timeout: float = 60) -> subprocess.CompletedProcess:
    """Run ``code`` in a fresh Python with at most 2 GiB of address space; fail on a hang."""
    limit = "import resource; resource.setrlimit(resource.RLIMIT_AS, (2**31, 2**31))\n"
    env = dict(os.environ, OPENBLAS_NUM_THREADS="1", OMP_NUM_THREADS="1")
    try:
        return subprocess.run([sys.executable, "-c", limit + textwrap.dedent(code)], cwd=REPO_ROOT,
                              env=env, capture_output=True, text=True, timeout=timeout)
    except subprocess.TimeoutExpired:
        pytest.fail(f"still running after {timeout} s (a read that never ends, or a hang)")


# -- 1. a meter whose bars are shorter than one step ----------------------------------
def test_bars_shorter_than_a_step_are_listed_once_per_step():
    # 1/128 at 4 steps per beat: a bar is 1/8 of a step; bar lines used to repeat each
    # step about 8 times (4 million of them for a 40-byte file)
    roll = PianoRoll.empty(1, 1000, time_signatures=[(0, 4, 4), (16, 1, 128), (900, 4, 4)])
    starts = roll.bar_starts()
    assert starts.tolist() == [0] + list(range(16, 900)) + [900, 916, 932, 948, 964, 980, 996]
    assert np.all(np.diff(starts) > 0)


def test_windows_with_bars_shorter_than_a_step_are_dropped_and_counted():
    notes = [(0, 60, s, s + 2, 80) for s in range(0, 64, 2)]
    roll = make_roll(notes, 64, time_signatures=[(0, 4, 4), (32, 1, 128)])
    lines = bar_lines(roll)
    w, dropped = cut_windows(roll, notes_of(roll), lines, WindowSettings(bars=1))
    assert w["start"].tolist() == [0, 16]  # the two 4/4 bars
    assert dropped == {"short_bars": 32}  # one collapsed bar per step from 32 on
    w, dropped = cut_windows(roll, notes_of(roll), lines, WindowSettings(bars=2))
    assert w["start"].tolist() == [0] and dropped == {"short_bars": 32}  # [16, 33) reaches 1/128


def test_windows_per_piece_are_capped_and_the_rest_counted():
    # 1/16 at 4 steps per beat: a bar is one step, so a 300-step piece has 300 bars
    roll = make_roll([(0, 60, 0, 300, 80)], 300, time_signatures=[(0, 1, 16)])
    w, dropped = cut_windows(roll, notes_of(roll), bar_lines(roll),
                             WindowSettings(bars=1, max_windows=100))
    assert w["start"].tolist() == list(range(100)) and dropped == {"window_cap": 200}
    assert WindowSettings().max_windows == MAX_WINDOWS


def test_a_tiny_file_in_1_128_meter_prepares_in_bounded_memory(tmp_path):
    # 43 bytes: 1/128, one note held 12,500 beats (50,000 steps). Before: 400,000
    # one-bar windows and (windows x 128) int32 temporaries, ~0.6 GB at this length
    # (4.8 GB and 31 s at 500,000 steps); now every window is a short bar.
    src = tmp_path / "src"
    src.mkdir()
    data = smf(held_note(12_500, meter=ONE_128))
    (src / "tiny.mid").write_bytes(data)
    assert len(data) == 43
    prepared, peak = peak_bytes(lambda: prepare(src, tmp_path / "set", bars=1, workers=1))
    m = prepared.manifest
    assert m["skipped"] == [{"piece": "tiny.mid",
                             "reason": "no window kept: 50000 dropped for short bars"}]
    assert m["counts"]["windows_dropped"] == {"short_bars": 50000}
    cells = 50_000 * 128  # the roll: one track of 50,000 steps
    assert peak < 16 * cells, f"peak {peak / MiB:.0f} MiB for a {cells / MiB:.0f} Mi-cell roll"


# -- 2. many tracks, long held notes ----------------------------------------------------
def test_quantize_peaks_at_its_arrays_plus_a_little():
    # 2,048 one-note tracks of 32 beats: 2048 x 128 steps x 128 pitches = 32 Mi cells,
    # 96 MiB of arrays (onset, sustain, velocity). The roll's checks used to add two
    # more arrays' worth of temporaries (5 GB at 65,535 tracks, for 3 GiB of arrays).
    data = smf(*[held_note(32)] * 2048)
    roll, peak = peak_bytes(lambda: quantize(data))
    arrays = roll.onset.nbytes + roll.sustain.nbytes + roll.velocity.nbytes
    assert roll.onset.shape == (2048, 128, 128) and arrays == 96 * MiB
    assert peak < arrays + 24 * MiB, f"peak {peak / MiB:.0f} MiB, arrays {arrays / MiB:.0f} MiB"


def test_65535_tracks_over_the_cell_limit_are_refused_before_allocating(tmp_path, monkeypatch):
    # 1.3 MB: 65,535 tracks of one note of 33 beats (132 steps) is 1.06e9 cells > MAX_CELLS
    path = tmp_path / "tracks.mid"
    path.write_bytes(smf(*[held_note(33)] * 65535))
    assert 65535 * 132 * 128 > MAX_CELLS

    def allocate(*args, **kwargs):
        raise AssertionError("the roll's arrays were allocated")
    monkeypatch.setattr(quantize_module, "arrays_from_notes", allocate)
    with pytest.raises(RollTooLargeError, match=f"^{path}: 65535 tracks x 132 steps") as e:
        quantize(path)
    assert "MAX_CELLS" in e.value.reason


def test_roles_count_toward_the_cell_limit(monkeypatch, tmp_path):
    # both rolls exist while tracks are merged into roles: their cells add up
    path = tmp_path / "one.mid"
    path.write_bytes(smf(held_note(25)))  # 1 track x 100 steps x 128 pitches
    monkeypatch.setattr(quantize_module, "MAX_CELLS", 100 * 128 * 2)
    assert quantize(path, roles=[Role("a")]).n_tracks == 1
    with pytest.raises(RollTooLargeError, match=f"^{path}: 1 tracks \\+ 2 roles x 100 steps"):
        quantize(path, roles=[Role("a"), Role("b")])


def test_held_notes_fill_sustain_in_batches():
    # 16 tracks x 128 pitches held for 4,096 steps: 8 Mi sustain cells. The flat
    # indices of every cell at once used to take 4 int64 arrays of that many (256 MiB).
    k, p = np.divmod(np.arange(16 * 128), 128)
    T = 4096
    (onset, sustain, _), peak = peak_bytes(lambda: arrays_from_notes(
        16, T, k, p, np.zeros_like(k), np.full_like(k, T)))
    assert sustain.all() and onset[:, 0].all() and not onset[:, 1:].any()
    arrays = onset.nbytes + sustain.nbytes
    assert peak < arrays + 24 * MiB, f"peak {peak / MiB:.0f} MiB, arrays {arrays / MiB:.0f} MiB"


def test_notes_of_a_long_silent_roll_take_a_few_bytes_per_cell():
    # one short note in 100,000 steps: note ends used to be found among the flat
    # indices of every silent cell (8 bytes a cell)
    roll = make_roll([(0, 60, 5, 9, 80)], 100_000)
    notes, peak = peak_bytes(roll.notes)
    assert notes[["pitch", "start", "end"]].tolist() == [(60, 5, 9)]
    cells = roll.onset.size
    assert peak < 3 * cells, f"peak {peak / cells:.1f} bytes a cell"


# -- 3. devices, FIFOs and huge files ------------------------------------------------------
@pytest.mark.parametrize("device", ["/dev/zero", "/dev/urandom"])
def test_a_device_is_refused_unread(device):
    if not os.path.exists(device):
        pytest.skip(f"no {device} here")
    # in a child: the old reader never stopped reading, in a 2 GiB address space
    out = run_child(f"""
        from midivae import MidiReadError, quantize
        try:
            quantize({device!r})
        except MidiReadError as err:
            print(type(err).__name__, err)
        """, timeout=30)
    expected = f"MidiReadError {device}: not a regular file (a character device)"
    assert out.stdout.strip() == expected, out.stderr[-2000:]


@pytest.mark.skipif(not hasattr(os, "mkfifo"), reason="no FIFOs on this system")
def test_a_fifo_is_refused_without_waiting_for_a_writer(tmp_path):
    fifo = tmp_path / "x.mid"
    os.mkfifo(fifo)
    out = run_child(f"""
        from midivae import MidiReadError, quantize
        try:
            quantize({str(fifo)!r})
        except MidiReadError as err:
            print(type(err).__name__, err)
        """, timeout=30)
    assert out.stdout.strip() == f"MidiReadError {fifo}: not a regular file (a FIFO)", \
        out.stderr[-2000:]


def test_a_folder_is_refused_as_not_a_regular_file(tmp_path):
    folder = tmp_path / "song.mid"
    folder.mkdir()
    with pytest.raises(MidiReadError, match=f"^{folder}: not a regular file \\(a folder\\)$"):
        quantize(folder)


def test_a_file_over_the_size_limit_is_refused_unread(tmp_path):
    path = tmp_path / "big.mid"
    with open(path, "wb") as f:
        f.truncate(MAX_FILE_BYTES + 1)  # sparse: nothing is written
    with pytest.raises(MidiReadError, match=f"^{path}: {MAX_FILE_BYTES + 1} bytes, more than") as e:
        quantize(path)  # refused from its size alone: the old reader read all 64 MiB first
    assert e.value.reason.endswith("not read")


@pytest.mark.skipif(not hasattr(os, "mkfifo"), reason="no FIFOs on this system")
def test_a_folder_source_skips_fifos_and_devices_with_the_reason(tmp_path):
    src = tmp_path / "src"
    src.mkdir()
    (src / "good.mid").write_bytes(smf(held_note(8)))
    os.mkfifo(src / "x.mid")
    if os.path.exists("/dev/zero"):
        (src / "zero.mid").symlink_to("/dev/zero")
    out = run_child(f"""
        import json
        from midivae.data import prepare
        prepared = prepare({str(src)!r}, {str(tmp_path / "set")!r}, bars=1, workers=1)
        print(json.dumps(prepared.manifest["skipped"]))
        """, timeout=60)
    assert out.returncode == 0, out.stderr[-2000:]
    skipped = {s["piece"]: s["reason"] for s in json.loads(out.stdout)}
    expected = {"x.mid": "not a regular file (a FIFO)"}
    if (src / "zero.mid").is_symlink():
        expected["zero.mid"] = "not a regular file (a character device)"
    assert skipped == expected
    assert (tmp_path / "set").is_dir()
