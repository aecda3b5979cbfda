"""Checkpoints: one safetensors file that carries its own settings.

``run.safetensors`` holds the tensors and, in its metadata, the whole record
needed to rebuild the model: the model settings, the data layout (a
`RollLayout` dict), the library version and any extra training record. One
file is written to a temporary name and renamed into place, so replacing a
checkpoint is a single atomic rename: a crash at any moment leaves either the
old checkpoint or the new one, never a pair that does not belong together.

``run.json`` beside it is a readable copy of the same record, written after
the weights; loading never needs it. Loading never unpickles, and checks every
tensor's name, shape and dtype against the settings before the model is built,
so settings that ask for gigabytes are refused before anything is allocated.
Checkpoints of format version 1 (settings in the JSON only, tied to the
weights by a SHA-256) still load.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import os
import re
from pathlib import Path

import torch

from midivae.errors import BoundError, CheckpointError, FileReadError
from midivae.fileio import parse_json, read_json, replace_atomically
from midivae.midi.layout import RollLayout
from midivae.models.config import ModelConfig
from midivae.models.prior import LatentPrior
from midivae.models.size import check_weights, meta_weights
from midivae.models.vae import VAE

FORMAT = "midivae.vae"
FORMAT_VERSION = 2
_METADATA_KEY = "midivae"  # the safetensors metadata entry holding the JSON record
_REQUIRED = ("format", "format_version", "model", "layout")
_DTYPES = {"F32": torch.float32, "F16": torch.float16, "BF16": torch.bfloat16,
           "F64": torch.float64, "I64": torch.int64, "I32": torch.int32, "BOOL": torch.bool,
           "U8": torch.uint8, "I8": torch.int8, "I16": torch.int16}


def checkpoint_paths(path: str | os.PathLike) -> tuple[Path, Path]:
    """(weights, readable copy) file paths for ``path``, given with or without a suffix.

    ``run``, ``run.safetensors`` and ``run.json`` all name ``run.safetensors``
    (the checkpoint) and ``run.json`` (its readable settings); a folder (a run
    of ``midivae train``) names its ``model.safetensors`` and ``model.json``.
    """
    p = Path(path)
    if p.is_dir():
        return p / "model.safetensors", p / "model.json"
    if p.suffix in (".safetensors", ".json"):
        p = p.with_suffix("")
    return p.parent / f"{p.name}.safetensors", p.parent / f"{p.name}.json"


def _sha256(path: Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()


STATE_PREFIX = "state/"  # tensors of the training state (optimiser, RNGs), not of the model


def save_checkpoint(model: VAE, path: str | os.PathLike, *, extra: dict | None = None,
                    state: dict[str, torch.Tensor] | None = None, half: bool = False) -> Path:
    """Write ``model`` as one self-describing safetensors file (+ a JSON copy); returns its path.

    Parameters
    ----------
    model : VAE
    path : path-like
        ``run`` or ``run.safetensors``; see `checkpoint_paths`.
    extra : dict, optional
        JSON-serialisable record stored with the settings (e.g. training step).
    state : dict of str to Tensor, optional
        Training-state tensors (optimiser moments, RNG states) stored beside the
        weights under ``state/``, so that one rename publishes a consistent
        model and training state; `read_state` gives them back.
    half : bool
        Store float32 weights as float16 (half the size; `load_checkpoint`
        widens them back), for models that ship with the package.
    """
    import midivae
    weights, settings = checkpoint_paths(path)
    weights.parent.mkdir(parents=True, exist_ok=True)
    tensors = {k: v.detach().to("cpu").contiguous() for k, v in model.state_dict().items()}
    if half:
        tensors = {k: v.half() if v.dtype == torch.float32 else v for k, v in tensors.items()}
    tensors.update({STATE_PREFIX + k: v.detach().to("cpu").contiguous()
                    for k, v in (state or {}).items()})
    layout = model.layout  # a RollLayout, or a dict / None for a bare model
    record = {"format": FORMAT, "format_version": FORMAT_VERSION,
              "library_version": midivae.__version__, "model": model.config.to_dict(),
              "layout": layout.to_dict() if hasattr(layout, "to_dict") else dict(layout or {}),
              "extra": extra or {}}
    text = json.dumps(record, sort_keys=True)
    replace_atomically(weights, lambda tmp: _save_file(
        tensors, tmp, metadata={"format": FORMAT, _METADATA_KEY: text}))
    copy = json.dumps({**record, "weights": weights.name}, indent=2, sort_keys=True)
    replace_atomically(settings, lambda tmp: tmp.write_text(copy, encoding="utf-8"))
    return weights


def _save_file(tensors: dict[str, torch.Tensor], path: Path, metadata: dict) -> None:
    """safetensors' ``save_file``, its I/O errors (no space left on the device) raised as the
    OSError they are, not as a SafetensorError (which would reach the user as a traceback)."""
    from safetensors import SafetensorError
    from safetensors.torch import save_file

    try:
        save_file(tensors, str(path), metadata=metadata)
    except SafetensorError as err:  # "Error while serializing: I/O error: ... (os error 28)"
        code = re.search(r"\(os error (\d+)\)", str(err))
        if code is None:
            raise
        raise OSError(int(code.group(1)), os.strerror(int(code.group(1))), str(path)) from None


def _header(weights: Path) -> tuple[dict, dict[str, tuple[tuple[int, ...], str]]]:
    """(metadata, {tensor name: (shape, dtype code)}) read from the file's header only."""
    from safetensors import SafetensorError, safe_open

    if not weights.is_file():
        raise CheckpointError(f"{weights}: weights file not found" if not weights.exists()
                              else f"{weights}: not a regular file")
    try:
        with safe_open(str(weights), "pt") as f:
            shapes = {k: (tuple(f.get_slice(k).get_shape()), f.get_slice(k).get_dtype())
                      for k in f.keys()}
            return dict(f.metadata() or {}), shapes
    except (SafetensorError, OSError, ValueError) as e:
        raise CheckpointError(f"{weights}: unreadable safetensors file ({e})") from None


