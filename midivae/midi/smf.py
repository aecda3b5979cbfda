"""A strict, fast reader of Standard MIDI Files down to the events a piano roll needs.

Pure Python over the raw bytes: it pairs note-ons with note-offs while parsing,
so reading a file costs one pass and no per-message objects. Anything that is
not a well-formed SMF raises `MidiReadError` naming the source and the reason.
`read_file` reads only regular files of a bounded size, so a path to a device or
a FIFO is refused at once instead of read forever or waited on.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field

from midivae.errors import FileReadError, MidiReadError
from midivae.fileio import read_regular

# Delta times are at most 4 bytes (2**28 - 1 ticks); a file whose total length in
# ticks exceeds this is corrupt rather than long (a day at 960 tpb, 240 bpm is 2**28.2).
MAX_TICK = 2**31
# A larger "MIDI file" is refused unread: real ones are at most a few MiB, and
# 64 MiB of notes (over 10 million) would not fit a roll anyway.
MAX_FILE_BYTES = 64 * 2**20
MAX_IGNORED = 10  # skipped meta events a track remembers, to name them in a warning


@dataclass
class SmfTrack:
    """What one MTrk chunk holds, in absolute ticks."""

    name: str | None = None  # first track_name meta event, if any
    # notes: parallel lists, one entry per note (start order per pitch)
    channel: list[int] = field(default_factory=list)
    program: list[int] = field(default_factory=list)  # program in force on the channel at the onset
    pitch: list[int] = field(default_factory=list)
    start: list[int] = field(default_factory=list)
    end: list[int] = field(default_factory=list)  # -1 while still sounding at the end of the track
    velocity: list[int] = field(default_factory=list)
    tempos: list[tuple[int, int]] = field(default_factory=list)  # (tick, microseconds per quarter)
    time_signatures: list[tuple[int, int, int]] = field(default_factory=list)  # (tick, num, den)
    key_signatures: list[tuple[int, int, int]] = field(default_factory=list)  # (tick, fifths, mode)
    # sustain pedal (CC64) changes, in file order: (tick, channel, down); down = value >= 64
    pedals: list[tuple[int, int, bool]] = field(default_factory=list)
    last_tick: int = 0  # tick of the last event (end_of_track included)
    # meta events that no music can mean (tempo 0, meter 0/4 or 4/2**8, a key of 9 sharps),
    # skipped: the first MAX_IGNORED of them as (tick, what), and how many there were
    ignored: list[tuple[int, str]] = field(default_factory=list)
    n_ignored: int = 0


@dataclass
class Smf:
    """A parsed file: its format, resolution and tracks."""

    format: int
    ticks_per_beat: int
    tracks: list[SmfTrack]
    seconds_per_tick: float | None = None  # set for SMPTE time division only


def read_file(path: str | os.PathLike, max_bytes: int = MAX_FILE_BYTES) -> bytes:
    """The bytes of the MIDI file at ``path``, read only when it is a regular file of at most
    ``max_bytes`` (`midivae.fileio.read_regular`).

    A device (``/dev/zero``), FIFO or socket is refused before it is opened (a
    FIFO would wait for a writer forever, a device never ends), as is a file
    over ``max_bytes``; both raise `MidiReadError` naming ``path``. A missing or
    unreadable file raises the usual `OSError`.
    """
    try:
        return read_regular(path, max_bytes, "a MIDI file")
    except FileReadError as err:
        raise MidiReadError(path, err.reason) from None


def read_smf(data: bytes, source: object) -> Smf:
    """Parse the bytes of a Standard MIDI File; ``source`` only names it in errors."""
    if len(data) == 0:
        raise MidiReadError(source, "the file is empty")
    if data[:4] == b"RIFF" and data[8:12] == b"RMID":
        at = data.find(b"MThd")
        data = data[at:] if at >= 0 else b""
    if data[:4] != b"MThd":
        raise MidiReadError(source, f"not a MIDI file (starts with {bytes(data[:4])!r}, expected b'MThd')")
    if len(data) < 14:
        raise MidiReadError(source, f"truncated header ({len(data)} bytes)")
    hlen = int.from_bytes(data[4:8], "big")
    if hlen < 6 or 8 + hlen > len(data):
        raise MidiReadError(source, f"corrupt header chunk length {hlen}")
    fmt = int.from_bytes(data[8:10], "big")
    n_declared = int.from_bytes(data[10:12], "big")
    division = int.from_bytes(data[12:14], "big")
    if fmt > 2:
        raise MidiReadError(source, f"unknown MIDI file format {fmt}")
    seconds_per_tick = None
    if division & 0x8000:  # SMPTE: frames per second and ticks per frame
        fps = 256 - (division >> 8)
        tpf = division & 0xFF
        if fps not in (24, 25, 29, 30) or tpf == 0:
            raise MidiReadError(source, f"invalid SMPTE time division {division:#06x}")
        seconds_per_tick = 1.0 / ((29.97 if fps == 29 else fps) * tpf)
        division = max(1, round(0.5 / seconds_per_tick))  # ticks per beat at 120 bpm
    elif division == 0:
        raise MidiReadError(source, "zero ticks per beat")
    tracks: list[SmfTrack] = []
    pos = 8 + hlen
    while pos + 8 <= len(data) and len(tracks) < n_declared:
        kind, length = data[pos:pos + 4], int.from_bytes(data[pos + 4:pos + 8], "big")
        pos += 8
        if length > len(data) - pos:
            raise MidiReadError(source, f"chunk {len(tracks) + 1} ({kind!r}) claims {length} bytes "
                                f"but only {len(data) - pos} remain: truncated or corrupt")
        if kind == b"MTrk":
            tracks.append(_read_track(data, pos, pos + length, source, len(tracks)))
        pos += length  # alien chunks are skipped, as the standard asks
    if len(tracks) < n_declared:
        raise MidiReadError(source, f"truncated: the header declares {n_declared} tracks, "
                            f"the file ends after {len(tracks)}")
    return Smf(fmt, division, tracks, seconds_per_tick)


def _read_vlq(data: bytes, i: int, source: object, where: str) -> tuple[int, int]:
    value = 0
    for _ in range(4):
        b = data[i]
        i += 1
        value = (value << 7) | (b & 0x7F)
        if b < 0x80:
            return value, i
    raise MidiReadError(source, f"{where}: variable-length number longer than 4 bytes")


def decode_text(raw: bytes) -> str:
    """Text of a meta event: UTF-8 when it is valid UTF-8, else Latin-1."""
    try:
        return raw.decode("utf-8")
    except UnicodeDecodeError:
        return raw.decode("latin-1")


def _read_track(data: bytes, i: int, end: int, source: object, index: int) -> SmfTrack:
    where = f"track {index}"
    try:
        return _parse_events(data, i, end, source, where)
    except IndexError:
        raise MidiReadError(source, f"{where}: truncated event at the end of the chunk") from None


def _parse_events(data, i, end, source, where) -> SmfTrack:  # noqa: C901 - one hot loop
    t = SmfTrack()
    tick = 0
    running = 0
    programs = [0] * 16
    pedal_down = [False] * 16
    sounding: dict[int, int] = {}  # channel << 7 | pitch -> index of the open note
    reattacked: dict[int, int] = {}  # key -> tick at which a re-attack closed the previous note
    ch_l, prog_l, pitch_l, start_l, end_l, vel_l = (t.channel, t.program, t.pitch, t.start,
                                                    t.end, t.velocity)
    data = memoryview(data)[:end]
    while i < end:
        delta = data[i]
        i += 1
        if delta & 0x80:
            delta, i = _read_vlq(data, i - 1, source, where)
        tick += delta
        status = data[i]
        if status & 0x80:
            i += 1
            if status < 0xF0:
                running = status
        elif running:
            status = running
        else:
            raise MidiReadError(source, f"{where}: data byte {status:#04x} with no status "
                                f"(byte {i})")
        kind = status & 0xF0
        if kind == 0x90 or kind == 0x80:
            pitch, vel = data[i], data[i + 1]
            i += 2
            if (pitch | vel) & 0x80:
                raise MidiReadError(source, f"{where}: corrupt note event at byte {i - 3}")
            key = (status & 0x0F) << 7 | pitch
            open_at = sounding.get(key)
            if kind == 0x90 and vel:
                if open_at is not None:  # re-attack: the old note ends here
                    end_l[open_at] = tick
                    reattacked[key] = tick
                sounding[key] = len(pitch_l)
                ch_l.append(status & 0x0F)
                prog_l.append(programs[status & 0x0F])
                pitch_l.append(pitch)
                start_l.append(tick)
                end_l.append(-1)
                vel_l.append(vel)
            elif open_at is not None:
                if reattacked.get(key) == tick and start_l[open_at] == tick:
                    continue  # this off belongs to the note the re-attack already closed
                end_l[open_at] = tick
                del sounding[key]
        elif kind == 0xC0:
            programs[status & 0x0F] = data[i] & 0x7F
            i += 1
        elif kind == 0xD0:
            i += 1
        elif kind in (0xA0, 0xB0, 0xE0):
            if kind == 0xB0 and data[i] == 64 and (data[i + 1] >= 64) != pedal_down[status & 0x0F]:
                pedal_down[status & 0x0F] = data[i + 1] >= 64
                t.pedals.append((tick, status & 0x0F, data[i + 1] >= 64))
            i += 2
        elif status == 0xFF:
            mtype = data[i]
            length, i = _read_vlq(data, i + 1, source, where)
            payload = bytes(data[i:i + length])
            if len(payload) < length:
                raise MidiReadError(source, f"{where}: meta event runs past the end of the chunk")
            i += length
            if mtype == 0x51 and length == 3:
                mpqn = int.from_bytes(payload, "big")
                if mpqn > 0:
                    t.tempos.append((tick, mpqn))
                else:
                    _ignore(t, tick, "tempo 0")
            elif mtype == 0x58 and length >= 2:
                if payload[0] >= 1 and payload[1] <= 7:
                    t.time_signatures.append((tick, payload[0], 2 ** payload[1]))
                else:
                    den = 2 ** payload[1] if payload[1] <= 7 else f"2**{payload[1]}"
                    _ignore(t, tick, f"meter {payload[0]}/{den}")
            elif mtype == 0x59 and length == 2:
                fifths = payload[0] - 256 if payload[0] > 127 else payload[0]
                if -7 <= fifths <= 7 and payload[1] <= 1:
                    t.key_signatures.append((tick, fifths, payload[1]))
                else:
                    _ignore(t, tick, f"key signature ({fifths} fifths, mode {payload[1]})")
            elif mtype == 0x03 and t.name is None:
                t.name = decode_text(payload)
            elif mtype == 0x2F:
                break
        elif status == 0xF0 or status == 0xF7:
            length, i = _read_vlq(data, i, source, where)
            i += length
            if i > end:
                raise MidiReadError(source, f"{where}: sysex event runs past the end of the chunk")
        else:
            raise MidiReadError(source, f"{where}: unknown status byte {status:#04x} at byte {i - 1}")
        if tick > MAX_TICK:
            raise MidiReadError(source, f"{where}: absurd tick value {tick} (corrupt delta times?)")
    t.last_tick = tick
    return t


def _ignore(t: SmfTrack, tick: int, what: str) -> None:
    """Count a meta event no music can mean, remembering the first `MAX_IGNORED`."""
    t.n_ignored += 1
    if len(t.ignored) < MAX_IGNORED:
        t.ignored.append((tick, what))
