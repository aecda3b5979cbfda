"""Hostile input to the command line, round two (issue 27): tiny files and flags that asked for
gigabytes (audio of a slow tempo, a roll of 15 x 480,000 steps, a model's weights), errors that
came out as tracebacks (a text file as a SoundFont, a full disk), and changes made unsaid (a
tempo of 0, a meter of 0/4, 10,000 track names). Each is one line, at once, and leaves nothing
half-written. `train`'s own cases are in test_train_hostile.py."""

from __future__ import annotations

import contextlib
import json
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
from conftest import meter, midi_file, note, tempo, to_bytes, track
from test_bounds import held_note, smf
from test_cli import run_cli
from test_cli_hostile import one_line, snapshot, work  # noqa: F401 (a fixture)

pytestmark = pytest.mark.usefixtures("one_torch_thread")

LIMIT = "(set {} to raise the bound)"


# -- 1. memory is bounded before it is allocated ----------------------------------------------

def test_play_refuses_hours_of_audio_before_synthesising(tmp_path):
    """42 bytes: a tempo of 16,777,215 microseconds a beat and a note of 10,000 beats asked
    for a 55 GiB buffer (MemoryError)."""
    slow = tmp_path / "slow.mid"
    slow.write_bytes(to_bytes(midi_file(track(tempo(0, 16_777_215), note(0, 10_000, 60)),
                                        tpb=1)))
    out = run_cli("play", slow)
    assert one_line(out, 1) == (f"midivae play: error: {slow}: 46.6 hours of audio at the roll's "
                                "tempo map, more than the 1,800 s one render makes "
                                + LIMIT.format("MIDIVAE_MAX_AUDIO_SECONDS"))
    assert sorted(p.name for p in tmp_path.iterdir()) == ["slow.mid"]


def test_the_audio_bound_is_set_by_its_environment_variable(work, tmp_path, monkeypatch):
    monkeypatch.setenv("MIDIVAE_MAX_AUDIO_SECONDS", "5")  # song.mid lasts 7.75 s, + 1 s tail
    out = run_cli("play", work / "song.mid", "--wav", tmp_path / "song.wav")
    assert one_line(out, 1) == (f"midivae play: error: {work / 'song.mid'}: 8.8 s of audio at "
                                "the roll's tempo map, more than the 5 s one render makes "
                                + LIMIT.format("MIDIVAE_MAX_AUDIO_SECONDS"))
    monkeypatch.setenv("MIDIVAE_MAX_AUDIO_SECONDS", "9")
    out = run_cli("play", work / "song.mid", "--wav", tmp_path / "song.wav")
    assert out.returncode == 0, out.stderr
    assert (tmp_path / "song.wav").stat().st_size > 0


@pytest.mark.parametrize("command", ["quantize", "plot", "play", "reconstruct"])
def test_a_roll_past_the_cell_bound_is_refused_naming_its_size(command, work, tmp_path):
    """15 tracks of one note of 120,000 beats (480,000 steps): a file of a few hundred bytes
    that took 1.9 GB to quantize, 4.8 GB to reconstruct, 75 s to plot."""
    long = tmp_path / "long.mid"
    long.write_bytes(smf(*[held_note(120_000, 60 + k) for k in range(15)]))
    assert long.stat().st_size < 512
    model = [work / "run"] if command == "reconstruct" else []
    out = run_cli(command, *model, long, "--out" if command != "play" else "--wav",
                  tmp_path / f"out{'.png' if command == 'plot' else ''}")
    assert one_line(out, 1) == (f"midivae: error: {long}: 15 tracks x 480000 steps x 128 pitches "
                                "are 921,600,000 cells of 3 bytes, more than "
                                "MAX_CELLS=134,217,728 " + LIMIT.format("MIDIVAE_MAX_CELLS"))
    assert sorted(p.name for p in tmp_path.iterdir()) == ["long.mid"]


def sparse_checkpoint(src: Path, dest: Path, **changes) -> tuple[Path, int]:
    """A checkpoint at ``dest`` with the settings of ``src`` changed and a tensor of the right
    shape for every weight they ask for, as a sparse file (nothing written but the header):
    consistent settings that ask for gigabytes. Returns it and its number of weights."""
    import torch
    from safetensors import safe_open

    from midivae.models import VAE, ModelConfig

    with safe_open(str(src), "pt") as f:
        metadata = f.metadata()
    record = json.loads(metadata["midivae"])
    record["model"].update(changes)
    with torch.device("meta"):
        model = VAE(ModelConfig.from_dict(record["model"]))
    state = model.state_dict()
    header, at = {"__metadata__": {**metadata, "midivae": json.dumps(record)}}, 0
    for name, t in state.items():
        header[name] = {"dtype": "F32", "shape": list(t.shape),
                        "data_offsets": [at, at + 4 * t.numel()]}
        at += 4 * t.numel()
    text = json.dumps(header).encode()
    text += b" " * (-len(text) % 8)
    with open(dest, "wb") as f:
        f.write(len(text).to_bytes(8, "little") + text)
        f.truncate(8 + len(text) + at)
    return dest, weights(model)


