"""The command line's argument types and path checks: every refusal one line, before any work.

Exit status 2 for a bad argument (argparse, or `Failure` with status 2), 1 for a
file that cannot be read or written, or would be overwritten without --force.
"""

from __future__ import annotations

import argparse
import contextlib
import math
import os
import sys
import warnings
from typing import Iterable

from midivae.bounds import env_bound, raise_hint
from midivae.errors import BoundError


class Failure(Exception):
    """A command refuses: one line on stderr and an exit status (2: a bad argument)."""

    def __init__(self, message: str, status: int = 1):
        super().__init__(message)
        self.status = status


class Parser(argparse.ArgumentParser):
    """argparse whose errors are one line, ``midivae train: error: ...``, exit status 2."""

    def error(self, message: str):
        self.exit(2, f"{self.prog}: error: {' '.join(message.split())}\n")


# -- argument types: argparse turns an ArgumentTypeError into a one-line error -----------

def _number(kind, text: str, what: str):
    try:
        return kind(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"must be {what}, got {text!r}") from None


# -- bounds on counts: a count past its bound is refused at once, in one line, before
# anything is allocated (issue 27). --help names each bound; the environment variable beside
# it raises it for a machine that can take more.
MAX_CLIPS = 1000  # MIDIVAE_MAX_CLIPS: clips, variations or path points one command writes (a
#   file each), and windows `sample` draws in all (a chorale window takes ~4 MB as it is drawn)
MAX_BARS = 1000  # MIDIVAE_MAX_BARS: bars of a sampled clip or a continuation (~33 min of 4/4
#   at 120 qpm)
MAX_PARTICLES = 1024  # MIDIVAE_MAX_PARTICLES: draws per window of continue, inpaint and
#   harmonise (64 times the default; memory grows with them)
MAX_SAMPLES = 4096  # MIDIVAE_MAX_SAMPLES: evaluate's prior samples (16 times the default)
MAX_IWAE = 5000  # MIDIVAE_MAX_IWAE: evaluate's importance samples, one pass over the windows
#   each (Burda et al. 2016 report IWAE with 5000)
MAX_ROUNDS = 100  # rounds of redrawing each track given the others (3 by default)
MAX_WORKERS = 64  # MIDIVAE_MAX_WORKERS: processes of `prepare` (each a Python with torch's
#   data code, ~150 MB before its first piece: --workers 1000 filled memory doing nothing)
MAX_SEED = 2**63 - 1  # torch's generators take 64-bit seeds; midivae adds small offsets to them
MAX_STEPS_PER_BEAT = 960  # the grid: a MIDI file's usual ticks per beat (RollLayout's bound)
MAX_WINDOW_BARS = 1024  # prepare --bars and --hop (a manifest's bound)
MAX_BATCH = 4096  # MIDIVAE_MAX_BATCH: train --batch-size (64 by default; memory grows with it)
MAX_TRAIN_STEPS = 10**9  # optimiser steps and every-N-steps intervals (allocate nothing)
MAX_TRANSPOSE = 12  # train --transpose: semitones each way (12 repeats every key)
MAX_COUNT = 10**9  # prepare --limit, --min-notes, evaluate --limit: counts of what exists


def bounded_int(low: int, high: int, env: str | None = None):
    """An argparse type: a whole number from ``low`` to ``high``; the environment variable
    ``env``, when set, replaces ``high`` (a bound that a machine with more memory or time
    may raise)."""
    def parse(text: str) -> int:
        value = _number(int, text, f"a whole number >= {low}")
        most = _env_bound(env, high, low)
        if value < low:
            raise argparse.ArgumentTypeError(f"must be >= {low}, got {value}")
        if value > most:
            raise argparse.ArgumentTypeError(
                f"must be at most {most}, got {value}" + (raise_hint(env) if env else ""))
        return value
    parse.__name__ = "whole number"  # what argparse calls the type in its own errors
    parse.low, parse.high, parse.env = low, high, env
    return parse


def limits(kind) -> str:
    """A bounded type's bound for --help: ``at most 1000; $MIDIVAE_MAX_CLIPS raises it``."""
    return f"at most {kind.high}" + (f"; ${kind.env} raises it" if kind.env else "")


