"""Hostile input to the command line (issue 27): an output that is an input, a settings file
that is a FIFO, a device, huge, nested 100,000 deep or out of bounds, and counts that would
allocate without end. Each is one line on stderr, at once, and writes nothing."""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import signal
from pathlib import Path

import pytest
from conftest import meter, midi_file, note, track
from test_cli import run_cli

pytestmark = pytest.mark.usefixtures("one_torch_thread")

NEVER = "it is never written over, even with --force (write elsewhere)"


def tune(path: Path, i: int, bars: int = 4) -> Path:
    events = [meter(0, 4, 4)] + [note(t * 480, t * 480 + 240, 60 + (t * (i + 1)) % 12)
                                 for t in range(4 * bars)]
    midi_file(track(*events)).save(path)
    return path


@pytest.fixture(scope="module")
def work(tmp_path_factory) -> Path:
    """song.mid, other.mid, a 2-bar set, an untrained model of it saved as a run folder (run/,
    with run/best/) and as a checkpoint (ckpt.safetensors), and shipped as 'tunes' in models/."""
    from midivae.data import prepare
    from midivae.run.checkpoint import export_checkpoint, save_checkpoint
    from midivae.run.start import model_for_set

    w = tmp_path_factory.mktemp("hostile")
    tune(w / "song.mid", 0)
    tune(w / "other.mid", 1)
    (w / "midi").mkdir()
    for i in range(4):
        tune(w / "midi" / f"tune{i}.mid", i)
    prepared = prepare(w / "midi", w / "set", bars=2, meter="4/4", workers=1)
    model, _ = model_for_set(prepared, "flat-2bar-cpu", seed=0)
    save_checkpoint(model, w / "run" / "model")
    save_checkpoint(model, w / "run" / "best" / "model")
    (w / "run" / "log.csv").write_text("kind,step\n")
    save_checkpoint(model, w / "ckpt")
    export_checkpoint(w / "ckpt", w / "models" / "tunes")
    return w


def snapshot(root: Path) -> dict:
    """Every path under root (links not followed) with its kind and, for files, its bytes."""
    return {str(p.relative_to(root)): (p.is_symlink(), p.is_dir(),
                                       p.read_bytes() if p.is_file() and not p.is_symlink()
                                       else None)
            for p in sorted(root.rglob("*")) if not p.is_fifo()}


def one_line(out, status: int) -> str:
    assert out.returncode == status, (out.returncode, out.stdout, out.stderr)
    assert "Traceback" not in out.stderr and len(out.stderr.splitlines()) == 1, out.stderr
    return out.stderr.rstrip("\n")


@contextlib.contextmanager
def no_hang(seconds: int = 10):
    """Fail the test, rather than wait forever, when a read blocks (a FIFO with no writer)."""
    def hung(signum, frame):
        raise TimeoutError(f"still waiting after {seconds} s")
    before = signal.signal(signal.SIGALRM, hung)
    signal.alarm(seconds)
    try:
        yield
    finally:
        signal.alarm(0)
        signal.signal(signal.SIGALRM, before)


# -- 1. an output that is an input is refused, --force or not --------------------------------

@pytest.mark.parametrize("argv", [["quantize", "{song}", "--out", "{song}", "--force"],
                                  ["plot", "{song}", "--out", "{song}", "--force"],
                                  ["play", "{song}", "--wav", "{song}", "--force"]],
                         ids=["quantize", "plot", "play"])
def test_a_file_command_never_writes_over_its_input(argv, work, capsys):
    before = snapshot(work)
    out = run_cli(*[a.format(song=work / "song.mid") for a in argv])
    assert one_line(out, 1) == f"midivae {argv[0]}: error: {work / 'song.mid'} is the input " \
                               f"file; {NEVER}"
    assert snapshot(work) == before


