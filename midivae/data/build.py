"""`prepare`: any source to a prepared set of training windows, accounting for every piece.

Pieces are loaded and windowed in worker processes; the parent writes them in
source order (so the set does not depend on the number of workers) into a
hidden temporary folder next to the target, then renames it into place: an
interrupted build never leaves a half-written set. Every piece that yields no
window is named in the manifest with its reason; dropped windows and tracks are
counted. The same source and settings reuse the set on disk.
"""

from __future__ import annotations

import glob
import hashlib
import json
import os
import re
import tempfile
import time
import warnings
from collections import Counter, deque
from concurrent.futures import ProcessPoolExecutor
from concurrent.futures.process import BrokenProcessPool
from dataclasses import asdict, dataclass, replace
from pathlib import Path
from typing import Callable, Iterator

import numpy as np

from midivae.errors import DatasetError, MidiReadError
from midivae.layout import RollLayout
from midivae.roll import Track
from midivae.data.sources import (Source, apply_roles, item_label, load_piece, make_roles,
                                  resolve_source)
from midivae.data.store import (FORMAT, KIND, SET_FILES, TEMPO_DTYPE, PreparedSet, SetWriter,
                                damage, foreign_files, read_manifest, write_manifest)

try:
    import fcntl
except ImportError:  # Windows: no advisory locks; concurrent builds of one set are not guarded
    fcntl = None
from midivae.data.windows import (SPLITS, WindowSettings, assign_split, bar_lines, cut_windows,
                                  notes_of)

Progress = Callable[[int, int], None]  # progress(done, total), in pieces


@dataclass(frozen=True)
class PrepareSettings:
    """What a prepared set is built with; changing any field rebuilds the set."""

    bars: int = 4  # window length in bars (2, 4, 8, 16, ...), in whatever meter
    hop: int = 1  # bars between the starts of consecutive windows
    steps_per_beat: int | None = None  # grid; None: the source's (4, or a frame roll's own)
    meter: str | None = None  # e.g. "4/4": keep only windows wholly in this meter
    min_notes: int = 1  # drop windows with fewer notes sounding in them (counted)
    pitch_range: tuple[int, int] | None = None  # (low, high) MIDI pitches; None: from the data
    roles: str | None = None  # track layout, see sources.ROLE_PRESETS; None: the source's
    splits: tuple[float, float, float] = (0.8, 0.1, 0.1)  # train/valid/test shares by piece
    split_salt: str = ""  # any other string gives a different (still stable) split
    velocity: bool = True  # keep velocities for rendering (models see onset/sustain only)
    labels: bool = False  # folders: label each file by its top-level subfolder
    limit: int | None = None  # only the first N pieces of the source (quick looks, tests)

    def __post_init__(self):
        for name in ("bars", "hop"):
            if int(getattr(self, name)) < 1:
                raise ValueError(f"{name} must be >= 1, got {getattr(self, name)!r}")
        if self.steps_per_beat is not None and int(self.steps_per_beat) < 1:
            raise ValueError(f"steps_per_beat must be >= 1, got {self.steps_per_beat!r}")
        if int(self.min_notes) < 0:
            raise ValueError(f"min_notes must be >= 0, got {self.min_notes!r}")
        if self.meter is not None:
            parse_meter(self.meter)
        if self.pitch_range is not None:
            lo, hi = map(int, self.pitch_range)
            if not 0 <= lo <= hi <= 127:
                raise ValueError(f"pitch_range must be (low, high) within 0..127, "
                                 f"got {self.pitch_range!r}")
            object.__setattr__(self, "pitch_range", (lo, hi))
        shares = tuple(float(s) for s in self.splits)
        if len(shares) != 3 or min(shares) < 0 or sum(shares) <= 0:
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


