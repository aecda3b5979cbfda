"""Where a prepared set lives, and the rules that keep a user's files safe around it.

A build writes into a hidden folder beside the set and renames it into place
(`publish`). midivae replaces only a folder whose manifest says midivae wrote
it, never the source or a folder holding it, and never a set that holds files
of the user's. It cleans up after a killed build only the hidden folders it
can prove a dead midivae build made, and builds of one folder take turns
(`midivae.fileio.locked`).
"""

from __future__ import annotations

import glob
import json
import os
import re
import tempfile
from pathlib import Path

from midivae.errors import DatasetError
from midivae.fileio import read_json
from midivae.data.store import SET_FILES, foreign_files, read_manifest


def refuse_source_as_out(src, out: Path) -> None:
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


def existing_set(out: Path) -> dict | None:
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


def refuse_foreign_files(out: Path) -> None:
    """A set is replaced whole, so files a user put inside it stop the rebuild."""
    foreign = [name for name in foreign_files(out) if name != _MARKER]  # a crash's leftover
    if foreign:
        raise DatasetError(f"{out} holds files midivae did not write ({', '.join(foreign[:5])}"
                           f"{', ...' if len(foreign) > 5 else ''}); move them out before "
                           "rebuilding the set (nothing was changed)")


# A build works in hidden folders beside the set: ".<set>.tmp-<pid>-<random>" while
# writing, ".<set>.old-<pid>-<random>" for the set it replaces. Each holds a marker
# file naming its process and its set; only folders with a matching marker whose
# process is gone are ever cleaned up, so a user's look-alike folder is never touched.
_MARKER = ".midivae-build"


def private_folder(out: Path, role: str, *, marked: bool = True) -> Path:
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
        marker = read_json(folder / _MARKER)  # never a FIFO waited on, nor a huge file read
    except (OSError, ValueError):
        return None
    pid = int(m.group(2))
    if marker != {"pid": pid, "set": out.name, "role": m.group(1)}:
        return None
    if set(p.name for p in folder.iterdir()) - SET_FILES - {_MARKER}:
        return None  # something else was put inside: not ours to delete
    return pid


def remove_own(folder: Path) -> None:
    """Delete a folder this process made (only the files a build writes, then the folder)."""
    for name in sorted(SET_FILES) + [_MARKER]:
        try:
            (folder / name).unlink()
        except FileNotFoundError:
            pass
    folder.rmdir()


def publish(tmp: Path, out: Path) -> None:
    """Move the finished set into place; an older set there (checked by `_existing_set`)
    is moved aside under a marked name, then deleted."""
    old = None
    if out.exists():
        old = private_folder(out, "old", marked=False)  # an empty folder: renamed over
        os.replace(out, old)
        _mark(old, out, "old")
    os.replace(tmp, out)
    (out / _MARKER).unlink()
    if old is not None:
        remove_own(old)


def remove_stale(out: Path) -> None:
    """Delete the hidden folders of builds of ``out`` whose midivae process is gone (killed)."""
    for d in out.parent.glob(f".{glob.escape(out.name)}.*-*"):
        pid = _owned_by(d, out)
        if pid is not None and pid != os.getpid() and not _alive(pid):
            remove_own(d)


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True
