"""The example scripts run as a user runs them, as subprocesses, so they cannot rot.

The composing examples use the shipped models "chorale", "folk" and "pop"; here
``$MIDIVAE_MODELS`` points them at tiny stand-ins of the same layouts, each made
by `midivae prepare` and `midivae train` (2 steps) and exported by
`export_checkpoint`, so the scripts run in seconds.
"""

from __future__ import annotations

import os
import random
import subprocess
import sys
from pathlib import Path

import pretty_midi
import pytest
from test_cli import run_cli

import midivae

pytestmark = [pytest.mark.usefixtures("one_torch_thread"), pytest.mark.slow]

REPO = Path(__file__).resolve().parents[1]
SCALE = (0, 2, 4, 5, 7, 9, 11, 12)  # a major scale, for made-up tunes


def write_song(path: Path, parts: list[tuple[str, int]], bars: int, seed: int) -> Path:
    """A 4/4 song at 120 qpm of quarter notes: one track per (name, lowest pitch)."""
    rng = random.Random(seed)
    pm = pretty_midi.PrettyMIDI(initial_tempo=120.0)
    pm.time_signature_changes.append(pretty_midi.TimeSignature(4, 4, 0.0))
    for name, low in parts:
        inst = pretty_midi.Instrument(program=0, name=name)
        for beat in range(4 * bars):  # a beat lasts 0.5 s at 120 qpm
            pitch = low + rng.choice(SCALE)
            inst.notes.append(pretty_midi.Note(80, pitch, 0.5 * beat, 0.5 * beat + 0.45))
        pm.instruments.append(inst)
    pm.write(str(path))
    return path


def tiny_model(work: Path, name: str, source, prepare: list[str]) -> None:
    """Prepare ``source``, train a small preset 2 steps on it, ship it as models/<name>.

    The categorical output (one note or rest per track and step) keeps an untrained
    model's clips sparse, so that writing them (MusicXML above all) is quick."""
    from midivae.run.checkpoint import export_checkpoint

    out = run_cli("prepare", source, "--out", work / f"{name}-set", "--meter", "4/4",
                  *prepare, "--quiet", "--workers", "1")
    assert out.returncode == 0, out.stderr
    out = run_cli("train", work / f"{name}-set", "--preset", "flat-16bar-cpu",
                  "--output", "categorical", "--steps", "2",
                  "--batch-size", "4", "--valid-every", "1000", "--quiet",
                  "--out", work / f"{name}-run")
    assert out.returncode == 0, out.stderr
    export_checkpoint(work / f"{name}-run", work / "models" / name, about=f"tiny {name}")


@pytest.fixture(scope="module")
def models(tmp_path_factory) -> Path:
    """A folder of tiny models named chorale, folk and pop, laid out as the shipped ones."""
    work = tmp_path_factory.mktemp("examples")
    tiny_model(work, "chorale", "bach-chorales", ["--limit", "6", "--bars", "4"])
    (work / "folk").mkdir()
    for i in range(5):
        write_song(work / "folk" / f"tune{i}.mid", [("melody", 60)], 18, seed=i)
    tiny_model(work, "folk", work / "folk", ["--bars", "16", "--roles", "order:melody"])
    (work / "pop").mkdir()
    for i in range(4):
        write_song(work / "pop" / f"song{i}.mid", [("melody", 67), ("bridge", 60),
                                                    ("piano", 48)], 10, seed=i)
    tiny_model(work, "pop", work / "pop", ["--bars", "8", "--roles",
                                            "names:melody,bridge,piano"])
    return work / "models"


def run_example(name: str, *args, models: Path | None = None) -> subprocess.CompletedProcess:
    """``python examples/NAME.py ARGS`` on this checkout's midivae, with ``models`` (the tiny
    ones) as the shipped models."""
    env = {**os.environ, "OMP_NUM_THREADS": "1", "PYTHONPATH": str(REPO)}
    if models is not None:
        env["MIDIVAE_MODELS"] = str(models)
    return subprocess.run([sys.executable, str(REPO / "examples" / f"{name}.py"),
                           *map(str, args)], capture_output=True, text=True, timeout=300, env=env)


def wrote(out: subprocess.CompletedProcess) -> list[str]:
    """The names of the files an example says it wrote, in order."""
    assert out.returncode == 0, out.stderr
    return [Path(line.split()[1]).name for line in out.stdout.splitlines()
            if line.startswith("wrote ")]


def read_back(path: Path, steps: int, tracks: list[str]) -> None:
    """The MIDI file reads back as ``steps`` steps of 4/4 on tracks named ``tracks``."""
    roll = midivae.quantize(path)
    assert roll.n_steps == steps and roll.time_signatures == [(0, 4, 4)], path
    assert [i.name for i in pretty_midi.PrettyMIDI(str(path)).instruments] == tracks, path


def is_png(path: Path) -> bool:
    return path.read_bytes()[:4] == b"\x89PNG"


def test_compose_chorale_writes_phrases_a_long_phrase_and_its_score(models, tmp_path):
    out = run_example("compose_chorale", "-n", "2", "--out", tmp_path, models=models)
    assert wrote(out) == ["phrase_1.mid", "phrase_1.png", "phrase_2.mid", "phrase_2.png",
                          "long_phrase.mid", "long_phrase.png", "long_phrase.musicxml"]
    voices = ["soprano", "alto", "tenor", "bass"]
    for name, bars in [("phrase_1", 4), ("phrase_2", 4), ("long_phrase", 8)]:
        read_back(tmp_path / f"{name}.mid", 16 * bars, voices)
        assert is_png(tmp_path / f"{name}.png")
    score = (tmp_path / "long_phrase.musicxml").read_text()
    assert "score-partwise" in score and score.count("<score-part ") == 4


