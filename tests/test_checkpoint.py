"""Checkpoints: exact round trips, and each kind of bad file raising CheckpointError."""

from __future__ import annotations

import json
import pickle

import pytest
import torch

from midivae.run.checkpoint import checkpoint_paths, load_checkpoint, read_settings, save_checkpoint
from midivae.errors import CheckpointError
from midivae.midi.layout import RollLayout
from conftest import DECODER_VARIANTS, decoder_settings
from midivae.models import ModelConfig, VAE
from midivae.run.train import train

LAYOUT_DICT = {"steps_per_beat": 1, "low": 60, "n_pitches": 6,  # 4 steps per bar, as tiny_model's
               "tracks": [{"name": "lead", "program": 0, "is_drum": False}],
               "time_signature": [4, 4], "qpm": 100.0}
LAYOUT = RollLayout.from_dict(LAYOUT_DICT)


pytestmark = pytest.mark.usefixtures("one_torch_thread")


def tiny_model(decoder: str = "recurrent", **overrides) -> VAE:
    torch.manual_seed(0)
    settings = dict(n_steps=8, n_tracks=1, n_pitches=6, steps_per_bar=4,
                    **decoder_settings(decoder, "mlp" if decoder == "flat" else "lstm"),
                    latent=4, encoder_hidden=8,
                    decoder_hidden=8, conductor_hidden=8, bar_embedding=4, n_labels=2)
    settings.update(overrides)
    return VAE(ModelConfig(**settings), layout=LAYOUT)


def windows(n: int = 3) -> torch.Tensor:
    g = torch.Generator().manual_seed(1)
    on = (torch.rand(n, 8, 1, 6, generator=g) < 0.3).float()
    return torch.cat([on, on], dim=2).reshape(n, 8, 12)  # (B, T, 2, P) -> (B, T, D)


def edit_settings(path, **changes) -> None:
    """Rewrite the settings inside the checkpoint's safetensors metadata (what a loader trusts)."""
    from safetensors import safe_open
    from safetensors.torch import load_file, save_file

    weights, _ = checkpoint_paths(path)
    with safe_open(str(weights), "pt") as f:
        metadata = f.metadata()
    record = json.loads(metadata["midivae"])
    for key, value in changes.items():
        if key in record["model"]:
            record["model"][key] = value
        else:
            record[key] = value
    save_file(load_file(str(weights)), str(weights),
              metadata={**metadata, "midivae": json.dumps(record)})


@pytest.mark.parametrize("decoder", DECODER_VARIANTS)
def test_save_then_load_gives_identical_outputs(tmp_path, decoder):
    model = tiny_model(decoder).eval()
    x, label = windows(), torch.tensor([0, 1, 1])
    weights = save_checkpoint(model, tmp_path / "run", extra={"step": 12})
    assert weights == tmp_path / "run.safetensors" and (tmp_path / "run.json").exists()
    assert sorted(p.name for p in tmp_path.iterdir()) == ["run.json", "run.safetensors"]
    loaded = load_checkpoint(tmp_path / "run.safetensors")
    assert loaded.config == model.config and loaded.layout == LAYOUT
    assert not loaded.training
    torch.testing.assert_close(loaded(x, label).logits, model(x, label).logits, rtol=0, atol=0)
    assert torch.equal(loaded.encode(x, label), model.encode(x, label))
    assert torch.equal(loaded.sample(4, seed=3, label=1), model.sample(4, seed=3, label=1))
    settings = read_settings(tmp_path / "run.json")
    assert settings["extra"] == {"step": 12} and settings["library_version"]


def test_loading_never_unpickles(tmp_path, monkeypatch):
    save_checkpoint(tiny_model(), tmp_path / "run")

    def refuse(*args, **kwargs):
        raise AssertionError("a checkpoint load tried to unpickle")
    monkeypatch.setattr(torch, "load", refuse)
    monkeypatch.setattr(pickle, "load", refuse)
    monkeypatch.setattr(pickle, "loads", refuse)
    monkeypatch.setattr(pickle, "Unpickler", refuse)
    assert isinstance(load_checkpoint(tmp_path / "run"), VAE)


