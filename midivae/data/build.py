"""`prepare`: any source to a prepared set of training windows, accounting for every piece.

Pieces are loaded and windowed in worker processes; the parent writes them in
source order (so the set does not depend on the number of workers) into a
hidden temporary folder next to the target, then renames it into place: an
interrupted build never leaves a half-written set. Every piece that yields no
window is named in the manifest with its reason; dropped windows and tracks are
counted. The same source and settings reuse the set on disk.
"""

from __future__ import annotations

import hashlib
import json
import math
import os
import time
import warnings
from collections import Counter
from dataclasses import asdict, dataclass, replace
from functools import partial
from pathlib import Path

import numpy as np

from midivae.errors import DatasetError, MidiReadError, listed
from midivae.fileio import locked
from midivae.midi.layout import RollLayout
from midivae.midi.roll import Track
from midivae.midi.roles import assign_roles, parse_roles
from midivae.data.source import Source
from midivae.data.sources import resolve_source
from midivae.data.folders import (existing_set, private_folder, publish,
                                  refuse_foreign_files, refuse_source_as_out, remove_own,
                                  remove_stale)
from midivae.data.pool import Progress, map_tolerant
from midivae.data.store import (FORMAT, KIND, TEMPO_DTYPE, PreparedSet, SetWriter, damage,
                                typical_velocities, write_manifest)
from midivae.data.windows import (SPLITS, WindowSettings, assign_split, bar_lines, cut_windows,
                                  notes_of)



@dataclass(frozen=True)
class PrepareSettings:
    """What a prepared set is built with; changing any field rebuilds the set."""

    bars: int = 4  # window length in bars (2, 4, 8, 16, ...), in whatever meter
    hop: int = 1  # bars between the starts of consecutive windows
    steps_per_beat: int | None = None  # grid; None: the source's (4, or a frame roll's own)
    meter: str | None = None  # e.g. "4/4": keep only windows wholly in this meter; "4/4,2/2":
    # also in meters of the same bar length (the first names the set's meter)
    min_notes: int = 1  # drop windows with fewer notes sounding in them (counted)
    pitch_range: tuple[int, int] | None = None  # (low, high) MIDI pitches; None: from the data
    roles: str | None = None  # track layout, see roles.ROLE_PRESETS; None: the source's
    splits: tuple[float, float, float] = (0.8, 0.1, 0.1)  # train/valid/test shares by piece
    split_salt: str = ""  # any other string gives a different (still stable) split
    velocity: bool = True  # keep velocities for rendering (models see onset/sustain only)
    sustain_pedal: bool = True  # lengthen notes held by the sustain pedal (CC64) when quantizing
    labels: bool = False  # folders: label each file by its top-level subfolder
    limit: int | None = None  # only N pieces, a stable pseudo-random choice (Source.choose)

    def __post_init__(self):
        for name in ("bars", "hop"):
            if int(getattr(self, name)) < 1:
                raise ValueError(f"{name} must be >= 1, got {getattr(self, name)!r}")
        if self.steps_per_beat is not None and int(self.steps_per_beat) < 1:
            raise ValueError(f"steps_per_beat must be >= 1, got {self.steps_per_beat!r}")
        if int(self.min_notes) < 0:
            raise ValueError(f"min_notes must be >= 0, got {self.min_notes!r}")
        if self.meter is not None:
            parse_meters(self.meter)
        if self.pitch_range is not None:
            lo, hi = map(int, self.pitch_range)
            if not 0 <= lo <= hi <= 127:
                raise ValueError(f"pitch_range must be (low, high) within 0..127, "
                                 f"got {self.pitch_range!r}")
            object.__setattr__(self, "pitch_range", (lo, hi))
        shares = tuple(float(s) for s in self.splits)
        if len(shares) != 3 or not all(map(math.isfinite, shares)) or min(shares) < 0 \
                or sum(shares) <= 0:
            raise ValueError(f"splits must be three shares (train, valid, test) >= 0 with a "
                             f"positive sum, got {self.splits!r}")
        object.__setattr__(self, "splits", shares)
        if self.limit is not None and int(self.limit) < 1:
            raise ValueError(f"limit must be >= 1 or None, got {self.limit!r}")


def parse_meter(text: str) -> tuple[int, int]:
    """``"6/8"`` -> (6, 8); ValueError naming the value otherwise."""
    try:
        num, den = (int(x) for x in str(text).split("/"))
    except ValueError:
        raise ValueError(f"meter must look like '4/4', got {text!r}") from None
    if num < 1 or den < 1 or den & (den - 1):
        raise ValueError(f"meter needs numerator >= 1 and a power-of-two denominator, got {text!r}")
    return num, den


def parse_meters(text: str) -> tuple[tuple[int, int], ...]:
    """``"4/4,2/2"`` -> ((4, 4), (2, 2)): meters whose bars all last as long as the first's."""
    meters = tuple(parse_meter(part) for part in str(text).split(","))
    n, d = meters[0]
    for num, den in meters[1:]:
        if num * d != n * den:
            raise ValueError(f"meter {num}/{den} has bars of another length than {n}/{d}: "
                             "only meters of one bar length make one set")
    return meters