def weights(model) -> int:
    """What a model holds in memory: its parameters and buffers (the state dict, and the
    buffers it leaves out)."""
    return sum(t.numel() for t in model.parameters()) + sum(t.numel() for t in model.buffers())


def test_a_checkpoint_asking_for_gigabytes_of_weights_is_refused_at_load(work, tmp_path):
    ckpt, n = sparse_checkpoint(work / "ckpt.safetensors", tmp_path / "big.safetensors",
                                decoder_hidden=40_000)
    assert 6.5 < n * 4 / 2**30 < 7  # 6.7 GiB as float32, a sparse file here
    out = run_cli("sample", ckpt, "--out", tmp_path / "clips")
    assert one_line(out, 1) == (f"midivae: error: {ckpt}: the model's settings ask for {n:,} "
                                f"weights ({n * 4 / 2**30:,.1f} GiB as float32), more than the "
                                "1,073,741,824 allowed " + LIMIT.format("MIDIVAE_MAX_PARAMETERS"))
    assert not (tmp_path / "clips").exists()


def test_the_weights_bound_is_set_by_its_environment_variable(work, tmp_path, monkeypatch):
    from midivae.run.checkpoint import load_checkpoint
    n = weights(load_checkpoint(work / "ckpt"))
    monkeypatch.setenv("MIDIVAE_MAX_PARAMETERS", str(n - 1))
    out = run_cli("sample", work / "ckpt", "--out", tmp_path / "clips")
    assert one_line(out, 1) == (f"midivae: error: {work / 'ckpt.safetensors'}: the model's "
                                f"settings ask for {n:,} weights ({n * 4 / 2**30:,.1f} GiB as "
                                f"float32), more than the {n - 1:,} allowed "
                                + LIMIT.format("MIDIVAE_MAX_PARAMETERS"))
    monkeypatch.setenv("MIDIVAE_MAX_PARAMETERS", str(n))
    assert run_cli("sample", work / "ckpt", "--out", tmp_path / "clips").returncode == 0


# -- 2. one line, not a traceback -------------------------------------------------------------

def test_a_soundfont_that_is_no_soundfont_is_one_line(work, tmp_path):
    pytest.importorskip("tinysoundfont", reason="without it the sine fallback reads no font")
    font = tmp_path / "notes.txt"
    font.write_text("not a SoundFont\n")
    out = run_cli("play", work / "song.mid", "--soundfont", font, "--wav", tmp_path / "a.wav")
    assert one_line(out, 1) == (f"midivae: error: {font}: not a SoundFont tinysoundfont can read "
                                f"(Could not load SoundFont file: {font})")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["notes.txt"]


@contextlib.contextmanager
def disk_full_past(n_bytes: int):
    """Writes past ``n_bytes`` of a file fail (EFBIG, as ENOSPC would on a full disk): the
    file-size limit of this process, which holds for root too (a read-only folder does not)."""
    resource = pytest.importorskip("resource")
    import signal
    before = signal.signal(signal.SIGXFSZ, signal.SIG_IGN)  # the error, not the signal
    soft, hard = resource.getrlimit(resource.RLIMIT_FSIZE)
    resource.setrlimit(resource.RLIMIT_FSIZE, (n_bytes, hard))
    try:
        yield
    finally:
        resource.setrlimit(resource.RLIMIT_FSIZE, (soft, hard))
        signal.signal(signal.SIGXFSZ, before)


@pytest.mark.parametrize("command", ["fit-prior", "export"])
def test_a_full_disk_is_one_line_and_the_checkpoint_survives(command, work, tmp_path):
    for name in ("ckpt.safetensors", "ckpt.json"):
        shutil.copy(work / name, tmp_path / name)
    before = snapshot(tmp_path)
    argv = {"fit-prior": ["fit-prior", tmp_path / "ckpt", work / "set"],
            "export": ["export", tmp_path / "ckpt", tmp_path / "shipped"]}[command]
    written = tmp_path / ("ckpt.safetensors" if command == "fit-prior" else "shipped.safetensors")
    with disk_full_past(2**20):  # the checkpoint is larger
        out = run_cli(*argv)
    assert one_line(out, 1) == f"midivae: error: {written}: File too large"
    assert snapshot(tmp_path) == before  # no temporary file, no half of a checkpoint


# -- 3. nothing changed unsaid ----------------------------------------------------------------

