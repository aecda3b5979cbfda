"""midivae: variational autoencoders for multi-track MIDI.

Importing the package loads numpy and mido only; torch, pretty_midi and
music21 load when a function that needs them is first called: ``midivae.load``
and ``midivae.Model`` (`midivae.api`) are looked up on first use.
"""

from midivae.errors import (BoundError, CheckpointError, DatasetError, MeterError,
                            MidiReadError, MidivaeError, ModelError, RollTooLargeError)
from midivae.midi.layout import RollLayout
from midivae.midi.quantize import quantize
from midivae.midi.roles import GM_FAMILY_ROLES, Role, assign_roles
from midivae.midi.render import DEFAULT_VELOCITY, render
from midivae.midi.roll import PianoRoll, Track, concatenate
from midivae.run.zoo import ShippedModel, shipped_models

__version__ = "0.1.0"

__all__ = ["PianoRoll", "Track", "RollLayout", "quantize", "render", "concatenate",
           "assign_roles", "Role", "GM_FAMILY_ROLES", "DEFAULT_VELOCITY", "load", "Model",
           "shipped_models", "ShippedModel", "MidiReadError", "MidivaeError",
           "RollTooLargeError", "BoundError", "CheckpointError", "DatasetError", "ModelError",
           "MeterError"]

_TORCH_NAMES = {"load": "midivae.api", "Model": "midivae.api"}  # need torch: imported on use


def __getattr__(name: str):
    if name in _TORCH_NAMES:
        import importlib
        return getattr(importlib.import_module(_TORCH_NAMES[name]), name)
    raise AttributeError(f"module 'midivae' has no attribute {name!r}")
