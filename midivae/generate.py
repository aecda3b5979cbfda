"""Generation on piano rolls: the model's tensor API, with `PianoRoll` in and out.

A trained `midivae.models.VAE` carries ``representation``, the `RollLayout`
dict of the data it was trained on; these helpers use it to turn windows
(B, T, D) into `PianoRoll` objects and back. Every function that takes
``rolls`` accepts a list of rolls or a tensor of windows (B, T, D).
"""

from __future__ import annotations

from typing import Sequence

import numpy as np
import torch

from midivae.layout import RollLayout, from_array, to_array
from midivae.roll import PianoRoll

Rolls = Sequence[PianoRoll] | torch.Tensor


def layout_of(model) -> RollLayout:
    """The `RollLayout` stored in ``model.representation``.

    Raises ValueError when the model carries none, or one of another size.
    """
    if not model.representation:
        raise ValueError("the model carries no representation: set model.representation = "
                         "layout.to_dict() before generating piano rolls")
    layout = RollLayout.from_dict(model.representation)
    cfg = model.config
    if (layout.n_tracks, layout.n_pitches) != (cfg.n_tracks, cfg.n_pitches):
        raise ValueError(f"representation has {layout.n_tracks} tracks x {layout.n_pitches} "
                         f"pitches, the model {cfg.n_tracks} x {cfg.n_pitches}")
    return layout


def to_rolls(x: torch.Tensor, representation: dict | RollLayout) -> list[PianoRoll]:
    """Windows (B, T, D) (values in {0, 1} or probabilities) as B piano rolls."""
    layout = (representation if isinstance(representation, RollLayout)
              else RollLayout.from_dict(representation))
    x = x.detach().to("cpu", torch.float32).numpy()
    return [from_array(window, layout) for window in x]


def from_rolls(rolls: Sequence[PianoRoll], representation: dict | RollLayout) -> torch.Tensor:
    """Rolls of equal length T as windows: float32 tensor (B, T, D)."""
    layout = (representation if isinstance(representation, RollLayout)
              else RollLayout.from_dict(representation))
    arrays = [to_array(roll, layout) for roll in rolls]  # each (T, K, 2, P)
    if len({a.shape for a in arrays}) > 1:
        raise ValueError(f"rolls differ in length: {sorted({a.shape[0] for a in arrays})} steps")
    stacked = np.stack(arrays).reshape(len(arrays), arrays[0].shape[0], -1)  # (B, T, D)
    return torch.from_numpy(stacked.astype(np.float32))


def _windows(model, rolls: Rolls) -> torch.Tensor:
    if isinstance(rolls, torch.Tensor):
        return rolls
    return from_rolls(rolls, layout_of(model))


def sample(model, n: int, *, temperature: float = 1.0, seed: int | None = None,
           label=None) -> list[PianoRoll]:
    """n rolls drawn from the prior; see `VAE.sample`."""
    return to_rolls(model.sample(n, temperature=temperature, seed=seed, label=label),
                    layout_of(model))


def encode(model, rolls: Rolls, *, label=None) -> torch.Tensor:
    """Posterior means of the rolls' windows: (B, Z)."""
    return model.encode(_windows(model, rolls), label)


def decode(model, z: torch.Tensor, *, temperature: float = 0.0, seed: int | None = None,
           label=None) -> list[PianoRoll]:
    """Rolls decoded from latents (B, Z)."""
    return to_rolls(model.decode(z, label, temperature=temperature, seed=seed), layout_of(model))


def reconstruct(model, rolls: Rolls, *, temperature: float = 0.0, seed: int | None = None,
                label=None) -> list[PianoRoll]:
    """decode(encode(rolls))."""
    x = model.reconstruct(_windows(model, rolls), label, temperature=temperature, seed=seed)
    return to_rolls(x, layout_of(model))


def interpolate(model, a: PianoRoll | torch.Tensor, b: PianoRoll | torch.Tensor,
                steps: int = 5, *, method: str = "slerp", temperature: float = 0.0,
                seed: int | None = None, label=None) -> list[PianoRoll]:
    """``steps`` rolls from a to b along a slerp or lerp path in latent space."""
    xa, xb = (_windows(model, [r]) if isinstance(r, PianoRoll) else r[None]
              for r in (a, b))
    x = model.interpolate(xa[0], xb[0], steps, method=method, label=label,
                          temperature=temperature, seed=seed)
    return to_rolls(x, layout_of(model))


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
    return to_rolls(x, layout_of(model))
