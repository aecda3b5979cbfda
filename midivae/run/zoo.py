"""Shipped models: the checkpoints that come with the package, found by name.

``midivae/pretrained/`` holds each model as ``<name>.safetensors`` (weights and
settings, as `midivae.run.checkpoint.export_checkpoint` writes them) and
``<name>.json`` (the readable copy written beside it). An optional index,
``models.json`` in the same folder, picks the default model and may give each
model its one line::

    {"models": [{"name": "chorale", "about": "four-voice chorales", "default": true,
                 "temperature": 0.8}]}

and its sampling settings: ``temperature``, ``rules``, ``onset_bias`` (a number a
track by name, e.g. ``{"bridge": 2.0}``, see `midivae.models.VAE.onset_biases`) and
``every_track`` (true: a sample's window in which a track sounds no note is drawn again,
`midivae.models.vae.redraw_silent`).

Without an index a model's line is its checkpoint's ``extra["about"]`` and the
default is the first model by name. ``$MIDIVAE_MODELS`` (a folder, or several
joined by ``os.pathsep``) is searched instead of the packaged folder; a name
found in two folders is the first folder's. Only JSON is read here, so listing
the models loads no torch.
"""

from __future__ import annotations

import math
import os
import warnings
from dataclasses import dataclass
from pathlib import Path
from typing import Sequence

from midivae.errors import FileReadError, ModelError
from midivae.fileio import read_json

MODELS_ENV = "MIDIVAE_MODELS"
PACKAGED = Path(__file__).resolve().parents[1] / "pretrained"
INDEX = "models.json"
Folders = Sequence[str | os.PathLike] | None


@dataclass(frozen=True)
class ShippedModel:
    """What a shipped model makes, read from its JSON without loading it."""

    name: str  # what `midivae.load` and ``--model`` take
    path: Path  # the weights file, <name>.safetensors
    about: str  # one line: what the model makes ("" when neither index nor checkpoint says)
    default: bool  # the model used when none is named
    size: int  # bytes of the weights file
    tracks: tuple[str, ...]  # the names of the tracks it makes
    bars: int  # bars per window
    meter: tuple[int, int]  # time signature of its windows
    labels: tuple[str, ...]  # the labels it is conditioned on (none: unconditioned)
    temperature: float = 1.0  # the sampling temperature its card recommends (the demo's)
    rules: tuple[str, ...] = ()  # what its rewritten and written parts keep (`run.guides`)
    # what its samples add to the logit of a note's start, by track (`VAE.onset_biases`):
    # a track its prior leaves sparser than the data draws as many notes as the data's
    onset_bias: tuple[tuple[str, float], ...] = ()
    every_track: bool = False  # whether its samples draw again a window with a silent track


def model_folders(folders: Folders = None) -> list[Path]:
    """Where shipped models are looked for: ``folders``, else ``$MIDIVAE_MODELS``, else the
    package's ``pretrained/`` folder."""
    if folders is None:
        env = os.environ.get(MODELS_ENV)
        folders = [p for p in env.split(os.pathsep) if p] if env else [PACKAGED]
    return [Path(f) for f in folders]


def shipped_models(folders: Folders = None) -> list[ShippedModel]:
    """Every shipped model, sorted by name; exactly one is the default when there are any.

    A model whose JSON is missing or unreadable, or whose settings are out of bounds, is
    left out with a `UserWarning` naming the file and the field.
    """
    models, left_out, notes = _scan(folders)
    for line in notes + list(left_out.values()):
        warnings.warn(line, stacklevel=2)
    return models


def _scan(folders: Folders) -> tuple[list[ShippedModel], dict[str, str], list[str]]:
    """(the shipped models as `shipped_models` gives them, {name: why} of those left out,
    the lines about unreadable indexes), with no warning."""
    found: dict[str, ShippedModel] = {}
    left_out: dict[str, str] = {}
    notes: list[str] = []
    for folder in model_folders(folders):
        index = _read_index(folder, notes)
        for weights in sorted(folder.glob("*.safetensors")):
            if weights.stem not in found:
                try:
                    found[weights.stem] = _describe(weights, index.get(weights.stem, {}),
                                                    folder / INDEX)
                    left_out.pop(weights.stem, None)
                except _LeftOut as why:
                    left_out.setdefault(weights.stem, str(why))
    models = sorted(found.values(), key=lambda m: m.name)
    if models and not any(m.default for m in models):
        models[0] = _with_default(models[0])
    elif sum(m.default for m in models) > 1:  # two folders' indexes each name one: the first wins
        first = next(m.name for m in models if m.default)
        models = [m if m.name == first else _with_default(m, False) for m in models]
    return models, left_out, notes