@dataclass(frozen=True)
class _Job:
    """What a worker needs to turn one item into a piece record (picklable)."""

    steps_per_beat: int
    velocity: bool
    sustain_pedal: bool
    roles: str
    windows: WindowSettings


def prepare(source: str | os.PathLike, out: str | os.PathLike | None = None,
            settings: PrepareSettings | None = None, *, data_root=None, workers: int = 1,
            progress: Progress | None = None, force: bool = False, **changes) -> PreparedSet:
    """Build (or reuse) a prepared set of training windows from ``source``.

    Parameters
    ----------
    source : str or path
        A folder of MIDI files or a named set; see `midivae.data.sources.resolve_source`.
    out : path, optional
        Where the set goes; default ``datasets/<source name>`` in the current folder.
    settings : PrepareSettings, optional
        ``changes`` (keyword arguments named as its fields) are applied on top.
        ``limit=N`` builds from N pieces: not the source's first N but a stable
        pseudo-random choice, the same on every machine and run, kept in source
        order; a larger N keeps a smaller one's pieces, and joined sources
        (``a+b``) take from each in turn (see `midivae.data.source.Source.choose`).
    data_root : path, optional
        Folder of the shared data (``boulanger/``, ``pop909/``).
    workers : int
        Processes that load pieces; 1 works in this process, 0 uses every CPU.
    progress : callable(done, total), optional
        Called after each piece; raising from it (e.g. KeyboardInterrupt) stops the build.
    force : bool
        Rebuild even when a set with the same settings exists.

    Returns
    -------
    PreparedSet
        ``.reused`` tells whether it was already on disk. A set with no window is
        still written (its manifest says why) and returned.
    """
    settings = replace(settings or PrepareSettings(), **changes)
    src = resolve_source(source, data_root=data_root, labels=settings.labels)
    job, effective = _job(src, settings)
    out = Path(out) if out is not None else Path("datasets") / src.slug
    refuse_source_as_out(src, out)
    # a link is followed: the set is built where it leads (renaming the link itself over the
    # old set failed, "Is a directory"), and opened by the name given
    given, out = out, Path(os.path.realpath(out)) if out.is_symlink() else out
    items = src.choose(settings.limit)
    # a limited set is fingerprinted with its pieces: one built from other pieces (the
    # first N, as limit once took) is rebuilt, not reused
    chosen = [[it.id for it in items]] if settings.limit else []
    fingerprint = hashlib.sha256(json.dumps(
        [FORMAT, _version(), src.kind, src.info.get("path", src.spec), src.fingerprint,
         effective, *chosen], sort_keys=True).encode()).hexdigest()
    out.parent.mkdir(parents=True, exist_ok=True)
    with locked(out.parent):  # concurrent builds into one folder take turns
        remove_stale(out)  # a killed build's hidden folders, whether this one builds or not
        existing = existing_set(out)
        if existing is not None and existing.get("fingerprint") == fingerprint and not force \
                and damage(out, existing, checksums=True) is None:
            prepared = PreparedSet(given)
            prepared.reused = True
            return prepared
        if existing is not None:
            refuse_foreign_files(out)
        tmp = private_folder(out, "tmp")
        try:
            manifest = _build(tmp, src, items, job, settings,
                              int(workers) or os.cpu_count() or 1, progress)
            manifest.update(fingerprint=fingerprint, settings=effective)
            write_manifest(tmp, manifest)
            publish(tmp, out)
        finally:
            if tmp.exists():
                remove_own(tmp)
        return PreparedSet(given)  # opened under the lock: this build's set, even if replaced


def _job(src: Source, s: PrepareSettings) -> tuple[_Job, dict]:
    """The worker job and the effective settings (defaults resolved) for ``src``."""
    spb = int(s.steps_per_beat or src.steps_per_beat)
    native = src.native_steps_per_beat
    if native and spb % native:
        raise DatasetError(f"steps_per_beat={spb} must be a whole multiple of {src.spec}'s "
                           f"{native} frame(s) per quarter note")
    roles = s.roles or src.roles
    parse_roles(roles)  # fail now on a bad spec, not once per piece
    velocity = bool(s.velocity and native is None)  # frame rolls have no velocities
    meters = parse_meters(s.meter) if s.meter else (None,)
    job = _Job(spb, velocity, bool(s.sustain_pedal), roles,
               WindowSettings(s.bars, s.hop, meters[0], s.min_notes, s.pitch_range,
                              also_meters=meters[1:]))
    effective = asdict(replace(s, steps_per_beat=spb, roles=roles))
    return job, effective