def test_play_never_writes_over_its_soundfont(work, tmp_path):
    font = tmp_path / "font.sf2"
    font.write_bytes(b"sfbk")
    os.symlink(font, tmp_path / "link.wav")
    out = run_cli("play", work / "song.mid", "--soundfont", font, "--wav", tmp_path / "link.wav",
                  "--force")
    assert one_line(out, 1) == (f"midivae play: error: {tmp_path / 'link.wav'} is the input file "
                                f"{font}; {NEVER}")
    assert font.read_bytes() == b"sfbk" and (tmp_path / "link.wav").is_symlink()


# (command, its arguments after the model, the file it writes that is made a link to an input)
GENERATION = {
    "sample": ([], "sample_000.mid", "run/model.safetensors"),
    "reconstruct": (["{w}/song.mid"], "song_reconstructed.mid", "song.mid"),
    "variations": (["{w}/song.mid", "-n", "2"], "song_variation_2.mid", "song.mid"),
    "interpolate": (["{w}/song.mid", "{w}/other.mid", "--steps", "2"], "song_to_other_02.mid",
                    "other.mid"),
    "continue": (["{w}/song.mid"], "song_continued.mid", "song.mid"),
    "inpaint": (["{w}/song.mid", "--bars", "1"], "song_inpainted.mid", "song.mid"),
    "harmonise": (["{w}/song.mid"], "song_harmonised.mid", "song.mid"),
}


@pytest.mark.parametrize("link", [os.symlink, os.link], ids=["symlink", "hard link"])
@pytest.mark.parametrize("command", GENERATION)
def test_a_generation_command_never_writes_a_file_over_an_input(command, link, work, tmp_path):
    rest, written, target = GENERATION[command]
    (tmp_path / "out").mkdir()
    link(work / target, tmp_path / "out" / written)
    before, ours = snapshot(work), snapshot(tmp_path)
    out = run_cli(command, work / "run", *[a.format(w=work) for a in rest],
                  "--out", tmp_path / "out", "--force")
    assert one_line(out, 1) == (f"midivae {command}: error: {tmp_path / 'out' / written} is "
                                f"the input file {work / target}; {NEVER}")
    assert snapshot(work) == before and snapshot(tmp_path) == ours


def test_export_never_writes_over_the_checkpoint_it_reads(work):
    before = snapshot(work)
    out = run_cli("export", work / "ckpt", work / "ckpt.safetensors", "--force")
    assert one_line(out, 1) == (f"midivae export: error: {work / 'ckpt.safetensors'} is the "
                                f"input file; {NEVER}")
    assert snapshot(work) == before


@pytest.mark.parametrize("source, dest", [("run/model.safetensors", "run/model"),
                                          ("ckpt", "run"), ("ckpt", "run/best/model")],
                         ids=["itself", "a run folder", "its best model"])
def test_export_never_writes_over_a_runs_checkpoint(source, dest, work):
    before = snapshot(work)
    out = run_cli("export", work / source, work / dest, "--force")
    weights = work / dest / "model.safetensors" if dest == "run" else work / f"{dest}.safetensors"
    run = weights.parent.parent if "best" in dest else weights.parent
    assert one_line(out, 1) == (f"midivae export: error: {weights} is the checkpoint of the run "
                                f"{run}; export never writes over a run's checkpoint, even with "
                                "--force (choose another OUT)")
    assert snapshot(work) == before


def test_export_never_writes_over_the_set_it_reads_velocities_from(work):
    before = snapshot(work)
    out = run_cli("export", work / "ckpt", work / "set" / "manifest", "--velocities-from",
                  work / "set", "--force")
    assert one_line(out, 1) == (f"midivae export: error: {work / 'set' / 'manifest.json'} is "
                                f"the input file; {NEVER}")
    assert snapshot(work) == before


@pytest.mark.parametrize("json_out", ["run/model.json", "set/manifest.json"])
def test_evaluate_never_writes_its_figures_over_the_model_or_the_set(json_out, work):
    before = snapshot(work)
    out = run_cli("evaluate", work / "run", work / "set", "--json", work / json_out, "--force")
    assert one_line(out, 1) == f"midivae evaluate: error: {work / json_out} is the input " \
                               f"file; {NEVER}"
    assert snapshot(work) == before


