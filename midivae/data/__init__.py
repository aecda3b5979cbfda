"""Datasets: any MIDI source to memory-mapped training windows, every piece accounted for.

>>> from midivae.data import prepare, make_loader
>>> prepared = prepare("bach-chorales", bars=4, limit=10)    # doctest: +SKIP
>>> for x, label in make_loader(prepared, "train", batch_size=32):   # doctest: +SKIP
...     ...  # x: (B, T, D) float32 in prepared.layout

Preparation is numpy + mido (+ music21 / scipy for the named sets that need
them); torch is imported only by `WindowDataset` and `make_loader`.
"""

from midivae.data.build import PrepareSettings, parse_meter, prepare
from midivae.data.sources import NAMED, resolve_source
from midivae.midi.roles import ROLE_PRESETS
from midivae.data.store import PreparedSet
from midivae.data.windows import SPLITS, assign_split

__all__ = ["prepare", "PrepareSettings", "PreparedSet", "parse_meter",
           "resolve_source", "assign_split", "NAMED", "ROLE_PRESETS", "SPLITS",
           "WindowDataset", "make_loader", "pad_collate"]


def __getattr__(name: str):
    if name in ("WindowDataset", "make_loader", "pad_collate"):
        from midivae.data import loader  # imports torch
        return getattr(loader, name)
    raise AttributeError(f"module 'midivae.data' has no attribute {name!r}")
