"""The commands that make music with a model, end to end on real files: sample, reconstruct,
variations, interpolate, continue and models, with a model made by `midivae prepare` and
`midivae train` (2 steps) and shipped into a temporary $MIDIVAE_MODELS folder."""

from __future__ import annotations

from pathlib import Path

import mido
import pytest
from conftest import meter, midi_file, name, note, note_list, program, track
from test_cli import run_cli

import midivae

pytestmark = pytest.mark.usefixtures("one_torch_thread")

BEAT = 480


def tune(path: Path, i: int, *, bars: int = 8, num: int = 4, den: int = 4) -> Path:
    bar = BEAT * 4 * num // den
    mel = [name("melody"), meter(0, num, den)] + [
        note(t * BEAT // 2, t * BEAT // 2 + BEAT // 2, 60 + (t * (i + 1)) % 12)
        for t in range(bars * bar * 2 // BEAT)]
    bass = [name("bass"), program(0, 33, 1)] + [
        note(b * bar, (b + 1) * bar, 43 + (b * i) % 5, channel=1) for b in range(bars)]
    midi_file(track(*mel), track(*bass)).save(path)
    return path


@pytest.fixture(scope="module")
def work(tmp_path_factory) -> Path:
    """Tunes, a 2-bar melody + bass model m trained by the command line, and m shipped as
    'tunes' into models/."""
    from midivae.run.checkpoint import export_checkpoint

    w = tmp_path_factory.mktemp("generation")
    (w / "midi").mkdir()
    for i in range(4):
        tune(w / "midi" / f"tune{i}.mid", i)
    tune(w / "jig.mid", 1, num=6, den=8)
    out = run_cli("prepare", w / "midi", "--out", w / "set", "--meter", "4/4", "--bars", "2",
                  "--roles", "names:melody,bass", "--quiet", "--workers", "1")
    assert out.returncode == 0, out.stderr
    # the categorical output (a note or a rest per track and step) keeps an untrained model's
    # clips sparse, so that writing them (MusicXML above all) is quick
    out = run_cli("train", w / "set", "--preset", "flat-2bar-cpu", "--output", "categorical",
                  "--steps", "2",
                  "--batch-size", "4", "--out", w / "m")
    assert out.returncode == 0, out.stderr
    export_checkpoint(w / "m", w / "models" / "tunes", about="melody and bass, 2 bars")
    return w


@pytest.fixture
def shipped(work, monkeypatch) -> Path:
    monkeypatch.setenv("MIDIVAE_MODELS", str(work / "models"))
    return work / "models"


def one_line(out, status: int) -> str:
    assert out.returncode == status, (out.stdout, out.stderr)
    assert "Traceback" not in out.stderr and len(out.stderr.splitlines()) == 1, out.stderr
    return out.stderr.strip()


def wrote(out) -> list[str]:
    """The files a command says it wrote, in order."""
    return [line.split()[1].rstrip(":") for line in out.stdout.splitlines()
            if line.startswith("wrote ")]


def test_train_keeps_the_sets_roles_for_mapping_files_later(work):
    from midivae.run.checkpoint import read_settings
    assert read_settings(work / "m")["extra"]["run"]["roles"] == "names:melody,bass"


def test_sample_writes_clips_of_the_asked_bars_as_midi_png_and_musicxml(work, tmp_path):
    out = run_cli("sample", work / "m", "-n", "2", "--bars", "4", "--qpm", "90", "--png",
                  "--musicxml", "--out", tmp_path)
    assert out.returncode == 0, out.stderr
    expected = [str(tmp_path / f"sample_00{i}{s}") for i in range(2)
                for s in (".mid", ".png", ".musicxml")]
    assert wrote(out) == expected
    for i in range(2):
        roll = midivae.quantize(tmp_path / f"sample_00{i}.mid")
        assert roll.n_steps == 64 and roll.tempos == [(0, pytest.approx(90.0))]
        assert (tmp_path / f"sample_00{i}.png").read_bytes()[:4] == b"\x89PNG"
        assert b"score-partwise" in (tmp_path / f"sample_00{i}.musicxml").read_bytes()


def test_sample_one_file_plays_every_clip(work, tmp_path):
    out = run_cli("sample", work / "m", "-n", "3", "--one-file", "--out", tmp_path)
    assert out.returncode == 0, out.stderr
    assert wrote(out) == [str(tmp_path / "samples.mid")] and "3 clips" in out.stdout
    assert midivae.quantize(tmp_path / "samples.mid").n_steps == 3 * 32
    assert sorted(p.name for p in tmp_path.iterdir()) == ["samples.mid"]


def test_sample_and_models_use_the_shipped_models(work, shipped, tmp_path):
    out = run_cli("models")
    assert out.returncode == 0
    assert out.stdout.splitlines()[0] == "tunes (default): melody and bass, 2 bars"
    assert "2 track(s) (melody, bass); 2 bars of 4/4" in out.stdout
    for args in (["--model", "tunes"], ["tunes"], []):
        out = run_cli("sample", *args, "-n", "1", "--out", tmp_path / "-".join(args or ["d"]))
        assert out.returncode == 0, out.stderr
        assert midivae.quantize(wrote(out)[0]).n_steps == 32
    out = run_cli("sample", "--model", "nope", "--out", tmp_path / "x")
    assert "unknown model 'nope'" in one_line(out, 1) and "(tunes)" in out.stderr


def test_demo_composes_with_every_shipped_model_and_leaves_other_files_alone(
        work, shipped, tmp_path):
    out_dir = tmp_path / "out"
    out_dir.mkdir()
    (out_dir / "mine.mid").write_bytes(b"a user's file")
    for _ in range(2):  # a second run rewrites the demo's own files
        out = run_cli("demo", "--out", out_dir)
        assert out.returncode == 0, out.stderr
    written = wrote(out)
    assert [Path(p).name for p in written] == [
        "demo_tunes_1.mid", "demo_tunes_1.png", "demo_tunes_1.wav", "demo_tunes_2.mid",
        "demo_tunes_2.png", "demo_tunes_2.wav", "demo_tunes_path.mid", "demo_tunes_path.wav"]
    import wave
    with wave.open(str(out_dir / "demo_tunes_1.wav")) as w:  # two bars at 120 qpm, and a tail
        assert w.getnframes() / w.getframerate() >= 4.0
    path = mido.MidiFile(out_dir / "demo_tunes_path.mid")  # its end_of_track: the clip's end
    assert path.length == pytest.approx(5 * 2 * 2.0)  # 5 points of 2 bars at 120 qpm
    assert (out_dir / "mine.mid").read_bytes() == b"a user's file"
    assert "composed in" in out.stdout


def test_with_no_shipped_model_sample_says_so_and_models_lists_none(tmp_path, monkeypatch):
    monkeypatch.setenv("MIDIVAE_MODELS", str(tmp_path / "none"))
    out = run_cli("sample", "--out", tmp_path / "clips")
    assert one_line(out, 1).startswith("midivae: error: no shipped model is installed "
                                       f"(looked in {tmp_path / 'none'})")
    assert not (tmp_path / "clips").exists()
    out = run_cli("demo", "--out", tmp_path / "demo")
    assert one_line(out, 1).startswith("midivae: error: no shipped model is installed")
    out = run_cli("models")
    assert out.returncode == 0
    assert out.stdout == f"no shipped models are installed (looked in {tmp_path / 'none'})\n"


def test_reconstruct_writes_the_whole_song(work, tmp_path):
    song = work / "midi" / "tune1.mid"
    out = run_cli("reconstruct", work / "m", song, "--out", tmp_path)
    assert out.returncode == 0, out.stderr
    assert wrote(out) == [str(tmp_path / "tune1_reconstructed.mid")]
    back = midivae.quantize(tmp_path / "tune1_reconstructed.mid")
    assert back.n_steps == 8 * 16
    assert back.tracks == [midivae.Track("melody"), midivae.Track("bass", 33)]  # the file's


def test_variations_writes_n_files(work, shipped, tmp_path):
    out = run_cli("variations", "--model", "tunes", work / "midi" / "tune2.mid", "-n", "3",
                  "--amount", "0.5", "--out", tmp_path)
    assert out.returncode == 0, out.stderr
    assert wrote(out) == [str(tmp_path / f"tune2_variation_{i}.mid") for i in (1, 2, 3)]
    assert {midivae.quantize(p).n_steps for p in wrote(out)} == {8 * 16}


def test_interpolate_writes_the_path_and_each_point(work, tmp_path):
    a, b = work / "midi" / "tune1.mid", work / "midi" / "tune3.mid"
    out = run_cli("interpolate", work / "m", a, b, "--steps", "3", "--out", tmp_path)
    assert out.returncode == 0, out.stderr
    assert wrote(out) == [str(tmp_path / f"tune1_to_tune3{s}.mid") for s in ("", "_01", "_02",
                                                                               "_03")]
    mf = mido.MidiFile(tmp_path / "tune1_to_tune3.mid")
    assert mf.length == pytest.approx(3 * 32 * 0.125)  # 3 windows at 120 qpm


def test_continue_writes_the_song_then_new_bars(work, tmp_path):
    song = work / "midi" / "tune1.mid"
    out = run_cli("continue", work / "m", song, "--bars", "4", "--out", tmp_path)
    assert out.returncode == 0, out.stderr
    assert wrote(out) == [str(tmp_path / "tune1_continued.mid")]
    assert "then 4 new bars" in out.stdout
    both = midivae.quantize(tmp_path / "tune1_continued.mid")
    assert note_list(both[:128]) == note_list(midivae.quantize(song))
    assert both.n_steps == 12 * 16


COMMANDS = {  # each command's arguments after the model, and the first file it writes
    "sample": ([], "sample_000.mid"),
    "reconstruct": (["{w}/midi/tune1.mid"], "tune1_reconstructed.mid"),
    "variations": (["{w}/midi/tune1.mid", "-n", "2"], "tune1_variation_1.mid"),
    "interpolate": (["{w}/midi/tune1.mid", "{w}/midi/tune2.mid", "--steps", "2"],
                    "tune1_to_tune2.mid"),
    "continue": (["{w}/midi/tune1.mid"], "tune1_continued.mid"),
}


@pytest.mark.parametrize("command", COMMANDS)
def test_no_command_overwrites_a_file_unless_forced(command, work, tmp_path):
    args, first = COMMANDS[command]
    argv = [command, work / "m", *[a.format(w=work) for a in args], "--out", tmp_path]
    (tmp_path / first).write_bytes(b"mine")
    line = one_line(run_cli(*argv), 1)
    assert line == (f"midivae {command}: error: {tmp_path / first} exists; pass --force to "
                    "overwrite it")
    assert [p.name for p in tmp_path.iterdir()] == [first]
    assert (tmp_path / first).read_bytes() == b"mine"
    out = run_cli(*argv, "--force")
    assert out.returncode == 0, out.stderr
    assert (tmp_path / first).read_bytes()[:4] == b"MThd"


BAD = {  # (arguments, exit status, what the line says)
    "missing file": (["reconstruct", "{w}/m", "{w}/nope.mid"], 1, "{w}/nope.mid: no such file"),
    "a file in another meter": (
        ["variations", "{w}/m", "{w}/jig.mid"], 1,
        "midivae: error: {w}/jig.mid is in 6/8, but model 'm' makes 4/4: its bars would not "
        "line up with the model's (16 steps)"),
    "bars not whole windows": (["sample", "{w}/m", "--bars", "3"], 2,
                               "argument --bars: model 'm' makes windows of 2 bars; ask for a "
                               "multiple of 2, got 3"),
    "inpaint bars past the end": (["inpaint", "{w}/m", "{w}/midi/tune1.mid", "--bars", "9-12"],
                                  2, "argument --bars 9-12: "),
    "harmonise every track": (["harmonise", "{w}/m", "{w}/midi/tune1.mid", "--keep", "melody",
                               "bass"], 2, "nothing is left to write"),
    "too many arguments": (["reconstruct", "{w}/m", "{w}/midi/tune1.mid", "{w}/midi/tune2.mid"],
                           2, "expected [CKPT] MIDI, got 3 arguments"),
    "--model and a CKPT": (["interpolate", "--model", "{w}/m", "{w}/m", "{w}/midi/tune1.mid",
                            "{w}/midi/tune2.mid"], 2, "with --model, give A.mid B.mid"),
    "sample: two models": (["sample", "{w}/m", "--model", "tunes"], 2, "give the model once"),
    "a label for an unconditioned model": (["sample", "{w}/m", "--label", "folk"], 2,
                                           "model 'm' is not conditioned on labels"),
    "--amount 2": (["variations", "{w}/m", "{w}/midi/tune1.mid", "--amount", "2"], 2,
                   "argument --amount: must be between 0 and 1, got 2"),
    "--steps 1": (["interpolate", "{w}/m", "{w}/midi/tune1.mid", "{w}/midi/tune2.mid",
                   "--steps", "1"], 2, "argument --steps: must be >= 2, got 1"),
    "--roles wrong": (["reconstruct", "{w}/m", "{w}/midi/tune1.mid", "--roles", "names:a"], 1,
                      "roles: 1 tracks given, model 'm' makes 2"),
    "a checkpoint that is not there": (["continue", "{w}/nothing", "{w}/midi/tune1.mid"], 1,
                                       "checkpoint not found"),
}


@pytest.mark.parametrize("case", BAD, ids=list(BAD))
def test_a_bad_input_is_one_line_and_writes_nothing(case, work, tmp_path):
    argv, status, text = BAD[case]
    out = run_cli(*[a.format(w=work) for a in argv], "--out", tmp_path / "out")
    assert text.format(w=work) in one_line(out, status)
    assert not (tmp_path / "out").exists()


def test_export_writes_a_smaller_model_that_makes_the_same_music(work, tmp_path):
    run = work / "m"
    out = run_cli("export", run, tmp_path / "shared", "--about", "tiny tunes")
    assert out.returncode == 0, out.stderr
    assert f"wrote {tmp_path / 'shared.safetensors'}" in out.stdout
    assert (tmp_path / "shared.safetensors").stat().st_size < \
        (run / "model.safetensors").stat().st_size / 2
    again = run_cli("export", run, tmp_path / "shared")
    assert "shared.safetensors" in one_line(again, 1)
    out = run_cli("export", run, tmp_path / "exact", "--float32", "--velocities-from", work / "set")
    assert out.returncode == 0, out.stderr
    from midivae.data import PreparedSet
    from midivae.run.checkpoint import load_checkpoint
    layout = load_checkpoint(tmp_path / "exact").layout
    assert layout.velocities == PreparedSet(work / "set").typical_velocities() == (64, 64)  # the notes' velocity
    assert layout.accents == PreparedSet(work / "set").typical_accents() \
        == ((64,) * layout.steps_per_bar,) * 2  # every note at 64: no accent
    import midivae
    a, b = midivae.load(run), midivae.load(tmp_path / "exact.safetensors")
    for t in (0, 1):  # the float16 export draws the same clips
        assert a.sample(2, temperature=t, seed=1) == b.sample(2, temperature=t, seed=1)


def test_sample_takes_a_shipped_models_recommended_temperature(work, tmp_path, monkeypatch):
    import shutil
    models = tmp_path / "models"
    shutil.copytree(work / "models", models)
    (models / "models.json").write_text('{"models": [{"name": "tunes", "temperature": 0}]}')
    monkeypatch.setenv("MIDIVAE_MODELS", str(models))
    runs = {}
    for label, extra in [("card", []), ("zero", ["--temperature", "0"]),
                        ("one", ["--temperature", "1"])]:
        out = run_cli("sample", "--model", "tunes", "-n", "2", "--seed", "5", *extra,
                      "--out", tmp_path / label)
        assert out.returncode == 0, out.stderr
        runs[label] = [midivae.quantize(tmp_path / label / f"sample_00{i}.mid") for i in range(2)]
    assert runs["card"] == runs["zero"] != runs["one"]


def _note_ends(path) -> list[int]:
    """Each note's end tick in a written file, less its step's end: 0 for a legato note."""
    mf = mido.MidiFile(path)
    step = mf.ticks_per_beat // midivae.quantize(path).steps_per_beat
    ends = []
    for tr in mf.tracks:
        tick = 0
        for msg in tr:
            tick += msg.time
            if msg.type == "note_off" or (msg.type == "note_on" and msg.velocity == 0):
                ends.append(tick - -(-tick // step) * step)
    return ends


def test_generated_notes_are_detached_by_the_gate_unless_asked_legato(work, tmp_path):
    from midivae.midi.render import DETACHED_GATE

    out = run_cli("sample", work / "m", "-n", "1", "--out", tmp_path / "a")
    assert out.returncode == 0, out.stderr
    step = 480 // 4
    ends = _note_ends(tmp_path / "a" / "sample_000.mid")
    assert ends and set(ends) == {-round((1 - DETACHED_GATE) * step)}
    out = run_cli("sample", work / "m", "-n", "1", "--gate", "1", "--out", tmp_path / "b")
    assert out.returncode == 0, out.stderr
    assert set(_note_ends(tmp_path / "b" / "sample_000.mid")) == {0}
    # the same notes on the grid either way
    assert (midivae.quantize(tmp_path / "a" / "sample_000.mid")
            == midivae.quantize(tmp_path / "b" / "sample_000.mid"))


@pytest.mark.parametrize("gate", ["0.5", "1.5", "nan", "x"])
def test_a_gate_outside_half_to_one_is_refused_in_one_line(work, tmp_path, gate):
    line = one_line(run_cli("sample", work / "m", "--gate", gate, "--out", tmp_path), 2)
    assert "argument --gate" in line and not any(tmp_path.iterdir())


@pytest.mark.parametrize("bias, said", [
    ("bridge", "argument --onset-bias: must look like TRACK=NUMBER,..., e.g. "
               "bridge=2,piano=0.5, got 'bridge'"),
    ("melody=x", "argument --onset-bias: must be a number, got 'x'"),
    ("melody=1", "onset_bias for model 'm': this decoder draws its tracks with one output "
                 "head: an onset bias a track needs a head a track"),
    ("drums=1", "onset_bias: model 'm' has no track 'drums'; its tracks are melody, bass"),
])
def test_an_onset_bias_the_model_cannot_take_is_refused_in_one_line(work, tmp_path, bias,
                                                                    said):
    out = run_cli("sample", work / "m", "--onset-bias", bias, "--out", tmp_path)
    line = one_line(out, 2 if "argument" in said else 1)
    assert line.endswith(said) and not any(tmp_path.iterdir())
