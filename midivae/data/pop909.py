"""POP909 (Wang et al. 2020) as a source: 909 songs, each quantized against its beat file.

Each song folder ``NNN/`` holds ``NNN.mid`` (tracks MELODY, BRIDGE, PIANO) and
``beat_midi.txt`` (per beat: time in seconds and two downbeat flags). Notes are
quantized against those beat times, and the meter comes from the downbeats.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from midivae.errors import DatasetError
from midivae.data.source import Piece, Source, stat_fingerprint


@dataclass(frozen=True)
class SongItem:
    id: str  # "pop909/NNN"
    folder: str
    label: str = ""

    def load(self, steps_per_beat: int, velocity: bool, sustain_pedal: bool = True) -> Piece:
        return load(self, steps_per_beat, velocity, sustain_pedal)


def looks_like(folder: Path) -> bool:
    """Whether ``folder`` is a POP909 folder (it has ``001/beat_midi.txt``)."""
    return (folder / "001" / "beat_midi.txt").is_file()


def resolve(spec: str, root: Path, labels: bool) -> Source:
    folder = root / "pop909" if spec == "pop909" else Path(spec)
    if not folder.is_dir():
        raise DatasetError(f"POP909 folder {folder} does not exist; pass data_root "
                           "(--data-root) or set $MIDIVAE_DATA")
    songs = sorted(p for p in folder.iterdir() if p.is_dir() and re.fullmatch(r"\d+", p.name))
    items = [SongItem(f"pop909/{p.name}", str(p)) for p in songs]
    files = [f for p in songs for f in (p / f"{p.name}.mid", p / "beat_midi.txt")]
    return Source(spec, "pop909", "pop909", items, roles="names:melody,bridge,piano",
                  fingerprint=stat_fingerprint(files),
                  info={"kind": "pop909", "path": str(folder.resolve()), "songs": len(items)})


def load(item: SongItem, steps_per_beat: int, velocity: bool, sustain_pedal: bool = True) -> Piece:
    """A song quantized against its ``beat_midi.txt``, meter from its downbeats; the
    piano's sustain pedal lengthens its notes unless ``sustain_pedal`` is False."""
    from midivae.midi.quantize import quantize
    folder = Path(item.folder)
    beat_file = folder / "beat_midi.txt"
    if beat_file.exists() and not beat_file.is_file():  # a FIFO would block loadtxt forever
        raise DatasetError(f"{beat_file}: not a regular file")
    beats = np.loadtxt(beat_file, ndmin=2)
    if beats.ndim != 2 or beats.shape[1] < 3 or len(beats) < 2:
        raise DatasetError(f"{beat_file}: expected rows of "
                           f"(time, downbeat flag, downbeat flag), got shape {beats.shape}")
    sigs, said = downbeat_meter(beats[:, 2] > 0, steps_per_beat)
    roll = quantize(folder / f"{folder.name}.mid", steps_per_beat, velocity=velocity,
                    beat_times=beats[:, 0], time_signatures=sigs, sustain_pedal=sustain_pedal)
    return Piece(item.id, roll, warnings=tuple(said))


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