def test_training_writes_a_loadable_checkpoint(tmp_path):
    model = tiny_model("flat")
    x = windows(4)
    train(model, [(x, torch.tensor([0, 1, 0, 1]))], steps=3, checkpoint=tmp_path / "ckpt",
          checkpoint_every=2)
    settings = read_settings(tmp_path / "ckpt")
    assert settings["extra"]["step"] == 3
    loaded = load_checkpoint(tmp_path / "ckpt")
    for name, t in model.state_dict().items():
        assert torch.equal(loaded.state_dict()[name], t.cpu()), name


def test_an_interrupted_training_run_keeps_its_model(tmp_path):
    model, x = tiny_model("flat"), windows(4)
    batch = (x, torch.tensor([0, 1, 0, 1]))

    def batches_then_ctrl_c():
        for _ in range(3):
            yield batch
        raise KeyboardInterrupt

    class Loader:  # a loader that the user interrupts during its fourth batch
        def __iter__(self):
            return batches_then_ctrl_c()
    with pytest.raises(KeyboardInterrupt):
        train(model, Loader(), steps=100, checkpoint=tmp_path / "ckpt", checkpoint_every=50)
    extra = read_settings(tmp_path / "ckpt")["extra"]
    assert extra["step"] == 3 and extra["interrupted"] is True
    loaded = load_checkpoint(tmp_path / "ckpt")
    for name, t in model.state_dict().items():
        assert torch.equal(loaded.state_dict()[name], t.cpu()), name


def test_the_weights_file_alone_is_the_checkpoint_and_the_json_is_a_readable_copy(tmp_path):
    model = tiny_model()
    save_checkpoint(model, tmp_path / "run", extra={"step": 5})
    copy = json.loads((tmp_path / "run.json").read_text())
    assert copy["model"] == model.config.to_dict() and copy["extra"] == {"step": 5}
    (tmp_path / "run.json").write_text("{ half a file")  # a damaged or stale copy is not read
    assert load_checkpoint(tmp_path / "run").config == model.config
    (tmp_path / "run.json").unlink()
    assert load_checkpoint(tmp_path / "run.safetensors").config == model.config


def test_overwriting_a_checkpoint_is_one_rename_so_a_crash_keeps_a_loadable_model(
        tmp_path, monkeypatch):
    import os

    old, new = tiny_model(), tiny_model(latent=6)
    save_checkpoint(old, tmp_path / "run")
    renames = []
    real_replace = os.replace

    def crash_after_first_rename(src, dst):
        renames.append(dst)
        if len(renames) > 1:
            raise KeyboardInterrupt  # the process dies between the weights and the JSON copy
        real_replace(src, dst)
    monkeypatch.setattr(os, "replace", crash_after_first_rename)
    with pytest.raises(KeyboardInterrupt):
        save_checkpoint(new, tmp_path / "run")
    monkeypatch.undo()
    assert [p.name for p in map(__import__("pathlib").Path, renames)][:1] == ["run.safetensors"]
    assert load_checkpoint(tmp_path / "run").config == new.config  # the new model, whole
    assert sorted(p.name for p in tmp_path.iterdir()) == ["run.json", "run.safetensors"]
    # and a crash before that one rename leaves the old model whole
    monkeypatch.setattr(os, "replace", lambda src, dst: (_ for _ in ()).throw(KeyboardInterrupt))
    with pytest.raises(KeyboardInterrupt):
        save_checkpoint(old, tmp_path / "run")
    monkeypatch.undo()
    assert load_checkpoint(tmp_path / "run").config == new.config
    assert sorted(p.name for p in tmp_path.iterdir()) == ["run.json", "run.safetensors"]


def test_missing_tensor_is_named(tmp_path):
    save_checkpoint(tiny_model(n_labels=0), tmp_path / "run")
    edit_settings(tmp_path / "run", n_labels=2)  # now the settings need a label embedding
    with pytest.raises(CheckpointError, match=r"run\.safetensors.*missing \['label_embedding"):
        load_checkpoint(tmp_path / "run")


def test_shape_mismatch_is_named(tmp_path):
    save_checkpoint(tiny_model(), tmp_path / "run")
    edit_settings(tmp_path / "run", latent=5)
    with pytest.raises(CheckpointError, match=r"run\.safetensors: tensor '.*' has shape"):
        load_checkpoint(tmp_path / "run")


