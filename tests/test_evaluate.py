"""`midivae evaluate`: figures that mean what they say, on a set built in code."""

from __future__ import annotations

import contextlib
import copy
import io
import json

import pytest
import torch
from conftest import meter, midi_file, note, track

from midivae import DatasetError
from midivae.cli import main
from midivae.data import make_loader, prepare
from midivae.run.evaluate import evaluate, layout_differences
from midivae.midi.musicstats import roll_stats
from midivae.run.start import model_for_set
from midivae.run.train import train

pytestmark = pytest.mark.usefixtures("one_torch_thread")


def tunes(folder, n: int = 4, low: int = 60):
    folder.mkdir()
    for i in range(n):
        events = [meter(0, 4, 4)] + [e for t in range(16)
                                     for e in note(t * 480, t * 480 + 480, low + (t * (i + 1)) % 7)]
        midi_file(track(*events)).save(folder / f"tune{i}.mid")


@pytest.fixture(scope="module")
def fitted(tmp_path_factory):
    """A set of four 4-bar tunes (2-bar windows) and a flat model that has learnt them by heart."""
    root = tmp_path_factory.mktemp("eval")
    tunes(root / "midi")
    prepared = prepare(root / "midi", root / "set", bars=2, meter="4/4", pitch_range=(55, 74),
                       splits=(1, 0, 0), workers=1)
    torch.manual_seed(0)
    model, cfg = model_for_set(prepared, "flat-2bar-cpu", latent=8, encoder_hidden=64,
                               decoder_hidden=128, output="independent")
    loader = make_loader(prepared, "train", batch_size=len(prepared), shuffle=False)
    train(model, loader, cfg, steps=300, lr=1e-2, warmup_steps=0, beta=0.0, free_bits=0.0,
          weight_decay=0.0, checkpoint=root / "model")
    return root, prepared, model.eval()


def test_a_model_that_learnt_its_windows_scores_full_marks(fitted):
    _, prepared, model = fitted
    res = evaluate(model, prepared, split="train", n_samples=8)
    m = res["metrics"]
    assert res["windows"] == len(prepared) == 12  # 4 tunes x 3 two-bar windows (hop 1)
    assert res["latent"] == 8
    assert m["acc_teacher_forced"] == 1.0 and m["acc_free_running"] == 1.0
    assert m["onset_f1"] == 1.0
    assert res["data"] == roll_stats([prepared.window_roll(i) for i in range(len(prepared))])
    assert res["train"] == res["data"]  # the training windows' statistics: here the split's
    assert res["data"]["notes_per_bar"] == 4.0 and res["data"]["voice_single_share_min"] == 1.0
    assert res["samples"]["n_rolls"] == 8
    d = res["distance"]
    assert d["notes_per_bar"]["b"] == 4.0
    assert d["distance"]["value"] == pytest.approx(
        sum(d[k]["rel_diff"] for k in d["distance"]["keys"]) / len(d["distance"]["keys"]))


def test_a_limit_takes_windows_spread_over_the_split_not_the_first_ones(fitted):
    _, prepared, model = fitted
    res = evaluate(model, prepared, split="train", n_samples=4, max_windows=4)
    assert res["windows"] == 4
    spread = [0, 4, 7, 11]  # linspace(0, 11, 4) rounded: windows of all four tunes
    assert res["data"] == roll_stats([prepared.window_roll(i) for i in spread])


def test_a_set_of_another_layout_is_refused_naming_each_difference(fitted, tmp_path):
    _, _, model = fitted
    tunes(tmp_path / "other", low=40)
    other = prepare(tmp_path / "other", tmp_path / "oset", bars=4, meter="4/4", workers=1)
    differences = layout_differences(model, other)
    assert differences == ["pitches 40..46 where the model has 55..74"]
    with pytest.raises(DatasetError, match=r"oset does not fit the model: pitches 40\.\.46"):
        evaluate(model, other)
    same_pitches = prepare(tmp_path / "other", tmp_path / "long", bars=4, meter="4/4",
                           pitch_range=(55, 74), workers=1)
    assert layout_differences(model, same_pitches) == [
        "windows of 64 steps where the model has 32"]


def test_the_evaluate_command_prints_the_figures_and_writes_json(fitted, tmp_path, capsys):
    root, _, _ = fitted
    out = tmp_path / "eval.json"
    assert main(["evaluate", str(root / "model"), str(root / "set"), "--split", "train",
                 "--samples", "4", "--json", str(out)]) == 0
    printed = capsys.readouterr().out
    assert "free-running 1.000" in printed and f"wrote {out}" in printed
    res = json.loads(out.read_text())
    assert res["metrics"]["acc_free_running"] == 1.0 and res["split"] == "train"
    with contextlib.redirect_stdout(io.StringIO()):
        assert main(["evaluate", str(root / "model"), str(root / "set"), "--json",
                     str(out)]) == 1  # exists: no --force
    assert "exists; pass --force" in capsys.readouterr().err
    assert main(["evaluate", str(root / "model"), str(root / "set")]) == 1  # empty test split
    assert "the test split holds no window" in capsys.readouterr().err


def test_onset_biases_change_the_samples_and_never_the_reconstructions(fitted):
    _, prepared, model = fitted
    plain = evaluate(model, prepared, split="train", n_samples=16, seed=1)
    biased = evaluate(model, prepared, split="train", n_samples=16, seed=1, onset_biases=[3.0])
    assert biased["metrics"] == plain["metrics"]  # free-running and F1 decode unbiased
    assert biased["samples"]["notes_per_bar"] > plain["samples"]["notes_per_bar"]
    assert not plain["every_track"]


def test_every_track_draws_the_silent_samples_again_and_never_the_reconstructions(fitted):
    _, prepared, model = fitted
    quiet = copy.deepcopy(model)  # every cell's logit 6 lower: a third of the samples silent
    with torch.no_grad():
        [m for m in quiet.decoder.modules() if isinstance(m, torch.nn.Linear)][-1].bias -= 6
    with pytest.warns(UserWarning, match="of 32 clips are silent"):
        sparse = evaluate(quiet, prepared, split="train", n_samples=32, seed=1)
    every = evaluate(quiet, prepared, split="train", n_samples=32, seed=1, every_track=True)
    assert every["every_track"] and every["metrics"] == sparse["metrics"]
    assert sparse["samples"]["silent_track_share"] >= 0.25
    assert every["samples"]["silent_track_share"] == 0.0