@dataclass(frozen=True)
class _Job:
    """What a worker needs to turn one item into a piece record (picklable)."""

    kind: str
    steps_per_beat: int
    velocity: bool
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
    _refuse_source_as_out(src, out)
    fingerprint = hashlib.sha256(json.dumps(
        [FORMAT, _version(), src.kind, src.info.get("path", src.spec), src.fingerprint,
         effective], sort_keys=True).encode()).hexdigest()
    out.parent.mkdir(parents=True, exist_ok=True)
    with _locked(out.parent):  # concurrent builds into one folder take turns
        existing = _existing_set(out)
        if existing is not None and existing.get("fingerprint") == fingerprint and not force \
                and damage(out, existing, checksums=True) is None:
            prepared = PreparedSet(out)
            prepared.reused = True
            return prepared
        if existing is not None:
            _refuse_foreign_files(out)
        _remove_stale(out)
        tmp = _private_folder(out, "tmp")
        try:
            items = src.items[:settings.limit] if settings.limit else src.items
            manifest = _build(tmp, src, items, job, settings,
                              int(workers) or os.cpu_count() or 1, progress)
            manifest.update(fingerprint=fingerprint, settings=effective)
            write_manifest(tmp, manifest)
            _publish(tmp, out)
        finally:
            if tmp.exists():
                _remove_own(tmp)
        return PreparedSet(out)  # opened under the lock: this build's set, even if replaced later


def _refuse_source_as_out(src: Source, out: Path) -> None:
    """A set never goes where it would replace its own source, or a folder holding it."""
    target = out.resolve()
    for path in _source_paths(src.info):
        if path == target or target in path.parents:
            raise DatasetError(f"{out} is {'the' if path == target else 'a folder holding the'} "
                               f"source {src.spec}; choose another --out for the set")


def _source_paths(info: dict) -> list[Path]:
    paths = [Path(info["path"]).resolve()] if info.get("path") else []
    for part in info.get("sources", ()):
        paths += _source_paths(part)
    return paths


def _existing_set(out: Path) -> dict | None:
    """The manifest of the set at ``out``; None when there is nothing there.

    Raises DatasetError when ``out`` holds anything that is not a set midivae
    wrote: it is never deleted.
    """
    if not out.exists():
        return None
    if not out.is_dir():
        raise DatasetError(f"{out} is a file, not a folder; choose another --out")
    manifest = read_manifest(out)
    if manifest is None:
        if any(out.iterdir()):
            raise DatasetError(f"{out} exists and is not a prepared set midivae wrote; "
                               "choose another --out (nothing was changed)")
        return None
    return manifest


def _refuse_foreign_files(out: Path) -> None:
    """A set is replaced whole, so files a user put inside it stop the rebuild."""
    foreign = [name for name in foreign_files(out) if name != _MARKER]  # a crash's leftover
    if foreign:
        raise DatasetError(f"{out} holds files midivae did not write ({', '.join(foreign[:5])}"
                           f"{', ...' if len(foreign) > 5 else ''}); move them out before "
                           "rebuilding the set (nothing was changed)")


def _job(src: Source, s: PrepareSettings) -> tuple[_Job, dict]:
    """The worker job and the effective settings (defaults resolved) for ``src``."""
    spb = int(s.steps_per_beat or src.steps_per_beat)
    native = src.native_steps_per_beat
    if native and spb % native:
        raise DatasetError(f"steps_per_beat={spb} must be a whole multiple of {src.spec}'s "
                           f"{native} frame(s) per quarter note")
    roles = s.roles or src.roles
    make_roles(roles)  # fail now on a bad spec, not once per piece
    velocity = bool(s.velocity and native is None)  # frame rolls have no velocities
    meter = parse_meter(s.meter) if s.meter else None
    job = _Job(src.kind, spb, velocity, roles,
               WindowSettings(s.bars, s.hop, meter, s.min_notes, s.pitch_range))
    effective = asdict(replace(s, steps_per_beat=spb, roles=roles))
    return job, effective