def test_truncated_or_foreign_weights_are_caught(tmp_path):
    save_checkpoint(tiny_model(), tmp_path / "run")
    data = (tmp_path / "run.safetensors").read_bytes()
    (tmp_path / "run.safetensors").write_bytes(data[:-100])
    with pytest.raises(CheckpointError, match=r"run\.safetensors: unreadable safetensors"):
        load_checkpoint(tmp_path / "run")
    (tmp_path / "run.safetensors").write_bytes(b"\x00" * 64)
    with pytest.raises(CheckpointError, match=r"run\.safetensors: unreadable safetensors"):
        load_checkpoint(tmp_path / "run")
    from safetensors.torch import save_file
    save_file({"w": torch.zeros(3)}, str(tmp_path / "run.safetensors"))  # someone else's file
    (tmp_path / "run.json").unlink()
    with pytest.raises(CheckpointError, match=r"run\.json: settings file not found"):
        load_checkpoint(tmp_path / "run")


def test_huge_settings_are_refused_before_anything_is_allocated(tmp_path):
    import tracemalloc

    save_checkpoint(tiny_model(), tmp_path / "run")
    edit_settings(tmp_path / "run", decoder_hidden=30_000, encoder_hidden=30_000)
    tracemalloc.start()
    try:
        with pytest.raises(CheckpointError, match=r"run\.safetensors: tensor '.*' has shape"):
            load_checkpoint(tmp_path / "run")
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert peak < 50e6  # the real model would need about 20 GB of weights


def _edit_record(path, change: dict) -> None:
    from safetensors import safe_open
    from safetensors.torch import load_file, save_file
    with safe_open(str(path), "pt") as f:
        metadata = f.metadata()
    record = json.loads(metadata["midivae"])
    for key, value in change.items():
        if isinstance(value, dict) and isinstance(record.get(key), dict):
            record[key] = {**record[key], **value}
        else:
            record[key] = value
    save_file(load_file(str(path)), str(path), metadata={**metadata, "midivae": json.dumps(record)})


def test_a_loaded_model_carries_its_layout_as_a_roll_layout_and_a_bare_one_none(tmp_path):
    save_checkpoint(tiny_model(), tmp_path / "run")
    assert read_settings(tmp_path / "run")["layout"] == LAYOUT.to_dict()
    loaded = load_checkpoint(tmp_path / "run")
    assert isinstance(loaded.layout, RollLayout) and loaded.layout == LAYOUT
    bare = tiny_model()
    bare.layout = None
    save_checkpoint(bare, tmp_path / "bare")
    assert read_settings(tmp_path / "bare")["layout"] == {}
    assert load_checkpoint(tmp_path / "bare").layout is None
    as_dict = tiny_model()
    as_dict.layout = LAYOUT_DICT  # a dict is stored as given
    save_checkpoint(as_dict, tmp_path / "dict")
    assert load_checkpoint(tmp_path / "dict").layout == LAYOUT


@pytest.mark.parametrize("change, message", [
    ({"format": "something-else"}, "not a midivae checkpoint"),
    ({"format_version": 99}, "format version 99"),
    ({"surprise": 1, "model": {"bogus": 1}}, "bad model settings"),
    ({"layout": [1, 2]}, "layout must be a JSON object"),
    ({"model": {"n_steps": "eight"}}, "bad model settings"),
    ({"layout": {"n_pitches": 7}}, r"layout \(1 tracks, 7 pitches, 4 steps per bar\) does not fit"),
    ({"layout": {"low": 125}}, "bad layout"),
    ({"layout": {"tracks": [{"name": "a", "colour": 1}]}}, "bad layout"),
    ({"layout": {"time_signature": [4]}}, "bad layout"),
    ({"layout": {"time_signature": [3, 4]}}, "3 steps per bar"),
    ({"layout": {"labels": ["a", "b", "c"]}}, "names 3 labels, the model has 2"),
])
def test_malformed_settings_raise(tmp_path, change, message):
    save_checkpoint(tiny_model(), tmp_path / "run")
    assert load_checkpoint(tmp_path / "run").layout == LAYOUT
    _edit_record(tmp_path / "run.safetensors", change)
    with pytest.raises(CheckpointError, match=message):
        load_checkpoint(tmp_path / "run")


