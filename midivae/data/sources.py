"""Which source a SOURCE string names: the registry of source modules, and joined sources.

Every source module follows `midivae.data.source` (``resolve`` lists a
`Source` of typed items, ``load`` turns one item into a `Piece`):

==================  =========================================================
``folder``          a folder of MIDI files (`midivae.data.folder`)
``pop909``          POP909, by name or by path (`midivae.data.pop909`)
``music21``         ``bach-chorales``, ``essen-folk`` (`midivae.data.corpus`)
``boulanger``       ``boulanger:jsb`` and the other three (`midivae.data.boulanger`)
==================  =========================================================

Sources joined with ``+`` (``bach-chorales+essen-folk``) make one source whose
pieces are labelled by the source they come from. Role specs
(`midivae.midi.roles.parse_roles`) give every piece of a set one fixed track layout.
"""

from __future__ import annotations

import hashlib
import itertools
import os
from dataclasses import dataclass
from pathlib import Path

from midivae.errors import DatasetError
from midivae.data import boulanger, corpus, folder, pop909
from midivae.data.source import Item, Piece, Source

SOURCES = {"folder": folder, "pop909": pop909, "music21": corpus, "boulanger": boulanger}
NAMED = corpus.NAMES + ("pop909",) + tuple(f"boulanger:{name}" for name in boulanger.SETS)
DATA_ROOT_ENV = "MIDIVAE_DATA"  # where the shared data sets live, if not ../shared/data


def default_data_root() -> Path:
    """``$MIDIVAE_DATA`` if set, else ``../shared/data`` from the current directory."""
    return Path(os.environ.get(DATA_ROOT_ENV, os.path.join("..", "shared", "data")))


def resolve_source(spec: str, *, data_root: str | os.PathLike | None = None,
                   labels: bool = False) -> Source:
    """Turn a SOURCE string into a `Source`.

    Parameters
    ----------
    spec : str
        A folder of MIDI files, ``pop909`` (or a path to a POP909 folder),
        ``bach-chorales``, ``essen-folk``, or ``boulanger:jsb`` /
        ``boulanger:nottingham`` / ``boulanger:musedata`` / ``boulanger:piano-midi``;
        or several of these joined with ``+`` (``bach-chorales+essen-folk``), each
        piece labelled by its source.
    data_root : path, optional
        Folder holding ``boulanger/`` and ``pop909/``; see `default_data_root`.
    labels : bool
        Folders only: label each file by its top-level subfolder.
    """
    spec = str(spec)
    root = Path(data_root) if data_root is not None else default_data_root()
    if "+" in spec and not Path(spec).exists():
        return _resolve_several(spec, [resolve_source(part, data_root=root, labels=labels)
                                       for part in spec.split("+")])
    return SOURCES[_kind(spec)].resolve(spec, root, labels)


def _kind(spec: str) -> str:
    if spec in corpus.NAMES:
        return "music21"
    if spec.startswith("boulanger:"):
        return "boulanger"
    if spec == "pop909" or (Path(spec).is_dir() and pop909.looks_like(Path(spec))):
        return "pop909"
    if Path(spec).is_dir():
        return "folder"
    raise DatasetError(f"SOURCE {spec!r} is neither a folder nor a named set "
                       f"({', '.join(NAMED)})")


@dataclass(frozen=True)
class LabelledItem:
    """An item of one of several joined sources, labelled by its source."""

    id: str  # "<source>/<the item's own id>"
    label: str  # the source's spec
    item: Item

    def load(self, steps_per_beat: int, velocity: bool, sustain_pedal: bool = True) -> Piece:
        return self.item.load(steps_per_beat, velocity, sustain_pedal)._replace(
            id=self.id, label=self.label)


def _resolve_several(spec: str, parts: list[Source]) -> Source:
    """Sources joined with "+": each piece labelled by its source, for conditioning.

    Items alternate between the sources, and ``limit`` takes from each in turn
    in its own order: ``limit=16`` of two sources is ``limit=8`` of each (more of
    one when the other runs out). The track layout defaults to the sources'
    common one, else ``merge``.
    """
    if len({p.native_steps_per_beat for p in parts}) > 1:
        raise DatasetError(f"SOURCE {spec!r} mixes frame rolls of different rates; "
                           "join sets of one kind")
    slots = _alternate([[(k, i) for i in range(len(p.items))] for k, p in enumerate(parts)])
    items = [LabelledItem(f"{parts[k].spec}/{parts[k].items[i].id}", parts[k].spec,
                          parts[k].items[i]) for k, i in slots]
    where = {slot: n for n, slot in enumerate(slots)}  # (source, its index) -> joined index
    order = [where[slot] for slot in _alternate([[(k, i) for i in p.limit_order()]
                                                 for k, p in enumerate(parts)])]
    roles = parts[0].roles if len({p.roles for p in parts}) == 1 else "merge"
    return Source(spec, "several", "+".join(p.slug for p in parts), items, roles=roles,
                  steps_per_beat=parts[0].steps_per_beat,
                  native_steps_per_beat=parts[0].native_steps_per_beat,
                  fingerprint=hashlib.sha256("".join(p.fingerprint for p in parts).encode())
                  .hexdigest(), labelled=True,
                  info={"kind": "several", "sources": [p.info for p in parts]}, order=order)


def _alternate(queues: list[list]) -> list:
    """One from each queue in turn, skipping the ones that have run out (none holds None)."""
    return [x for row in itertools.zip_longest(*queues) for x in row if x is not None]
