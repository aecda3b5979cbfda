"""Generation on piano rolls: the model's tensor API, with `PianoRoll` in and out.

A trained `midivae.models.VAE` carries ``layout``, the `RollLayout` of the data
it was trained on (`midivae.run.checkpoint.load_checkpoint` builds it once); these
helpers use it to turn windows (B, T, D) into `PianoRoll` objects and back.
Every function that takes ``rolls`` accepts a list of rolls or a tensor of
windows (B, T, D).
"""

from __future__ import annotations

import itertools
from typing import Sequence

import torch

from midivae.midi.keys import estimate_key
from midivae.midi.layout import RollLayout
from midivae.midi.roll import PianoRoll

Rolls = Sequence[PianoRoll] | torch.Tensor


def layout_of(model) -> RollLayout:
    """``model.layout``, checked: a `RollLayout` of the model's tracks and pitches.

    Raises ValueError when the model carries none, or one of another size.
    """
    layout = model.layout
    if not isinstance(layout, RollLayout):
        raise ValueError(f"the model carries no layout (model.layout is {type(layout).__name__}): "
                         "build it with VAE(config, layout=RollLayout(...)) to generate rolls")
    cfg = model.config
    if (layout.n_tracks, layout.n_pitches) != (cfg.n_tracks, cfg.n_pitches):
        raise ValueError(f"layout has {layout.n_tracks} tracks x {layout.n_pitches} "
                         f"pitches, the model {cfg.n_tracks} x {cfg.n_pitches}")
    return layout


def _rolls(model, x: torch.Tensor) -> list[PianoRoll]:
    """Windows (B, T, D), values in {0, 1} or probabilities, as B piano rolls, each in the
    key its notes suggest (`midivae.midi.keys.estimate_key`; none for a clip without pitches)."""
    rolls = layout_of(model).from_windows(x.detach().to("cpu", torch.float32).numpy())
    return [r.replace(key_signatures=[(0, *key)]) if (key := estimate_key(r)) else r
            for r in rolls]


def _windows(model, rolls: Rolls) -> torch.Tensor:
    """Rolls of equal length as windows (B, T, D) float32; a tensor passes through."""
    if isinstance(rolls, torch.Tensor):
        return rolls
    return torch.from_numpy(layout_of(model).to_windows(rolls))


# More onsets than this per step and track, on average, is noise, not music.
DENSE_ONSETS_PER_STEP = 2.0


def sample(model, n: int, *, temperature: float = 1.0, seed: int | None = None,
           label=None, rounds: int | None = None, rules=(), every_track: bool = False,
           warn: bool = True) -> list[PianoRoll]:
    """n rolls drawn from the prior, their tracks rewritten ``rounds`` times for a model
    that rewrites (`VAE.sample`, `VAE.rewrite`), keeping ``rules`` as they are rewritten
    (names in `midivae.run.guides.RULES`); with ``every_track``, a window in which a track
    sounds no note is drawn again (`midivae.models.vae.redraw_silent`).

    Warns (`UserWarning`, one for the batch; none when ``warn`` is False) when clips come
    out silent or absurdly dense (more than ``DENSE_ONSETS_PER_STEP`` onsets per step and
    track, `warn_if_odd`): signs of an undertrained model or a temperature far from 1.
    """
    rolls = _rolls(model, model.sample(n, temperature=temperature, seed=seed, label=label,
                                       rounds=rounds, guide=_guide(model, rules),
                                       every_track=every_track))
    if warn:
        warn_if_odd(rolls, temperature, stacklevel=3)
    return rolls


def warn_if_odd(rolls: list[PianoRoll], temperature: float, stacklevel: int = 2) -> None:
    """One `UserWarning` when some of the clips are silent or hold more than
    ``DENSE_ONSETS_PER_STEP`` onsets per step and track."""
    import warnings

    n = len(rolls)
    silent = sum(r.n_notes == 0 for r in rolls)
    dense = sum(r.n_notes > DENSE_ONSETS_PER_STEP * r.n_steps * r.n_tracks for r in rolls)
    if silent or dense:
        said = [f"{silent} of {n} clips are silent"] if silent else []
        said += [f"{dense} of {n} clips hold more than {DENSE_ONSETS_PER_STEP:g} notes per "
                 "step and track"] if dense else []
        warnings.warn("; ".join(said) + f" (temperature {temperature:g}): the model may need "
                      "more training, or another temperature", stacklevel=stacklevel)


