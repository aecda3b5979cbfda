"""Shipped models: the checkpoints that come with the package, found by name.

``midivae/pretrained/`` holds each model as ``<name>.safetensors`` (weights and
settings, as `midivae.run.checkpoint.export_checkpoint` writes them) and
``<name>.json`` (the readable copy written beside it). An optional index,
``models.json`` in the same folder, picks the default model and may give each
model its one line::

    {"models": [{"name": "chorale", "about": "four-voice chorales", "default": true,
                 "temperature": 0.8}]}

Without an index a model's line is its checkpoint's ``extra["about"]`` and the
default is the first model by name. ``$MIDIVAE_MODELS`` (a folder, or several
joined by ``os.pathsep``) is searched instead of the packaged folder; a name
found in two folders is the first folder's. Only JSON is read here, so listing
the models loads no torch.
"""

from __future__ import annotations

import json
import os
import warnings
from dataclasses import dataclass
from pathlib import Path
from typing import Sequence

from midivae.errors import ModelError

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


def model_folders(folders: Folders = None) -> list[Path]:
    """Where shipped models are looked for: ``folders``, else ``$MIDIVAE_MODELS``, else the
    package's ``pretrained/`` folder."""
    if folders is None:
        env = os.environ.get(MODELS_ENV)
        folders = [p for p in env.split(os.pathsep) if p] if env else [PACKAGED]
    return [Path(f) for f in folders]


def shipped_models(folders: Folders = None) -> list[ShippedModel]:
    """Every shipped model, sorted by name; exactly one is the default when there are any.

    A model whose JSON is missing or unreadable is left out with a `UserWarning`.
    """
    found: dict[str, ShippedModel] = {}
    for folder in model_folders(folders):
        index = _read_index(folder)
        for weights in sorted(folder.glob("*.safetensors")):
            if weights.stem not in found:
                model = _describe(weights, index.get(weights.stem, {}))
                if model is not None:
                    found[model.name] = model
    models = sorted(found.values(), key=lambda m: m.name)
    if models and not any(m.default for m in models):
        models[0] = _with_default(models[0])
    elif sum(m.default for m in models) > 1:  # two folders' indexes each name one: the first wins
        first = next(m.name for m in models if m.default)
        models = [m if m.name == first else _with_default(m, False) for m in models]
    return models


def find_model(name: str | None = None, folders: Folders = None) -> ShippedModel:
    """The shipped model called ``name`` (None: the default one); ModelError naming the
    models there are otherwise."""
    models = shipped_models(folders)
    for m in models:
        if (m.default if name is None else m.name == name):
            return m
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
    for m in shipped_models(folders):
        if (m.default if given is None else m.name == str(given)):
            return m.temperature
    return 1.0


def _read_index(folder: Path) -> dict[str, dict]:
    """``models.json`` of a folder as {name: entry}; {} when there is none."""
    path = folder / INDEX
    if not path.is_file():
        return {}
    try:
        entries = json.loads(path.read_text(encoding="utf-8"))["models"]
        return {str(e["name"]): dict(e) for e in entries}
    except (OSError, UnicodeDecodeError, ValueError, KeyError, TypeError) as err:
        warnings.warn(f"{path}: unreadable model index, ignored ({err})", stacklevel=3)
        return {}


def _describe(weights: Path, entry: dict) -> ShippedModel | None:
    settings = weights.with_suffix(".json")
    try:
        record = json.loads(settings.read_text(encoding="utf-8"))
        model, layout = record["model"], record["layout"]
        bars = int(model["n_steps"]) // int(model["steps_per_bar"])
        tracks = tuple(t.get("name", "") for t in layout.get("tracks", [{}]))
        meter = tuple(layout.get("time_signature", (4, 4)))
        labels = tuple(layout.get("labels", ()))
        about = str(entry.get("about") or record.get("extra", {}).get("about", ""))
        temperature = float(entry.get("temperature", 1.0))
    except (OSError, UnicodeDecodeError, ValueError, KeyError, TypeError, AttributeError) as err:
        warnings.warn(f"{weights}: left out of the shipped models, its settings "
                      f"{settings.name} cannot be read ({err})", stacklevel=3)
        return None
    return ShippedModel(weights.stem, weights, about.splitlines()[0] if about else "",
                        bool(entry.get("default", False)), weights.stat().st_size, tracks,
                        bars, meter, labels, temperature)


def _with_default(m: ShippedModel, default: bool = True) -> ShippedModel:
    from dataclasses import replace
    return replace(m, default=default)
