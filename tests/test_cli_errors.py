"""Every bad argument of every command: one line on stderr, exit status 1 or 2, no
traceback, and no file touched; and no command overwrites a file without --force."""

from __future__ import annotations

import contextlib
import io
import os
import subprocess
import sys
from pathlib import Path

import pytest

from conftest import midi_file, note, to_bytes, track, tunes_set

from midivae.cli import main

pytestmark = pytest.mark.usefixtures("one_torch_thread")

TRAIN = ("--preset", "flat-2bar-cpu", "--steps", "1", "--batch-size", "4")


@pytest.fixture(scope="module")
def work(tmp_path_factory) -> Path:
    """A folder with a MIDI file, a folder of tunes, a prepared set and a 2-step checkpoint."""
    w = tmp_path_factory.mktemp("cli")
    (w / "in.mid").write_bytes(to_bytes(midi_file(track(note(0, 480, 60), note(480, 960, 64)))))
    tunes_set(w, 4)
    with contextlib.redirect_stdout(io.StringIO()):
        assert main(["train", str(w / "set"), *TRAIN, "--steps", "2", "--out", str(w / "m")]) == 0
    return w


def run(argv) -> int:
    try:
        return main([str(a) for a in argv])
    except SystemExit as e:  # argparse's errors exit from parse_args
        return e.code


def snapshot(root: Path) -> dict:
    """Every file and folder under root with its size and modification time."""
    return {str(p.relative_to(root)): (p.is_dir(), p.lstat().st_size, p.lstat().st_mtime_ns)
            for p in root.rglob("*")}


def assert_one_line(status, out: str, err: str) -> str:
    assert status in (1, 2), (status, out, err)
    assert "Traceback" not in out + err
    lines = err.splitlines()
    assert len(lines) == 1 and lines[0].strip(), err
    assert lines[0].startswith("midivae") and ": error: " in lines[0], err
    return lines[0]


CUDA_HERE = pytest.mark.skipif("__import__('torch').cuda.is_available()",
                               reason="cuda is a valid device here")

