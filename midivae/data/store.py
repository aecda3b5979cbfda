"""The on-disk form of a prepared set, and `PreparedSet` to read it back.

A set is a folder of flat binary arrays plus ``manifest.json``:

- ``notes.bin``   every note of every kept piece (NOTE_DTYPE), by piece, sorted by start;
- ``pieces.bin``  per piece: where its notes, tempos and meters are, its length,
  split and label (PIECE_DTYPE); ``pieces.json`` its identities;
- ``tempos.bin``, ``meters.bin``  each piece's tempo map and time signatures;
- ``windows.bin`` every window: piece, steps, meter, note count, pitch bounds.

Pieces are stored once and windows are views into them, so overlapping windows
cost nothing. Everything is memory-mapped: opening a set reads the manifest
only, and a window is built from the few notes it covers.
"""

from __future__ import annotations

import hashlib
import json
import os
import stat
from dataclasses import replace
from functools import cached_property
from pathlib import Path

import numpy as np

from midivae.errors import DatasetError, FileReadError
from midivae.fileio import MAX_JSON_BYTES, parse_json, read_json, read_regular
from midivae.midi.layout import RollLayout
from midivae.midi.render import DEFAULT_VELOCITY
from midivae.midi.roll import PianoRoll, events_in
from midivae.data.windows import NOTE_DTYPE, SPLITS, WINDOW_DTYPE

FORMAT = 2  # bump when the files below change meaning (2: the manifest lists sizes, checksums)
KIND = "midivae prepared set"  # the manifest's "kind": only a folder saying so is ever replaced
PIECE_DTYPE = np.dtype([("note_start", "<i8"), ("note_count", "<i8"), ("n_steps", "<u4"),
                        ("longest", "<u4"), ("split", "u1"), ("label", "<i4"),
                        ("tempo_start", "<i8"), ("tempo_count", "<i4"),
                        ("meter_start", "<i8"), ("meter_count", "<i4")])
TEMPO_DTYPE = np.dtype([("step", "<u4"), ("qpm", "<f8")])
METER_DTYPE = np.dtype([("step", "<u4"), ("num", "u1"), ("den", "u1")])
ARRAYS = {"notes": NOTE_DTYPE, "pieces": PIECE_DTYPE, "tempos": TEMPO_DTYPE,
          "meters": METER_DTYPE, "windows": WINDOW_DTYPE}
DATA_FILES = tuple(f"{name}.bin" for name in ARRAYS) + ("pieces.json",)  # sized and checksummed
SET_FILES = frozenset(DATA_FILES + ("manifest.json",))  # everything a set folder holds


class SetWriter:
    """Appends pieces to the files of a set under construction (see module docstring)."""

    def __init__(self, folder: Path):
        self.folder = Path(folder)
        self.files = {name: open(self.folder / f"{name}.bin", "wb") for name in ARRAYS}
        self.hashes = {name: hashlib.sha256() for name in ARRAYS}
        self.size = dict.fromkeys(ARRAYS, 0)
        self.ids: list[str] = []

    def add(self, piece_id: str, split: str, label: int, n_steps: int, notes: np.ndarray,
            tempos, meters, windows: np.ndarray) -> None:
        """Append one piece and its windows (``windows["piece"]`` is filled in here)."""
        piece = np.zeros(1, PIECE_DTYPE)
        piece["note_start"], piece["note_count"] = self.size["notes"], len(notes)
        piece["n_steps"], piece["split"], piece["label"] = n_steps, SPLITS.index(split), label
        piece["longest"] = (notes["end"] - notes["start"]).max(initial=0)
        piece["tempo_start"], piece["tempo_count"] = self.size["tempos"], len(tempos)
        piece["meter_start"], piece["meter_count"] = self.size["meters"], len(meters)
        windows = windows.copy()
        windows["piece"] = len(self.ids)
        self._write("notes", notes)
        self._write("tempos", np.array([tuple(t) for t in tempos], TEMPO_DTYPE))
        self._write("meters", np.array([tuple(m) for m in meters], METER_DTYPE))
        self._write("windows", windows)
        self._write("pieces", piece)
        self.ids.append(piece_id)

    def _write(self, name: str, array: np.ndarray) -> None:
        assert array.dtype == ARRAYS[name], (name, array.dtype)
        data = array.tobytes()
        self.files[name].write(data)
        self.hashes[name].update(data)
        self.size[name] += len(array)

    def close(self) -> dict[str, dict]:
        """Flush everything to disk (fsync), so that a rename afterwards publishes a whole set.

        Returns ``{file name: {"bytes": size, "sha256": hex digest}}`` for the manifest.
        """
        listing = {}
        for name, f in self.files.items():
            f.flush()
            os.fsync(f.fileno())
            listing[f"{name}.bin"] = {"bytes": f.tell(), "sha256": self.hashes[name].hexdigest()}
            f.close()
        ids = json.dumps(self.ids).encode()
        with open(self.folder / "pieces.json", "wb") as f:
            f.write(ids)
            f.flush()
            os.fsync(f.fileno())
        listing["pieces.json"] = {"bytes": len(ids), "sha256": hashlib.sha256(ids).hexdigest()}
        return listing


