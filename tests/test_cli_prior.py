"""The command line's sampling prior: train fits it (by key where the set allows), fit-prior
refits it, the windows it is fitted to are spread over every piece."""

from __future__ import annotations

import pytest
from conftest import midi_file, note, track
from midivae.run.checkpoint import load_checkpoint
from test_cli import run_cli


@pytest.mark.slow  # the longest of the fast suite (15-18 s: two trainings and three refits)
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
    out = run_cli("fit-prior", tmp_path / "shared", tmp_path / "set", "--by-key", "--rank", "2",
                  "--noise")
    assert out.returncode == 0 and out.stdout.strip().endswith(
        "rank 2 with the rest as isotropic noise")
    model = load_checkpoint(tmp_path / "shared")
    assert model.prior.scales.shape == (2, 8, 2) and model.prior.noises.shape == (2,)
    assert bool((model.prior.noises > 0).all())
    assert read_settings(tmp_path / "shared")["extra"]["prior"]["noise"] == "isotropic"
    out = run_cli("fit-prior", tmp_path / "shared", tmp_path / "set", "--by-key", "--rank", "2",
                  "--noise", "diagonal")
    assert out.returncode == 0 and out.stdout.strip().endswith(
        "rank 2 with the rest as diagonal noise")
    model = load_checkpoint(tmp_path / "shared")  # one deviation a key and unit of z
    assert model.prior.noises.shape == (2, 8) and bool((model.prior.noises >= 0).all())
    assert read_settings(tmp_path / "shared")["extra"]["prior"]["noise"] == "diagonal"
    assert stored_half(tmp_path / "shared") and len(model.sample(2, seed=0)) == 2
    out = run_cli("fit-prior", tmp_path / "shared", tmp_path / "set", "--rank", "2",
                  "--noise", "pca")
    assert out.returncode == 2 and "argument --noise: invalid choice: 'pca'" in out.stderr
    out = run_cli("fit-prior", tmp_path / "shared", tmp_path / "set", "--noise")
    assert out.returncode == 2 and out.stderr.strip() == (
        "midivae fit-prior: error: --noise spreads the directions a rank leaves out: give "
        "--rank K")
    out = run_cli("fit-prior", tmp_path / "shared", tmp_path / "set", "--by-key", "--rank", "4")
    assert out.returncode == 0  # a mixture of another size loads and is refitted
    assert len(load_checkpoint(tmp_path / "shared").prior.noises) == 0
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