BAD = {
    # quantize
    "quantize missing file": ["quantize", "{w}/nope.mid"],
    "quantize a folder": ["quantize", "{w}/midi"],
    "quantize --steps-per-beat 0": ["quantize", "{w}/in.mid", "--steps-per-beat", "0"],
    "quantize --steps-per-beat x": ["quantize", "{w}/in.mid", "--steps-per-beat", "x"],
    "quantize --out in a missing folder": ["quantize", "{w}/in.mid", "--out", "{w}/no/x.mid"],
    "quantize --out a folder": ["quantize", "{w}/in.mid", "--out", "{w}/midi"],
    "quantize --out under a file": ["quantize", "{w}/in.mid", "--out", "{w}/in.mid/x.mid"],
    "quantize --out its input": ["quantize", "{w}/in.mid", "--out", "{w}/in.mid", "--force"],
    "quantize unknown option": ["quantize", "{w}/in.mid", "--nope"],
    # train
    "train missing set": ["train", "{w}/nothing", *TRAIN, "--out", "{w}/new/m"],
    "train a file as set": ["train", "{w}/in.mid", *TRAIN, "--out", "{w}/new/m"],
    "train --preset wrong": ["train", "{w}/set", *TRAIN, "--preset", "nope", "--out", "{w}/new/m"],
    "train --steps 0": ["train", "{w}/set", *TRAIN, "--steps", "0", "--out", "{w}/new/m"],
    "train --steps -1": ["train", "{w}/set", *TRAIN, "--steps", "-1", "--out", "{w}/new/m"],
    "train --batch-size 0": ["train", "{w}/set", *TRAIN, "--batch-size", "0", "--out", "{w}/new/m"],
    "train --transpose -1": ["train", "{w}/set", *TRAIN, "--transpose", "-1", "--out", "{w}/new/m"],
    "train --encoder wrong": ["train", "{w}/set", *TRAIN, "--encoder", "cnn", "--out", "{w}/new/m"],
    "train --input-dropout 1": ["train", "{w}/set", *TRAIN, "--input-dropout", "1", "--out", "{w}/new/m"],
    "train --seed -1": ["train", "{w}/set", *TRAIN, "--seed", "-1", "--out", "{w}/new/m"],
    "train --log-every 0": ["train", "{w}/set", *TRAIN, "--log-every", "0", "--out", "{w}/new/m"],
    "train --valid-every 0": ["train", "{w}/set", *TRAIN, "--valid-every", "0", "--out", "{w}/new/m"],
    "train --checkpoint-every 0": ["train", "{w}/set", *TRAIN, "--checkpoint-every", "0",
                                   "--out", "{w}/new/m"],
    "train --device cuda": pytest.param(["train", "{w}/set", *TRAIN, "--device", "cuda",
                                         "--out", "{w}/new/m"], marks=CUDA_HERE),
    "train --device cuda:99": ["train", "{w}/set", *TRAIN, "--device", "cuda:99", "--out", "{w}/new/m"],
    "train --device banana": ["train", "{w}/set", *TRAIN, "--device", "banana", "--out", "{w}/new/m"],
    "train --out a folder": ["train", "{w}/set", *TRAIN, "--out", "{w}/midi"],
    "train --out under a file": ["train", "{w}/set", *TRAIN, "--out", "{w}/in.mid/m"],
    "train --out existing": ["train", "{w}/set", *TRAIN, "--out", "{w}/m"],
    # sample
    "sample missing checkpoint": ["sample", "{w}/nothing", "--out", "{w}/clips"],
    "sample --n 0": ["sample", "{w}/m", "--n", "0", "--out", "{w}/clips"],
    "sample --n -2": ["sample", "{w}/m", "--n", "-2", "--out", "{w}/clips"],
    "sample --temperature -1": ["sample", "{w}/m", "--temperature", "-1", "--out", "{w}/clips"],
    "sample --temperature nan": ["sample", "{w}/m", "--temperature", "nan", "--out", "{w}/clips"],
    "sample --temperature inf": ["sample", "{w}/m", "--temperature", "inf", "--out", "{w}/clips"],
    "sample --qpm 0": ["sample", "{w}/m", "--qpm", "0", "--out", "{w}/clips"],
    "sample --qpm -90": ["sample", "{w}/m", "--qpm", "-90", "--out", "{w}/clips"],
    "sample --qpm nan": ["sample", "{w}/m", "--qpm", "nan", "--out", "{w}/clips"],
    "sample --qpm inf": ["sample", "{w}/m", "--qpm", "inf", "--out", "{w}/clips"],
    "sample --seed -1": ["sample", "{w}/m", "--seed", "-1", "--out", "{w}/clips"],
    "sample --label on an unlabelled model": ["sample", "{w}/m", "--label", "jazz", "--out", "{w}/clips"],
    "sample --out a file": ["sample", "{w}/m", "--out", "{w}/in.mid"],
    "sample --bars not whole windows": ["sample", "{w}/m", "--bars", "3", "--out", "{w}/clips"],
    "sample an unknown shipped model": ["sample", "--model", "nope", "--out", "{w}/clips"],
    # reconstruct, variations, interpolate, continue
    "reconstruct missing file": ["reconstruct", "{w}/m", "{w}/nope.mid", "--out", "{w}/r"],
    "reconstruct a folder": ["reconstruct", "{w}/m", "{w}/midi", "--out", "{w}/r"],
    "reconstruct missing checkpoint": ["reconstruct", "{w}/nothing", "{w}/in.mid", "--out", "{w}/r"],
    "reconstruct --out a file": ["reconstruct", "{w}/m", "{w}/in.mid", "--out", "{w}/in.mid"],
    "variations --amount 2": ["variations", "{w}/m", "{w}/in.mid", "--amount", "2", "--out", "{w}/r"],
    "variations -n 0": ["variations", "{w}/m", "{w}/in.mid", "-n", "0", "--out", "{w}/r"],
    "interpolate one file": ["interpolate", "--model", "{w}/m", "{w}/in.mid", "--out", "{w}/r"],
    "interpolate --steps 1": ["interpolate", "{w}/m", "{w}/in.mid", "{w}/in.mid", "--steps", "1",
                              "--out", "{w}/r"],
    "continue --bars 0": ["continue", "{w}/m", "{w}/in.mid", "--bars", "0", "--out", "{w}/r"],
    "inpaint --bars 3-2": ["inpaint", "{w}/m", "{w}/in.mid", "--bars", "3-2", "--out", "{w}/r"],
    "inpaint without --bars": ["inpaint", "{w}/m", "{w}/in.mid", "--out", "{w}/r"],
    "harmonise --keep unknown": ["harmonise", "{w}/m", "{w}/in.mid", "--keep", "x", "--out",
                                 "{w}/r"],
    "continue --roles unknown": ["continue", "{w}/m", "{w}/in.mid", "--roles", "x", "--out", "{w}/r"],
    # prepare
    "prepare missing source": ["prepare", "{w}/nope", "--out", "{w}/p"],
    "prepare --steps-per-beat 0": ["prepare", "{w}/midi", "--out", "{w}/p", "--steps-per-beat", "0"],
    "prepare --bars 0": ["prepare", "{w}/midi", "--out", "{w}/p", "--bars", "0"],
    "prepare --hop -1": ["prepare", "{w}/midi", "--out", "{w}/p", "--hop", "-1"],
    "prepare --min-notes -1": ["prepare", "{w}/midi", "--out", "{w}/p", "--min-notes", "-1"],
    "prepare --limit 0": ["prepare", "{w}/midi", "--out", "{w}/p", "--limit", "0"],
    "prepare --workers -1": ["prepare", "{w}/midi", "--out", "{w}/p", "--workers", "-1"],
    "prepare --splits nan": ["prepare", "{w}/midi", "--out", "{w}/p", "--splits", "nan,0.1,0.1"],
    "prepare --splits inf": ["prepare", "{w}/midi", "--out", "{w}/p", "--splits", "0.8,inf,0.1"],
    "prepare --splits two": ["prepare", "{w}/midi", "--out", "{w}/p", "--splits", "0.8,0.2"],
    "prepare --splits negative": ["prepare", "{w}/midi", "--out", "{w}/p", "--splits", "-1,1,1"],
    "prepare --pitch-range no dash": ["prepare", "{w}/midi", "--out", "{w}/p", "--pitch-range", "60"],
    "prepare --pitch-range words": ["prepare", "{w}/midi", "--out", "{w}/p", "--pitch-range", "a-b"],
    "prepare --pitch-range reversed": ["prepare", "{w}/midi", "--out", "{w}/p", "--pitch-range", "90-20"],
    "prepare --roles duplicate names": ["prepare", "{w}/midi", "--out", "{w}/p", "--roles", "names:A,A"],
    "prepare --roles unknown": ["prepare", "{w}/midi", "--out", "{w}/p", "--roles", "banana"],
    "prepare --meter 4": ["prepare", "{w}/midi", "--out", "{w}/p", "--meter", "4"],
    # demo
    "demo --seed -1": ["demo", "--out", "{w}/demo", "--seed", "-1"],
    "demo --out a file": ["demo", "--out", "{w}/in.mid"],
    # the command itself
    "no command": [],
    "unknown command": ["banana"],
}


