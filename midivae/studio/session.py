"""What a studio holds: its models, the clips it made (by id), and each model's latent
directions."""

from __future__ import annotations

import math
import threading
import uuid
from collections import OrderedDict
from typing import Any

import numpy as np

MAX_CLIPS = 500  # clips kept; the oldest go first
DIRECTION_SAMPLES = 96  # prior samples the attribute directions are measured on
AXES = 2  # main axes of the latent space offered beside the attributes


class BadRequest(ValueError):
    """A request the studio refuses: HTTP 400 with its message."""


class Studio:
    """The models a studio offers, its clips, and each model's latent directions.

    Parameters
    ----------
    models : list of str
        Shipped names or checkpoints; the first is the one the page starts with.
    """

    def __init__(self, models: list[str]):
        if not models:
            raise ValueError("a studio needs at least one model")
        self.names = list(dict.fromkeys(models))
        self._models: dict[str, Any] = {}
        self._directions: dict[str, dict[str, Any]] = {}
        self.clips: OrderedDict[str, tuple[str, Any]] = OrderedDict()
        self.lock = threading.Lock()  # one model call at a time

    # -- models --------------------------------------------------------------------
    def model(self, name: Any):
        """The model called ``name`` (loaded on first use); BadRequest for another name."""
        import midivae

        if not isinstance(name, str) or name not in self.names:
            raise BadRequest(f"unknown model {name!r}; this studio has {', '.join(self.names)}")
        if name not in self._models:
            self._models[name] = midivae.load(name)
        return self._models[name]

    def describe(self) -> list[dict]:
        """What the page shows of each model; shipped ones from their cards, unloaded."""
        from midivae.run.zoo import shipped_models

        cards = {m.name: m for m in shipped_models()}
        out = []
        for name in self.names:
            if name in cards and name not in self._models:
                c = cards[name]
                out.append({"name": name, "tracks": list(c.tracks), "bars": c.bars,
                            "meter": list(c.meter), "labels": list(c.labels),
                            "temperature": c.temperature, "about": c.about})
                continue
            m = self.model(name)
            out.append({"name": name, "tracks": [t.name for t in m.tracks], "bars": m.bars,
                        "meter": list(m.meter), "labels": list(m.labels),
                        "temperature": cards[name].temperature if name in cards else 1.0,
                        "about": cards[name].about if name in cards else name})
        return out

    # -- clips ---------------------------------------------------------------------
    def keep(self, model: str, roll, title: str) -> dict:
        clip_id = uuid.uuid4().hex[:12]
        self.clips[clip_id] = (model, roll)
        while len(self.clips) > MAX_CLIPS:
            self.clips.popitem(last=False)
        return clip_json(clip_id, model, roll, title)

    def clip(self, clip_id: Any):
        """(model name, roll) of a kept clip; BadRequest when there is none of that id."""
        if not isinstance(clip_id, str) or clip_id not in self.clips:
            raise BadRequest(f"no clip {clip_id!r} (clips are kept for this session only)")
        return self.clips[clip_id]

    # -- latent directions ---------------------------------------------------------
    def directions(self, name: str) -> dict[str, Any]:
        """Directions in the model's latent space, each a (Z,) tensor one slider unit long:
        note density, register and syncopation (MusicVAE's attribute vectors, Roberts et al.
        2018 sec. 5.4: the mean latent of the quarter of prior samples with the most of it
        less that of the quarter with the least, halved), and the ``AXES`` main axes of the
        samples' latents (principal directions, one standard deviation long)."""
        if name not in self._directions:
            import torch

            model = self.model(name)
            # the prior's own draws (rounds=0): the directions are the prior's, and
            # rewriting 96 chorale samples took half a minute
            samples = model.sample(DIRECTION_SAMPLES, temperature=0.5, seed=0, rounds=0)
            z, _ = model.encode(samples)  # (W, Z); one window a sample
            values = attributes(samples)
            found = {}
            for attr, v in values.items():
                order = np.argsort(v, kind="stable")
                q = max(1, len(order) // 4)
                found[attr] = (z[order[-q:]].mean(0) - z[order[:q]].mean(0)) / 2
            centred = z - z.mean(0)
            _, s, vh = torch.linalg.svd(centred, full_matrices=False)
            for i in range(min(AXES, len(s))):
                found[f"axis {i + 1}"] = vh[i] * s[i] / math.sqrt(max(len(z) - 1, 1))
            self._directions[name] = found
        return self._directions[name]


def attributes(rolls) -> dict[str, np.ndarray]:
    """Per roll: notes a bar ("density"), mean pitch of its pitched notes ("register"), and
    the share of its onsets off the beat ("syncopation")."""
    out = {"density": [], "register": [], "syncopation": []}
    for r in rolls:
        bars = max(len(r.bar_starts()), 1)
        t = np.nonzero(r.onset)
        out["density"].append(len(t[0]) / bars)
        out["register"].append(float(t[2].mean()) if len(t[0]) else 0.0)
        out["syncopation"].append(float((t[1] % r.steps_per_beat != 0).mean())
                                  if len(t[0]) else 0.0)
    return {k: np.asarray(v) for k, v in out.items()}


def clip_json(clip_id: str, model: str, roll, title: str) -> dict:
    """What the page draws and plays: notes per track as [pitch, start, end, velocity] in
    steps, and the grid."""
    notes = roll.notes()
    tracks = []
    for k, t in enumerate(roll.tracks):
        mine = notes[notes["track"] == k]
        tracks.append({"name": t.name, "drum": t.is_drum,
                       "notes": [[int(n["pitch"]), int(n["start"]), int(n["end"]),
                                  int(n["velocity"])] for n in mine]})
    lines = roll.bar_starts().tolist()
    return {"id": clip_id, "model": model, "title": title, "steps": roll.n_steps,
            "steps_per_beat": roll.steps_per_beat, "bar_lines": lines,
            "qpm": roll.tempos[0][1], "tracks": tracks, "notes": int(roll.n_notes)}