def test_folk_interpolation_writes_the_path_and_each_point(models, tmp_path):
    out = run_example("folk_interpolation", "--steps", "3", "--out", tmp_path, models=models)
    assert wrote(out) == ["path.mid", "point_01.mid", "point_02.mid", "point_03.mid"]
    assert "SCHLAUF MAN WAWERL" in out.stdout and "WIR FAHREN AUF DIE SEE" in out.stdout
    read_back(tmp_path / "path.mid", 3 * 256, ["melody"])
    for i in (1, 2, 3):
        read_back(tmp_path / f"point_0{i}.mid", 256, ["melody"])


def test_variations_on_the_example_melody_and_on_a_file(models, tmp_path):
    out = run_example("variations", "-n", "2", "--out", tmp_path / "a", models=models)
    assert wrote(out) == ["example_melody.mid", "example_melody_variation_1.mid",
                          "example_melody_variation_1.png", "example_melody_variation_2.mid",
                          "example_melody_variation_2.png"]
    read_back(tmp_path / "a" / "example_melody.mid", 256, ["melody"])  # Ode to Joy: 16 bars
    read_back(tmp_path / "a" / "example_melody_variation_2.mid", 256, ["melody"])
    song = write_song(tmp_path / "song.mid", [("melody", 60)], 18, seed=9)
    out = run_example("variations", song, "-n", "1", "--out", tmp_path / "b", models=models)
    assert wrote(out) == ["song_variation_1.mid", "song_variation_1.png"]
    read_back(tmp_path / "b" / "song_variation_1.mid", 18 * 16, ["melody"])  # as long as the song


def test_pop_sketch_writes_named_tracks(models, tmp_path):
    out = run_example("pop_sketch", "--out", tmp_path, models=models)
    assert wrote(out) == ["sketch.mid", "sketch.png", "long_sketch.mid", "long_sketch.png"]
    read_back(tmp_path / "sketch.mid", 8 * 16, ["melody", "bridge", "piano"])
    read_back(tmp_path / "long_sketch.mid", 16 * 16, ["melody", "bridge", "piano"])


def test_train_your_own_trains_saves_the_run_and_composes(tmp_path):
    out = run_example("train_your_own", "--steps", "2", "-n", "1", "--out", tmp_path)
    assert wrote(out) == ["model.safetensors", "clip_1.mid", "clip_1.png"]
    assert midivae.load(tmp_path / "run").bars == 2
    read_back(tmp_path / "clip_1.mid", 4 * 16, ["all"])  # two 2-bar windows


def test_train_your_own_on_a_folder_keeps_its_tracks(tmp_path):
    (tmp_path / "midi").mkdir()
    for i in range(3):
        write_song(tmp_path / "midi" / f"song{i}.mid", [("melody", 67), ("bass", 40)], 6, seed=i)
    out = run_example("train_your_own", tmp_path / "midi", "--roles", "names:melody,bass",
                      "--steps", "2", "-n", "1", "--out", tmp_path / "out")
    assert "windows to learn from" in out.stdout and "clip_1.mid" in wrote(out)
    read_back(tmp_path / "out" / "clip_1.mid", 4 * 16, ["melody", "bass"])


def test_chorale_vae_writes_midi_that_reads_back(tmp_path):
    out = run_example("chorale_vae", "--steps", "2", "--limit", "6", "--out", tmp_path)
    assert out.returncode == 0, out.stderr
    for name, steps in [("sample_0.mid", 64), ("interpolation.mid", 5 * 64), ("denser.mid", 64)]:
        roll = midivae.quantize(tmp_path / name)
        assert roll.n_steps == steps, name
        assert roll.time_signatures == [(0, 4, 4)]
    assert (tmp_path / "model.safetensors").exists()


@pytest.mark.parametrize("name, first", [
    ("compose_chorale", "phrase_1.mid"), ("folk_interpolation", "path.mid"),
    ("variations", "example_melody.mid"), ("pop_sketch", "sketch.mid"),
    ("train_your_own", "run/model.safetensors"), ("chorale_vae", "sample_0.mid")])
def test_examples_refuse_to_overwrite_a_file_without_force(name, first, tmp_path):
    (tmp_path / first).parent.mkdir(parents=True, exist_ok=True)
    (tmp_path / first).write_bytes(b"mine")
    out = run_example(name, "--out", tmp_path, models=tmp_path / "no-models")
    assert out.returncode == 1
    assert out.stderr == f"{tmp_path / first} already exists; pass --force to overwrite it\n"
    assert (tmp_path / first).read_bytes() == b"mine"
    assert sorted(p.name for p in tmp_path.iterdir()) == [Path(first).parts[0]]


def test_force_overwrites_and_a_missing_model_is_one_line(models, tmp_path):
    (tmp_path / "sketch.mid").write_bytes(b"mine")
    out = run_example("pop_sketch", "--out", tmp_path, "--force", models=models)
    assert "sketch.mid" in wrote(out)
    read_back(tmp_path / "sketch.mid", 8 * 16, ["melody", "bridge", "piano"])
    out = run_example("pop_sketch", "--model", "nope", "--out", tmp_path / "x", models=models)
    assert out.returncode == 1 and out.stderr.startswith("error: unknown model 'nope'")
    assert len(out.stderr.splitlines()) == 1 and not (tmp_path / "x").exists()
