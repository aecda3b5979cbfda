"""The `midivae` command end to end, as a user runs it: real files, `midivae.cli.main`
in this process (fast), and the installed entry point once as a real subprocess."""

import contextlib
import io
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


def test_train_fits_the_sampling_prior_and_fit_prior_refits_an_older_model(tmp_path, chorale_set):
    import torch
    from midivae.run.checkpoint import read_state
    from midivae.data import PreparedSet
    from midivae.run.priors import fit_prior, prior_loader
    out = run_cli("train", chorale_set.path, "--preset", "hierarchical-4bar-lstm-cpu",
                  "--bar-decoder", "mlp", "--encoder", "bars", "--bar-latents",
                  "--track-latents", "--latent", "16", "--steps", "2", "--out", tmp_path / "m")
    assert out.returncode == 0, out.stderr
    model = load_checkpoint(tmp_path / "m")
    assert model.config.track_latents and model.prior.fitted
    saved = model.prior.scale.clone()
    fit_prior(model, prior_loader(chorale_set))  # the saved weights give the saved prior
    torch.testing.assert_close(model.prior.scale, saved)
    state = read_state(tmp_path / "m")
    # a model from before: its prior back to N(0, I); fit-prior fits it, keeping its state
    model.prior.mean.zero_()
    model.prior.scale.copy_(torch.eye(16))
    from midivae.run.checkpoint import read_settings, save_checkpoint
    save_checkpoint(model, tmp_path / "m", extra=read_settings(tmp_path / "m")["extra"],
                    state=state)
    assert not load_checkpoint(tmp_path / "m").prior.fitted
    out = run_cli("fit-prior", tmp_path / "m", chorale_set.path)
    assert out.returncode == 0, out.stderr
    n = chorale_set.n_windows["train"]
    assert out.stdout.strip() == (f"{tmp_path / 'm'}: its prior is fitted to {n} training "
                                  f"windows of {chorale_set.path}, rank full")
    torch.testing.assert_close(load_checkpoint(tmp_path / "m").prior.scale, saved)
    assert read_state(tmp_path / "m").keys() == state.keys()
    # --rank auto: the rank whose samples come closest to the validation windows, saved
    out = run_cli("fit-prior", tmp_path / "m", chorale_set.path, "--rank", "auto")
    assert out.returncode == 2
    assert out.stderr.strip() == (f"midivae fit-prior: error: {chorale_set.path}: --rank auto "
                                  "chooses on the validation split, which holds no window")
    split = tmp_path / "split"  # the same six chorales, half of them for validation
    assert run_cli("prepare", "bach-chorales", "--limit", "6", "--bars", "2", "--meter", "4/4",
                   "--splits", "0.5,0.5,0", "--out", split, "--quiet",
                   "--workers", "1").returncode == 0
    out = run_cli("fit-prior", tmp_path / "m", split, "--rank", "auto")
    assert out.returncode == 0, out.stderr
    n = PreparedSet(split).n_windows["train"]
    said = out.stdout.split("samples' distance to them: ")[1].rstrip(")\n").split(", ")
    scores = {r: float(d) for r, d in (s.split() for s in said)}
    assert list(scores) == ["8", "full"]  # the ranks below the 16 units, and full
    best = out.stdout.split(", rank ")[1].split(" (chosen")[0]
    assert scores[best] == min(scores.values())  # the closest (printed to 3 places: ties)
    chosen = read_settings(tmp_path / "m")["extra"]["prior"]
    forms = chosen.pop("forms")  # the bars the training windows repeat, for a hierarchical model
    assert chosen == {"rank": None if best == "full" else int(best), "windows": n,
                      "dataset": str(split)}
    assert forms == len(load_checkpoint(tmp_path / "m").prior.form_weights) >= 1
    rank = torch.linalg.matrix_rank(load_checkpoint(tmp_path / "m").prior.scale)
    assert rank == (16 if best == "full" else 8)
    # train, on a set with a validation split, ends by choosing the rank the same way
    out = run_cli("train", split, "--preset", "hierarchical-4bar-lstm-cpu", "--bar-decoder",
                  "mlp", "--encoder", "bars", "--bar-latents", "--track-latents", "--latent",
                  "16", "--steps", "2", "--keep-best", "--valid-every", "1", "--quiet",
                  "--out", tmp_path / "t")
    assert out.returncode == 0, out.stderr
    for path in (tmp_path / "t" / "model", tmp_path / "t" / "best" / "model"):
        (said,) = [line for line in out.stdout.splitlines() if line.startswith(f"{path}: ")]
        assert said.startswith(f"{path}: its prior is fitted to {n} training windows of "
                               f"{split}, rank ")
        assert "(chosen on the validation windows; samples' distance to them: 8 " in said
        assert read_settings(path)["extra"]["prior"]["rank"] in (8, None)
    # an exported (float16) model is refitted in place and stays float16
    from midivae.run.checkpoint import export_checkpoint, stored_half
    export_checkpoint(tmp_path / "m", tmp_path / "exported")
    assert stored_half(tmp_path / "exported") and not stored_half(tmp_path / "m")
    assert run_cli("fit-prior", tmp_path / "exported", chorale_set.path).returncode == 0
    assert stored_half(tmp_path / "exported")
    assert read_settings(tmp_path / "exported")["extra"]["prior"]["dataset"] == str(
        chorale_set.path)
    assert torch.linalg.matrix_rank(load_checkpoint(tmp_path / "exported").prior.scale) == 16
    out = run_cli("fit-prior", tmp_path / "m", chorale_set.path, "--rank", "17")
    assert out.returncode == 2
    assert out.stderr.strip() == "midivae fit-prior: error: --rank 17: the model's z has 16 units"
    (tmp_path / "midi").mkdir()  # a set of one-track tunes: not the chorales' four voices
    for i in range(2):
        midi_file(track(*[note(t * 480, t * 480 + 240, 60 + t % 12) for t in range(16)])).save(
            tmp_path / "midi" / f"tune{i}.mid")
    assert run_cli("prepare", tmp_path / "midi", "--out", tmp_path / "set", "--bars", "2",
                   "--quiet", "--workers", "1").returncode == 0
    out = run_cli("fit-prior", tmp_path / "m", tmp_path / "set")
    assert out.returncode != 0
    assert out.stderr.startswith(f"midivae fit-prior: error: {tmp_path / 'm'} does not fit "
                                 f"{tmp_path / 'set'}: tracks ")


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


