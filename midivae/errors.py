"""The library's exceptions."""

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
        self.source = _describe(source)
        self.reason = reason
        super().__init__(f"{self.source}: {reason}")


class FileReadError(MidivaeError, ValueError):
    """A file midivae reads is refused: not a regular file (a FIFO, a device, a folder),
    larger than its limit, or, for a JSON file, not JSON or nested too deeply.

    The message names the file and the reason, e.g.
    ``"run/model.json: not a regular file (a FIFO)"``.
    """

    def __init__(self, source: object, reason: str):
        self.source = _describe(source)
        self.reason = reason
        super().__init__(f"{self.source}: {reason}")


class RollTooLargeError(MidiReadError):
    """A piece would need more steps than the allowed maximum (see ``quantize``)."""


class CheckpointError(MidivaeError, ValueError):
    """A checkpoint is missing, malformed, or does not match the model settings."""


class DatasetError(MidivaeError, ValueError):
    """A dataset source or a prepared set cannot be used."""


class ModelError(MidivaeError, ValueError):
    """A model cannot do what was asked: an unknown model name, a label it was not
    trained on, a length that is not whole windows, or a piece whose meter or grid
    does not fit its layout. The message names the piece and the model."""


class FolderBusyError(MidivaeError):
    """Another process is writing into a folder (it holds the folder's lock: a training run
    in its run folder). ``pid`` is that process's id where the system tells it, else None."""

    def __init__(self, folder: str | os.PathLike, pid: int | None = None):
        self.folder, self.pid = os.fspath(folder), pid
        holder = f"process {pid}" if pid is not None else "another process"
        super().__init__(f"{self.folder} is in use by {holder}")


def _describe(source: object) -> str:
    if isinstance(source, (str, os.PathLike)):
        return os.fspath(source)
    if isinstance(source, (bytes, bytearray, memoryview)):
        return f"<{len(source)} bytes>"
    name = getattr(source, "filename", None)
    return str(name) if name else f"<{type(source).__name__}>"