def test_missing_files_raise(tmp_path):
    with pytest.raises(CheckpointError, match=r"nothing\.safetensors: checkpoint not found"):
        load_checkpoint(tmp_path / "nothing")
    save_checkpoint(tiny_model(), tmp_path / "run")
    (tmp_path / "run.safetensors").unlink()
    with pytest.raises(CheckpointError, match=r"run\.safetensors: weights file not found"):
        load_checkpoint(tmp_path / "run.json")
    (tmp_path / "run.json").write_text("[]")
    with pytest.raises(CheckpointError, match=r"run\.safetensors: weights file not found"):
        load_checkpoint(tmp_path / "run")
    (tmp_path / "run.safetensors").mkdir()
    with pytest.raises(CheckpointError, match=r"run\.safetensors: not a regular file"):
        load_checkpoint(tmp_path / "run")


def test_a_format_1_pair_still_loads_and_its_checksum_still_guards_it(tmp_path):
    import hashlib

    from safetensors.torch import save_file
    model = tiny_model().eval()
    weights = tmp_path / "old.safetensors"
    save_file({k: v.contiguous() for k, v in model.state_dict().items()}, str(weights),
              metadata={"format": "midivae.vae"})
    record = {"format": "midivae.vae", "format_version": 1, "library_version": "0.1.0",
              "model": model.config.to_dict(), "representation": LAYOUT_DICT,
              "weights": weights.name, "extra": {},
              "weights_sha256": hashlib.sha256(weights.read_bytes()).hexdigest()}
    (tmp_path / "old.json").write_text(json.dumps(record))
    loaded = load_checkpoint(tmp_path / "old")
    assert loaded.layout == LAYOUT
    x, label = windows(), torch.tensor([0, 1, 1])
    assert torch.equal(loaded(x, label).logits, model(x, label).logits)
    (tmp_path / "old.json").write_text(json.dumps({**record, "weights_sha256": "0" * 64}))
    with pytest.raises(CheckpointError, match=r"old\.safetensors: checksum differs"):
        load_checkpoint(tmp_path / "old")


def test_checkpoint_paths():
    for name in ("a/run", "a/run.safetensors", "a/run.json"):
        weights, settings = checkpoint_paths(name)
        assert (str(weights), str(settings)) == ("a/run.safetensors", "a/run.json")
    assert str(checkpoint_paths("a/run.v2")[0]) == "a/run.v2.safetensors"


def test_a_training_checkpoint_holds_the_recipe_the_optimiser_and_the_rngs(tmp_path):
    from midivae.run.checkpoint import read_state
    from midivae.models.losses import BetaSchedule
    from midivae.models import TrainConfig

    model, x = tiny_model("recurrent"), windows(4)
    cfg = TrainConfig(steps=3, lr=3e-3, beta=BetaSchedule("linear", 0.5, warmup_steps=10),
                      free_bits=2.0)
    train(model, [(x, torch.tensor([0, 1, 0, 1]))], cfg, checkpoint=tmp_path / "run",
          preset="tiny", seed=4)
    extra = read_settings(tmp_path / "run")["extra"]
    assert TrainConfig.from_dict(extra["train"]) == cfg
    assert (extra["step"], extra["preset"], extra["seed"]) == (3, "tiny", 4)
    state = read_state(tmp_path / "run")
    params = list(model.parameters())
    assert len(extra["optimizer"]["param_groups"][0]["params"]) == len(params)
    for i, p in enumerate(params):  # AdamW keeps two moments per parameter
        assert state[f"optimizer/{i}/exp_avg"].shape == p.shape
        assert state[f"optimizer/{i}/exp_avg_sq"].shape == p.shape
    assert torch.equal(state["rng/torch"], torch.get_rng_state())
    assert isinstance(load_checkpoint(tmp_path / "run"), VAE)  # the state is not the model's
    assert read_state(save_checkpoint(tiny_model(), tmp_path / "bare")) == {}