def bound(kind) -> int:
    """A bounded type's bound now: its environment variable's, else its constant."""
    return _env_bound(kind.env, kind.high, kind.low)


def _env_bound(env: str | None, default: int, low: int) -> int:
    try:
        return env_bound(env, default, low)
    except BoundError as err:
        raise argparse.ArgumentTypeError(str(err)) from None


clip_count = bounded_int(1, MAX_CLIPS, "MIDIVAE_MAX_CLIPS")  # sample -n, variations -n
path_points = bounded_int(2, MAX_CLIPS, "MIDIVAE_MAX_CLIPS")  # interpolate --steps
bar_count = bounded_int(1, MAX_BARS, "MIDIVAE_MAX_BARS")  # sample --bars, continue --bars
particle_count = bounded_int(1, MAX_PARTICLES, "MIDIVAE_MAX_PARTICLES")
sample_count = bounded_int(1, MAX_SAMPLES, "MIDIVAE_MAX_SAMPLES")  # evaluate --samples
iwae_count = bounded_int(0, MAX_IWAE, "MIDIVAE_MAX_IWAE")  # evaluate --iwae (0: none)
round_count = bounded_int(0, MAX_ROUNDS)  # sample --rounds, evaluate --rounds
worker_count = bounded_int(0, MAX_WORKERS, "MIDIVAE_MAX_WORKERS")  # prepare --workers (0: all)
seed = bounded_int(0, MAX_SEED)  # every --seed
grid_steps = bounded_int(1, MAX_STEPS_PER_BEAT)  # every --steps-per-beat
window_bars = bounded_int(1, MAX_WINDOW_BARS)  # prepare --bars, --hop
batch_size = bounded_int(1, MAX_BATCH, "MIDIVAE_MAX_BATCH")  # train --batch-size
train_steps = bounded_int(1, MAX_TRAIN_STEPS)  # train --steps, --log-every, ...
train_steps_or_none = bounded_int(0, MAX_TRAIN_STEPS)  # train --warmup-steps
transpose_range = bounded_int(0, MAX_TRANSPOSE)  # train --transpose
some_count = bounded_int(1, MAX_COUNT)  # prepare --limit, evaluate --limit
some_count_or_none = bounded_int(0, MAX_COUNT)  # prepare --min-notes


def positive_int(text: str) -> int:
    value = _number(int, text, "a whole number >= 1")
    if value < 1:
        raise argparse.ArgumentTypeError(f"must be >= 1, got {value}")
    return value


def rule_names(text: str) -> tuple[str, ...]:
    """``none`` or rule names joined by commas (`midivae.run.guides.RULES`): --rules."""
    from midivae.run.guides import check_rules

    if text.strip() == "none":
        return ()
    try:
        return check_rules(n.strip() for n in text.split(",") if n.strip())
    except ValueError as err:
        raise argparse.ArgumentTypeError(str(err)) from None


def prior_rank(text: str) -> int | str:
    """``auto`` or a whole number >= 1 (`midivae fit-prior --rank`)."""
    return "auto" if text == "auto" else positive_int(text)


def non_negative_int(text: str) -> int:
    value = _number(int, text, "a whole number >= 0")
    if value < 0:
        raise argparse.ArgumentTypeError(f"must be >= 0, got {value}")
    return value


def finite_float(text: str) -> float:
    value = _number(float, text, "a number")
    if not math.isfinite(value):
        raise argparse.ArgumentTypeError(f"must be a finite number, got {text!r}")
    return value


def non_negative_float(text: str) -> float:
    value = finite_float(text)
    if value < 0:
        raise argparse.ArgumentTypeError(f"must be >= 0, got {value:g}")
    return value


def positive_float(text: str) -> float:
    value = finite_float(text)
    if value <= 0:
        raise argparse.ArgumentTypeError(f"must be > 0, got {value:g}")
    return value


# --qpm: a tempo people play at. 10 quarter notes a minute is a beat every 6 s, slower than
# any marking (Grave is ~40); 1000 is 60 ms a beat, past any marking (Prestissimo ~200) and
# where notes of a 16th-note grid blur into 15 ms. MIDI could store 3.6 to 60,000,000 (a
# microsecond a beat), but --qpm 1 or 1e300 was a mistyped number, clamped unsaid.
MIN_QPM, MAX_QPM = 10, 1000


