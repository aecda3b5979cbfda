"""The protocol every data source follows: a `Source` of typed items, each loading a `Piece`.

A source module (`folder`, `pop909`, `corpus`, `boulanger`) has two functions:

- ``resolve(spec, root, labels) -> Source``: list the pieces (cheap: stats files
  or reads an index), one small picklable item per piece;
- ``load(item, steps_per_beat, velocity, sustain_pedal) -> Piece``: load one piece
  inside a preparation worker; it raises on a bad file and the caller records the
  reason. ``sustain_pedal`` is `midivae.midi.quantize`'s (sources without pedal ignore it).

Items are frozen dataclasses with an ``id`` (the piece's identity; splits hash
it), a ``label`` (for conditioning; "" when unlabelled) and a ``load`` method
that calls their module's ``load``. `midivae.data.sources` registers the
modules and turns a SOURCE string into a `Source`.

``limit`` takes a stable pseudo-random choice of items (`Source.choose`): items
are ranked by a SHA-256 of their id, so the choice is the same on every machine,
run and Python hash seed, and a larger limit keeps a smaller one's pieces.
"""

from __future__ import annotations

import hashlib
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import NamedTuple, Protocol

from midivae.midi.roll import PianoRoll


class Piece(NamedTuple):
    """One loaded piece, in its source's track layout (before roles)."""

    id: str  # identity: relative path or corpus name; splits hash it
    roll: PianoRoll
    split: str | None = None  # a published split, else None (hashed)
    label: str = ""  # class name for conditioning, "" when unlabelled
    warnings: tuple[str, ...] = ()  # conversions that changed something


class Item(Protocol):
    """One piece of a source, not yet loaded (picklable, sent to worker processes)."""

    id: str
    label: str

    def load(self, steps_per_beat: int, velocity: bool, sustain_pedal: bool = True) -> Piece: ...


@dataclass
class Source:
    """A resolved SOURCE: its work items and what a set built from it defaults to."""

    spec: str  # the SOURCE string as given
    kind: str  # the source module's name: "folder", "pop909", "music21", "boulanger", "several"
    slug: str  # default name of the prepared set's folder
    items: list  # of Item, one per piece
    roles: str  # default role spec (see `midivae.midi.roles.parse_roles`)
    steps_per_beat: int = 4  # default grid
    native_steps_per_beat: int | None = None  # frame rolls only: the grid the data has
    fingerprint: str = ""  # changes when the source's files change
    labelled: bool = False  # items carry conditioning labels
    info: dict = field(default_factory=dict)  # what the manifest records about it
    order: list[int] | None = None  # indices of items in the order ``limit`` takes them;
    # None: `hash_order` (joined sources take from each in turn)

    def limit_order(self) -> list[int]:
        """Indices of the items in the order ``limit`` takes them."""
        return self.order if self.order is not None else hash_order(self.items)

    def choose(self, limit: int | None) -> list:
        """The first ``limit`` items of `limit_order`, in source order; all when None.

        Not the first ``limit`` items of the source: a pseudo-random choice that is
        stable (ranked by a hash of each id) and grows by adding pieces, never swapping.
        """
        if limit is None or limit >= len(self.items):
            return list(self.items)
        return [self.items[i] for i in sorted(self.limit_order()[:limit])]


def hash_order(items: list) -> list[int]:
    """Indices of ``items`` ranked by the SHA-256 of ``"limit:" + id``: the order ``limit`` takes.

    The hash depends on the id alone, so it is the same on every machine and run,
    and a piece keeps its rank when other pieces join or leave the source. The
    prefix differs from every ``salt + "\\0"`` of `midivae.data.windows.assign_split`,
    so being chosen says nothing of a piece's split.
    """
    def key(i: int) -> tuple[bytes, int]:
        return hashlib.sha256(f"limit:{items[i].id}".encode()).digest(), i
    return sorted(range(len(items)), key=key)


def stat_fingerprint(files: list[Path]) -> str:
    """A hash of the files' paths, sizes and modification times (changes when they do)."""
    h = hashlib.sha256()
    for f in files:
        try:
            st = f.stat()
            h.update(f"{f}\x00{st.st_size}\x00{st.st_mtime_ns}\n".encode())
        except OSError:
            h.update(f"{f}\x00missing\n".encode())
    return h.hexdigest()


def slug(name: str) -> str:
    """A folder name made of ``name``'s safe characters."""
    return re.sub(r"[^A-Za-z0-9._-]+", "-", name).strip("-.") or "set"