def test_a_resumed_run_ends_with_the_weights_of_an_uninterrupted_one(tmp_path, chorale_set):
    """Interrupted at step 5 (Ctrl-C) and resumed: weights, optimiser, schedule, RNG and the
    data order (shuffled, transposed windows of a real set, several epochs) all continue."""
    from midivae.run.start import model_and_loaders

    def run(out, stop_at=None, resume=None):
        torch.manual_seed(0)
        model, cfg, loader, _ = model_and_loaders(chorale_set, "flat-2bar-cpu", batch_size=16,
                                                  transpose=3, seed=7, latent=8,
                                                  encoder_hidden=32, decoder_hidden=32)
        n = len(loader)

        def interrupt(record):
            if stop_at is not None and record["step"] == stop_at:
                raise KeyboardInterrupt
        kwargs = dict(checkpoint=out, log=interrupt, log_every=1)
        if resume is None:
            train(model, loader, cfg, steps=3 * n + 2, seed=3, warmup_steps=2,
                  scheduled_sampling=0.0, preset="flat-2bar-cpu", **kwargs)
        else:
            train(model, loader, resume=resume, **kwargs)
        return model, n

    whole, n = run(tmp_path / "whole")
    assert n >= 3  # several batches an epoch, so the stop falls inside one
    stop = n + 2  # inside the second epoch
    with pytest.raises(KeyboardInterrupt):
        run(tmp_path / "cut", stop_at=stop)
    assert read_settings(tmp_path / "cut")["extra"]["step"] == stop
    resumed, _ = run(tmp_path / "cut2", resume=tmp_path / "cut")
    assert read_settings(tmp_path / "cut2")["extra"]["step"] == 3 * n + 2
    for name, t in whole.state_dict().items():
        assert torch.equal(resumed.state_dict()[name], t), name


def test_resuming_refuses_a_checkpoint_without_training_state_or_a_new_recipe(tmp_path):
    save_checkpoint(tiny_model(), tmp_path / "bare")
    with pytest.raises(CheckpointError, match="not a training checkpoint"):
        train(tiny_model(), [windows()], resume=tmp_path / "bare")
    with pytest.raises(ValueError, match="keeps its own recipe"):
        train(tiny_model(), [windows()], resume=tmp_path / "bare", lr=0.1)


def test_resuming_a_finished_run_trains_no_further(tmp_path):
    model = tiny_model("flat")
    train(model, [(windows(4), torch.tensor([0, 1, 0, 1]))], steps=2, checkpoint=tmp_path / "r")
    again = tiny_model("flat")
    history = train(again, [(windows(4), torch.tensor([0, 1, 0, 1]))], resume=tmp_path / "r")
    assert history.train == [] and read_settings(tmp_path / "r")["extra"]["step"] == 2
    for name, t in model.state_dict().items():
        assert torch.equal(again.state_dict()[name], t), name


def test_checkpoints_every_few_minutes_as_well_as_every_few_steps(tmp_path, monkeypatch):
    import midivae.run.train as training
    clock = [1000.0]
    monkeypatch.setattr(training.time, "monotonic", lambda: clock[0])
    saves = []
    real_save = training.save_checkpoint

    def counting_save(model, path, **kw):
        saves.append(kw["extra"]["step"])
        return real_save(model, path, **kw)
    monkeypatch.setattr(training, "save_checkpoint", counting_save)

    def tick(record):  # each logged step takes 40 seconds of this fake clock
        clock[0] += 40.0
    train(tiny_model("flat"), [(windows(4), torch.tensor([0, 1, 0, 1]))], steps=6,
          checkpoint=tmp_path / "r", checkpoint_minutes=1.0, log=tick, log_every=1)
    assert saves == [2, 4, 6]  # 80 s after the last save at steps 2 and 4; the end at 6


def test_snapshots_keep_the_model_as_it_was_after_given_minutes(tmp_path, monkeypatch):
    import midivae.run.train as training
    clock = [1000.0]
    monkeypatch.setattr(training.time, "monotonic", lambda: clock[0])

    def tick(record):  # each logged step takes 40 seconds of this fake clock
        clock[0] += 40.0
    train(tiny_model("flat"), [(windows(4), torch.tensor([0, 1, 0, 1]))], steps=6,
          checkpoint=tmp_path / "r", log=tick, log_every=1,
          snapshots={1.0: tmp_path / "at-1min", 3.0: tmp_path / "at-3min"})
    # 40 s per step: past one minute after step 2 (80 s), past three after step 5 (200 s)
    assert read_settings(tmp_path / "at-1min")["extra"]["step"] == 2
    assert read_settings(tmp_path / "at-3min")["extra"]["step"] == 5
    assert read_settings(tmp_path / "r")["extra"]["step"] == 6
    load_checkpoint(tmp_path / "at-1min")