def tempo_qpm(text: str) -> float:
    """A tempo in quarter notes a minute, from `MIN_QPM` to `MAX_QPM`."""
    value = finite_float(text)
    if not MIN_QPM <= value <= MAX_QPM:
        raise argparse.ArgumentTypeError(f"must be from {MIN_QPM} to {MAX_QPM} quarter notes a "
                                         f"minute, got {text}")
    return value


def probability_below_one(text: str) -> float:
    value = finite_float(text)
    if not 0 <= value < 1:
        raise argparse.ArgumentTypeError(f"must be >= 0 and < 1, got {value:g}")
    return value


def port_number(text: str) -> int:
    value = _number(int, text, "a port number")
    if not 1 <= value <= 65535:
        raise argparse.ArgumentTypeError(f"must be a port number from 1 to 65535, got {value}")
    return value


def bar_range(text: str) -> tuple[int, int]:
    """"A-B" or "A": bars A to B counted from 1, both included -> (A, B)."""
    first, sep, last = text.partition("-")
    try:
        a, b = int(first), int(last if sep else first)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected bars A-B (e.g. 5-8) or one bar A, got "
                                         f"{text!r}") from None
    if not 1 <= a <= b:
        raise argparse.ArgumentTypeError(f"bars count from 1 and A <= B, got {text!r}")
    return a, b


def unit_interval(text: str) -> float:
    value = finite_float(text)
    if not 0 <= value <= 1:
        raise argparse.ArgumentTypeError(f"must be between 0 and 1, got {value:g}")
    return value


def note_gate(text: str) -> float:
    """--gate: the share of its last step a note sounds, above 0.5 and up to 1
    (`midivae.midi.render`)."""
    value = finite_float(text)
    if not 0.5 < value <= 1:
        raise argparse.ArgumentTypeError(f"must be above 0.5 and at most 1 (1 = legato), got "
                                         f"{value:g}")
    return value


def pitch_range(text: str) -> tuple[int, int]:
    """``"21-108"`` -> (21, 108); the bounds are checked by `PrepareSettings`."""
    parts = text.split("-")
    if len(parts) != 2:
        raise argparse.ArgumentTypeError(f"must look like LOW-HIGH, e.g. 21-108, got {text!r}")
    return tuple(_number(int, p, "LOW-HIGH, e.g. 21-108") for p in parts)


def splits(text: str) -> tuple[float, ...]:
    """``"0.8,0.1,0.1"`` -> three finite shares; their rules are `PrepareSettings`'."""
    try:
        return tuple(finite_float(v) for v in text.split(","))
    except argparse.ArgumentTypeError:
        raise argparse.ArgumentTypeError(f"must be three finite shares like 0.8,0.1,0.1, "
                                         f"got {text!r}") from None


def role_spec(text: str) -> str:
    """A track layout spec, checked by the one function that reads it."""
    from midivae.errors import DatasetError
    from midivae.midi.roles import parse_roles
    try:
        parse_roles(text)
    except DatasetError as err:
        raise argparse.ArgumentTypeError(str(err).removeprefix("roles: ")) from None
    return text


def track_map(text: str) -> dict[str, str]:
    """--map's MODEL_TRACK=FILE_TRACK,... as a dict, checked by the one function that reads it."""
    from midivae.errors import DatasetError
    from midivae.midi.roles import parse_mapping
    try:
        return parse_mapping(text)
    except DatasetError as err:
        raise argparse.ArgumentTypeError(str(err).removeprefix("map: ")) from None


def onset_biases(text: str) -> dict[str, float]:
    """--onset-bias's TRACK=NUMBER,... as a dict (the tracks are checked by the model)."""
    out: dict[str, float] = {}
    for part in text.split(","):
        track, sep, number = part.partition("=")
        if not sep or not track.strip():
            raise argparse.ArgumentTypeError(f"must look like TRACK=NUMBER,..., e.g. "
                                             f"bridge=2,piano=0.5, got {text!r}")
        out[track.strip()] = finite_float(number.strip())
    return out


