"""The `midivae` command end to end, as a user runs it: real files, `midivae.cli.main`
in this process (fast), and the installed entry point once as a real subprocess."""

import contextlib
import io
import re
import subprocess
import sys
from types import SimpleNamespace

import mido

import midivae
import pytest

from conftest import midi_file, note, to_bytes, track
from midivae.run.checkpoint import load_checkpoint


def run_cli(*args):
    """``midivae ARGS`` in this process: (returncode, stdout, stderr) like subprocess.run's."""
    from midivae.cli import main
    out, err = io.StringIO(), io.StringIO()
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
        try:
            code = main([str(a) for a in args])
        except SystemExit as e:  # --help and argparse's errors exit from parse_args
            code = e.code
    return SimpleNamespace(returncode=code, stdout=out.getvalue(), stderr=err.getvalue())


def test_the_installed_command_runs_and_help_lists_every_command():
    out = subprocess.run([sys.executable, "-m", "midivae.cli", "--help"], capture_output=True,
                         text=True, timeout=120)
    assert out.returncode == 0
    for command in ("quantize", "demo", "prepare", "train", "sample", "evaluate", "reconstruct",
                    "variations", "interpolate", "continue", "models"):
        assert command in out.stdout


def test_quantize_round_trips_a_file(tmp_path):
    src = tmp_path / "in.mid"
    src.write_bytes(to_bytes(midi_file(track(note(0, 480, 60), note(480, 960, 64)))))
    out = run_cli("quantize", src, "--out", tmp_path / "out.mid")
    assert out.returncode == 0, out.stderr
    assert "2 notes" in out.stdout
    notes = [m for m in mido.MidiFile(tmp_path / "out.mid") if m.type == "note_on" and m.velocity]
    assert [m.note for m in notes] == [60, 64]


def test_quantize_applies_the_sustain_pedal_unless_told_not_to(tmp_path):
    src = tmp_path / "in.mid"
    pedal = [(0, mido.Message("control_change", control=64, value=127)),
             (960, mido.Message("control_change", control=64, value=0))]
    src.write_bytes(to_bytes(midi_file(track(*pedal, note(0, 120, 60), end=1920))))
    lengths = {}
    for flag in ((), ("--no-sustain-pedal",)):
        out = run_cli("quantize", src, "--out", tmp_path / "out.mid", "--force", *flag)
        assert out.returncode == 0, out.stderr
        (n,) = midivae.quantize(tmp_path / "out.mid").notes()
        lengths[flag] = int(n["end"] - n["start"])
    assert lengths == {(): 8, ("--no-sustain-pedal",): 1}


def test_a_broken_file_gives_one_clear_line_and_exit_1(tmp_path):
    bad = tmp_path / "broken.mid"
    bad.write_bytes(b"MThd\x00\x00\x00\x06\x00\x01\x00\x02")
    out = run_cli("quantize", bad)
    assert out.returncode == 1
    assert out.stderr.startswith(f"midivae: error: {bad}: truncated header")
    assert "Traceback" not in out.stderr


def test_prepare_train_sample(tmp_path):
    """The researcher's path: a set from the real music21 corpus, a few training
    steps, a checkpoint, and MIDI clips that quantize back to the model's layout."""

    out = run_cli("prepare", "bach-chorales", "--limit", "6", "--meter", "4/4", "--bars", "2",
                  "--out", tmp_path / "set", "--quiet", "--workers", "1")
    assert out.returncode == 0, out.stderr
    out = run_cli("train", tmp_path / "set", "--preset", "flat-2bar-cpu", "--steps", "3",
                  "--batch-size", "4", "--log-every", "1", "--out", tmp_path / "run" / "m")
    assert out.returncode == 0, out.stderr
    assert "train step     3" in out.stdout
    for name in ("model.safetensors", "model.json", "log.csv", "curves.png"):
        assert (tmp_path / "run" / "m" / name).exists(), name
    out = run_cli("sample", tmp_path / "run" / "m", "--n", "2", "--out", tmp_path / "clips",
                  "--qpm", "90")
    assert out.returncode == 0, out.stderr
    for i in range(2):
        roll = midivae.quantize(tmp_path / "clips" / f"sample_00{i}.mid")
        assert len(roll.tempos) == 1 and roll.tempos[0][1] == pytest.approx(90.0, rel=1e-6)
        assert roll.n_steps == 32  # two bars of 4/4 at 4 steps per beat
        assert [t.name for t in roll.tracks] == ["soprano", "alto", "tenor", "bass"][:roll.n_tracks]


def test_train_refuses_a_mixed_meter_set(tmp_path):
    out = run_cli("prepare", "bach-chorales", "--limit", "2", "--bars", "2",
                  "--out", tmp_path / "set", "--quiet", "--workers", "1")
    assert out.returncode == 0, out.stderr
    from midivae.data import PreparedSet
    assert len(PreparedSet(tmp_path / "set").manifest["counts"]["meters"]) > 1  # the premise
    out = run_cli("train", tmp_path / "set", "--steps", "1", "--out", tmp_path / "m")
    assert out.returncode == 1
    assert "prepare the set with one meter" in out.stderr