def test_an_exported_model_is_the_same_model_without_its_training_state(tmp_path):
    from midivae.run.checkpoint import export_checkpoint, read_state
    model = tiny_model("hierarchical")
    train(model, [(windows(4), torch.tensor([0, 1, 0, 1]))], steps=2, checkpoint=tmp_path / "r",
          info={"dataset": "/home/someone/sets/tunes", "transpose": 3})
    full = tmp_path / "r.safetensors"
    extra = read_settings(tmp_path / "r")["extra"]  # as fit-prior records it
    extra["prior"] = {"rank": 4, "windows": 4, "dataset": "/home/someone/sets/tunes"}
    save_checkpoint(model, tmp_path / "r", extra=extra, state=read_state(tmp_path / "r"))
    small = export_checkpoint(tmp_path / "r", tmp_path / "shipped", about="tiny tunes")
    assert small.stat().st_size < full.stat().st_size / 2  # no optimiser moments, float16
    assert read_state(tmp_path / "shipped") == {}
    extra = read_settings(tmp_path / "shipped")["extra"]
    assert extra["about"] == "tiny tunes" and extra["step"] == 2 and "optimizer" not in extra
    assert extra["run"] == {"dataset": "tunes", "transpose": 3}  # no path of the machine's
    assert extra["prior"] == {"rank": 4, "windows": 4, "dataset": "tunes"}
    trained, shipped = load_checkpoint(tmp_path / "r"), load_checkpoint(tmp_path / "shipped")
    for name, t in shipped.state_dict().items():
        assert t.dtype == torch.float32
        assert torch.equal(t, trained.state_dict()[name].half().float()), name


def test_early_stopping_keeps_the_model_with_the_best_validation_elbo(tmp_path, monkeypatch):
    import midivae.run.train as training
    elbos = iter([-10.0, -8.0, -9.0, -8.5, -1.0])  # best at the 2nd validation, then 2 worse

    def scripted(model, loader, **kw):
        return {"elbo_nats": next(elbos), "nelbo_bits_per_step": 1.0, "recon_nats": 1.0,
                "kl_nats": 0.0}
    monkeypatch.setattr(training, "validate", scripted)
    data = [(windows(4), torch.tensor([0, 1, 0, 1]))]
    # a constant learning rate: the first steps do not depend on the run's length
    history = train(tiny_model("flat"), data, steps=10, seed=3, lr_decay="constant",
                    patience=2, valid_loader=[None],
                    valid_every=1, checkpoint=tmp_path / "r", best=tmp_path / "best")
    assert history.stopped_early and [r["step"] for r in history.valid] == [1, 2, 3, 4]
    assert history.best["step"] == 2 and history.best["elbo_nats"] == -8.0
    assert read_settings(tmp_path / "r")["extra"]["step"] == 4  # the run ended there
    assert read_settings(tmp_path / "best")["extra"]["step"] == 2
    reference = tiny_model("flat")  # the same run, stopped after 2 steps
    train(reference, data, steps=2, seed=3, lr_decay="constant")
    best = load_checkpoint(tmp_path / "best")
    for name, t in reference.state_dict().items():
        assert torch.equal(t, best.state_dict()[name]), name
    # a resumed run that had stopped early stays stopped
    assert train(tiny_model("flat"), data, resume=tmp_path / "r", valid_loader=[None]).stopped_early


def test_early_stopping_needs_a_validation_split():
    with pytest.raises(ValueError, match="need a valid_loader"):
        train(tiny_model("flat"), [windows(2)], steps=2, patience=3)
    with pytest.raises(ValueError, match="patience must be >= 1"):
        train(tiny_model("flat"), [windows(2)], steps=2, patience=0)


def test_a_checkpoint_is_as_readable_as_any_new_file(tmp_path):
    """safetensors writes its files 0600; a saved model gets what the umask gives."""
    import os
    old = os.umask(0o022)
    try:
        save_checkpoint(tiny_model("flat"), tmp_path / "m")
        assert (tmp_path / "m.safetensors").stat().st_mode & 0o777 == 0o644
        assert (tmp_path / "m.json").stat().st_mode & 0o777 == 0o644
        os.umask(0o027)
        save_checkpoint(tiny_model("flat"), tmp_path / "m")  # replacing keeps to the umask
        assert (tmp_path / "m.safetensors").stat().st_mode & 0o777 == 0o640
    finally:
        os.umask(old)