def write_manifest(folder: Path, manifest: dict) -> None:
    with open(Path(folder) / "manifest.json", "w") as f:
        json.dump(manifest, f, indent=1)
        f.flush()
        os.fsync(f.fileno())


def read_manifest(folder: str | os.PathLike) -> dict | None:
    """The manifest of the set midivae wrote in ``folder``, or None when it holds none.

    A ``manifest.json`` that midivae did not write (not JSON, no ``"kind"`` saying so,
    or a format this version cannot read) is not a set's manifest. One that is no
    regular file or is over `midivae.fileio.MAX_JSON_BYTES` raises `DatasetError`
    naming it, unread.
    """
    path = Path(folder) / "manifest.json"
    try:
        data = read_regular(path, MAX_JSON_BYTES, "a JSON file")
    except FileReadError as err:  # a FIFO, a device, a huge file: never waited on nor read
        raise DatasetError(str(err)) from None
    except OSError:
        return None
    try:
        manifest = parse_json(data, path)
    except FileReadError:
        return None
    if not isinstance(manifest, dict) or manifest.get("kind") != KIND \
            or manifest.get("format") != FORMAT or not isinstance(manifest.get("files"), dict):
        return None
    return manifest


def foreign_files(folder: str | os.PathLike) -> list[str]:
    """Names in a set's folder that midivae did not write there (a user's own files)."""
    return sorted(p.name for p in Path(folder).iterdir() if p.name not in SET_FILES)


def damage(folder: str | os.PathLike, manifest: dict, *, checksums: bool) -> str | None:
    """Why the set's files do not match its manifest (missing, resized, changed), or None.

    Sizes are compared always; SHA-256 checksums too when ``checksums`` is true.
    """
    for name, want in manifest["files"].items():
        path = Path(folder) / name
        try:
            st = path.stat()
        except OSError:
            return f"{name} is missing"
        if not stat.S_ISREG(st.st_mode):  # a FIFO would be waited on, a device read forever
            return f"{name} is not a regular file"
        size = st.st_size
        if size != want["bytes"]:
            return f"{name} is {size} bytes, the manifest says {want['bytes']}"
        if checksums:
            h = hashlib.sha256()
            with open(path, "rb") as f:
                for block in iter(lambda: f.read(1 << 20), b""):
                    h.update(block)
            if h.hexdigest() != want["sha256"]:
                return f"{name} differs from the file the manifest records (checksum)"
    return None


MAX_WINDOW_BARS = 1024  # bars of a set's windows (prepare's --bars: 2 to 16 in practice)


