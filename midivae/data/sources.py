"""Where pieces come from: MIDI folders, POP909, and the named sets, as work items.

`resolve_source` turns a SOURCE string into a `Source`: a list of small,
picklable work items (one per piece) and the source's defaults. `load_piece`
turns one item into a `Piece` inside a preparation worker; it raises on a bad
file, and the caller records the reason. Listing a source only stats its files;
a listed path that is not a regular file (a FIFO or device named ``x.mid``) is
refused unread when loaded (`midivae.smf.read_file`), never waited on. Role
specs (`midivae.roles.parse_roles`) give every piece of a set the same fixed track layout.
"""

from __future__ import annotations

import hashlib
import itertools
import os
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import NamedTuple

import numpy as np

from midivae.errors import DatasetError
from midivae.roll import PianoRoll

MIDI_SUFFIXES = (".mid", ".midi")
NAMED = ("bach-chorales", "essen-folk", "pop909", "boulanger:jsb", "boulanger:nottingham",
         "boulanger:musedata", "boulanger:piano-midi")
DATA_ROOT_ENV = "MIDIVAE_DATA"  # where the shared data sets live, if not ../shared/data


@dataclass
class Source:
    """A resolved SOURCE: its work items and what a set built from it defaults to."""

    spec: str  # the SOURCE string as given
    kind: str  # "folder", "pop909", "boulanger", "bach-chorales" or "essen-folk"
    slug: str  # default name of the prepared set's folder
    items: list[tuple]  # one per piece; item[0] is the piece's identity
    roles: str  # default role spec (see `midivae.roles.parse_roles`)
    steps_per_beat: int = 4  # default grid
    native_steps_per_beat: int | None = None  # frame rolls only: the grid the data has
    fingerprint: str = ""  # changes when the source's files change
    info: dict = field(default_factory=dict)  # what the manifest records about it


class Piece(NamedTuple):
    """One loaded piece, in its source's track layout (before roles)."""

    id: str  # identity: relative path or corpus name; splits hash it
    roll: PianoRoll
    split: str | None = None  # a published split, else None (hashed)
    label: str = ""  # class name for conditioning, "" when unlabelled
    warnings: tuple[str, ...] = ()  # conversions that changed something


# -- resolving a SOURCE -----------------------------------------------------------
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
    if spec in ("bach-chorales", "essen-folk"):
        from midivae.data import corpus
        return corpus.resolve(spec)
    if spec.startswith("boulanger:"):
        from midivae.data import boulanger
        return boulanger.resolve(spec, root / "boulanger")
    if spec == "pop909" or (Path(spec).is_dir() and _looks_like_pop909(Path(spec))):
        return _resolve_pop909(spec, root / "pop909" if spec == "pop909" else Path(spec))
    if Path(spec).is_dir():
        return _resolve_folder(spec, Path(spec), labels)
    raise DatasetError(f"SOURCE {spec!r} is neither a folder nor a named set "
                       f"({', '.join(NAMED)})")


def _resolve_several(spec: str, parts: list[Source]) -> Source:
    """Sources joined with "+": each piece labelled by its source, for conditioning.

    Items alternate between the sources, so ``limit`` takes from each. The
    track layout defaults to the sources' common one, else ``merge``.
    """
    if len({p.native_steps_per_beat for p in parts}) > 1:
        raise DatasetError(f"SOURCE {spec!r} mixes frame rolls of different rates; "
                           "join sets of one kind")
    queues = [[(f"{p.spec}/{it[0]}", p.kind, p.spec, it) for it in p.items] for p in parts]
    items = [it for row in itertools.zip_longest(*queues) for it in row if it is not None]
    roles = parts[0].roles if len({p.roles for p in parts}) == 1 else "merge"
    return Source(spec, "several", "+".join(p.slug for p in parts), items, roles=roles,
                  steps_per_beat=parts[0].steps_per_beat,
                  native_steps_per_beat=parts[0].native_steps_per_beat,
                  fingerprint=hashlib.sha256("".join(p.fingerprint for p in parts).encode())
                  .hexdigest(), info={"kind": "several", "sources": [p.info for p in parts]})


def item_label(kind: str, item: tuple) -> str:
    """The conditioning label of a work item: a folder's subfolder, or a joined source's name."""
    return item[2] if kind in ("folder", "several") else ""


def _resolve_folder(spec: str, folder: Path, labels: bool) -> Source:
    files = []
    for dirpath, dirnames, filenames in os.walk(folder):
        dirnames.sort()
        files += [Path(dirpath, f) for f in sorted(filenames)
                  if f.lower().endswith(MIDI_SUFFIXES)]
    items = []
    for path in files:
        rel = path.relative_to(folder).as_posix()
        label = rel.split("/")[0] if labels and "/" in rel else ""
        items.append((rel, str(path), label))
    return Source(spec, "folder", _slug(folder.resolve().name), items, roles="merge",
                  fingerprint=_stat_fingerprint(files),
                  info={"kind": "folder", "path": str(folder.resolve()), "files": len(items)})