def _check_record(record, where: Path) -> dict:
    if not isinstance(record, dict) or record.get("format") != FORMAT:
        raise CheckpointError(f"{where}: not a midivae checkpoint (format should be {FORMAT!r})")
    missing = [k for k in _REQUIRED if k not in record]
    if missing:
        raise CheckpointError(f"{where}: missing fields {missing}")
    if record["format_version"] not in (1, FORMAT_VERSION):
        raise CheckpointError(f"{where}: format version {record['format_version']!r:.100}, "
                              f"this library reads 1 and {FORMAT_VERSION}")
    if not isinstance(record.get("extra", {}), dict):
        raise CheckpointError(f"{where}: extra must be a JSON object")
    return {"extra": {}, **record}


def _read_json(path: Path):
    try:
        return read_json(path)
    except FileNotFoundError:
        raise CheckpointError(f"{path}: settings file not found") from None
    except FileReadError as e:  # a FIFO, a device, a huge file, not JSON, nested too deeply
        raise CheckpointError(f"{path}: not a readable JSON checkpoint ({e.reason})") from None
    except OSError as e:
        raise CheckpointError(f"{path}: not a readable JSON checkpoint ({e})") from None


def read_settings(path: str | os.PathLike) -> dict:
    """The checkpoint's record (format, model settings, layout, extra), checked.

    Read from the weights file's metadata; for a format-1 checkpoint, from its
    JSON file, whose SHA-256 of the weights must match.
    """
    weights, settings = checkpoint_paths(path)
    if not weights.exists() and not settings.exists():
        raise CheckpointError(f"{weights}: checkpoint not found")
    if weights.exists():
        metadata, _ = _header(weights)
        if _METADATA_KEY in metadata:
            try:
                record = parse_json(metadata[_METADATA_KEY], weights)
            except FileReadError as e:  # not JSON, or nested too deeply
                raise CheckpointError(f"{weights}: settings in its metadata are "
                                      f"{e.reason}") from None
            return _check_record(record, weights)
    record = _read_json(settings)  # format 1: the JSON holds the settings
    if isinstance(record, dict) and record.get("format_version") == 1:
        record = {**record, "layout": record.get("representation")}
        if not weights.exists():
            raise CheckpointError(f"{weights}: weights file not found")
        if _sha256(weights) != record.get("weights_sha256"):
            raise CheckpointError(f"{weights}: checksum differs from the one in {settings.name} "
                                  "(truncated, or not the weights saved with these settings)")
        return _check_record(record, settings)
    if not weights.exists():
        raise CheckpointError(f"{weights}: weights file not found")
    raise CheckpointError(f"{weights}: not a midivae checkpoint (no settings in its metadata)")


