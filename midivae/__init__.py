"""midivae: variational autoencoders for multi-track MIDI."""

from midivae.errors import (CheckpointError, DatasetError, MidiReadError, MidivaeError,
                            RollTooLargeError)
from midivae.layout import RollLayout
from midivae.roll import PianoRoll, Track

__version__ = "0.1.0"

__all__ = ["PianoRoll", "Track", "RollLayout", "quantize", "render", "MidiReadError",
           "MidivaeError", "RollTooLargeError", "CheckpointError", "DatasetError"]


def __getattr__(name):
    # quantize/render load mido and pretty_midi: import them on first use only.
    if name == "quantize":
        from midivae.quantize import quantize
        return quantize
    if name == "render":
        from midivae.render import render
        return render
    raise AttributeError(f"module 'midivae' has no attribute {name!r}")
