"""Shared fixtures (the ../shared data folder) and helpers that build MIDI in code.

MIDI fixtures are built with mido at exact ticks, so every expected roll in the
tests can be computed by hand. Test modules import the helpers directly
(``from conftest import note, track, midi_file``): pytest puts tests/ on the path.
"""

from __future__ import annotations

import io
import os
from pathlib import Path

import mido
import numpy as np
import pytest
from hypothesis import settings

# Property tests are seeded (the same examples every run) unless HYPOTHESIS_PROFILE=explore.
settings.register_profile("seeded", derandomize=True, deadline=None)
settings.register_profile("explore", deadline=None)
settings.load_profile(os.environ.get("HYPOTHESIS_PROFILE", "seeded"))

REPO_ROOT = Path(__file__).resolve().parent.parent

# Every decoder the models offer, as test ids: a decoder name, "hierarchical/mlp" for the
# hierarchical decoder with the MLP bar decoder, "hierarchical/mlp/bar-latents" for that
# decoder reading one code per bar from the bars encoder, or ".../track-latents" for one code
# per bar and track. `decoder_settings` turns one into ModelConfig fields.
DECODER_VARIANTS = ("flat", "recurrent", "hierarchical", "hierarchical/mlp",
                    "hierarchical/mlp/bar-latents", "hierarchical/mlp/track-latents")


def decoder_settings(variant: str, encoder: str) -> dict:
    """ModelConfig fields of a variant, with ``encoder`` unless the variant needs its own:
    ``"hierarchical/mlp"`` -> {"decoder": "hierarchical", "bar_decoder": "mlp", "encoder":
    encoder}."""
    decoder, *rest = variant.split("/")
    settings = {"decoder": decoder, "encoder": encoder}
    if rest:
        settings["bar_decoder"] = rest[0]
    if rest[1:] in (["bar-latents"], ["track-latents"]):
        settings.update(encoder="bars", bar_latents=True,
                        track_latents=rest[1:] == ["track-latents"])
    return settings


SHARED_DATA = REPO_ROOT.parent / "shared" / "data"  # ../shared/data from the repo root


@pytest.fixture(scope="session")
def shared_data() -> Path:
    """``../shared/data`` (relative to the repo root); skips the test when it is absent."""
    if not SHARED_DATA.is_dir():
        pytest.skip(f"real MIDI data not found at {SHARED_DATA} (a fresh clone has no ../shared)")
    return SHARED_DATA


@pytest.fixture(scope="session")
def nottingham(shared_data) -> list[Path]:
    files = sorted((shared_data / "nottingham" / "midi").glob("*.mid"))
    if not files:
        pytest.skip(f"no Nottingham MIDI files under {shared_data / 'nottingham' / 'midi'}")
    return files


@pytest.fixture(scope="session")
def pop909(shared_data) -> list[Path]:
    files = sorted((shared_data / "pop909").glob("*/*.mid"))
    if not files:
        pytest.skip(f"no POP909 MIDI files under {shared_data / 'pop909'}")
    return files


# -- building MIDI in code ----------------------------------------------------

def note(start: int, end: int, pitch: int, velocity: int = 64, channel: int = 0) -> list[tuple]:
    """A note as two (absolute tick, message) events."""
    return [(start, mido.Message("note_on", note=pitch, velocity=velocity, channel=channel)),
            (end, mido.Message("note_off", note=pitch, velocity=0, channel=channel))]


def tempo(tick: int, mpqn: int) -> tuple:
    return (tick, mido.MetaMessage("set_tempo", tempo=mpqn))


def meter(tick: int, num: int, den: int) -> tuple:
    return (tick, mido.MetaMessage("time_signature", numerator=num, denominator=den))


def name(text: str) -> tuple:
    return (0, mido.MetaMessage("track_name", name=text))


def program(tick: int, prog: int, channel: int = 0) -> tuple:
    return (tick, mido.Message("program_change", program=prog, channel=channel))


def track(*events, end: int | None = None) -> mido.MidiTrack:
    """A track from (absolute tick, message) pairs, or lists of them (as `note` returns).

    Events are stable-sorted by tick; ``end`` places end_of_track (default: the last event).
    """
    flat = []
    for e in events:
        flat.extend(e if isinstance(e, list) else [e])
    flat.sort(key=lambda e: e[0])
    out, now = mido.MidiTrack(), 0
    for tick, msg in flat:
        out.append(msg.copy(time=tick - now))
        now = tick
    end = now if end is None else end
    out.append(mido.MetaMessage("end_of_track", time=max(0, end - now)))
    return out