def encode(model, rolls: Rolls, *, label=None) -> torch.Tensor:
    """Posterior means of the rolls' windows: (B, Z)."""
    return model.encode(_windows(model, rolls), label)


def posterior(model, rolls: Rolls, *, label=None) -> tuple[torch.Tensor, torch.Tensor]:
    """q(z | x) of the rolls' windows: mean and standard deviation, each (B, Z)."""
    with torch.no_grad():
        mu, logvar = model.posterior(_windows(model, rolls), label)
    return mu, torch.exp(0.5 * logvar)


def decode(model, z: torch.Tensor, *, temperature: float = 0.0, seed: int | None = None,
           label=None, rounds: int = 0, rules=(), redraw=None) -> list[PianoRoll]:
    """Rolls decoded from latents (B, Z), their tracks then rewritten ``rounds`` times
    (`VAE.rewrite`), keeping ``rules``. ``redraw``, optional: ``redraw(rows)`` (R,) -> (R, Z)
    new latents for the windows of ``rows``; a window in which a track sounds no note is
    decoded again from one (`midivae.models.vae.redraw_silent`)."""
    x = model.decode(z, label, temperature=temperature, seed=seed)
    if redraw is not None:
        from midivae.models.vae import redraw_silent

        tries = itertools.count(2)  # each redraw decodes with a seed of its own

        def draw(rows: torch.Tensor) -> torch.Tensor:
            labels = label[rows] if torch.is_tensor(label) and label.ndim else label
            return model.decode(redraw(rows), labels, temperature=temperature,
                                seed=None if seed is None else seed + next(tries))
        x = redraw_silent(x, model.config.n_tracks, draw)
    if rounds:
        x = model.rewrite(x, label, rounds=rounds, temperature=temperature,
                          seed=None if seed is None else seed + 1, guide=_guide(model, rules))
    return _rolls(model, x)


def _guide(model, rules):
    """The guide keeping ``rules`` on the model's layout (`midivae.run.guides`), or None."""
    from midivae.run.guides import guide_for

    return guide_for(layout_of(model), rules) if rules else None


def reconstruct(model, rolls: Rolls, *, temperature: float = 0.0, seed: int | None = None,
                label=None) -> list[PianoRoll]:
    """decode(encode(rolls))."""
    x = model.reconstruct(_windows(model, rolls), label, temperature=temperature, seed=seed)
    return _rolls(model, x)


def interpolate(model, a: PianoRoll | torch.Tensor, b: PianoRoll | torch.Tensor,
                n: int = 5, *, method: str = "slerp", temperature: float = 0.0,
                seed: int | None = None, label=None) -> list[PianoRoll]:
    """``n`` rolls from a to b (both ends included) along a slerp or lerp path in latent
    space. ("steps" means grid steps and optimiser steps in midivae, never path points.)"""
    xa, xb = (_windows(model, [r]) if isinstance(r, PianoRoll) else r[None]
              for r in (a, b))
    x = model.interpolate(xa[0], xb[0], n, method=method, label=label,
                          temperature=temperature, seed=seed)
    return _rolls(model, x)


def attribute_vector(model, with_attribute: Rolls, without_attribute: Rolls) -> torch.Tensor:
    """Mean latent of rolls with a property minus those without: (Z,)."""
    return model.attribute_vector(_windows(model, with_attribute),
                                  _windows(model, without_attribute))


def apply_attribute(model, rolls: Rolls, vector: torch.Tensor, strength: float = 1.0, *,
                    temperature: float = 0.0, seed: int | None = None,
                    label=None) -> list[PianoRoll]:
    """Rolls decoded from their latents plus ``strength`` times an attribute vector."""
    x = model.apply_attribute(_windows(model, rolls), vector, strength, label=label,
                              temperature=temperature, seed=seed)
    return _rolls(model, x)