# -- 2. settings files: regular and bounded, read without waiting, checked with bounds -------

@pytest.fixture
def set_copy(work, tmp_path) -> Path:
    shutil.copytree(work / "set", tmp_path / "set")
    return tmp_path / "set"


def special(path: Path, kind: str) -> str:
    """Make ``path`` a FIFO or a link to /dev/zero; the reason the reader gives for it."""
    path.unlink(missing_ok=True)
    if kind == "fifo":
        os.mkfifo(path)
        return "not a regular file (a FIFO)"
    path.symlink_to("/dev/zero")
    return "not a regular file (a character device)"


KINDS = [pytest.param("fifo", marks=pytest.mark.skipif(not hasattr(os, "mkfifo"),
                                                       reason="no FIFOs here")),
         pytest.param("zero", marks=pytest.mark.skipif(not os.path.exists("/dev/zero"),
                                                       reason="no /dev/zero here"))]


@pytest.mark.parametrize("kind", KINDS)
def test_a_manifest_that_is_no_regular_file_is_refused_unread(kind, work, set_copy):
    reason = special(set_copy / "manifest.json", kind)
    with no_hang():
        out = run_cli("evaluate", work / "run", set_copy)
    assert one_line(out, 1) == f"midivae: error: {set_copy / 'manifest.json'}: {reason}"


@pytest.mark.parametrize("kind", KINDS)
def test_a_sets_data_file_that_is_no_regular_file_is_damage(kind, work, set_copy):
    manifest = json.loads((set_copy / "manifest.json").read_text())
    manifest["files"]["pieces.json"]["bytes"] = 0  # what a FIFO's or /dev/zero's size reads
    (set_copy / "manifest.json").write_text(json.dumps(manifest))
    special(set_copy / "pieces.json", kind)
    with no_hang():
        out = run_cli("evaluate", work / "run", set_copy)
    assert one_line(out, 1) == (f"midivae: error: {set_copy}: the set is damaged (pieces.json is "
                                "not a regular file); rebuild it with `midivae prepare ... "
                                "--force`")


def test_a_manifest_over_the_size_limit_is_refused_unread(work, set_copy):
    from midivae.fileio import MAX_JSON_BYTES
    with open(set_copy / "manifest.json", "r+b") as f:
        f.truncate(MAX_JSON_BYTES + 1)  # sparse: nothing is written
    out = run_cli("evaluate", work / "run", set_copy)
    assert one_line(out, 1) == (f"midivae: error: {set_copy / 'manifest.json'}: "
                                f"{MAX_JSON_BYTES + 1} bytes, more than the {MAX_JSON_BYTES} a "
                                "JSON file may have: not read")


@pytest.mark.parametrize("change, message", [
    ({"layout": {"steps_per_beat": 0}},
     "layout: steps_per_beat must be a whole number from 1 to 960, got 0"),
    ({"layout": {"time_signature": [4]}},
     "layout: time_signature must be [numerator 1..255, a power-of-two denominator 1..256], "
     "got [4]"),
    ({"layout": {"time_signature": [4, 0]}},
     "layout: time_signature must be [numerator 1..255, a power-of-two denominator 1..256], "
     "got [4, 0]"),
    ({"layout": {"n_pitches": 10**9}},
     "layout: n_pitches must be a whole number from 1 to 128, got 1000000000"),
    ({"settings": {"bars": 0}}, "settings.bars must be a whole number from 1 to 1024, got 0"),
    ({"labels": [1]}, "labels must be a list of names, got [1]"),
], ids=["steps_per_beat 0", "meter [4]", "meter [4, 0]", "n_pitches 10**9", "bars 0", "labels"])
def test_a_manifests_settings_are_checked_with_bounds(change, message, work, set_copy):
    manifest = json.loads((set_copy / "manifest.json").read_text())
    for key, value in change.items():
        manifest[key] = {**manifest[key], **value} if isinstance(value, dict) else value
    (set_copy / "manifest.json").write_text(json.dumps(manifest))
    out = run_cli("evaluate", work / "run", set_copy)
    assert one_line(out, 1) == f"midivae: error: {set_copy / 'manifest.json'}: {message}"


