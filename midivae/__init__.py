"""midivae: variational autoencoders for multi-track MIDI.

Importing the package loads numpy and mido only; torch, pretty_midi and
music21 load when a function that needs them is first called.
"""

from midivae.errors import (CheckpointError, DatasetError, MidiReadError, MidivaeError,
                            RollTooLargeError)
from midivae.layout import RollLayout
from midivae.quantize import quantize
from midivae.roles import GM_FAMILY_ROLES, Role, assign_roles
from midivae.render import DEFAULT_VELOCITY, render
from midivae.roll import PianoRoll, Track

__version__ = "0.1.0"

__all__ = ["PianoRoll", "Track", "RollLayout", "quantize", "render", "assign_roles", "Role",
           "GM_FAMILY_ROLES", "DEFAULT_VELOCITY", "MidiReadError", "MidivaeError",
           "RollTooLargeError", "CheckpointError", "DatasetError"]