def set_in_keys(tmp_path, roots, splits):
    """A prepared set (2-bar 4/4 windows) of 16-bar tunes in the major scales on ``roots``."""
    (tmp_path / "midi").mkdir()
    scale = [0, 2, 4, 5, 7, 9, 11]
    for i, root in enumerate(roots):
        steps = [60 + root + scale[(t * 3 + i) % 7] for t in range(64)]
        midi_file(track(*[note(t * 480, t * 480 + 480, p) for t, p in enumerate(steps)])).save(
            tmp_path / "midi" / f"tune{i}.mid")
    assert run_cli("prepare", tmp_path / "midi", "--out", tmp_path / "set", "--bars", "2",
                   "--meter", "4/4", "--splits", splits, "--quiet",
                   "--workers", "1").returncode == 0
    return tmp_path / "set"


def test_the_prior_reads_windows_of_every_piece_and_their_keys_in_its_order(tmp_path,
                                                                           monkeypatch):
    # a set larger than the prior's window budget: the windows it fits are spread over
    # every piece (the first N were the first pieces only: POP909's first 40% of songs)
    import numpy as np
    import torch
    from midivae.data import PreparedSet, WindowDataset
    from midivae.run import priors
    from midivae.run.evaluate import window_keys
    prepared = PreparedSet(set_in_keys(tmp_path, [0, 0, 7, 7, 2], "1,0,0"))  # C C G G D
    n = prepared.n_windows["train"]
    monkeypatch.setattr(priors, "PRIOR_WINDOWS", n // 3)
    read = priors.prior_windows(prepared)
    assert len(read) == n // 3 and read[0] == 0 and read[-1] == n - 1
    assert (np.diff(read) >= 2).all()  # spread evenly, in order
    x = torch.cat([b[0] for b in priors.prior_loader(prepared, batch_size=7)])
    windows = WindowDataset(prepared, "train")
    assert torch.equal(x, torch.stack([windows[int(i)][0] for i in read]))
    keys = window_keys(prepared).tolist()  # one per window read, the same windows
    assert len(keys) == n // 3 and set(keys) == {0, 7, 2} and keys[-1] == 2


def test_fit_prior_by_key_fits_one_gaussian_per_key(tmp_path):
    from midivae.run.checkpoint import export_checkpoint, read_settings, stored_half
    from midivae.data import PreparedSet
    from midivae.run.evaluate import window_keys
    scale = [0, 2, 4, 5, 7, 9, 11]
    prepared = PreparedSet(set_in_keys(tmp_path, [0, 0, 7, 7, 2], "1,0,0"))  # C C G G D
    keys = window_keys(prepared).tolist()
    assert set(keys) == {0, 7, 2} and 20 <= keys.count(0) == keys.count(7) > keys.count(2)
    out = run_cli("train", tmp_path / "set", "--preset", "flat-2bar-cpu", "--latent", "8",
                  "--steps", "1", "--quiet", "--out", tmp_path / "m")
    assert out.returncode == 0, out.stderr
    export_checkpoint(tmp_path / "m", tmp_path / "shared")  # float16, as a shipped model
    out = run_cli("fit-prior", tmp_path / "shared", tmp_path / "set", "--by-key", "--rank", "4")
    assert out.returncode == 0, out.stderr
    n = prepared.n_windows["train"]
    assert out.stdout.strip() == (f"{tmp_path / 'shared'}: its prior is fitted to {n} training "
                                  f"windows of {tmp_path / 'set'}, one Gaussian for each of 2 "
                                  "keys, rank 4")  # D's windows are fewer than 20: left out
    model = load_checkpoint(tmp_path / "shared")
    assert model.prior.components == 2 and model.prior.scales.shape == (2, 8, 4)
    assert model.prior.weights.tolist() == [0.5, 0.5] and stored_half(tmp_path / "shared")
    assert read_settings(tmp_path / "shared")["extra"]["prior"] == {
        "rank": 4, "windows": n, "dataset": str(tmp_path / "set"), "keys": 2}
    out = run_cli("fit-prior", tmp_path / "shared", tmp_path / "set", "--by-key", "--rank", "4")
    assert out.returncode == 0  # a mixture of another size loads and is refitted
    (tmp_path / "few").mkdir()  # too few windows in any key
    for i in range(2):
        midi_file(track(*[note(t * 480, t * 480 + 480, 60 + scale[t % 7]) for t in range(16)])
                  ).save(tmp_path / "few" / f"tune{i}.mid")
    assert run_cli("prepare", tmp_path / "few", "--out", tmp_path / "fewset", "--bars", "2",
                   "--meter", "4/4", "--splits", "1,0,0", "--pitch-range", "60-78", "--quiet",
                   "--workers", "1").returncode == 0
    out = run_cli("fit-prior", tmp_path / "shared", tmp_path / "fewset", "--by-key")
    assert out.returncode == 2
    few = PreparedSet(tmp_path / "fewset").n_windows["train"]
    assert out.stderr.strip() == (f"midivae fit-prior: error: {tmp_path / 'fewset'}: no group "
                                  f"holds 20 windows: {{0: {few}}}")


def test_train_fits_its_prior_by_key_where_the_set_allows(tmp_path):
    from midivae.run.checkpoint import read_settings
    from midivae.data import PreparedSet
    from midivae.run.evaluate import window_keys
    prepared = PreparedSet(set_in_keys(tmp_path, [0, 7] * 6, "0.6,0.4,0"))  # 6 in C, 6 in G
    keys = window_keys(prepared).tolist()
    assert keys.count(0) >= 20 and keys.count(7) >= 20 and prepared.n_windows["valid"]
    common = ("train", tmp_path / "set", "--preset", "flat-2bar-cpu", "--latent", "8",
              "--steps", "1", "--quiet")
    out = run_cli(*common, "--out", tmp_path / "m")
    assert out.returncode == 0, out.stderr
    assert "one Gaussian for each of 2 keys, rank" in out.stdout
    assert read_settings(tmp_path / "m")["extra"]["prior"]["keys"] == 2
    assert load_checkpoint(tmp_path / "m").prior.components == 2
    out = run_cli(*common, "--single-prior", "--out", tmp_path / "one")
    assert out.returncode == 0, out.stderr
    assert "one Gaussian for each" not in out.stdout
    assert load_checkpoint(tmp_path / "one").prior.components == 0


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
    assert "    chord_share " in out.stdout and "nearest training window" in out.stdout
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