@pytest.fixture
def models(work, tmp_path, monkeypatch) -> Path:
    """$MIDIVAE_MODELS holding 'tunes' and 'bad', a copy of it whose JSON a test spoils."""
    folder = tmp_path / "models"
    shutil.copytree(work / "models", folder)
    shutil.copy(folder / "tunes.safetensors", folder / "bad.safetensors")
    shutil.copy(folder / "tunes.json", folder / "bad.json")
    monkeypatch.setenv("MIDIVAE_MODELS", str(folder))
    return folder


def left_out(models: Path, why: str) -> str:
    return f"{models / 'bad.safetensors'}: left out of the shipped models{why}"


def assert_left_out(models: Path, line: str, tmp_path: Path) -> None:
    """`midivae models` lists the good model and says why the bad one is left out, in one line;
    `sample --model bad` refuses with that line."""
    with no_hang():
        out = run_cli("models")
    assert out.stdout.startswith("tunes (default)") and "bad" not in out.stdout
    assert one_line(out, 0) == f"midivae models: warning: {line}"
    with no_hang():
        out = run_cli("sample", "--model", "bad", "--out", tmp_path / "clips")
    assert one_line(out, 1) == f"midivae: error: {line}"
    assert not (tmp_path / "clips").exists()


@pytest.mark.parametrize("kind", KINDS)
def test_a_model_json_that_is_no_regular_file_is_left_out_unread(kind, models, tmp_path):
    reason = special(models / "bad.json", kind)
    assert_left_out(models, left_out(models, f", its settings bad.json cannot be read "
                                             f"({reason})"), tmp_path)


def test_a_model_json_nested_100000_deep_is_one_line(models, tmp_path):
    (models / "bad.json").write_text("[" * 100_000 + "]" * 100_000)
    assert_left_out(models, left_out(models, ", its settings bad.json cannot be read (not "
                                             "readable JSON (nested too deeply))"), tmp_path)


@pytest.mark.parametrize("change, message", [
    (("model", "steps_per_bar", 0), "model.steps_per_bar must be a whole number >= 1, got 0"),
    (("layout", "time_signature", [4]), "time_signature must be [numerator 1..255, a "
                                        "power-of-two denominator 1..256], got [4]"),
    (("layout", "time_signature", [4, 0]), "time_signature must be [numerator 1..255, a "
                                           "power-of-two denominator 1..256], got [4, 0]"),
    (("layout", "n_pitches", 10**9), "n_pitches must be a whole number from 1 to 128, got "
                                     "1000000000"),
], ids=["steps_per_bar 0", "meter [4]", "meter [4, 0]", "n_pitches 10**9"])
def test_a_model_jsons_settings_are_checked_with_bounds(change, message, models, tmp_path):
    part, field, value = change
    record = json.loads((models / "bad.json").read_text())
    record[part][field] = value
    (models / "bad.json").write_text(json.dumps(record))
    assert_left_out(models, left_out(models, f" ({models / 'bad.json'}: {message})"), tmp_path)


def test_a_negative_temperature_in_the_model_index_is_refused(models, tmp_path):
    (models / "models.json").write_text(json.dumps({"models": [
        {"name": "tunes", "default": True}, {"name": "bad", "temperature": -1}]}))
    assert_left_out(models, left_out(models, f" ({models / 'models.json'}: the temperature of "
                                             "'bad' must be a finite number >= 0, got -1)"),
                    tmp_path)