@pytest.mark.parametrize("argv", BAD.values(), ids=BAD.keys())
def test_a_bad_argument_gets_one_line_and_changes_nothing(argv, work, capsys, monkeypatch):
    monkeypatch.chdir(work)  # defaults such as --out out land in the snapshot too
    before = snapshot(work)
    status = run([a.format(w=work) for a in argv])
    out, err = capsys.readouterr()
    line = assert_one_line(status, out, err)
    assert ".tmp" not in line  # the user's path, never a hidden temporary file
    assert snapshot(work) == before


def test_messages_name_the_problem(work, capsys, monkeypatch):
    """A sample of the lines above, read as a user would."""
    monkeypatch.chdir(work)
    expect = {
        ("train", work / "set", *TRAIN, "--steps", "0"): "argument --steps: must be >= 1, got 0",
        ("train", work / "set", *TRAIN, "--preset", "nope"):
            "choose from flat-16bar-cpu, flat-16bar-gpu, flat-2bar-cpu, flat-4bar-cpu",
        ("quantize", work / "in.mid", "--out", work / "no" / "x.mid"):
            f"{work / 'no' / 'x.mid'}: folder {work / 'no'} does not exist",
        ("quantize", work / "nope.mid"): f"{work / 'nope.mid'}: no such file",
        ("prepare", work / "midi", "--pitch-range", "60"): "must look like LOW-HIGH",
        ("sample", work / "m", "--temperature", "nan"): "must be a finite number, got 'nan'",
    }
    for argv, text in expect.items():
        status = run(argv)
        out, err = capsys.readouterr()
        assert text in assert_one_line(status, out, err)


