"""Writing files so that a crash or Ctrl-C never leaves a half-written one, folders that
one writer at a time may change (`locked`), and reading a file only when it is a regular
one of a bounded size (`read_regular`, `read_json`)."""

from __future__ import annotations

import json
import os
import re
import secrets
import stat
from pathlib import Path
from typing import Callable

from midivae.errors import FileReadError, FolderBusyError

try:
    import fcntl
except ImportError:  # Windows: no advisory locks; concurrent writers of one folder are not guarded
    fcntl = None


def replace_atomically(path: str | os.PathLike, write: Callable[[Path], None]) -> None:
    """Call ``write(tmp)`` on a fresh temporary name beside ``path``, then rename it onto ``path``.

    The rename is atomic on one file system; on any error the temporary file is
    removed and ``path`` is left as it was. The temporary name is new (never an
    existing file of the user's), hidden, and names ``path``; an OSError names
    ``path``, never the temporary file. ``path`` gets the permissions the umask gives
    a new file, even when ``write`` replaced the temporary file with its own.
    """
    path = Path(path)
    try:
        tmp = _new_file(path.parent, f".{path.name}.")
    except OSError as err:  # a missing or read-only folder: name the user's file
        raise OSError(err.errno, err.strerror, str(path)) from None
    try:
        mode = tmp.stat().st_mode & 0o777  # what the umask gives a new file
        write(tmp)
        if tmp.stat().st_mode & 0o777 != mode:  # a writer that made its own file (safetensors: 0600)
            os.chmod(tmp, mode)
        os.replace(tmp, path)
    except OSError as err:  # e.g. no space left: name the user's file, not the hidden one
        raise OSError(err.errno, err.strerror or str(err), str(path)) from None
    finally:
        if tmp.exists():
            tmp.unlink()


def replaced_by(name: str) -> str | None:
    """The name of the file that ``name`` was to replace, when ``name`` is a temporary file
    of `replace_atomically` (``.model.json.1a2b3c4d.tmp``: a write under way, or left by a
    killed process); else None."""
    match = re.fullmatch(r"\.(.+)\.[0-9a-f]{8}\.tmp", name)
    return match.group(1) if match else None


def _new_file(folder: Path, prefix: str) -> Path:
    """Create an empty file with a new name (O_EXCL), permissions from the umask as usual."""
    while True:
        tmp = folder / f"{prefix}{secrets.token_hex(4)}.tmp"
        try:
            os.close(os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o666))
            return tmp
        except FileExistsError:
            continue


class locked:
    """An exclusive advisory lock (flock) on a folder, held by one writer at a time: builds of
    one prepared set, training runs in one run folder.

    ``wait=True``: wait for the holder to let go. ``wait=False``: raise `FolderBusyError`,
    naming the folder and, where the system says (Linux), the process holding it. The lock
    goes with the process: a killed holder leaves nothing to clean up.
    """

    def __init__(self, folder: str | os.PathLike, *, wait: bool = True):
        self.folder, self.wait = Path(folder), wait

    def __enter__(self):
        self.fd = os.open(self.folder, os.O_RDONLY)
        if fcntl is not None:
            try:
                fcntl.flock(self.fd, fcntl.LOCK_EX | (0 if self.wait else fcntl.LOCK_NB))
            except BlockingIOError:
                holder = _lock_holder(self.fd)
                os.close(self.fd)
                raise FolderBusyError(self.folder, holder) from None
        return self

    def __exit__(self, *exc):
        if fcntl is not None:
            fcntl.flock(self.fd, fcntl.LOCK_UN)
        os.close(self.fd)


def _lock_holder(fd: int) -> int | None:
    """The id of the process holding a flock on ``fd``'s file, from Linux's /proc/locks
    (``1: FLOCK ADVISORY WRITE <pid> <major>:<minor>:<inode> 0 EOF``); None elsewhere."""
    st = os.fstat(fd)
    where = f"{os.major(st.st_dev):02x}:{os.minor(st.st_dev):02x}:{st.st_ino}"
    try:
        with open("/proc/locks") as f:
            for line in f:
                parts = line.split()
                if parts[1:3] == ["FLOCK", "ADVISORY"] and parts[5] == where:
                    return int(parts[4])  # the holder; a waiter's line reads "-> FLOCK ..."
    except (OSError, ValueError, IndexError):
        pass
    return None


# -- reading ------------------------------------------------------------------------------

# A JSON file midivae reads (a prepared set's manifest and piece list, a model's settings, a
# model index, a format-1 checkpoint's settings) is refused unread above this size: real ones
# are a few KiB (a model's settings) to a few MiB (the manifest of a folder of 100,000 pieces
# names every skipped one); more, or /dev/zero behind a link, would only fill memory.
MAX_JSON_BYTES = 64 * 2**20


def read_regular(path: str | os.PathLike, max_bytes: int, what: str = "this file") -> bytes:
    """The bytes of the file at ``path``, read only when it is a regular file of at most
    ``max_bytes``.

    A device (``/dev/zero``), FIFO, socket or folder is refused before it is opened
    (a FIFO would wait for a writer forever, a device never ends), as is a file over
    ``max_bytes``; both raise `FileReadError` naming ``path`` (``what`` names the kind
    of file in the reason). The open file is checked again, so a file swapped in
    meanwhile is caught too. A missing or unreadable file raises the usual `OSError`.
    """
    _check_regular(path, os.stat(path), max_bytes, what)
    fd = os.open(path, os.O_RDONLY | getattr(os, "O_NONBLOCK", 0) | getattr(os, "O_NOCTTY", 0))
    with open(fd, "rb") as f:
        _check_regular(path, os.fstat(fd), max_bytes, what)
        data = f.read(max_bytes + 1)  # the file may have grown since fstat
    if len(data) > max_bytes:
        raise FileReadError(path, f"grew past the {max_bytes} bytes {what} may have")
    return data


def _check_regular(path, st: os.stat_result, max_bytes: int, what: str) -> None:
    if not stat.S_ISREG(st.st_mode):
        raise FileReadError(path, f"not a regular file (a {_file_kind(st.st_mode)})")
    if st.st_size > max_bytes:
        raise FileReadError(path, f"{st.st_size} bytes, more than the {max_bytes} {what} may "
                            "have: not read")


def _file_kind(mode: int) -> str:
    kinds = ((stat.S_ISDIR, "folder"), (stat.S_ISCHR, "character device"),
             (stat.S_ISBLK, "block device"), (stat.S_ISFIFO, "FIFO"), (stat.S_ISSOCK, "socket"))
    return next((name for test, name in kinds if test(mode)), "special file")


def read_json(path: str | os.PathLike, max_bytes: int = MAX_JSON_BYTES):
    """The JSON value in the file at ``path``, read by `read_regular` and `parse_json`:
    `FileReadError` naming ``path`` for a file that is not regular, too large, not JSON
    or nested too deeply; `OSError` for a missing or unreadable one."""
    return parse_json(read_regular(path, max_bytes, "a JSON file"), path)


def parse_json(data: str | bytes, source: object):
    """``json.loads(data)``, with `FileReadError` naming ``source`` for text that is not
    JSON, and for JSON nested too deeply for Python's parser (a RecursionError otherwise)."""
    try:
        return json.loads(data)
    except RecursionError:
        raise FileReadError(source, "not readable JSON (nested too deeply)") from None
    except ValueError as err:  # JSONDecodeError, UnicodeDecodeError, a number of 5,000 digits
        raise FileReadError(source, f"not readable JSON ({err})") from None
