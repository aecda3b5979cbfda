"""`midivae train` against what users do to it: the same seed twice, Ctrl-C and --resume,
two writers of one run folder, a folder of the user's own.

Ctrl-C is a real SIGINT sent to this process while `main` trains in it, at the moment a
given line appears on its standard output: what a user does who watches the log.
"""

from __future__ import annotations

import contextlib
import csv
import io
import os
import re
import shutil
import signal
import subprocess
import sys
from pathlib import Path

import pytest
import torch
from safetensors.torch import load_file

from conftest import tunes_set

from midivae.cli import main
from midivae.run.checkpoint import read_settings
from midivae.run.runs import COLUMNS

pytestmark = pytest.mark.usefixtures("one_torch_thread")

RUN = ("--preset", "flat-2bar-cpu", "--batch-size", "4", "--steps", "40", "--seed", "3",
       "--log-every", "5", "--valid-every", "30", "--quiet")


@pytest.fixture(scope="module")
def work(tmp_path_factory) -> Path:
    """A prepared set of eight one-track tunes (2-bar 4/4 windows)."""
    return tunes_set(tmp_path_factory.mktemp("hostile"), 8)


def train(work: Path, out: Path, *more: str) -> int:
    with contextlib.redirect_stdout(io.StringIO()):
        return main(["train", str(work / "set"), *RUN, "--out", str(out), *more])


@pytest.fixture(scope="module")
def whole(work) -> Path:
    """The 40-step run, uninterrupted."""
    assert train(work, work / "whole") == 0
    return work / "whole"


@pytest.fixture
def ctrl_c_raises():
    """SIGINT raises KeyboardInterrupt here, as in a terminal (a test runner may ignore it)."""
    before = signal.signal(signal.SIGINT, signal.default_int_handler)
    yield
    signal.signal(signal.SIGINT, before)


class Terminal(io.StringIO):
    """Standard output, watched: once ``line`` shows, Ctrl-C is pressed ``presses`` times
    (SIGINT to this process)."""

    def __init__(self, line: str, presses: int = 1):
        super().__init__()
        self.line, self.presses, self.pressed = line, presses, 0

    def write(self, text: str) -> int:
        n = super().write(text)
        if not self.pressed and self.line in self.getvalue():
            for _ in range(self.presses):
                self.pressed += 1
                os.kill(os.getpid(), signal.SIGINT)
        return n


def log_rows(run: Path) -> list[dict]:
    """log.csv's rows without the wall-clock column (empty today: no record holds it)."""
    with open(run / "log.csv", newline="") as f:
        return [{k: v for k, v in row.items() if k != "seconds"} for row in csv.DictReader(f)]


def assert_same_run(a: Path, b: Path) -> None:
    """Bit for bit: weights, prior, optimiser state and generator state; and the log."""
    wa, wb = load_file(a / "model.safetensors"), load_file(b / "model.safetensors")
    assert sorted(wa) == sorted(wb)
    assert any(k.startswith("state/optimizer/") for k in wa)
    for k in wa:
        assert torch.equal(wa[k], wb[k]), k
    assert log_rows(a) == log_rows(b)


def one_line(status: int, err: str) -> str:
    assert status in (1, 2) and "Traceback" not in err
    lines = err.splitlines()
    assert len(lines) == 1 and lines[0].startswith("midivae train: error: "), err
    return lines[0]


def test_one_seed_gives_one_run_bit_for_bit(work, whole, tmp_path):
    """The initial weights come from the seed too, not from whatever torch drew before."""
    torch.rand(7)  # the global generator elsewhere than the first run left it
    assert train(work, tmp_path / "again") == 0
    assert_same_run(whole, tmp_path / "again")
    assert [r["step"] for r in log_rows(whole) if r["kind"] == "valid"] == ["30", "40"]