def entry_point() -> list[str]:
    script = Path(sys.executable).with_name("midivae")  # the installed console script
    return [str(script)] if script.exists() else [sys.executable, "-m", "midivae.cli"]


@pytest.mark.parametrize("argv", [["quantize", "{w}/nope.mid"],
                                  ["quantize", "{w}/in.mid", "--out", "{w}/no/x.mid"],
                                  ["train", "{w}/set", *TRAIN, "--steps", "0"]],
                         ids=["missing file", "missing folder", "argparse"])
def test_the_real_entry_point_prints_no_traceback(argv, work):
    before = snapshot(work)
    done = subprocess.run(entry_point() + [a.format(w=work) for a in argv], cwd=work,
                          capture_output=True, text=True, timeout=120)
    assert_one_line(done.returncode, done.stdout, done.stderr)
    assert snapshot(work) == before


def test_an_os_error_is_one_line_naming_the_users_file(work, tmp_path, capsys, monkeypatch):
    """No space left, say, while the hidden temporary file is written: the line names --out."""
    import mido

    def full(self, filename=None, file=None):  # the disk fills while the temporary file is written
        raise OSError(28, "No space left on device", filename)
    monkeypatch.setattr(mido.MidiFile, "save", full)
    status = run(["quantize", work / "in.mid", "--out", tmp_path / "out.mid"])
    out, err = capsys.readouterr()
    assert status == 1
    assert err == f"midivae: error: {tmp_path / 'out.mid'}: No space left on device\n"
    assert sorted(p.name for p in tmp_path.iterdir() if p.name.startswith(".out")) == []


# -- overwriting ---------------------------------------------------------------------------

def test_sample_refuses_to_overwrite_a_clip_unless_forced(work, tmp_path, capsys):
    clips = tmp_path / "clips"
    clips.mkdir()
    (clips / "sample_001.mid").write_bytes(b"mine")
    status = run(["sample", work / "m", "--n", "3", "--out", clips])
    line = assert_one_line(status, *capsys.readouterr())
    assert status == 1 and f"{clips / 'sample_001.mid'} exists; pass --force" in line
    assert sorted(p.name for p in clips.iterdir()) == ["sample_001.mid"]  # nothing written
    assert (clips / "sample_001.mid").read_bytes() == b"mine"

    assert run(["sample", work / "m", "--n", "3", "--out", clips, "--force"]) == 0
    assert sorted(p.name for p in clips.iterdir()) == [f"sample_00{i}.mid" for i in range(3)]
    assert (clips / "sample_001.mid").read_bytes()[:4] == b"MThd"


def spellings(src: Path) -> dict[str, Path]:
    """Other names of the same file: relative, with '..', a symbolic link, a hard link."""
    os.symlink(src, src.with_name("link.mid"))
    os.link(src, src.with_name("hard.mid"))
    return {"same": src, "relative": Path(src.name), "dotdot": src.parent / ".." / src.parent.name / src.name,
            "symlink": src.with_name("link.mid"), "hardlink": src.with_name("hard.mid")}


