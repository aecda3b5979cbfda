"""Bounds on what one input may cost, checked before anything is allocated (issue 27).

Each bound is a constant here, named in the README; the environment variable beside it
raises it for a machine that can take more. The bound on a roll's cells
(`midivae.midi.quantize.MAX_CELLS`) and the command line's bounds on counts
(`midivae.cli.checks`) are read the same way, by `env_bound`.
"""

from __future__ import annotations

import os

from midivae.errors import BoundError

# Weights of one model (parameters and buffers): 4 GiB as float32, 16 GiB to train with
# Adam's two moments and the gradients. MusicVAE's sizes (the *-gpu presets) over one piano
# track of 128 pitches hold 435 million; a checkpoint's settings asking for more, or
# `train --latent 2000000`, are refused before the model is built.
MAX_PARAMETERS = 2**30
PARAMETERS_ENV = "MIDIVAE_MAX_PARAMETERS"

# Seconds of audio one render makes (`midivae.midi.audio`): at 44.1 kHz, 30 minutes are 0.6
# GiB of float32 stereo samples, ~1.5 GiB at the peak of a render. A tiny MIDI file with a slow
# tempo asked for 55 GiB.
MAX_AUDIO_SECONDS = 30 * 60
AUDIO_SECONDS_ENV = "MIDIVAE_MAX_AUDIO_SECONDS"


def env_bound(env: str | None, default: int, low: int = 1) -> int:
    """The bound now: the whole number in ``$env`` when it is set (and not empty), else
    ``default``; `BoundError` for a value that is not a whole number >= ``low``."""
    text = os.environ.get(env, "") if env else ""
    if not text:
        return default
    try:
        value = int(text)
    except ValueError:
        value = low - 1
    if value < low:
        raise BoundError(f"{env} must be a whole number >= {low}, got {text!r}")
    return value


def raise_hint(env: str) -> str:
    """`` (set MIDIVAE_MAX_... to raise the bound)``: how every refusal ends."""
    return f" (set {env} to raise the bound)"
