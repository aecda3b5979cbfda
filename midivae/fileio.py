"""Writing files so that a crash or Ctrl-C never leaves a half-written one."""

from __future__ import annotations

import os
import secrets
from pathlib import Path
from typing import Callable


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


def _new_file(folder: Path, prefix: str) -> Path:
    """Create an empty file with a new name (O_EXCL), permissions from the umask as usual."""
    while True:
        tmp = folder / f"{prefix}{secrets.token_hex(4)}.tmp"
        try:
            os.close(os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o666))
            return tmp
        except FileExistsError:
            continue