def test_a_set_of_two_sources_trains_a_conditioned_model(tmp_path):
    """bach-chorales+essen-folk: one model asked for a chorale or a folk tune by label."""
    out = run_cli("prepare", "bach-chorales+essen-folk", "--limit", "16", "--meter", "4/4",
                  "--bars", "2", "--roles", "order:melody", "--out", tmp_path / "set",
                  "--quiet", "--workers", "1")
    assert out.returncode == 0, out.stderr
    out = run_cli("train", tmp_path / "set", "--preset", "flat-2bar-cpu", "--steps", "2",
                  "--batch-size", "4", "--out", tmp_path / "m")
    assert out.returncode == 0, out.stderr
    assert "conditioned on bach-chorales, essen-folk" in out.stdout
    from midivae.run.checkpoint import load_checkpoint
    assert load_checkpoint(tmp_path / "m").config.n_labels == 2

    unlabelled = run_cli("sample", tmp_path / "m", "--out", tmp_path / "clips")
    assert unlabelled.returncode == 2
    assert "pass --label, one of bach-chorales, essen-folk" in unlabelled.stderr
    unknown = run_cli("sample", tmp_path / "m", "--label", "jazz", "--out", tmp_path / "clips")
    assert unknown.returncode == 2
    assert "unknown label 'jazz'" in unknown.stderr
    clips = {}
    for label in ("bach-chorales", "essen-folk"):
        out = run_cli("sample", tmp_path / "m", "--label", label, "--n", "1", "--seed", "3",
                      "--out", tmp_path / label)
        assert out.returncode == 0, out.stderr
        clips[label] = midivae.quantize(tmp_path / label / "sample_000.mid")
    assert clips["bach-chorales"] != clips["essen-folk"]  # the label reaches the decoder


def test_train_with_a_batch_larger_than_the_set_still_trains(tmp_path, chorale_set):
    out = run_cli("train", chorale_set.path, "--preset", "flat-2bar-cpu", "--steps", "2",
                  "--batch-size", "4096", "--out", tmp_path / "m")
    assert out.returncode == 0, out.stderr
    assert "train step     2" in out.stdout


def test_train_stores_the_bar_decoder_and_encoder_asked_for(tmp_path, chorale_set):
    out = run_cli("train", chorale_set.path, "--preset", "hierarchical-4bar-lstm-cpu",
                  "--bar-decoder", "mlp", "--encoder", "bars", "--steps", "1",
                  "--out", tmp_path / "m")
    assert out.returncode == 0, out.stderr
    config = load_checkpoint(tmp_path / "m").config
    assert (config.bar_decoder, config.encoder, config.latent) == ("mlp", "bars", 128)
    out = run_cli("train", chorale_set.path, "--init", tmp_path / "m", "--bar-decoder", "lstm",
                  "--out", tmp_path / "r")
    assert out.returncode == 2 and "--bar-decoder" in out.stderr


def test_train_gives_each_bar_its_own_code_with_bar_latents(tmp_path, chorale_set):
    out = run_cli("train", chorale_set.path, "--preset", "hierarchical-4bar-lstm-cpu",
                  "--bar-decoder", "mlp", "--encoder", "bars", "--bar-latents", "--steps", "1",
                  "--out", tmp_path / "m")
    assert out.returncode == 0, out.stderr
    assert load_checkpoint(tmp_path / "m").config.bar_latents
    out = run_cli("train", chorale_set.path, "--preset", "flat-2bar-cpu", "--bar-latents",
                  "--steps", "1", "--out", tmp_path / "f")
    assert out.returncode == 2
    assert out.stderr.strip().splitlines() == [
        f"midivae train: error: {chorale_set.path}: --bar-latents needs the hierarchical "
        "decoder and the bars encoder, got decoder='flat', encoder='mlp'"]
    assert not (tmp_path / "f").exists()
    out = run_cli("train", chorale_set.path, "--preset", "hierarchical-4bar-cpu",
                  "--encoder", "bars", "--bar-latents", "--track-latents", "--latent", "12",
                  "--steps", "1", "--out", tmp_path / "f")
    assert out.returncode == 2
    assert out.stderr.strip().splitlines() == [
        f"midivae train: error: {chorale_set.path}: --track-latents splits z into 2 bars x 4 "
        "tracks' codes: --latent=12 is not a multiple of 8"]
    assert not (tmp_path / "f").exists()


def test_train_and_sample_name_a_missing_input(tmp_path):
    out = run_cli("train", tmp_path / "nothing")
    assert out.returncode == 1
    assert f"{tmp_path / 'nothing'} holds no prepared set" in out.stderr
    out = run_cli("sample", tmp_path / "nothing")
    assert out.returncode == 1
    assert f"{tmp_path / 'nothing'}" in out.stderr and "not found" in out.stderr
    assert "Traceback" not in out.stderr and len(out.stderr.splitlines()) == 1