@pytest.mark.parametrize("line", ["train step    20", "train step    30", "train step    35"])
def test_ctrl_c_then_resume_ends_as_the_uninterrupted_run(work, whole, tmp_path, line,
                                                          ctrl_c_raises, capsys):
    """Pressed before the first validation, with the step's validation still to come, or
    after it: the run stops at the end of that step, and the resumed one catches up
    exactly, the log included (no validation row lost)."""
    out, step = tmp_path / "cut", int(line.split()[-1])
    terminal = Terminal(line)
    with contextlib.redirect_stdout(terminal):
        status = main(["train", str(work / "set"), *RUN, "--out", str(out)])
    err = capsys.readouterr().err
    assert terminal.pressed == 1 and status == 130, err
    assert err.strip() == (f"midivae train: interrupted; the model at step {step} is saved in "
                           f"{out} (continue with --resume)")
    extra = read_settings(out)["extra"]
    assert extra["step"] == step and extra["interrupted"] is True
    assert max(int(r["step"]) for r in log_rows(out)) == step
    assert train(work, out, "--resume") == 0  # the same command line, resumed
    assert_same_run(whole, out)


def test_ctrl_c_inside_a_step_stops_after_it_and_the_resumed_run_is_exact(work, tmp_path,
                                                                         ctrl_c_raises):
    """Ctrl-C while the model computes, its batch's random transpositions drawn and the
    optimiser not yet moved: the run ends with that step (a checkpoint saved mid-step held
    generators ahead of its weights, and the resumed run drew other transpositions)."""
    from midivae.data import PreparedSet, make_loader
    from midivae.run.start import model_for_set
    from midivae.run.train import train as train_model

    prepared = PreparedSet(work / "set")

    def run(out, records, press_at=None, resume=False):
        model, cfg = model_for_set(prepared, "flat-2bar-cpu", seed=3, latent=8,
                                   encoder_hidden=32, decoder_hidden=32)
        calls = []

        def press(module, inputs, output):  # the encoder has read the batch of the step
            calls.append(module.training)
            if module.training and calls.count(True) == press_at:
                os.kill(os.getpid(), signal.SIGINT)
        model.encoder.register_forward_hook(press)
        options = dict(checkpoint=out, valid_loader=make_loader(prepared, "valid"),
                       valid_every=5, log=records.append, log_every=1)
        loader = make_loader(prepared, "train", batch_size=4, transpose=3, seed=3)
        if resume:
            train_model(model, loader, resume=out, **options)
        else:
            train_model(model, loader, cfg, steps=12, seed=3, warmup_steps=2, **options)
        return model

    whole_records, cut_records, resumed_records = [], [], []
    whole = run(tmp_path / "whole", whole_records)
    with pytest.raises(KeyboardInterrupt):
        run(tmp_path / "cut", cut_records, press_at=10)
    assert read_settings(tmp_path / "cut")["extra"]["step"] == 10
    resumed = run(tmp_path / "cut", resumed_records, resume=True)
    assert [(r["kind"], r["step"]) for r in cut_records[-2:]] == [("train", 10), ("valid", 10)]
    assert cut_records + resumed_records == whole_records
    for name, t in whole.state_dict().items():
        assert torch.equal(resumed.state_dict()[name], t), name


def test_a_second_ctrl_c_stops_at_once_and_saves_nothing_half_done(work, tmp_path,
                                                                   ctrl_c_raises, capsys):
    out = tmp_path / "cut"
    with contextlib.redirect_stdout(Terminal("train step    10", presses=2)):
        status = main(["train", str(work / "set"), *RUN, "--out", str(out)])
    assert status == 130 and capsys.readouterr().err.strip() == "midivae: interrupted"
    assert not (out / "model.safetensors").exists()  # no checkpoint was due before step 10


