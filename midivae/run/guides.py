"""Rules a filled-in or rewritten window keeps: the log-weight functions `VAE.complete` takes
as ``guide``, which tilt the model's draws towards windows that keep them. Naming and
checking rules loads no torch (`midivae.run.zoo` reads them from model cards)."""

from __future__ import annotations

import numpy as np

from midivae.midi.harmony import parallel_counts, top_pitch

# nats a draw loses for each parallel fifth or octave: exp(-10), so that among a completion's
# particles one without them is kept whenever there is one (4 nats left a few more: the
# shipped chorale's samples held one in 0.33 of windows, 0.27 at 10 and at 30 nats)
PARALLEL_NATS = 10.0


def parallels_guide(layout, nats: float = PARALLEL_NATS):
    """A guide costing ``nats`` for each parallel fifth or octave between the layout's pitched
    tracks (as `midivae.midi.harmony` counts them) in the steps scored, from the step before
    the first of them; None for a layout with fewer than two pitched tracks."""
    pitched = [k for k, t in enumerate(layout.tracks) if not t.is_drum]
    if len(pitched) < 2:
        return None
    k, p = layout.n_tracks, layout.n_pitches

    def guide(cells, step: int):
        """(N, t, D) tensor, the first step scored -> (N,) float tensor of log weights."""
        import torch

        part = cells[:, max(step - 1, 0):].detach().cpu()
        sustain = part.view(part.shape[0], part.shape[1], k, 2, p)[:, :, pitched, 1] > 0
        pitch = top_pitch(np.moveaxis(sustain.numpy(), 1, 2))  # (N, K', T)
        return torch.from_numpy(-nats * parallel_counts(pitch).astype(np.float32))
    return guide


# nats a draw loses for each leap (more than two semitones) of its top voice: at 2, 64 shipped
# chorale samples at 0.5 moved by step 0.64 of the time (0.56 without; Bach 0.71) with their
# chords kept (0.79); at 4, 0.71, but chords fell to 0.75; at 1, 0.61
LEAP_NATS = 2.0


def leaps_guide(layout, nats: float = LEAP_NATS):
    """A guide costing ``nats`` for each leap of the first pitched track: a move between
    successive onsets (their highest pitches) of more than two semitones, counted where the
    later onset lies in the steps scored; None for a layout without a pitched track."""
    pitched = [k for k, t in enumerate(layout.tracks) if not t.is_drum]
    if not pitched:
        return None
    k, p = layout.n_tracks, layout.n_pitches

    def guide(cells, step: int):
        """(N, t, D) tensor, the first step scored -> (N,) float tensor of log weights."""
        import torch

        part = cells.detach().cpu()
        onset = part.view(part.shape[0], part.shape[1], k, 2, p)[:, :, pitched[0], 0] > 0
        pitch = top_pitch(onset.numpy())  # (N, t): the highest onset, -1 where none
        leaps = np.zeros(len(pitch), np.float32)
        for row, pitches in enumerate(pitch):
            at = np.flatnonzero(pitches >= 0)
            moves = np.abs(np.diff(pitches[at]))
            leaps[row] = ((moves > 2) & (at[1:] >= step)).sum()
        return torch.from_numpy(-nats * leaps)
    return guide


# the rules a model card may name (models.json's "rules"), each a guide for a layout
RULES = {"no-parallels": parallels_guide, "stepwise-melody": leaps_guide}


def check_rules(rules) -> tuple[str, ...]:
    """``rules`` as a tuple of known rule names; ValueError naming an unknown one."""
    rules = tuple(rules)
    unknown = [r for r in rules if r not in RULES]
    if unknown:
        raise ValueError(f"unknown rule {unknown[0]!r:.100}; the rules are "
                         + ", ".join(RULES))
    return rules


def guide_for(layout, rules) -> "callable | None":
    """One guide keeping every rule of ``rules`` (names in `RULES`) on ``layout``, their log
    weights summed; None when there is none (or none applies to the layout)."""
    parts = [g for g in (RULES[r](layout) for r in check_rules(rules)) if g is not None]
    if not parts:
        return None
    if len(parts) == 1:
        return parts[0]
    return lambda cells, step: sum(g(cells, step) for g in parts)