def find_model(name: str | None = None, folders: Folders = None) -> ShippedModel:
    """The shipped model called ``name`` (None: the default one); ModelError naming the
    models there are otherwise, or why the one asked for was left out."""
    models, left_out, _ = _scan(folders)
    for m in models:
        if (m.default if name is None else m.name == name):
            return m
    if name in left_out or (name is None and left_out and not models):
        raise ModelError(left_out[name] if name is not None else next(iter(left_out.values())))
    unknown = "" if name is None else f"unknown model {name!r}: no checkpoint file or folder " \
        "of that name, and "
    if not models:
        where = ", ".join(str(f) for f in model_folders(folders))
        raise ModelError(unknown + f"no shipped model is installed (looked in {where}); give "
                         "a checkpoint, e.g. a run folder of `midivae train`")
    raise ModelError(unknown + f"no shipped model of that name "
                     f"({', '.join(m.name for m in models)})")


def recommended_temperature(given: str | os.PathLike | None = None,
                            folders: Folders = None) -> float:
    """The sampling temperature a shipped model's card recommends (``given`` None: the
    default model's); 1.0 for anything else, a checkpoint included (`midivae.load`
    prefers a file of that name to a shipped model)."""
    if given is not None and os.path.exists(given):
        return 1.0
    for m in _scan(folders)[0]:
        if (m.default if given is None else m.name == str(given)):
            return m.temperature
    return 1.0


def _read_index(folder: Path, notes: list[str]) -> dict[str, dict]:
    """``models.json`` of a folder as {name: entry}; {} when there is none, or when it
    cannot be read (said in ``notes``)."""
    path = folder / INDEX
    if not path.is_file():
        return {}
    try:
        entries = read_json(path)["models"]
        return {str(e["name"]): dict(e) for e in entries}
    except (OSError, FileReadError, KeyError, TypeError, ValueError) as err:
        notes.append(f"{path}: unreadable model index, ignored "
                     f"({err.reason if isinstance(err, FileReadError) else err})")
        return {}


class _LeftOut(Exception):
    """Why a shipped model is left out: one line naming its files and the field."""


def _describe(weights: Path, entry: dict, index: Path) -> ShippedModel:
    """What the model's readable JSON (and its index entry) say of it; `_LeftOut` when either
    cannot be read or holds a setting out of bounds. Its layout is checked as a loaded
    model's is (`RollLayout.from_dict`)."""
    from midivae.midi.layout import RollLayout

    settings = weights.with_suffix(".json")
    left_out = f"{weights}: left out of the shipped models"
    try:
        record = read_json(settings)
    except (OSError, FileReadError) as err:
        raise _LeftOut(f"{left_out}, its settings {settings.name} cannot be read "
                       f"({err.reason if isinstance(err, FileReadError) else err})") from None
    try:
        model, layout = record["model"], RollLayout.from_dict(record["layout"])
        steps, per_bar = model["n_steps"], model["steps_per_bar"]
        for field, value in (("model.n_steps", steps), ("model.steps_per_bar", per_bar)):
            if isinstance(value, bool) or not isinstance(value, int) or value < 1:
                raise ValueError(f"{field} must be a whole number >= 1, got {value!r:.100}")
        about = str(entry.get("about") or record.get("extra", {}).get("about", ""))
    except (KeyError, TypeError, ValueError, AttributeError) as err:
        what = f"missing field {err}" if isinstance(err, KeyError) else err
        raise _LeftOut(f"{left_out} ({settings}: {what})") from None
    temperature = entry.get("temperature", 1.0)
    if isinstance(temperature, bool) or not isinstance(temperature, (int, float)) \
            or not (math.isfinite(temperature) and temperature >= 0):
        raise _LeftOut(f"{left_out} ({index}: the temperature of {weights.stem!r} must be a "
                       f"finite number >= 0, got {temperature!r:.100})")
    from midivae.run.guides import check_rules

    rules = entry.get("rules", [])
    try:
        if not isinstance(rules, list) or not all(isinstance(r, str) for r in rules):
            raise ValueError(f"must be a list of names, got {rules!r:.100}")
        rules = check_rules(rules)
    except ValueError as err:
        raise _LeftOut(f"{left_out} ({index}: the rules of {weights.stem!r}: {err})") from None
    tracks = tuple(t.name for t in layout.tracks)
    biases = entry.get("onset_bias", {})
    if not isinstance(biases, dict) or not all(
            k in tracks and not isinstance(v, bool) and isinstance(v, (int, float))
            and math.isfinite(v) for k, v in biases.items()):
        raise _LeftOut(f"{left_out} ({index}: the onset_bias of {weights.stem!r} must map "
                       f"its tracks ({', '.join(tracks)}) to finite numbers, got "
                       f"{biases!r:.100})")
    every_track = entry.get("every_track", False)
    if not isinstance(every_track, bool):
        raise _LeftOut(f"{left_out} ({index}: the every_track of {weights.stem!r} must be true "
                       f"or false, got {every_track!r:.100})")
    return ShippedModel(weights.stem, weights, about.splitlines()[0] if about else "",
                        bool(entry.get("default", False)), weights.stat().st_size,
                        tracks, steps // per_bar, layout.time_signature, layout.labels,
                        float(temperature), rules,
                        tuple((k, float(v)) for k, v in biases.items()), every_track)


def _with_default(m: ShippedModel, default: bool = True) -> ShippedModel:
    from dataclasses import replace
    return replace(m, default=default)