def _build(tmp: Path, src: Source, items: list, job: _Job, settings: PrepareSettings,
           workers: int, progress: Progress | None) -> dict:
    """Load every item, write the kept pieces into ``tmp``; returns the manifest (no settings)."""
    started = time.time()
    writer = SetWriter(tmp)
    label_names = sorted({it.label for it in items}) if src.labelled else []
    label_index = {name: i for i, name in enumerate(label_names)}
    skipped, said, dropped, meters = [], [], Counter(), Counter()
    pieces, windows = Counter(), Counter()
    low, high, n_notes = 127, 0, 0
    tracks = [Track(r.name, r.program, r.is_drum) for r in parse_roles(job.roles)]
    velocity_counts = np.zeros((len(tracks), 128), np.int64)  # training notes per track, velocity
    files = {}
    try:
        for rec in map_tolerant(partial(_process_one, job), items, workers, _died, progress):
            said += [{"piece": rec["id"], "message": m} for m in rec.get("warnings", ())]
            dropped.update(rec.get("dropped", {}))
            if "skip" in rec:
                skipped.append({"piece": rec["id"], "reason": rec["skip"]})
                continue
            split = rec["split"] or assign_split(rec["id"], settings.splits, settings.split_salt)
            w = rec["windows"]
            writer.add(rec["id"], split, label_index.get(rec["label"], 0), rec["n_steps"],
                       rec["notes"], rec["tempos"], rec["meters"], w)
            pieces[split] += 1
            windows[split] += len(w)
            n_notes += len(rec["notes"])
            if split == "train":
                notes = rec["notes"]
                np.add.at(velocity_counts, (notes["track"].astype(np.intp),
                                            notes["velocity"].astype(np.intp)), 1)
            meters.update(f"{n}/{d}" if u else "mixed" for n, d, u in
                          zip(w["num"], w["den"], w["uniform"]))
            sounding = w["high"] >= w["low"]
            if sounding.any():
                low, high = min(low, int(w["low"][sounding].min())), max(high, int(w["high"].max()))
    finally:
        files = writer.close()
    if settings.pitch_range is not None:
        low, high = settings.pitch_range
    elif high < low:  # no note at all
        low, high = 0, 127
    meter = job.windows.meter or _most_common_meter(meters)
    layout = RollLayout(job.steps_per_beat, low, high - low + 1, tuple(tracks), meter,
                        _typical_tempo(tmp),
                        velocities=typical_velocities(velocity_counts) if job.velocity else None)
    return {
        "kind": KIND, "format": FORMAT, "midivae_version": _version(), "files": files,
        "source": {"spec": src.spec, **src.info, "items_used": len(items)},
        "velocity": job.velocity, "layout": layout.to_dict(), "labels": label_names,
        "counts": {"items": len(items), "pieces": {s: pieces[s] for s in SPLITS},
                   "windows": {s: windows[s] for s in SPLITS}, "notes": n_notes,
                   "skipped": len(skipped), "windows_dropped": dict(sorted(dropped.items())),
                   "meters": dict(meters.most_common())},
        "skipped": skipped, "warnings": said,
        "build": {"seconds": round(time.time() - started, 2), "workers": workers},
    }


def _most_common_meter(meters: Counter) -> tuple[int, int]:
    uniform = [(m, n) for m, n in meters.most_common() if m != "mixed"]
    return parse_meter(uniform[0][0]) if uniform else (4, 4)



def _typical_tempo(folder: Path) -> float:
    """Median of the pieces' opening tempos (120 when there are none): the layout's qpm."""
    tempos = np.fromfile(folder / "tempos.bin", dtype=TEMPO_DTYPE)
    first = tempos["qpm"][tempos["step"] == 0]
    return float(np.median(first)) if len(first) else 120.0


# -- workers ------------------------------------------------------------------------
def _process_one(job: _Job, item) -> dict:
    """One item -> a piece record, or ``{"id", "skip": reason}``. Never raises on bad data."""
    piece_id = item.id
    try:
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            piece = item.load(job.steps_per_beat, job.velocity, job.sustain_pedal)
            roll, lost = assign_roles(piece.roll, job.roles)
        notes = notes_of(roll)
        lines = bar_lines(roll)
        windows, dropped = cut_windows(roll, notes, lines, job.windows)
    except Exception as err:  # one bad piece never stops the build: name it and go on
        return {"id": piece_id, "skip": _reason(err)}
    said = list(piece.warnings) + [str(w.message) for w in caught]
    if lost:
        said.append(f"tracks matching no role dropped: {listed(lost)}")
    rec = {"id": piece_id, "warnings": said, "dropped": dict(dropped)}
    n_bars = len(lines) - 1
    if n_bars < job.windows.bars:
        rec["skip"] = (f"{n_bars} bar{'s' * (n_bars != 1)}, fewer than the {job.windows.bars} "
                       f"a window needs" + ("" if len(notes) else " (no notes)"))
    elif len(windows) == 0:
        rec["skip"] = "no window kept: " + ", ".join(f"{n} dropped for {r.replace('_', ' ')}"
                                                     for r, n in sorted(dropped.items()))
    else:
        rec.update(split=piece.split, label=piece.label, notes=notes, windows=windows,
                   n_steps=max(roll.n_steps, int(lines[-1])), tempos=roll.tempos,
                   meters=roll.time_signatures)
    return rec


def _died(item) -> dict:
    return {"id": item.id, "skip": "the worker process died while loading it (a crash or out "
            "of memory)"}


def _reason(err: Exception) -> str:
    if isinstance(err, MidiReadError):
        return err.reason
    return f"{type(err).__name__}: {err}"


def _version() -> str:
    from midivae import __version__
    return __version__