def _config_and_layout(record: dict, where: Path) -> tuple[ModelConfig, RollLayout | None]:
    """The model settings and the layout (built once, None for a bare model), each checked,
    and checked against each other."""
    try:
        config = ModelConfig.from_dict(record["model"])
    except (TypeError, ValueError) as e:
        raise CheckpointError(f"{where}: bad model settings ({e})") from None
    layout_dict = record["layout"]
    if not isinstance(layout_dict, dict):
        raise CheckpointError(f"{where}: layout must be a JSON object")
    if not layout_dict:  # a bare model (tests, experiments): nothing to check it against
        return config, None
    try:
        layout = RollLayout.from_dict(layout_dict)
        sizes = (layout.n_tracks, layout.n_pitches, layout.steps_per_bar)
    except (TypeError, ValueError, AttributeError) as e:
        raise CheckpointError(f"{where}: bad layout ({e})") from None
    if sizes != (config.n_tracks, config.n_pitches, config.steps_per_bar):
        raise CheckpointError(
            f"{where}: the layout ({sizes[0]} tracks, {sizes[1]} pitches, {sizes[2]} steps per "
            f"bar) does not fit the model ({config.n_tracks} tracks, {config.n_pitches} pitches, "
            f"{config.steps_per_bar} steps per bar)")
    if layout.labels and len(layout.labels) != config.n_labels:
        raise CheckpointError(f"{where}: the layout names {len(layout.labels)} labels, the model "
                              f"has {config.n_labels}")
    return config, layout


# Tensors a checkpoint may lack: the fitted prior (files from before it existed, and models
# never fitted), which then stays N(0, I).
_OPTIONAL = "prior."
_SIZED_ON_LOAD = {f"prior.{name}" for name in LatentPrior.MIXTURE}  # empty in a fresh model


def _check_shapes(weights: Path, config: ModelConfig,
                  found: dict[str, tuple[tuple[int, ...], str]]) -> None:
    """Every tensor the settings need is in the file with its shape and dtype, and they ask
    for no more weights than `midivae.bounds.MAX_PARAMETERS`; built on the meta device, so
    nothing is allocated for settings that do not fit the file or ask for too much."""
    state, n_weights = meta_weights(config)
    expected = {k: (tuple(v.shape), v.dtype) for k, v in state.items()}
    found = {k: v for k, v in found.items() if not k.startswith(STATE_PREFIX)}
    missing, unexpected = sorted(set(expected) - set(found)), sorted(set(found) - set(expected))
    missing = [k for k in missing if not k.startswith(_OPTIONAL)]
    if missing or unexpected:
        raise CheckpointError(f"{weights}: tensors do not match the settings: missing "
                              f"{missing}, unexpected {unexpected}")
    for name, (shape, code) in found.items():
        dtype = _DTYPES.get(code)
        if dtype == torch.float16 and expected[name][1] == torch.float32:
            dtype = torch.float32  # a model exported with half=True: widened on loading
        want = expected[name][0]
        if name == "prior.noises" and len(shape) == 2:  # diagonal noise: (C, Z)
            want = (*want, config.latent)
        if name in _SIZED_ON_LOAD and len(shape) == len(want):  # a mixture prior's C and R
            want = tuple(f if w == 0 else w for f, w in zip(shape, want))
        if shape != want or dtype != expected[name][1]:
            raise CheckpointError(f"{weights}: tensor {name!r} has shape {shape} {code}, the "
                                  f"settings need {expected[name][0]} {expected[name][1]}")
    try:
        check_weights(n_weights)
    except BoundError as e:  # consistent settings (a file of as many bytes) asking for GiBs
        raise CheckpointError(f"{weights}: {e}") from None


