"""Checkpoints: weights in a safetensors file, settings in a JSON file beside it.

``run.safetensors`` holds the tensors; ``run.json`` holds the model settings,
the data representation (a `RollLayout` dict), the library version, the
SHA-256 of the weights file and any extra training record. Loading never
unpickles: the JSON rebuilds the model and safetensors fills it. Both files are
written to temporary names and moved into place with `os.replace`, so a crash
never leaves a half-written file under the real name; the JSON is moved last,
and its checksum catches a pair that does not belong together.
"""

from __future__ import annotations

import hashlib
import json
import os
from pathlib import Path

import torch

from midivae.errors import CheckpointError
from midivae.fileio import replace_atomically
from midivae.models.config import ModelConfig
from midivae.models.vae import VAE

FORMAT = "midivae.vae"
FORMAT_VERSION = 1
_REQUIRED = ("format", "format_version", "model", "representation", "weights",
             "weights_sha256")


def checkpoint_paths(path: str | os.PathLike) -> tuple[Path, Path]:
    """(weights, settings) file paths for ``path``, given with or without a suffix.

    ``run``, ``run.safetensors`` and ``run.json`` all name the pair
    ``run.safetensors`` + ``run.json``.
    """
    p = Path(path)
    if p.suffix in (".safetensors", ".json"):
        p = p.with_suffix("")
    return p.parent / f"{p.name}.safetensors", p.parent / f"{p.name}.json"


def _sha256(path: Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()


def save_checkpoint(model: VAE, path: str | os.PathLike, *, extra: dict | None = None) -> Path:
    """Write ``model`` as a safetensors + JSON pair; returns the weights path.

    Parameters
    ----------
    model : VAE
    path : path-like
        ``run`` or ``run.safetensors``; see `checkpoint_paths`.
    extra : dict, optional
        JSON-serialisable record stored with the settings (e.g. training step).
    """
    from safetensors.torch import save_file

    import midivae
    weights, settings = checkpoint_paths(path)
    weights.parent.mkdir(parents=True, exist_ok=True)
    tensors = {k: v.detach().to("cpu").contiguous() for k, v in model.state_dict().items()}
    replace_atomically(weights, lambda tmp: save_file(tensors, str(tmp),
                                                       metadata={"format": FORMAT}))
    record = {"format": FORMAT, "format_version": FORMAT_VERSION,
              "library_version": midivae.__version__, "model": model.config.to_dict(),
              "representation": model.representation, "weights": weights.name,
              "weights_sha256": _sha256(weights), "extra": extra or {}}
    text = json.dumps(record, indent=2, sort_keys=True)
    replace_atomically(settings, lambda tmp: tmp.write_text(text, encoding="utf-8"))
    return weights


def read_settings(path: str | os.PathLike) -> dict:
    """The JSON half of a checkpoint, checked for the fields `load_checkpoint` needs."""
    _, settings = checkpoint_paths(path)
    try:
        record = json.loads(settings.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise CheckpointError(f"{settings}: settings file not found") from None
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as e:
        raise CheckpointError(f"{settings}: not a readable JSON checkpoint ({e})") from None
    if not isinstance(record, dict) or record.get("format") != FORMAT:
        raise CheckpointError(f"{settings}: not a midivae checkpoint (format should be {FORMAT!r})")
    missing = [k for k in _REQUIRED if k not in record]
    if missing:
        raise CheckpointError(f"{settings}: missing fields {missing}")
    if record["format_version"] != FORMAT_VERSION:
        raise CheckpointError(f"{settings}: format version {record['format_version']!r}, "
                              f"this library reads {FORMAT_VERSION}")
    return record


def _read_tensors(weights: Path, record: dict, device) -> dict[str, torch.Tensor]:
    from safetensors import SafetensorError
    from safetensors.torch import load_file

    if not weights.exists():
        raise CheckpointError(f"{weights}: weights file not found")
    if _sha256(weights) != record["weights_sha256"]:
        raise CheckpointError(f"{weights}: checksum differs from the one in its JSON "
                              "(truncated, or not the weights saved with these settings)")
    try:
        return load_file(str(weights), device=str(device))
    except (SafetensorError, OSError, ValueError) as e:
        raise CheckpointError(f"{weights}: unreadable safetensors file ({e})") from None


def _check_tensors(weights: Path, model: VAE, tensors: dict[str, torch.Tensor]) -> None:
    expected = model.state_dict()
    missing = sorted(set(expected) - set(tensors))
    unexpected = sorted(set(tensors) - set(expected))
    if missing or unexpected:
        raise CheckpointError(f"{weights}: tensors do not match the settings: missing "
                              f"{missing}, unexpected {unexpected}")
    for name, t in tensors.items():
        if t.shape != expected[name].shape or t.dtype != expected[name].dtype:
            raise CheckpointError(f"{weights}: tensor {name!r} has shape {tuple(t.shape)} "
                                  f"{t.dtype}, the settings need {tuple(expected[name].shape)} "
                                  f"{expected[name].dtype}")


def load_checkpoint(path: str | os.PathLike, *, device: str | torch.device = "cpu") -> VAE:
    """Rebuild a `VAE` from a checkpoint pair, in evaluation mode on ``device``.

    Raises `midivae.errors.CheckpointError`, naming the file, when either file
    is missing or malformed or the tensors do not fit the settings.
    """
    weights, settings = checkpoint_paths(path)
    record = read_settings(path)
    try:
        config = ModelConfig.from_dict(record["model"])
    except (TypeError, ValueError) as e:
        raise CheckpointError(f"{settings}: bad model settings ({e})") from None
    if not isinstance(record["representation"], dict):
        raise CheckpointError(f"{settings}: representation must be a JSON object")
    model = VAE(config, representation=record["representation"])
    tensors = _read_tensors(weights, record, "cpu")
    _check_tensors(weights, model, tensors)
    model.load_state_dict(tensors)
    return model.to(device).eval()