def test_a_second_writer_of_a_run_folder_is_refused_and_the_log_stays_whole(work, tmp_path,
                                                                            capsys):
    out = tmp_path / "run"
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    proc = subprocess.Popen([sys.executable, "-m", "midivae.cli", "train", str(work / "set"),
                             "--preset", "flat-2bar-cpu", "--batch-size", "4", "--steps",
                             "1000000", "--log-every", "1", "--checkpoint-every", "1",
                             "--quiet", "--out", str(out)],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env,
                            preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL))
    try:
        while "train step     2" not in proc.stdout.readline():  # step 1 is saved by now
            assert proc.poll() is None
        for more in (RUN + ("--force",), ("--resume",)):  # start over, or resume, meanwhile
            status = main(["train", str(work / "set"), *more, "--out", str(out)])
            line = one_line(status, capsys.readouterr().err)
            assert f"{out} is in use by process {proc.pid}" in line
    finally:
        proc.send_signal(signal.SIGINT)
        _, err = proc.communicate(timeout=120)
    assert proc.returncode == 130, err
    with open(out / "log.csv", newline="") as f:
        rows = list(csv.reader(f))
    assert rows[0] == list(COLUMNS) and all(len(r) == len(COLUMNS) for r in rows)
    steps = [int(r[1]) for r in rows[1:]]
    assert steps == list(range(1, len(steps) + 1))  # one writer: each step once, in order
    assert train(work, out, "--force", "--steps", "2") == 0  # the first writer gone: free
    assert [(r["kind"], r["step"]) for r in log_rows(out)] == [("train", "2"), ("valid", "2")]


def test_a_folder_holding_only_a_users_log_is_no_run_even_with_force(work, tmp_path, capsys):
    mine = tmp_path / "mine"
    mine.mkdir()
    (mine / "log.csv").write_text("epoch,loss\n1,0.5\n")
    for more, says in (([], "is not a run folder"), (["--force"], "is not a run folder"),
                       (["--resume"], "holds no run to resume")):
        status = train(work, mine, *more)
        assert status == 1 and says in one_line(status, capsys.readouterr().err)
    assert [p.name for p in mine.iterdir()] == ["log.csv"]
    assert (mine / "log.csv").read_text() == "epoch,loss\n1,0.5\n"


def test_resume_takes_more_steps_and_refuses_a_new_recipe(work, whole, tmp_path, capsys):
    run = tmp_path / "run"
    shutil.copytree(whole, run)
    before = (run / "model.safetensors").read_bytes()
    status = train(work, run, "--resume", "--lr", "0.01")
    line = one_line(status, capsys.readouterr().err)
    assert status == 2 and "--lr 0.01 (the run's is 0.001) would change it" in line
    status = train(work, run, "--resume", "--steps", "30")
    line = one_line(status, capsys.readouterr().err)
    assert status == 2 and f"--steps 30: {run} has done 40 steps already" in line
    status = train(work, run, "--resume", "--latent", "4")
    assert status == 2 and "--resume continues the run's model as it is" in one_line(
        status, capsys.readouterr().err)
    assert (run / "model.safetensors").read_bytes() == before  # refusals touched nothing
    assert train(work, run, "--resume", "--lr", "0.001", "--steps", "45") == 0
    assert read_settings(run)["extra"]["step"] == 45
    assert read_settings(run)["extra"]["train"]["steps"] == 45
    rows = log_rows(run)
    assert rows[:len(log_rows(whole))] == log_rows(whole)
    assert [(r["kind"], r["step"]) for r in rows[len(log_rows(whole)):]] == [
        ("train", "45"), ("valid", "45")]


def test_a_killed_runs_rows_after_its_checkpoint_are_logged_once(work, whole, tmp_path,
                                                                ctrl_c_raises):
    """A run killed (kill -9) some steps after its last checkpoint has logged rows, the last
    perhaps cut short, that the checkpoint does not hold: the resumed run logs them once."""
    out = tmp_path / "killed"
    with contextlib.redirect_stdout(Terminal("train step    10")):
        assert main(["train", str(work / "set"), *RUN, "--out", str(out)]) == 130
    assert read_settings(out)["extra"]["step"] == 10
    text = (whole / "log.csv").read_text()
    cut = text.index("train,30,")  # what the killed run had written: up to step 25, and
    (out / "log.csv").write_text(text[:cut + 14])  # half of step 30's row
    assert train(work, out, "--resume") == 0
    assert_same_run(whole, out)