def _build(tmp: Path, src: Source, items: list, job: _Job, settings: PrepareSettings,
           workers: int, progress: Progress | None) -> dict:
    """Load every item, write the kept pieces into ``tmp``; returns the manifest (no settings)."""
    started = time.time()
    writer = SetWriter(tmp)
    labelled = src.kind == "several" or (settings.labels and src.kind == "folder")
    label_names = sorted({item_label(src.kind, it) for it in items}) if labelled else []
    label_index = {name: i for i, name in enumerate(label_names)}
    skipped, notes_, dropped, meters = [], [], Counter(), Counter()
    pieces, windows = Counter(), Counter()
    low, high, n_notes = 127, 0, 0
    files = {}
    try:
        for rec in _results(job, items, workers, progress):
            notes_ += [{"piece": rec["id"], "message": m} for m in rec.get("warnings", ())]
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
    meter = parse_meter(settings.meter) if settings.meter else _most_common_meter(meters)
    tracks = [Track(r.name, r.program, r.is_drum) for r in make_roles(job.roles)]
    layout = RollLayout(job.steps_per_beat, low, high - low + 1, tuple(tracks), meter,
                        _typical_tempo(tmp))
    return {
        "kind": KIND, "format": FORMAT, "midivae_version": _version(), "files": files,
        "source": {"spec": src.spec, **src.info, "items_used": len(items)},
        "velocity": job.velocity, "layout": layout.to_dict(), "labels": label_names,
        "counts": {"items": len(items), "pieces": {s: pieces[s] for s in SPLITS},
                   "windows": {s: windows[s] for s in SPLITS}, "notes": n_notes,
                   "skipped": len(skipped), "windows_dropped": dict(sorted(dropped.items())),
                   "meters": dict(meters.most_common())},
        "skipped": skipped, "warnings": notes_,
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
def _process_batch(job: _Job, items: list[tuple]) -> list[dict]:
    return [_process_one(job, item) for item in items]


def _process_one(job: _Job, item: tuple) -> dict:
    """One item -> a piece record, or ``{"id", "skip": reason}``. Never raises on bad data."""
    piece_id = item[0]
    try:
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            piece = load_piece(job.kind, item, job.steps_per_beat, job.velocity)
            roll, lost = apply_roles(piece.roll, job.roles)
        notes = notes_of(roll)
        lines = bar_lines(roll)
        windows, dropped = cut_windows(roll, notes, lines, job.windows)
    except Exception as err:  # one bad piece never stops the build: name it and go on
        return {"id": piece_id, "skip": _reason(err)}
    said = list(piece.warnings) + [str(w.message) for w in caught]
    if lost:
        said.append(f"tracks matching no role dropped: {', '.join(lost)}")
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


def _reason(err: Exception) -> str:
    if isinstance(err, MidiReadError):
        return err.reason
    return f"{type(err).__name__}: {err}"


def _results(job: _Job, items: list, workers: int, progress: Progress | None) -> Iterator[dict]:
    """Records of ``items`` in order, loaded by ``workers`` processes.

    A worker that dies (a crash, the OOM killer) breaks the pool: the pool is
    restarted, the batch it was on is retried one item at a time, alone, and the
    item that kills a worker alone is skipped with that reason.
    """
    total, done = len(items), 0
    if workers <= 1:
        for item in items:
            yield _process_one(job, item)
            done += 1
            if progress:
                progress(done, total)
        return
    size = max(1, min(32, total // (workers * 8)))  # small enough to balance, big to amortise
    queue = deque((items[i:i + size], False) for i in range(0, total, size))
    pending: deque = deque()  # (future, batch, alone)
    pool = ProcessPoolExecutor(workers)
    try:
        while queue or pending:
            while queue and len(pending) < 2 * workers:
                batch, alone = queue[0]
                if pending and (alone or pending[-1][2]):
                    break  # an item on trial runs with nothing beside it
                try:
                    future = pool.submit(_process_batch, job, batch)
                except BrokenProcessPool:  # a worker already died: the pending futures say which
                    if pending:
                        break
                    pool.shutdown(wait=True, cancel_futures=True)
                    pool = ProcessPoolExecutor(workers)
                    continue
                queue.popleft()
                pending.append((future, batch, alone))
            future, batch, alone = pending.popleft()
            try:
                records = future.result()
            except BrokenProcessPool:
                pool.shutdown(wait=True, cancel_futures=True)
                pool = ProcessPoolExecutor(workers)
                requeue = [(b, a) for _, b, a in pending]
                pending.clear()
                if not alone:
                    queue.extendleft(reversed([([it], True) for it in batch] + requeue))
                    continue
                queue.extendleft(reversed(requeue))
                records = [{"id": batch[0][0], "skip": "the worker process died while loading "
                            "it (a crash or out of memory)"}]
            yield from records
            done += len(batch)
            if progress:
                progress(done, total)
    finally:
        pool.shutdown(wait=True, cancel_futures=True)


# -- publishing -----------------------------------------------------------------------
# A build works in hidden folders beside the set: ".<set>.tmp-<pid>-<random>" while
# writing, ".<set>.old-<pid>-<random>" for the set it replaces. Each holds a marker
# file naming its process and its set; only folders with a matching marker whose
# process is gone are ever cleaned up, so a user's look-alike folder is never touched.
_MARKER = ".midivae-build"


def _private_folder(out: Path, role: str, *, marked: bool = True) -> Path:
    folder = Path(tempfile.mkdtemp(prefix=f".{out.name}.{role}-{os.getpid()}-", dir=out.parent))
    if marked:
        _mark(folder, out, role)
    return folder


def _mark(folder: Path, out: Path, role: str) -> None:
    (folder / _MARKER).write_text(json.dumps({"pid": os.getpid(), "set": out.name, "role": role}))


def _owned_by(folder: Path, out: Path) -> int | None:
    """The pid of the midivae build that made ``folder`` for ``out``, or None if not provably one."""
    m = re.fullmatch(rf"\.{re.escape(out.name)}\.(tmp|old)-(\d+)-[A-Za-z0-9_]+", folder.name)
    if not m or folder.is_symlink() or not folder.is_dir():
        return None
    try:
        marker = json.loads((folder / _MARKER).read_text())
    except (OSError, ValueError):
        return None
    pid = int(m.group(2))
    if marker != {"pid": pid, "set": out.name, "role": m.group(1)}:
        return None
    if set(p.name for p in folder.iterdir()) - SET_FILES - {_MARKER}:
        return None  # something else was put inside: not ours to delete
    return pid


def _remove_own(folder: Path) -> None:
    """Delete a folder this process made (only the files a build writes, then the folder)."""
    for name in sorted(SET_FILES) + [_MARKER]:
        try:
            (folder / name).unlink()
        except FileNotFoundError:
            pass
    folder.rmdir()


def _publish(tmp: Path, out: Path) -> None:
    """Move the finished set into place; an older set there (checked by `_existing_set`)
    is moved aside under a marked name, then deleted."""
    old = None
    if out.exists():
        old = _private_folder(out, "old", marked=False)  # an empty folder: renamed over
        os.replace(out, old)
        _mark(old, out, "old")
    os.replace(tmp, out)
    (out / _MARKER).unlink()
    if old is not None:
        _remove_own(old)


def _remove_stale(out: Path) -> None:
    """Delete the hidden folders of builds of ``out`` whose midivae process is gone (killed)."""
    for d in out.parent.glob(f".{glob.escape(out.name)}.*-*"):
        pid = _owned_by(d, out)
        if pid is not None and pid != os.getpid() and not _alive(pid):
            _remove_own(d)


class _locked:
    """An exclusive advisory lock on a folder (flock), held by one build at a time."""

    def __init__(self, folder: Path):
        self.folder = folder

    def __enter__(self):
        self.fd = os.open(self.folder, os.O_RDONLY)
        if fcntl is not None:
            fcntl.flock(self.fd, fcntl.LOCK_EX)
        return self

    def __exit__(self, *exc):
        if fcntl is not None:
            fcntl.flock(self.fd, fcntl.LOCK_UN)
        os.close(self.fd)


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def _version() -> str:
    from midivae import __version__
    return __version__


def summary(prepared: PreparedSet, max_listed: int = 50) -> str:
    """A few lines for people: counts per split, what was dropped, the skipped pieces.

    The first ``max_listed`` skipped pieces are named; the manifest names them all.
    """
    m = prepared.manifest
    c = m["counts"]
    L = prepared.layout
    lines = [f"{prepared.path}: {'reused' if prepared.reused else 'built'} "
             f"from {m['source']['spec']} ({c['items']} pieces read)",
             "  pieces:  " + ", ".join(f"{s} {c['pieces'][s]}" for s in SPLITS),
             "  windows: " + ", ".join(f"{s} {c['windows'][s]}" for s in SPLITS),
             f"  layout:  {L.n_tracks} track(s) {[t.name for t in L.tracks]}, pitches "
             f"{L.low}..{L.low + L.n_pitches - 1}, {L.steps_per_beat} steps/beat, "
             f"{m['settings']['bars']} bars; meters {c['meters']}"]
    if c["windows_dropped"]:
        lines.append("  windows dropped: " + ", ".join(f"{n} {r.replace('_', ' ')}"
                                                       for r, n in c["windows_dropped"].items()))
    if m["warnings"]:
        lines.append(f"  {len(m['warnings'])} warning(s) in manifest.json")
    lines.append(f"  skipped: {c['skipped']} piece(s)")
    lines += [f"    {s['piece']}: {s['reason']}" for s in m["skipped"][:max_listed]]
    if len(m["skipped"]) > max_listed:
        lines.append(f"    ... and {len(m['skipped']) - max_listed} more in manifest.json")
    return "\n".join(lines)
