"""Many pieces fitted to a model's layout at once, to measure the model on them.

`fit_files` fits a folder of MIDI files (or one file) and `fit_set` the pieces of
one split of a prepared set of another layout, each piece as
`midivae.data.fitting.fit_piece` (and so `Model.fit`) fits it: tracks mapped by
role, pitched notes moved by whole octaves into the layout's pitches, the piece
cut at bar lines into windows. A piece that cannot be fitted (unreadable, in
another meter, no notes for the model's tracks) is skipped with one warning
naming it and the reason. `FittedSource` keeps the windows and counts what was
changed; `FittedSource.summary` says it in one line. numpy only.
"""

from __future__ import annotations

import os
import warnings
from dataclasses import dataclass, field
from pathlib import Path
from typing import Iterable

from midivae.data.fitting import OutsidePitchesWarning, Roles, fit_piece
from midivae.data.folder import MIDI_SUFFIXES, midi_files
from midivae.errors import DatasetError, MidivaeError
from midivae.midi.layout import RollLayout
from midivae.midi.roll import PianoRoll


@dataclass
class FittedSource:
    """The windows of many pieces fitted to a layout, and what fitting changed."""

    source: str  # the folder, file or prepared set the pieces came from
    noun: str  # what a piece is called in words: "file" or "piece"
    windows: list[PianoRoll] = field(default_factory=list)  # the layout's windows, in order
    pieces: list[str] = field(default_factory=list)  # the pieces fitted, by name
    skipped: list[tuple[str, str]] = field(default_factory=list)  # (piece, why) of each left out
    moved: int = 0  # pieces moved by whole octaves towards the layout's pitches
    notes_left_out: int = 0  # notes still outside the layout's pitches after the move
    changes: list[str] = field(default_factory=list)  # how a set's layout differs, in words

    def summary(self) -> str:
        """What was fitted and changed, in one line, e.g. "12 files, 48 windows; 3 files
        moved by whole octaves; 2 notes outside the model's pitches left out"."""
        said = [f"{_count(len(self.pieces), self.noun)}, {_count(len(self.windows), 'window')}"]
        if self.moved:
            said.append(f"{_count(self.moved, self.noun)} moved by whole octaves")
        if self.notes_left_out:
            said.append(f"{_count(self.notes_left_out, 'note')} outside the model's pitches "
                        "left out")
        if self.skipped:
            said.append(f"{_count(len(self.skipped), self.noun)} skipped")
        return "; ".join(said)

    def to_dict(self) -> dict:
        """Everything but the windows, for JSON."""
        return {"source": self.source, "pieces": len(self.pieces), "windows": len(self.windows),
                "moved": self.moved, "notes_left_out": self.notes_left_out,
                "skipped": [list(s) for s in self.skipped], "changes": list(self.changes),
                "summary": self.summary()}


def fit_files(path: str | os.PathLike, layout: RollLayout, bars: int, roles: Roles, *,
              model: str = "the model") -> FittedSource:
    """Every MIDI file under the folder ``path`` (`midivae.data.folder.midi_files`), or the
    one file ``path``, fitted to ``layout`` in windows of ``bars`` bars, its tracks mapped by
    ``roles`` (in file order when they match none). ``model`` names the model in messages.

    Raises `DatasetError` when ``path`` does not exist, holds no MIDI file, or none of its
    files can be fitted (each is named in a warning)."""
    path = Path(path)
    if os.path.isdir(path):
        files = midi_files(path)
        if not files:
            raise DatasetError(f"{path}: no MIDI files ({', '.join(MIDI_SUFFIXES)}) in it")
    elif os.path.lexists(path):
        files = [path]
    else:
        raise DatasetError(f"{path}: no such file or folder")
    out = FittedSource(str(path), "file")
    _fit_all(out, ((str(f), f) for f in files), layout, bars, roles, model)
    return out


def fit_set(prepared, split: str, layout: RollLayout, bars: int, roles: Roles, *,
            model: str = "the model", changes: Iterable[str] = ()) -> FittedSource:
    """The pieces of ``prepared``'s ``split``, each whole (`PreparedSet.piece_roll`), fitted
    as `fit_files` fits files; ``changes`` (how the set's layout differs from ``layout``,
    in words) is kept for the summary.

    Raises `DatasetError` when the split holds no piece, or none can be fitted."""
    pieces = prepared.piece_indices(split)
    if not len(pieces):
        raise DatasetError(f"{prepared.path}: the {split} split holds no piece")
    out = FittedSource(str(prepared.path), "piece", changes=list(changes))
    named = ((f"{prepared.path}: {prepared.piece_ids[int(p)]}", prepared.piece_roll(int(p)))
             for p in pieces)
    _fit_all(out, named, layout, bars, roles, model)
    return out


def _fit_all(out: FittedSource, named: Iterable[tuple[str, object]], layout: RollLayout,
             bars: int, roles: Roles, model: str) -> None:
    """Fit each (name, piece) into ``out``; warn for each one skipped."""
    for name, piece in named:
        try:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore", OutsidePitchesWarning)  # counted instead
                fitted = fit_piece(piece, layout, bars, roles, model=model, name=name)
        except (MidivaeError, OSError) as err:
            why = _message(name, err)
            out.skipped.append((name, why))
            warnings.warn(f"{why}; skipped", stacklevel=3)
            continue
        out.windows += fitted.windows
        out.pieces.append(name)
        out.moved += fitted.shift != 0
        out.notes_left_out += fitted.roll.n_notes - fitted.inside.n_notes
    if not out.pieces:
        raise DatasetError(f"{out.source}: none of its {_count(len(out.skipped), out.noun)} "
                           f"fits {model} (see the warnings)")


def _message(name: str, err: Exception) -> str:
    """The error in one message that names the piece first."""
    text = err.strerror or str(err) if isinstance(err, OSError) else str(err)
    return text if text.startswith(name) else f"{name}: {text}"


def _count(n: int, noun: str) -> str:
    return f"{n} {noun}{'s' * (n != 1)}"