# -- issue 27, round two: one line, nothing left behind ----------------------------------------

def test_the_meta_device_is_refused_and_leaves_no_run_folder(work, tmp_path, capsys):
    status = train(work, tmp_path / "run", "--device", "meta")
    assert status == 2 and one_line(status, capsys.readouterr().err) == (
        "midivae train: error: argument --device: cannot use 'meta' here (meta tensors hold "
        "shapes and no data: nothing computes there)")
    assert list(tmp_path.iterdir()) == []  # no log.csv, no folder


@pytest.mark.parametrize("latent", [2_000_000, 100_000_000])
def test_a_model_too_large_to_build_is_refused_before_building_it(latent, work, tmp_path,
                                                                 capsys):
    """--latent 2000000 asked for an 8 GB weight matrix, 100000000 for 410 GB (RuntimeError)."""
    status = train(work, tmp_path / "run", "--latent", str(latent))
    line = one_line(status, capsys.readouterr().err)
    assert status == 2 and re.fullmatch(
        r"midivae train: error: the model's settings ask for [\d,]+ weights \([\d,.]+ GiB as "
        r"float32\), more than the 1,073,741,824 allowed \(set MIDIVAE_MAX_PARAMETERS to raise "
        r"the bound\)", line), line
    assert list(tmp_path.iterdir()) == []


def test_a_full_disk_at_a_checkpoint_is_one_line_and_the_last_one_survives(work, whole, tmp_path,
                                                                          capsys):
    from test_cli_hostile_two import disk_full_past
    run = tmp_path / "run"
    shutil.copytree(whole, run)
    before = {name: (run / name).read_bytes() for name in ("model.safetensors", "model.json")}
    with disk_full_past(2**20):  # the checkpoint is larger; the log's rows are not
        status = train(work, run, "--resume", "--steps", "45")
    assert status == 1 and capsys.readouterr().err.splitlines() == [
        f"midivae: error: {run / 'model.safetensors'}: File too large"]
    assert {name: (run / name).read_bytes() for name in before} == before
    assert not [p.name for p in run.iterdir() if p.name.endswith(".tmp")]
    assert read_settings(run)["extra"]["step"] == 40  # resumable from its last checkpoint


def test_resume_on_a_set_of_another_layout_is_one_line(work, whole, tmp_path, capsys):
    """The run's windows are 2 bars; a set of 1-bar windows broke the first batch
    (ValueError: expected windows of shape (B, 32, 24), got (4, 16, 24))."""
    with contextlib.redirect_stdout(io.StringIO()):
        assert main(["prepare", str(work / "midi"), "--out", str(tmp_path / "short"), "--meter",
                     "4/4", "--bars", "1", "--quiet", "--workers", "1"]) == 0
    run = tmp_path / "run"
    shutil.copytree(whole, run)
    before = snapshot_of(run)
    with contextlib.redirect_stdout(io.StringIO()):
        status = main(["train", str(tmp_path / "short"), "--resume", "--out", str(run),
                       "--quiet"])
    assert status == 1 and one_line(status, capsys.readouterr().err) == (
        f"midivae train: error: {run} does not fit {tmp_path / 'short'}: windows of 16 steps "
        f"where the model has 32; resume the run on its own set, {work / 'set'}")
    assert snapshot_of(run) == before


def snapshot_of(folder: Path) -> dict:
    return {str(p.relative_to(folder)): p.read_bytes() for p in sorted(folder.rglob("*"))
            if p.is_file()}