# -- paths: checked before any work, so a refusal changes nothing -------------------------

def _input_file(path: str) -> None:
    if not os.path.lexists(path):
        raise Failure(f"{path}: no such file")
    if os.path.isdir(path):
        raise Failure(f"{path}: is a folder, not a file")


def _writable_folder(folder: str, path: str, *, create: bool) -> None:
    """``folder`` exists (or, with ``create``, can be made) and may be written in."""
    folder = os.path.abspath(folder)
    existing = folder
    while not os.path.lexists(existing):
        if not create:
            raise Failure(f"{path}: folder {folder} does not exist")
        existing = os.path.dirname(existing)
    if not os.path.isdir(existing):
        raise Failure(f"{path}: {existing} is a file, not a folder")
    if not os.access(existing, os.W_OK | os.X_OK):
        raise Failure(f"{path}: cannot write in {existing} (permission denied)")


def _output_file(path: str | os.PathLike, *, force: bool, create: bool = False,
                 inputs: Iterable[str | os.PathLike] = ()) -> None:
    """``path`` may be written: it is none of the command's ``inputs`` under any name (a
    link, a relative spelling), even with --force; its folder is there (or can be made),
    it is no folder, and it exists only if ``force``. Every command checks each file it
    will write with this, before any work."""
    path = os.fspath(path)
    for src in inputs:
        if _same_file(path, os.fspath(src)):
            also = "" if os.fspath(src) == path else f" {os.fspath(src)}"
            raise Failure(f"{path} is the input file{also}; it is never written over, even "
                          "with --force (write elsewhere)")
    _writable_folder(os.path.dirname(os.path.abspath(path)), path, create=create)
    if os.path.isdir(path):
        raise Failure(f"{path}: is a folder, not a file")
    if os.path.lexists(path) and not force:
        raise Failure(f"{path} exists; pass --force to overwrite it")


def _output_folder(path: str) -> None:
    if os.path.lexists(path) and not os.path.isdir(path):
        raise Failure(f"{path}: is a file, not a folder")
    _writable_folder(path, path, create=True)


def _same_file(a: str, b: str) -> bool:
    try:
        return os.path.samefile(a, b)
    except OSError:  # one of them does not exist
        return os.path.realpath(a) == os.path.realpath(b)


def one_line(text: str) -> str:
    """``text`` with its control characters escaped (a newline in a file's name becomes
    ``\\n``), so that a message stays one line."""
    return "".join(c if c.isprintable() or c == " " else repr(c)[1:-1] for c in str(text))


@contextlib.contextmanager
def _warnings_said(command: str):
    """Warnings raised inside, each as one ``midivae CMD: warning: ...`` line on stderr
    (none when the command fails: its error is then the one line)."""
    with warnings.catch_warnings(record=True) as said:
        warnings.simplefilter("always")
        yield
    for message in dict.fromkeys(str(w.message) for w in said):  # each once, in order
        print(f"midivae {command}: warning: {one_line(message)}", file=sys.stderr)


def _check_device(name: str) -> None:
    import torch
    try:
        if torch.device(name).type == "meta":  # shapes without data: nothing runs there
            raise ValueError("meta tensors hold shapes and no data: nothing computes there")
        torch.empty(0, device=name)
    except (RuntimeError, AssertionError, ValueError) as err:
        reason = (str(err).strip().splitlines() or ["unknown device"])[0]
        raise Failure(f"argument --device: cannot use {name!r} here ({reason})", 2) from None


def _progress_bar(quiet: bool, unit: str):
    """A tqdm bar on stderr as ``progress(done, total)``; None when quiet or not on a terminal."""
    if quiet or not sys.stderr.isatty():
        return None
    from tqdm import tqdm
    bar = tqdm(unit=unit, file=sys.stderr, dynamic_ncols=True)

    def progress(done: int, total: int) -> None:
        bar.total = total
        bar.update(done - bar.n)
    progress.close = bar.close
    return progress


@contextlib.contextmanager
def _window_progress():
    """`_progress_bar` of windows for a verb that writes parts of a piece, closed after it."""
    progress = _progress_bar(False, "window")
    try:
        yield progress
    finally:
        if progress:
            progress.close()