def midi_file(*tracks: mido.MidiTrack, tpb: int = 480, type: int = 1) -> mido.MidiFile:
    mf = mido.MidiFile(type=type, ticks_per_beat=tpb)
    mf.tracks.extend(tracks)
    return mf


def to_bytes(mf: mido.MidiFile) -> bytes:
    buf = io.BytesIO()
    mf.save(file=buf)
    return buf.getvalue()


# -- reading a roll's notes ---------------------------------------------------

def note_list(roll) -> list[tuple[int, int, int, int, int]]:
    """A roll's notes as sorted (track, pitch, start, end, velocity) tuples."""
    return sorted(tuple(int(x) for x in n) for n in roll.notes())


def tick_notes(mf: mido.MidiFile) -> list[tuple]:
    """Every note of a mido file as (track index, channel, pitch, start tick, end tick, velocity).

    Note-ons are paired with offs first-in first-out per (track, channel, pitch);
    a note still sounding at the end of its track ends there.
    """
    out = []
    for ti, tr in enumerate(mf.tracks):
        tick, open_ = 0, {}
        for msg in tr:
            tick += msg.time
            if msg.type == "note_on" and msg.velocity > 0:
                open_.setdefault((msg.channel, msg.note), []).append((tick, msg.velocity))
            elif msg.type in ("note_on", "note_off") and open_.get((msg.channel, msg.note)):
                start, vel = open_[(msg.channel, msg.note)].pop(0)
                out.append((ti, msg.channel, msg.note, start, tick, vel))
        for (ch, p), starts in open_.items():
            out += [(ti, ch, p, s, tick, v) for s, v in starts]
    return sorted(out)


def meta_events(mf: mido.MidiFile, kind: str) -> list[tuple]:
    """(absolute tick, track index, message) of every meta event of a kind, sorted by tick."""
    out = []
    for ti, tr in enumerate(mf.tracks):
        tick = 0
        for msg in tr:
            tick += msg.time
            if msg.type == kind:
                out.append((tick, ti, msg))
    return sorted(out, key=lambda e: (e[0], e[1]))


def make_roll(notes, n_steps: int, n_tracks: int = 1, *, velocity: bool = True, **kwargs):
    """A roll from (track, pitch, start, end, velocity) notes; end exclusive, in steps."""
    from midivae import PianoRoll

    shape = (n_tracks, n_steps, 128)
    onset, sustain = np.zeros(shape, bool), np.zeros(shape, bool)
    vel = np.zeros(shape, np.uint8)
    for k, p, s, e, v in notes:
        sustain[k, s:e, p] = True
        onset[k, s, p] = True
        vel[k, s, p] = v
    return PianoRoll(onset, sustain, vel if velocity else None, **kwargs)


@pytest.fixture(scope="session")
def chorale_set(tmp_path_factory):
    """Six chorales of the real music21 corpus as 2-bar 4/4 windows, built once per session."""
    from midivae.data import prepare
    return prepare("bach-chorales", tmp_path_factory.mktemp("chorales") / "set", limit=6,
                   bars=2, meter="4/4", workers=1)


@pytest.fixture(scope="module")
def one_torch_thread():
    """Tiny models run faster on one thread and do not stall when the cores are shared."""
    import torch
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)


def tunes_set(w: Path, n: int) -> Path:
    """``n`` one-track 4/4 tunes of eighth notes in w/midi, prepared into w/set as 2-bar
    windows (quietly, one worker); returns w."""
    import contextlib

    from midivae.cli import main

    (w / "midi").mkdir()
    for i in range(n):
        events = [meter(0, 4, 4)] + [note(t * 480, t * 480 + 240, 60 + t * (i + 1) % 12)
                                     for t in range(32)]
        midi_file(track(*events)).save(w / "midi" / f"tune{i}.mid")
    with contextlib.redirect_stdout(io.StringIO()):
        assert main(["prepare", str(w / "midi"), "--out", str(w / "set"), "--meter", "4/4",
                     "--bars", "2", "--quiet", "--workers", "1"]) == 0
    return w