@pytest.mark.parametrize("force", [False, True])
@pytest.mark.parametrize("spelling", ["same", "relative", "dotdot", "symlink", "hardlink"])
def test_quantize_never_writes_over_its_input(spelling, force, work, tmp_path, capsys, monkeypatch):
    src = tmp_path / "song.mid"
    src.write_bytes((work / "in.mid").read_bytes())
    out = spellings(src)[spelling]
    monkeypatch.chdir(tmp_path)
    before = snapshot(tmp_path)
    status = run(["quantize", src, "--out", out] + ["--force"] * force)
    line = assert_one_line(status, *capsys.readouterr())
    assert status == 1 and "is the input file" in line
    assert snapshot(tmp_path) == before


def test_quantize_refuses_an_existing_out_unless_forced(work, tmp_path, capsys):
    out = tmp_path / "out.mid"
    out.write_bytes(b"mine")
    status = run(["quantize", work / "in.mid", "--out", out])
    line = assert_one_line(status, *capsys.readouterr())
    assert status == 1 and f"{out} exists; pass --force" in line
    assert out.read_bytes() == b"mine"
    assert run(["quantize", work / "in.mid", "--out", out, "--force"]) == 0
    assert out.read_bytes()[:4] == b"MThd"


def test_train_refuses_a_folder_holding_a_run_unless_resumed_or_forced(work, tmp_path, capsys):
    import shutil

    from midivae.run.checkpoint import load_checkpoint, read_settings
    from midivae.run.runs import COLUMNS
    shutil.copytree(work / "m", tmp_path / "m")
    before = snapshot(tmp_path)
    status = run(["train", work / "set", *TRAIN, "--out", tmp_path / "m"])
    out, err = capsys.readouterr()
    line = assert_one_line(status, out, err)
    assert status == 1 and f"{tmp_path / 'm'} holds a run; pass --resume" in line
    assert "training" not in out and snapshot(tmp_path) == before  # refused before any work
    (tmp_path / "mine").mkdir()
    (tmp_path / "mine" / "notes.txt").write_text("keep")
    status = run(["train", work / "set", *TRAIN, "--out", tmp_path / "mine"])
    assert "is not a run folder" in assert_one_line(status, *capsys.readouterr())
    (tmp_path / "early").mkdir()  # a run stopped before its first checkpoint: its log's header
    (tmp_path / "early" / "log.csv").write_text(",".join(COLUMNS) + "\n")
    status = run(["train", work / "set", *TRAIN, "--out", tmp_path / "early"])
    assert "holds a run; pass --resume" in assert_one_line(status, *capsys.readouterr())
    with contextlib.redirect_stdout(io.StringIO()):
        assert run(["train", work / "set", *TRAIN, "--out", tmp_path / "early", "--force"]) == 0
    status = run(["train", work / "set", *TRAIN, "--out", tmp_path / "new", "--resume"])
    assert "holds no run to resume" in assert_one_line(status, *capsys.readouterr())

    assert run(["train", work / "set", *TRAIN, "--out", tmp_path / "m", "--force"]) == 0
    assert read_settings(tmp_path / "m")["extra"]["step"] == 1
    assert load_checkpoint(tmp_path / "m").config.n_steps == 32
    assert (tmp_path / "m" / "log.csv").exists() and (tmp_path / "m" / "curves.png").exists()


def test_train_passes_its_step_options_to_train(work, tmp_path, monkeypatch):
    """--checkpoint-every reaches train(); no --steps means the preset's, not 0's."""
    import midivae.run.train
    from midivae.models import PRESETS

    seen = []
    monkeypatch.setattr(midivae.run.train, "train", lambda *a, **kw: seen.append((a, kw)))
    with contextlib.redirect_stdout(io.StringIO()):
        assert run(["train", work / "set", "--preset", "flat-2bar-cpu", "--out", tmp_path / "a",
                    "--steps", "3", "--checkpoint-every", "2"]) == 0
        assert run(["train", work / "set", "--preset", "flat-2bar-cpu", "--out", tmp_path / "b"]) == 0
    (args_a, kw_a), (args_b, kw_b) = seen  # train(model, loader, cfg, **options)
    assert (kw_a["checkpoint_every"], kw_b["checkpoint_every"]) == (2, 500)
    assert (args_a[2].steps, args_b[2].steps) == (3, PRESETS["flat-2bar-cpu"].train.steps)