def _checked_layout(manifest: dict, path: Path) -> RollLayout:
    """The set's layout, once every field of the manifest that `PreparedSet` uses is checked
    with its bounds: a manifest is a file anyone may have edited. `DatasetError` naming
    ``path`` and the field otherwise."""
    def bad(field: str, rule: str, value):
        raise DatasetError(f"{path}: {field} must be {rule}, got {value!r:.100}")

    for name, want in manifest["files"].items():
        if name not in DATA_FILES or not isinstance(want, dict) \
                or not _whole(want.get("bytes"), 0) or not isinstance(want.get("sha256"), str):
            bad(f"files[{name!r:.100}]", "one of the set's files, {\"bytes\": N, \"sha256\": ...}",
                want)
    settings, counts = manifest.get("settings"), manifest.get("counts")
    if not isinstance(settings, dict) or not _whole(settings.get("bars"), 1, MAX_WINDOW_BARS):
        bad("settings.bars", f"a whole number from 1 to {MAX_WINDOW_BARS}",
            settings.get("bars") if isinstance(settings, dict) else settings)
    windows = counts.get("windows") if isinstance(counts, dict) else None
    if not isinstance(windows, dict) or sorted(windows) != sorted(SPLITS) \
            or not all(_whole(n, 0) for n in windows.values()):
        bad("counts.windows", f"a count of windows for each of {', '.join(SPLITS)}", windows)
    labels = manifest.get("labels")
    if not isinstance(labels, list) or not all(isinstance(n, str) for n in labels):
        bad("labels", "a list of names", labels)
    if not isinstance(manifest.get("velocity"), bool):
        bad("velocity", "true or false", manifest.get("velocity"))
    if not isinstance(manifest.get("layout"), dict):
        bad("layout", "an object", manifest.get("layout"))
    try:
        return replace(RollLayout.from_dict(manifest["layout"]), labels=tuple(labels))
    except (TypeError, ValueError) as err:
        raise DatasetError(f"{path}: layout: {err}") from None


def _whole(value, low: int, high: float = float("inf")) -> bool:
    return isinstance(value, int) and not isinstance(value, bool) and low <= value <= high


