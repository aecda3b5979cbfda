"""The library's exceptions, and how their messages and warnings name things."""

from __future__ import annotations

import os


class MidivaeError(Exception):
    """Base class of every error midivae raises on purpose."""


class MidiReadError(MidivaeError, ValueError):
    """A MIDI file (or bytes) could not be read.

    The message names the source and the reason, e.g.
    ``"song.mid: truncated track chunk 2 (needs 412 bytes, 37 left)"``.
    """

    def __init__(self, source: object, reason: str):
        self.source = describe_source(source)
        self.reason = reason
        super().__init__(f"{self.source}: {reason}")


class FileReadError(MidivaeError, ValueError):
    """A file midivae reads is refused: not a regular file (a FIFO, a device, a folder),
    larger than its limit, or, for a JSON file, not JSON or nested too deeply.

    The message names the file and the reason, e.g.
    ``"run/model.json: not a regular file (a FIFO)"``.
    """

    def __init__(self, source: object, reason: str):
        self.source = describe_source(source)
        self.reason = reason
        super().__init__(f"{self.source}: {reason}")


class RollTooLargeError(MidiReadError):
    """A piece would need more steps than the allowed maximum (see ``quantize``)."""


class BoundError(MidivaeError, ValueError):
    """An input would cost more than a bound allows (`midivae.bounds`): audio longer than
    ``MAX_AUDIO_SECONDS``, a model of more weights than ``MAX_PARAMETERS``; or the environment
    variable that raises a bound is not a whole number. The message names the bound and the
    variable that raises it."""


class CheckpointError(MidivaeError, ValueError):
    """A checkpoint is missing, malformed, or does not match the model settings."""


class DatasetError(MidivaeError, ValueError):
    """A dataset source or a prepared set cannot be used."""


class ModelError(MidivaeError, ValueError):
    """A model cannot do what was asked: an unknown model name, a label it was not
    trained on, a length that is not whole windows, or a piece whose meter or grid
    does not fit its layout. The message names the piece and the model."""


class MeterError(ModelError):
    """A piece none of whose bars last as long as a model's: ``bar_steps``, the lengths of
    its bars in grid steps, lets a caller name a model whose bars they fit."""

    def __init__(self, message: str, bar_steps: tuple[int, ...] = ()):
        super().__init__(message)
        self.bar_steps = bar_steps


class FolderBusyError(MidivaeError):
    """Another process is writing into a folder (it holds the folder's lock: a training run
    in its run folder). ``pid`` is that process's id where the system tells it, else None."""

    def __init__(self, folder: str | os.PathLike, pid: int | None = None):
        self.folder, self.pid = os.fspath(folder), pid
        holder = f"process {pid}" if pid is not None else "another process"
        super().__init__(f"{self.folder} is in use by {holder}")


def describe_source(source: object) -> str:
    """How errors and warnings name a source: a path as given, ``<412 bytes>``, a file
    object's name."""
    if isinstance(source, (str, os.PathLike)):
        return os.fspath(source)
    if isinstance(source, (bytes, bytearray, memoryview)):
        return f"<{len(source)} bytes>"
    name = getattr(source, "filename", None)
    return str(name) if name else f"<{type(source).__name__}>"


def listed(names, most: int = 10, total: int | None = None, sep: str = ", ") -> str:
    """``"a, b, c"``; past ``most`` names, the first ``most`` and ``"and 9,990 more"``, so that
    a file of 10,000 tracks makes a line, not 126 KB. ``total``: how many there are, when
    ``names`` holds only the first of them."""
    names = list(names)
    total = len(names) if total is None else total
    shown = names[:most]
    more = f" and {total - len(shown):,} more" if total > len(shown) else ""
    return sep.join(map(str, shown)) + more