@pytest.mark.parametrize("bias, said", [
    ({"nope": 1}, "{'nope': 1}"), ({"all": "x"}, "{'all': 'x'}"),
    ({"all": float("inf")}, "{'all': inf}"), ([1], "[1]")])
def test_an_onset_bias_in_the_model_index_is_checked(models, tmp_path, bias, said):
    (models / "models.json").write_text(json.dumps({"models": [
        {"name": "tunes", "default": True}, {"name": "bad", "onset_bias": bias}]}))
    assert_left_out(models, left_out(models, f" ({models / 'models.json'}: the onset_bias of "
                                             "'bad' must map its tracks (all) to "
                                             f"finite numbers, got {said})"), tmp_path)


@pytest.mark.parametrize("every", ["yes", 1, None])
def test_every_track_in_the_model_index_must_be_true_or_false(models, tmp_path, every):
    (models / "models.json").write_text(json.dumps({"models": [
        {"name": "tunes", "default": True}, {"name": "bad", "every_track": every}]}))
    assert_left_out(models, left_out(models, f" ({models / 'models.json'}: the every_track of "
                                             f"'bad' must be true or false, got {every!r})"),
                    tmp_path)


def spoil_checkpoint(src: Path, dest: Path, change) -> Path:
    """A copy of checkpoint ``src`` at ``dest`` whose settings in its metadata ``change`` edits
    (a function of the record; or a string: the metadata's text itself)."""
    from safetensors import safe_open
    from safetensors.torch import load_file, save_file

    with safe_open(str(src), "pt") as f:
        metadata = f.metadata()
    text = change if isinstance(change, str) else json.dumps(change(json.loads(
        metadata["midivae"])))
    save_file(load_file(str(src)), str(dest), metadata={**metadata, "midivae": text})
    return dest


def edit(part: str, field: str, value):
    def change(record):
        record[part][field] = value
        return record
    return change


@pytest.mark.parametrize("change, message", [
    ("[" * 100_000 + "]" * 100_000,
     "settings in its metadata are not readable JSON (nested too deeply)"),
    (edit("layout", "time_signature", [4, 0]),
     "bad layout (time_signature must be [numerator 1..255, a power-of-two denominator 1..256], "
     "got [4, 0])"),
    (edit("model", "n_steps", 10**9),
     "bad model settings (ModelConfig.n_steps must be <= 16384, got 1000000000)"),
    (edit("model", "steps_per_bar", 0), "bad model settings (ModelConfig.steps_per_bar must be "
                                        ">= 1, got 0)"),
], ids=["nested 100,000 deep", "meter [4, 0]", "n_steps 10**9", "steps_per_bar 0"])
def test_a_checkpoints_settings_are_read_safely_and_checked(change, message, work, tmp_path):
    ckpt = spoil_checkpoint(work / "ckpt.safetensors", tmp_path / "bad.safetensors", change)
    out = run_cli("sample", ckpt, "--out", tmp_path / "clips")
    assert one_line(out, 1) == f"midivae: error: {ckpt}: {message}"
    assert not (tmp_path / "clips").exists()


# -- 3. counts are bounded before anything is allocated ---------------------------------------