def _looks_like_pop909(folder: Path) -> bool:
    return (folder / "001" / "beat_midi.txt").is_file()


def _resolve_pop909(spec: str, folder: Path) -> Source:
    if not folder.is_dir():
        raise DatasetError(f"POP909 folder {folder} does not exist; pass data_root "
                           f"(--data-root) or set ${DATA_ROOT_ENV}")
    songs = sorted(p for p in folder.iterdir() if p.is_dir() and re.fullmatch(r"\d+", p.name))
    items = [(f"pop909/{p.name}", str(p)) for p in songs]
    files = [f for p in songs for f in (p / f"{p.name}.mid", p / "beat_midi.txt")]
    return Source(spec, "pop909", "pop909", items, roles="names:melody,bridge,piano",
                  fingerprint=_stat_fingerprint(files),
                  info={"kind": "pop909", "path": str(folder.resolve()), "songs": len(items)})


def _stat_fingerprint(files: list[Path]) -> str:
    h = hashlib.sha256()
    for f in files:
        try:
            st = f.stat()
            h.update(f"{f}\x00{st.st_size}\x00{st.st_mtime_ns}\n".encode())
        except OSError:
            h.update(f"{f}\x00missing\n".encode())
    return h.hexdigest()


def _slug(name: str) -> str:
    return re.sub(r"[^A-Za-z0-9._-]+", "-", name).strip("-.") or "set"


# -- loading one piece (runs in a worker) -------------------------------------------
def load_piece(kind: str, item: tuple, steps_per_beat: int, velocity: bool) -> Piece:
    """Load the piece of one work item; raises on a bad file (see module docstring)."""
    if kind == "folder":
        from midivae.quantize import quantize
        piece_id, path, label = item
        return Piece(piece_id, quantize(path, steps_per_beat, velocity=velocity), label=label)
    if kind == "several":
        piece_id, part_kind, label, part_item = item
        piece = load_piece(part_kind, part_item, steps_per_beat, velocity)
        return piece._replace(id=piece_id, label=label)
    if kind == "pop909":
        return _load_pop909(item, steps_per_beat, velocity)
    if kind == "boulanger":
        from midivae.data import boulanger
        return boulanger.load(item, steps_per_beat)
    if kind in ("bach-chorales", "essen-folk"):
        from midivae.data import corpus
        return corpus.load(kind, item, steps_per_beat, velocity)
    raise AssertionError(f"unknown source kind {kind!r}")


def _load_pop909(item: tuple, steps_per_beat: int, velocity: bool) -> Piece:
    """A POP909 song quantized against its ``beat_midi.txt``, meter from its downbeats."""
    from midivae.quantize import quantize
    piece_id, folder = item
    folder = Path(folder)
    beat_file = folder / "beat_midi.txt"
    if beat_file.exists() and not beat_file.is_file():  # a FIFO would block loadtxt forever
        raise DatasetError(f"{beat_file}: not a regular file")
    beats = np.loadtxt(beat_file, ndmin=2)
    if beats.ndim != 2 or beats.shape[1] < 3 or len(beats) < 2:
        raise DatasetError(f"{beat_file}: expected rows of "
                           f"(time, downbeat flag, downbeat flag), got shape {beats.shape}")
    sigs, notes = downbeat_meter(beats[:, 2] > 0, steps_per_beat)
    roll = quantize(folder / f"{folder.name}.mid", steps_per_beat, velocity=velocity,
                    beat_times=beats[:, 0], time_signatures=sigs)
    return Piece(piece_id, roll, warnings=tuple(notes))


def downbeat_meter(downbeat: np.ndarray, steps_per_beat: int
                   ) -> tuple[list[tuple[int, int, int]], list[str]]:
    """Time signatures from per-beat downbeat flags: a bar of g beats is g/4.

    Parameters
    ----------
    downbeat : np.ndarray of bool, shape (n_beats,)
        True on the first beat of each bar (POP909: column 3 of beat_midi.txt).
    steps_per_beat : int

    Returns
    -------
    list of (step, numerator, 4)
        Beats before the first downbeat form a pickup bar; the last bar keeps
        the length of the one before it.
    list of str
        Warnings (no downbeats at all: 4/4 assumed).
    """
    d = np.flatnonzero(downbeat)
    if len(d) == 0:
        return [(0, 4, 4)], ["no downbeats in beat_midi.txt: 4/4 assumed"]
    gaps = np.append(np.diff(d), np.diff(d)[-1] if len(d) > 1 else 4)
    sigs = [(0, int(d[0]), 4)] if d[0] > 0 else []
    sigs += [(int(b) * steps_per_beat, int(g), 4) for b, g in zip(d, gaps)]
    return sigs, []