class PreparedSet:
    """A prepared set on disk, memory-mapped.

    Parameters
    ----------
    path : path
        The set's folder (what `midivae.data.prepare` returned or wrote).

    Attributes
    ----------
    manifest : dict
        Sources, settings, counts, skipped files and reasons (``manifest.json``).
    layout : RollLayout
        Grid, pitch range, tracks, meter, tempo and label names of the model
        tensors; it cuts every window (`window_array`, `window_roll`).
    reused : bool
        True when `prepare` found this set already built with the same settings.
    """

    def __init__(self, path: str | os.PathLike):
        self.path = Path(path)
        manifest = read_manifest(self.path)
        if manifest is None:
            raise DatasetError(f"{self.path} holds no prepared set of format {FORMAT} "
                               "(run `midivae prepare`)")
        layout = _checked_layout(manifest, self.path / "manifest.json")
        why = damage(self.path, manifest, checksums=False)
        if why:
            raise DatasetError(f"{self.path}: the set is damaged ({why}); rebuild it with "
                               "`midivae prepare ... --force`")
        self.manifest = manifest
        self.layout = layout
        self.velocity = bool(manifest["velocity"])  # False when the source has none
        self.reused = False
        a = {name: _map(self.path / f"{name}.bin", dtype) for name, dtype in ARRAYS.items()}
        self.notes, self.pieces, self.tempos = a["notes"], a["pieces"], a["tempos"]
        self.meters, self.windows = a["meters"], a["windows"]

    def __len__(self) -> int:
        return len(self.windows)

    def __getstate__(self):  # pickled (DataLoader workers): reopen, never copy the arrays
        return {"path": self.path, "reused": self.reused}

    def __setstate__(self, state):
        self.__init__(state["path"])
        self.reused = state["reused"]

    def __repr__(self) -> str:
        counts = self.manifest["counts"]["windows"]
        return (f"PreparedSet({str(self.path)!r}, windows={counts}, "
                f"tracks={[t.name for t in self.layout.tracks]}, "
                f"pitches={self.layout.pitches[0]}..{self.layout.pitches[-1]})")

    @cached_property
    def piece_ids(self) -> list[str]:
        try:
            return read_json(self.path / "pieces.json")
        except FileReadError as err:
            raise DatasetError(str(err)) from None

    @property
    def bars(self) -> int:
        """Bars per window."""
        return int(self.manifest["settings"]["bars"])

    @property
    def meter(self) -> tuple[int, int] | None:
        """The one meter of every window, (numerator, denominator); None for mixed meters."""
        return self.layout.time_signature if self.manifest["settings"].get("meter") else None

    @property
    def window_steps(self) -> int | None:
        """Steps per window (T) when all windows have one meter, else None (they differ)."""
        return self.bars * self.layout.steps_per_bar if self.meter else None

    @property
    def n_windows(self) -> dict[str, int]:
        """Windows per split."""
        return dict(self.manifest["counts"]["windows"])

    @property
    def labels(self) -> list[str]:
        """Label names; a window's label is an index into this list (0 when unlabelled)."""
        return list(self.layout.labels)

    def indices(self, split: str | None = None) -> np.ndarray:
        """Window indices of ``split`` ("train", "valid", "test"; None = all), shape (W,)."""
        if split is None:
            return np.arange(len(self.windows))
        if split not in SPLITS:
            raise ValueError(f"split must be one of {SPLITS} or None, got {split!r}")
        split_of_piece = np.asarray(self.pieces["split"])
        return np.flatnonzero(split_of_piece[np.asarray(self.windows["piece"])] ==
                              SPLITS.index(split))

    def label(self, i: int) -> int:
        return int(self.pieces[int(self.windows[i]["piece"])]["label"])

    def typical_velocities(self) -> tuple[int, ...]:
        """Each track's median onset velocity over the training split's notes (what
        `prepare` stores as ``layout.velocities``; sets built before it did lack them)."""
        counts = np.zeros((self.layout.n_tracks, 128), np.int64)
        for p in self.pieces[self.pieces["split"] == SPLITS.index("train")]:
            notes = self.notes[p["note_start"]:p["note_start"] + p["note_count"]]
            np.add.at(counts, (notes["track"].astype(np.intp),
                               notes["velocity"].astype(np.intp)), 1)
        return typical_velocities(counts)

    def typical_accents(self, windows: int = 5000, min_notes: int | None = None
                        ) -> tuple[tuple[int, ...], ...]:
        """Each track's median onset velocity at each step of a bar, over the notes that
        start in up to ``windows`` training windows of the layout's meter spread over the
        split (what `RollLayout.accents` holds); a step with fewer than ``min_notes``
        (`MIN_ACCENT_NOTES`) notes in a track gets the track's `typical_velocities`."""
        min_notes = MIN_ACCENT_NOTES if min_notes is None else min_notes
        s, k = self.layout.steps_per_bar, self.layout.n_tracks
        num, den = self.layout.time_signature
        train = self.indices("train")
        w = self.windows[train]
        train = train[w["uniform"] & (w["num"] == num) & (w["den"] == den)]
        if len(train) > windows:
            train = train[np.linspace(0, len(train) - 1, windows).round().astype(np.int64)]
        counts = np.zeros((k, s, 128), np.int64)
        for i in train:
            rec, notes = self._window_notes(int(i))
            notes = notes[(notes["start"] >= rec["start"]) & (notes["start"] < rec["stop"])]
            np.add.at(counts, (notes["track"].astype(np.intp),
                               ((notes["start"] - rec["start"]) % s).astype(np.intp),
                               notes["velocity"].astype(np.intp)), 1)
        typical = self.typical_velocities()
        medians = [typical_velocities(counts[track]) for track in range(k)]  # (K, S)
        return tuple(tuple(medians[track][step] if counts[track, step, 1:].sum() >= min_notes
                           else typical[track] for step in range(s)) for track in range(k))

    def _window_notes(self, i: int):
        """(window record, notes of its piece that may overlap it)."""
        w = self.windows[i]
        p = self.pieces[int(w["piece"])]
        notes = self.notes[p["note_start"]:p["note_start"] + p["note_count"]]
        lo = np.searchsorted(notes["start"], max(int(w["start"]) - int(p["longest"]), 0))
        hi = np.searchsorted(notes["start"], int(w["stop"]))
        return w, np.asarray(notes[lo:hi])

    def shift_range(self, i: int, low: int, high: int) -> tuple[int, int]:
        """The semitone shifts in [low, high] that keep window ``i``'s pitched notes in range.

        Returns (0, 0) when no shift in [low, high] fits but 0 does.
        """
        w = self.windows[i]
        if w["pitched_high"] < w["pitched_low"]:  # no pitched notes: any shift
            return low, high
        lo, hi = self.layout.shift_bounds(int(w["pitched_low"]), int(w["pitched_high"]))
        lo, hi = max(low, lo), min(high, hi)
        return (lo, hi) if lo <= hi else (0, 0)

    def window_array(self, i: int, shift: int = 0) -> np.ndarray:
        """Window ``i`` in the model layout, bool, shape (T, K, 2, P); pitched tracks shifted."""
        w, notes = self._window_notes(i)
        return self.layout.window_from_notes(notes, int(w["start"]), int(w["stop"]), shift)

    def window_roll(self, i: int) -> PianoRoll:
        """Window ``i`` as a `PianoRoll` with its own tempo map, meter and velocities."""
        w, notes = self._window_notes(i)
        start, stop = int(w["start"]), int(w["stop"])
        tempos, meters = self._events(int(w["piece"]))
        return self.layout.roll_from_notes(notes, start, stop, velocity=self.velocity,
                                           tempos=events_in(tempos, start, stop),
                                           time_signatures=events_in(meters, start, stop))

    def piece_indices(self, split: str) -> np.ndarray:
        """Piece indices of ``split`` ("train", "valid", "test"), shape (N,)."""
        if split not in SPLITS:
            raise ValueError(f"split must be one of {SPLITS}, got {split!r}")
        return np.flatnonzero(np.asarray(self.pieces["split"]) == SPLITS.index(split))

    def piece_roll(self, p: int) -> PianoRoll:
        """Piece ``p`` whole as a `PianoRoll`, with its tempo map, meters and velocities."""
        piece = self.pieces[p]
        notes = np.asarray(self.notes[piece["note_start"]:piece["note_start"]
                                      + piece["note_count"]])
        tempos, meters = self._events(p)
        return self.layout.roll_from_notes(notes, 0, int(piece["n_steps"]),
                                           velocity=self.velocity, tempos=tempos,
                                           time_signatures=meters)

    def _events(self, p: int) -> tuple[list, list]:
        """Piece ``p``'s tempo map [(step, qpm)] and meters [(step, num, den)]."""
        piece = self.pieces[p]
        tempos = self.tempos[piece["tempo_start"]:piece["tempo_start"] + piece["tempo_count"]]
        meters = self.meters[piece["meter_start"]:piece["meter_start"] + piece["meter_count"]]
        return ([(int(s), float(q)) for s, q in tempos],
                [(int(s), int(n), int(d)) for s, n, d in meters])


def _map(path: Path, dtype: np.dtype) -> np.ndarray:
    """A read-only memory map of a flat array file (an empty array for an empty file)."""
    size = path.stat().st_size
    if size % dtype.itemsize:
        raise DatasetError(f"{path} is truncated ({size} bytes, records of {dtype.itemsize})")
    if size == 0:
        return np.zeros(0, dtype)
    return np.memmap(path, dtype=dtype, mode="r")


MIN_ACCENT_NOTES = 20  # notes at a step of the bar below which its accent is the track's median


def typical_velocities(counts: np.ndarray) -> tuple[int, ...]:
    """Median onset velocity of each track from counts (K, 128) of its training notes per
    velocity (the lower middle value of an even count); DEFAULT_VELOCITY for a track
    with no velocity 1..127 among them."""
    out = []
    for row in counts[:, 1:]:  # velocity 0: notes without one
        n = int(row.sum())
        out.append(int(np.searchsorted(np.cumsum(row), (n + 1) // 2)) + 1 if n else DEFAULT_VELOCITY)
    return tuple(out)