BOUNDED = {
    "sample -n": (["sample", "-n", "1000000000"], "argument -n/--n: must be at most 1000, got "
                  "1000000000 (set MIDIVAE_MAX_CLIPS to raise the bound)"),
    "sample --bars": (["sample", "--bars", "400000"], "argument --bars: must be at most 1000, "
                      "got 400000 (set MIDIVAE_MAX_BARS to raise the bound)"),
    "sample --seed": (["sample", "--seed", "99999999999999999999999"], "argument --seed: must "
                      "be at most 9223372036854775807, got 99999999999999999999999"),
    "sample --rounds": (["sample", "--rounds", "1000000000"], "argument --rounds: must be at "
                        "most 100, got 1000000000"),
    "sample --rules": (["sample", "--rules", "loud"], "argument --rules: unknown rule 'loud'; "
                       "the rules are no-parallels, stepwise-melody"),
    "harmonise --rules": (["harmonise", "{w}/song.mid", "--rules", "no-parallels,fugue"],
                          "argument --rules: unknown rule 'fugue'; the rules are no-parallels, "
                          "stepwise-melody"),
    "variations -n": (["variations", "{w}/song.mid", "-n", "1000000000"], "argument -n/--n: "
                      "must be at most 1000, got 1000000000 (set MIDIVAE_MAX_CLIPS to raise "
                      "the bound)"),
    "interpolate --steps": (["interpolate", "{w}/song.mid", "{w}/other.mid", "--steps",
                             "1000000000"], "argument --steps: must be at most 1000, got "
                            "1000000000 (set MIDIVAE_MAX_CLIPS to raise the bound)"),
    "continue --bars": (["continue", "{w}/song.mid", "--bars", "400000000"], "argument --bars: "
                        "must be at most 1000, got 400000000 (set MIDIVAE_MAX_BARS to raise "
                        "the bound)"),
    "harmonise --particles": (["harmonise", "{w}/song.mid", "--particles", "1000000000"],
                              "argument --particles: must be at most 1024, got 1000000000 (set "
                              "MIDIVAE_MAX_PARTICLES to raise the bound)"),
    "evaluate --samples": (["evaluate", "{w}/run", "{w}/set", "--samples", "100000000"],
                           "argument --samples: must be at most 4096, got 100000000 (set "
                           "MIDIVAE_MAX_SAMPLES to raise the bound)"),
    "evaluate --iwae": (["evaluate", "{w}/run", "{w}/set", "--iwae", "10000000"],
                        "argument --iwae: must be at most 5000, got 10000000 (set "
                        "MIDIVAE_MAX_IWAE to raise the bound)"),
    "train --seed": (["train", "{w}/set", "--seed", str(2**63)], "argument --seed: must be at "
                     f"most {2**63 - 1}, got {2**63}"),
    "prepare --workers": (["prepare", "{w}/midi", "--workers", "1000"], "argument --workers: "
                          "must be at most 64, got 1000 (set MIDIVAE_MAX_WORKERS to raise the "
                          "bound)"),
    "train --batch-size": (["train", "{w}/set", "--batch-size", "100000"], "argument "
                           "--batch-size: must be at most 4096, got 100000 (set "
                           "MIDIVAE_MAX_BATCH to raise the bound)"),
    "train --steps": (["train", "{w}/set", "--steps", str(10**12)], "argument --steps: must "
                      f"be at most {10**9}, got {10**12}"),
    "train --transpose": (["train", "{w}/set", "--transpose", "40"], "argument --transpose: "
                          "must be at most 12, got 40"),
    "prepare --bars": (["prepare", "{w}/midi", "--bars", "100000"], "argument --bars: must be "
                       "at most 1024, got 100000"),
    "quantize --steps-per-beat": (["quantize", "{w}/song.mid", "--steps-per-beat", "100000"],
                                  "argument --steps-per-beat: must be at most 960, got 100000"),
    # a tempo is bounded to music's, not MIDI's: 1 and 1e300 were clamped unsaid
    "sample --qpm 1": (["sample", "--qpm", "1"], "argument --qpm: must be from 10 to 1000 "
                       "quarter notes a minute, got 1"),
    "reconstruct --qpm 1e300": (["reconstruct", "{w}/song.mid", "--qpm", "1e300"], "argument "
                                "--qpm: must be from 10 to 1000 quarter notes a minute, got "
                                "1e300"),
}


@pytest.mark.parametrize("argv, message", BOUNDED.values(), ids=BOUNDED.keys())
def test_a_count_past_its_bound_is_refused_at_once(argv, message, work, tmp_path):
    out = run_cli(*[a.format(w=work) for a in argv], "--out", tmp_path / "out")
    assert one_line(out, 2) == f"midivae {argv[0]}: error: {message}"
    assert list(tmp_path.iterdir()) == []