def test_a_run_folder_resumes_and_a_model_fine_tunes(tmp_path, chorale_set):
    from midivae.run.checkpoint import load_checkpoint, read_settings
    run = tmp_path / "run"
    out = run_cli("train", chorale_set.path, "--preset", "flat-2bar-cpu", "--steps", "4",
                  "--batch-size", "4", "--lr", "0.002", "--latent", "16", "--free-bits", "3",
                  "--free-bits-per-dimension", "--out", run, "--quiet", "--log-every", "2")
    assert out.returncode == 0, out.stderr
    extra = read_settings(run)["extra"]
    assert (extra["train"]["lr"], extra["train"]["free_bits"], extra["step"]) == (0.002, 3.0, 4)
    assert extra["train"]["free_bits_per_dimension"] is True
    assert load_checkpoint(run).config.latent == 16
    rows = (run / "log.csv").read_text().splitlines()
    assert rows[0].startswith("kind,step") and len(rows) == 1 + 2  # steps 2 and 4
    out = run_cli("train", chorale_set.path, "--out", run, "--resume")  # already finished
    assert out.returncode == 0 and out.stdout.startswith(f"resuming {run}")
    assert read_settings(run)["extra"]["step"] == 4
    out = run_cli("train", chorale_set.path, "--preset", "flat-2bar-cpu", "--steps", "2",
                  "--init", run, "--out", tmp_path / "tuned", "--quiet")
    assert out.returncode == 0, out.stderr
    assert f"from {run}" in out.stdout
    assert load_checkpoint(tmp_path / "tuned").config == load_checkpoint(run).config


def test_plot_and_play_a_midi_file(tmp_path):
    import wave
    src = tmp_path / "in.mid"
    src.write_bytes(to_bytes(midi_file(track(note(0, 480, 60), note(480, 960, 64)))))
    out = run_cli("plot", src)
    assert out.returncode == 0, out.stderr
    assert (tmp_path / "in.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert run_cli("plot", src).returncode == 1  # exists: no --force
    out = run_cli("play", src, "--wav", tmp_path / "a.wav")
    assert out.returncode == 0, out.stderr
    with wave.open(str(tmp_path / "a.wav")) as w:  # two beats at 120 qpm, plus the release tail
        assert w.getnchannels() == 2 and 1.0 <= w.getnframes() / w.getframerate() <= 2.5
    out = run_cli("play", tmp_path / "missing.mid")
    assert out.returncode == 1 and len(out.stderr.splitlines()) == 1


def test_init_refuses_size_flags_that_would_be_ignored(tmp_path, chorale_set):
    out = run_cli("train", chorale_set.path, "--init", tmp_path / "any", "--latent", "8",
                  "--out", tmp_path / "r")
    assert out.returncode == 2 and "--init trains the given model as it is" in out.stderr
    assert not (tmp_path / "r").exists()


def test_train_decodes_voices_in_turn_with_outputs_of_their_own(tmp_path, chorale_set):
    out = run_cli("train", chorale_set.path, "--preset", "hierarchical-4bar-voices-cpu",
                  "--voice-context", "--track-outputs", "categorical,categorical,made,made",
                  "--latent", "32", "--steps", "1", "--quiet", "--out", tmp_path / "m")
    assert out.returncode == 0, out.stderr
    cfg = load_checkpoint(tmp_path / "m").config
    assert cfg.voice_context and cfg.track_outputs == "categorical,categorical,made,made"
    out = run_cli("evaluate", tmp_path / "m", chorale_set.path, "--split", "train",
                  "--samples", "4", "--limit", "4")
    assert out.returncode == 0, out.stderr
    assert "onset P/R/F1" in out.stdout and "(by track: " in out.stdout
    assert re.search(r"free-running [0-9.]+ \(by track: ([0-9.]+, ){3}[0-9.]+\); onset",
                     out.stdout)  # each voice's free-running accuracy too
    assert "    chord_share " in out.stdout and "nearest training window" in out.stdout
    assert re.search(r"\n    in_scale_share +[0-9.]+  data +[0-9.]+  training +[0-9.]+\n",
                     out.stdout)  # the training windows' figure beside the split's
    out = run_cli("train", chorale_set.path, "--preset", "hierarchical-4bar-voices-cpu",
                  "--track-outputs", "categorical,made", "--latent", "32", "--steps", "1",
                  "--out", tmp_path / "f")
    assert out.returncode == 2
    assert out.stderr.strip().splitlines() == [
        f"midivae train: error: {chorale_set.path}: --track-outputs must name one of "
        "('made', 'independent', 'categorical') for each of the 4 tracks, got "
        "'categorical,made'"]
    out = run_cli("train", chorale_set.path, "--init", tmp_path / "m", "--voice-context",
                  "--out", tmp_path / "g")
    assert out.returncode == 2 and "--voice-context" in out.stderr