def load_checkpoint(path: str | os.PathLike, *, device: str | torch.device = "cpu") -> VAE:
    """Rebuild a `VAE` from a checkpoint, in evaluation mode on ``device``.

    Raises `midivae.errors.CheckpointError`, naming the file, when it is missing
    or malformed, its layout does not fit its model settings, or the tensors do
    not fit the settings (checked before any weight is allocated).
    """
    from safetensors import SafetensorError
    from safetensors.torch import load_file

    weights, _ = checkpoint_paths(path)
    record = read_settings(path)
    config, layout = _config_and_layout(record, weights)
    _, found = _header(weights)
    _check_shapes(weights, config, found)
    model = VAE(config, layout=layout)
    try:
        tensors = load_file(str(weights), device="cpu")
    except (SafetensorError, OSError, ValueError) as e:
        raise CheckpointError(f"{weights}: unreadable safetensors file ({e})") from None
    defaults = {k: v for k, v in model.state_dict().items() if k.startswith(_OPTIONAL)}
    model.load_state_dict({**defaults, **{k: v for k, v in tensors.items()
                                          if not k.startswith(STATE_PREFIX)}})
    return model.to(device).eval()


def stored_half(path: str | os.PathLike) -> bool:
    """Whether the checkpoint's weights are stored as float16 (`export_checkpoint`'s
    ``half``), read from the file's header only."""
    weights, _ = checkpoint_paths(path)
    _, found = _header(weights)
    return any(code == "F16" for _, code in found.values())


def read_state(path: str | os.PathLike) -> dict[str, torch.Tensor]:
    """The training-state tensors saved with a checkpoint (``{}`` when it has none)."""
    from safetensors import SafetensorError, safe_open

    weights, _ = checkpoint_paths(path)
    read_settings(path)  # checks the file is a midivae checkpoint
    try:
        with safe_open(str(weights), "pt") as f:
            return {k[len(STATE_PREFIX):]: f.get_tensor(k) for k in f.keys()
                    if k.startswith(STATE_PREFIX)}
    except (SafetensorError, OSError, ValueError) as e:
        raise CheckpointError(f"{weights}: unreadable safetensors file ({e})") from None


def export_checkpoint(source: str | os.PathLike, path: str | os.PathLike, *,
                      half: bool = True, about: str = "",
                      velocities: tuple[int, ...] | None = None,
                      accents: tuple[tuple[int, ...], ...] | None = None) -> Path:
    """Write the model of checkpoint ``source`` to ``path`` without its training state.

    The optimiser's moments and the random number generators' states go, so
    does the optimiser's record in ``extra``; the recipe, the run's facts and
    the step stay, with ``about`` (one line: what the model makes) added. With
    ``half`` the weights are stored as float16. ``velocities`` (one per track)
    replace the layout's typical velocities, which generated clips are played
    at (`midivae.data.PreparedSet.typical_velocities` gives a set's), and ``accents``
    (one per track and step of a bar, `PreparedSet.typical_accents`) its accents. Returns
    the weights' path. The training set's path becomes its folder's name: where
    it lay on the training machine is nobody else's business.
    """
    extra = dict(read_settings(source)["extra"])
    extra.pop("optimizer", None)
    for record in ("run", "prior"):  # where a set lay is nobody else's business
        if isinstance(extra.get(record), dict) and extra[record].get("dataset"):
            extra[record] = {**extra[record], "dataset": Path(extra[record]["dataset"]).name}
    if about:
        extra["about"] = about
    model = load_checkpoint(source)
    if velocities is not None:
        if model.layout is None:
            raise CheckpointError(f"{source}: a bare model has no layout to give velocities")
        model.layout = dataclasses.replace(model.layout, velocities=tuple(velocities),
                                           accents=accents)
    return save_checkpoint(model, path, extra=extra, half=half)