def test_quantize_says_which_tempo_and_meter_events_it_ignored(tmp_path):
    """A tempo of 0 and a meter of 0/4 mean nothing: the file is read without them, and the
    command says so in one `midivae quantize: warning:` line naming the file."""
    data = bytearray(to_bytes(midi_file(track(tempo(0, 500_000), meter(480, 3, 4),
                                              note(0, 480, 60), note(480, 960, 62)))))
    at = data.index(b"\xff\x51\x03")
    data[at + 3:at + 6] = b"\0\0\0"  # tempo 0 (mido refuses to write one)
    data[data.index(b"\xff\x58\x04") + 3] = 0  # meter 0/4
    odd = tmp_path / "odd.mid"
    odd.write_bytes(data)
    out = run_cli("quantize", odd)
    assert one_line(out, 0) == (f"midivae quantize: warning: {odd}: ignored 2 event(s) that no "
                                "music can mean (tempo 0 at tick 0 of track 1, meter 0/4 at tick "
                                "480 of track 1); it is read as if they were not there")
    assert "tempos=[(0, 120.0)], time_signatures=[(0, 4, 4)]" in out.stdout


def test_quantize_refuses_a_grid_that_is_no_whole_number():
    from midivae import quantize
    data = to_bytes(midi_file(track(note(0, 480, 60))))
    for bad in (1.5, 4.0, True, 0):
        with pytest.raises(ValueError, match=re.escape(
                f"steps_per_beat must be a whole number >= 1, got {bad!r}")):
            quantize(data, steps_per_beat=bad)


def test_10000_track_names_make_one_short_line(work, tmp_path):
    """A file of 10,000 named tracks, all read by the model's one track: the mapping line
    named every one (126 KB); it names the first 10 and counts the rest."""
    def named(i: int) -> bytes:
        text = f"Violin {i:05d}".encode()
        return b"\x00\xff\x03" + bytes([len(text)]) + text + held_note(8, 60 + i % 12)
    many = tmp_path / "many.mid"
    many.write_bytes(smf(*[named(i) for i in range(10_000)]))
    out = run_cli("reconstruct", work / "run", many, "--out", tmp_path / "out")
    assert out.returncode == 0, out.stderr
    mapping = out.stdout.splitlines()[0]
    assert mapping == (f"{many}: all <- " + " + ".join(f"'Violin {i:05d}'" for i in range(10))
                       + " and 9,990 more")


def test_a_list_of_names_is_capped():
    from midivae.errors import listed
    assert listed(["a", "b"]) == "a, b"
    assert listed(map(str, range(10_000))) == "0, 1, 2, 3, 4, 5, 6, 7, 8, 9 and 9,990 more"
    assert listed(["x"], total=5, sep=" + ") == "x and 4 more"


# -- 4. prepare: a link as --out, and what a killed build left ---------------------------------

def test_prepare_builds_through_a_link_and_leaves_no_hidden_folder(work, tmp_path):
    (tmp_path / "disk").mkdir()
    link = tmp_path / "linkset"
    link.symlink_to(tmp_path / "disk" / "set")
    for more in ([], ["--force"]):  # building, then replacing the set the link leads to
        out = run_cli("prepare", work / "midi", "--out", link, "--bars", "2", "--meter", "4/4",
                      "--workers", "1", "--quiet", *more)
        assert out.returncode == 0, out.stderr
        assert out.stdout.startswith(f"{link}: built from")
    assert link.is_symlink() and (link / "manifest.json").is_file()
    assert sorted(p.name for p in tmp_path.iterdir()) == ["disk", "linkset"]
    assert sorted(p.name for p in (tmp_path / "disk").iterdir()) == ["set"]


def test_prepare_clears_a_killed_builds_folder_even_when_the_set_is_current(work, tmp_path):
    """A build killed (kill -9) leaves .set.tmp-<pid>-*; the next prepare of that set removes
    it, also when it only reuses the set (before, only a rebuild did)."""
    shutil.copytree(work / "set", tmp_path / "set")
    leftover = subprocess.run(
        [sys.executable, "-c", "import sys; from pathlib import Path; from midivae.data.folders "
         "import private_folder; print(private_folder(Path(sys.argv[1]), 'tmp'))",
         str(tmp_path / "set")], capture_output=True, text=True, check=True).stdout.strip()
    assert Path(leftover).name.startswith(".set.tmp-")  # its process has exited
    (Path(leftover) / "notes.bin").write_bytes(b"\0" * 11)  # cut off mid-write
    out = run_cli("prepare", work / "midi", "--out", tmp_path / "set", "--bars", "2", "--meter",
                  "4/4", "--workers", "1", "--quiet")
    assert out.returncode == 0 and out.stdout.startswith(f"{tmp_path / 'set'}: reused")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["set"]
    assert os.listdir(tmp_path / "set") == os.listdir(work / "set")
