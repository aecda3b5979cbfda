"""A folder of MIDI files as a source: every ``.mid``/``.midi`` under it, in sorted order.

Listing only stats the files; a listed path that is not a regular file (a FIFO
or device named ``x.mid``) is refused unread when loaded
(`midivae.midi.smf.read_file`), never waited on. With ``labels``, each file is
labelled by its top-level subfolder.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

from midivae.data.source import Piece, Source, slug, stat_fingerprint

MIDI_SUFFIXES = (".mid", ".midi")


@dataclass(frozen=True)
class FileItem:
    id: str  # the path relative to the folder, with "/"
    path: str
    label: str = ""

    def load(self, steps_per_beat: int, velocity: bool, sustain_pedal: bool = True) -> Piece:
        return load(self, steps_per_beat, velocity, sustain_pedal)


def midi_files(folder: str | os.PathLike) -> list[Path]:
    """Every ``.mid``/``.midi`` under ``folder``, in sorted order (folders sorted too)."""
    files = []
    for dirpath, dirnames, filenames in os.walk(folder):
        dirnames.sort()
        files += [Path(dirpath, f) for f in sorted(filenames)
                  if f.lower().endswith(MIDI_SUFFIXES)]
    return files


def resolve(spec: str, root: Path, labels: bool) -> Source:
    folder = Path(spec)
    files = midi_files(folder)
    items = []
    for path in files:
        rel = path.relative_to(folder).as_posix()
        items.append(FileItem(rel, str(path), rel.split("/")[0] if labels and "/" in rel else ""))
    return Source(spec, "folder", slug(folder.resolve().name), items, roles="merge",
                  fingerprint=stat_fingerprint(files), labelled=labels,
                  info={"kind": "folder", "path": str(folder.resolve()), "files": len(items)})


def load(item: FileItem, steps_per_beat: int, velocity: bool, sustain_pedal: bool = True) -> Piece:
    from midivae.midi.quantize import quantize
    return Piece(item.id, quantize(item.path, steps_per_beat, velocity=velocity,
                                   sustain_pedal=sustain_pedal), label=item.label)