def test_a_bound_is_raised_by_its_environment_variable(work, tmp_path, monkeypatch):
    from midivae.cli.checks import MAX_CLIPS, clip_count
    assert clip_count(str(MAX_CLIPS)) == MAX_CLIPS  # the bound itself is allowed
    monkeypatch.setenv("MIDIVAE_MAX_CLIPS", str(MAX_CLIPS * 2))
    assert clip_count(str(MAX_CLIPS * 2)) == MAX_CLIPS * 2
    monkeypatch.setenv("MIDIVAE_MAX_CLIPS", "lots")
    out = run_cli("sample", work / "run", "-n", "2", "--out", tmp_path / "out")
    assert one_line(out, 2) == ("midivae sample: error: argument -n/--n: MIDIVAE_MAX_CLIPS must "
                                "be a whole number >= 1, got 'lots'")


def test_sample_bounds_the_windows_of_all_its_clips(work, tmp_path, monkeypatch):
    """-n clips of --bars bars are n * bars / (the model's bars) windows, bounded as -n is."""
    monkeypatch.setenv("MIDIVAE_MAX_CLIPS", "5")
    out = run_cli("sample", work / "run", "-n", "3", "--bars", "4", "--out", tmp_path / "out")
    assert one_line(out, 2) == ("midivae sample: error: argument --bars: 3 clips of 4 bars are 6 "
                                "windows of model 'run' (2 bars each); at most 5 at once (set "
                                "MIDIVAE_MAX_CLIPS to raise the bound)")
    assert not (tmp_path / "out").exists() or list((tmp_path / "out").iterdir()) == []


# -- and the messages themselves ------------------------------------------------------------

def test_a_midi_file_where_the_model_goes_is_named_as_such(work, tmp_path):
    out = run_cli("reconstruct", work / "song.mid", work / "other.mid", "--out", tmp_path / "o")
    assert one_line(out, 2) == (f"midivae reconstruct: error: {work / 'song.mid'} is a MIDI "
                                "file, not a model: reconstruct takes one MIDI file, after the "
                                "model (a checkpoint or a shipped model's name) or with --model")
    assert not (tmp_path / "o").exists()


def test_a_newline_in_a_file_name_does_not_split_the_line(tmp_path):
    missing = tmp_path / "two\nlines.mid"
    out = run_cli("quantize", missing)
    assert one_line(out, 1) == f"midivae quantize: error: {tmp_path}/two\\nlines.mid: no such file"
    broken = tmp_path / "bad\nname.mid"
    broken.write_bytes(b"junk")
    out = run_cli("quantize", broken)
    assert one_line(out, 1).startswith(f"midivae: error: {tmp_path}/bad\\nname.mid: not a MIDI "
                                       "file")


def test_train_never_starts_over_in_the_folder_holding_the_model_it_starts_from(work):
    before = snapshot(work / "run")
    out = run_cli("train", str(work / "set"), "--init", str(work / "run"), "--out",
                  str(work / "run"), "--force", "--steps", "2")
    assert one_line(out, 2) == (
        f"midivae train: error: --init {work / 'run'} lies in --out {work / 'run'}, which this "
        "run starts over: train into another folder (its model is never written over, even "
        "with --force)")
    assert snapshot(work / "run") == before


@pytest.mark.parametrize("rules, said", [
    (["loud"], "unknown rule 'loud'; the rules are no-parallels, stepwise-melody"),
    ("no-parallels", "must be a list of names, got 'no-parallels'")])
def test_an_unknown_rule_in_the_model_index_is_refused(rules, said, models, tmp_path):
    (models / "models.json").write_text(json.dumps({"models": [
        {"name": "tunes", "default": True}, {"name": "bad", "rules": rules}]}))
    assert_left_out(models, left_out(models, f" ({models / 'models.json'}: the rules of 'bad': "
                                             f"{said})"), tmp_path)