def test_ctrl_c_during_training_keeps_the_model_and_says_where(work, tmp_path):
    import signal
    import time

    from midivae.run.checkpoint import load_checkpoint, read_settings
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    proc = subprocess.Popen([sys.executable, "-m", "midivae.cli", "train", str(work / "set"),
                             "--preset", "flat-2bar-cpu", "--steps", "1000000", "--batch-size",
                             "4", "--log-every", "5", "--checkpoint-every", "1000000",
                             "--out", str(tmp_path / "run")],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env,
                            # Ctrl-C's default action in the child, whatever this process
                            # inherited (a shell's background job ignores SIGINT)
                            preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL))
    deadline = time.monotonic() + 120
    while "train step" not in proc.stdout.readline():  # wait for the first logged step
        assert time.monotonic() < deadline and proc.poll() is None
    proc.send_signal(signal.SIGINT)
    out, err = proc.communicate(timeout=60)
    assert proc.returncode == 130, err
    assert "Traceback" not in err and len(err.splitlines()) == 1
    step = read_settings(tmp_path / "run")["extra"]["step"]
    assert step >= 5 and f"the model at step {step} is saved in {tmp_path / 'run'}" in err
    assert read_settings(tmp_path / "run")["extra"]["interrupted"] is True
    load_checkpoint(tmp_path / "run")


def test_keep_best_and_snapshots_belong_to_the_run_and_go_when_it_starts_over(work, tmp_path,
                                                                             capsys):
    from midivae.run.checkpoint import read_settings
    from midivae.data import PreparedSet
    out = tmp_path / "r"
    argv = ["train", work / "set", *TRAIN, "--steps", "3", "--valid-every", "1", "--keep-best",
            "--snapshot-minutes", "0.0001", "--out", out]
    assert PreparedSet(work / "set").n_windows["valid"]  # the fixture's set has some
    assert run(argv) == 0
    assert sorted(p.name for p in out.iterdir() if p.is_dir()) == ["at-0.0001min", "best",
                                                                   "samples"]
    assert 1 <= read_settings(out / "best" / "model")["extra"]["step"] <= 3
    status = run(argv)  # a run with a best model and a snapshot is still a run
    assert "holds a run; pass --resume" in assert_one_line(status, *capsys.readouterr())
    assert run(["train", work / "set", *TRAIN, "--out", out, "--force"]) == 0
    assert not (out / "best").exists() and not (out / "at-0.0001min").exists()
    (out / "at-2min").mkdir()  # a folder of the user's, by the run's naming, is not removed
    (out / "at-2min" / "notes.txt").write_text("keep")
    status = run(["train", work / "set", *TRAIN, "--out", out, "--force"])
    assert "is not a run folder" not in capsys.readouterr().err and status == 0
    assert (out / "at-2min" / "notes.txt").read_text() == "keep"


def test_keep_best_and_patience_need_validation_windows(work, tmp_path, capsys):
    with contextlib.redirect_stdout(io.StringIO()):
        assert main(["prepare", str(work / "midi"), "--out", str(tmp_path / "set"), "--bars", "2", "--meter", "4/4",
                     "--splits", "1,0,0", "--quiet", "--workers", "1"]) == 0
    for option in (["--keep-best"], ["--patience", "2"]):
        status = run(["train", tmp_path / "set", *TRAIN, *option, "--out", tmp_path / "r"])
        line = assert_one_line(status, *capsys.readouterr())
        assert line.endswith(f"{tmp_path / 'set'} has no validation windows: --patience and "
                             "--keep-best choose the model on them")
        assert not (tmp_path / "r").exists()
