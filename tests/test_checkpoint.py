"""Checkpoints: exact round trips, and each kind of bad file raising CheckpointError."""

from __future__ import annotations

import json
import pickle

import pytest
import torch

from midivae.checkpoint import checkpoint_paths, load_checkpoint, read_settings, save_checkpoint
from midivae.errors import CheckpointError
from midivae.models import DECODERS, ModelConfig, VAE
from midivae.train import train

REPRESENTATION = {"steps_per_beat": 4, "low": 60, "n_pitches": 6,
                  "tracks": [{"name": "lead", "program": 0, "is_drum": False}],
                  "time_signature": [4, 4], "qpm": 100.0}


pytestmark = pytest.mark.usefixtures("one_torch_thread")


def tiny_model(decoder: str = "recurrent", **overrides) -> VAE:
    torch.manual_seed(0)
    settings = dict(n_steps=8, n_tracks=1, n_pitches=6, steps_per_bar=4, decoder=decoder,
                    encoder="mlp" if decoder == "flat" else "lstm", latent=4, encoder_hidden=8,
                    decoder_hidden=8, conductor_hidden=8, bar_embedding=4, n_labels=2)
    settings.update(overrides)
    return VAE(ModelConfig(**settings), representation=REPRESENTATION)


def windows(n: int = 3) -> torch.Tensor:
    g = torch.Generator().manual_seed(1)
    on = (torch.rand(n, 8, 1, 6, generator=g) < 0.3).float()
    return torch.cat([on, on], dim=2).reshape(n, 8, 12)  # (B, T, 2, P) -> (B, T, D)


def edit_settings(path, **changes) -> None:
    _, settings = checkpoint_paths(path)
    record = json.loads(settings.read_text())
    for key, value in changes.items():
        if key in record["model"]:
            record["model"][key] = value
        else:
            record[key] = value
    settings.write_text(json.dumps(record))


@pytest.mark.parametrize("decoder", DECODERS)
def test_save_then_load_gives_identical_outputs(tmp_path, decoder):
    model = tiny_model(decoder).eval()
    x, label = windows(), torch.tensor([0, 1, 1])
    weights = save_checkpoint(model, tmp_path / "run", extra={"step": 12})
    assert weights == tmp_path / "run.safetensors" and (tmp_path / "run.json").exists()
    assert sorted(p.name for p in tmp_path.iterdir()) == ["run.json", "run.safetensors"]
    loaded = load_checkpoint(tmp_path / "run.safetensors")
    assert loaded.config == model.config and loaded.representation == REPRESENTATION
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


def test_truncated_json_names_the_file(tmp_path):
    save_checkpoint(tiny_model(), tmp_path / "run")
    text = (tmp_path / "run.json").read_text()
    (tmp_path / "run.json").write_text(text[: len(text) // 2])
    with pytest.raises(CheckpointError, match=r"run\.json.*JSON"):
        load_checkpoint(tmp_path / "run")


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
    (tmp_path / "run.safetensors").write_bytes(data[:100])
    with pytest.raises(CheckpointError, match=r"run\.safetensors: checksum"):
        load_checkpoint(tmp_path / "run")
    # A garbled file whose checksum was updated too still fails, in safetensors' parser.
    import hashlib
    edit_settings(tmp_path / "run", weights_sha256=hashlib.sha256(data[:100]).hexdigest())
    with pytest.raises(CheckpointError, match=r"run\.safetensors: unreadable"):
        load_checkpoint(tmp_path / "run")


@pytest.mark.parametrize("change, message", [
    ({"format": "something-else"}, "not a midivae checkpoint"),
    ({"format_version": 99}, "format version 99"),
    ({"surprise": 1, "model": {"n_steps": 8, "bogus": 1}}, "bad model settings"),
    ({"representation": [1, 2]}, "representation"),
    ({"model": {"n_steps": "eight"}}, "bad model settings"),
])
def test_malformed_settings_raise(tmp_path, change, message):
    save_checkpoint(tiny_model(), tmp_path / "run")
    record = json.loads((tmp_path / "run.json").read_text())
    record.update(change)
    (tmp_path / "run.json").write_text(json.dumps(record))
    with pytest.raises(CheckpointError, match=message):
        load_checkpoint(tmp_path / "run")


def test_missing_files_raise(tmp_path):
    with pytest.raises(CheckpointError, match=r"nothing\.json: settings file not found"):
        load_checkpoint(tmp_path / "nothing")
    save_checkpoint(tiny_model(), tmp_path / "run")
    (tmp_path / "run.safetensors").unlink()
    with pytest.raises(CheckpointError, match=r"run\.safetensors: weights file not found"):
        load_checkpoint(tmp_path / "run.json")
    (tmp_path / "run.json").write_text("[]")
    with pytest.raises(CheckpointError, match="not a midivae checkpoint"):
        load_checkpoint(tmp_path / "run")


def test_checkpoint_paths():
    for name in ("a/run", "a/run.safetensors", "a/run.json"):
        weights, settings = checkpoint_paths(name)
        assert (str(weights), str(settings)) == ("a/run.safetensors", "a/run.json")
    assert str(checkpoint_paths("a/run.v2")[0]) == "a/run.v2.safetensors"
