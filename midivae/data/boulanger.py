"""The four Boulanger-Lewandowski (ICML 2012) piano-roll benchmarks, read from their .mat files.

Each .mat holds ``traindata``, ``validdata`` and ``testdata``: 1 x N cells of
(T x 88) binary frame rolls, column 0 = MIDI pitch 21. The published splits are
kept as they are. Frames are one per quarter note (JSB chorales) or one per
eighth note (the other three), as the authors sampled them from the MIDI's beat.

Frame rolls have no onsets: a note here is a run of consecutive frames in which
a pitch sounds, so it starts at every sustain-run start. A pitch repeated in
adjacent frames therefore becomes one long note (the data cannot tell them
apart). The files keep no meter or tempo: every piece gets 4/4 at 120 qpm, so a
"bar" is 4 beats of frames. Velocities are not kept.
"""

from __future__ import annotations

import functools
import hashlib
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from midivae.errors import DatasetError
from midivae.data.source import Piece, Source
from midivae.midi.roll import N_PITCHES, PianoRoll, Track, sustain_starts

LOWEST_PITCH = 21  # MIDI pitch of column 0 (A0)
SETS = {  # name: (file, frames per quarter note, published train/valid/test sizes)
    "jsb": ("JSB_Chorales.mat", 1, (229, 76, 77)),
    "nottingham": ("Nottingham.mat", 2, (694, 173, 170)),
    "musedata": ("MuseData.mat", 2, (524, 135, 124)),
    "piano-midi": ("Piano_midi.mat", 2, (87, 12, 25)),
}
KEYS = {"train": "traindata", "valid": "validdata", "test": "testdata"}


@dataclass(frozen=True)
class SequenceItem:
    id: str  # "<set>/<split>/<index>"
    path: str  # the .mat file
    split: str
    index: int
    frames_per_beat: int
    label: str = ""

    def load(self, steps_per_beat: int, velocity: bool, sustain_pedal: bool = True) -> Piece:
        return load(self, steps_per_beat, velocity, sustain_pedal)


def resolve(spec: str, root: Path, labels: bool) -> Source:
    """The `Source` for ``boulanger:NAME``: one item per published sequence."""
    folder = root / "boulanger"
    name = spec.partition(":")[2]
    if name not in SETS:
        raise DatasetError(f"unknown Boulanger set {name!r}; choose one of {', '.join(SETS)}")
    filename, native, sizes = SETS[name]
    path = folder / filename
    if not path.is_file():
        raise DatasetError(f"{path} does not exist; pass data_root (--data-root) pointing at the "
                           "folder that holds boulanger/")
    cells = _read(str(path))
    items = [SequenceItem(f"{name}/{split}/{i:03d}", str(path), split, i, native)
             for split in KEYS for i in range(len(cells[split]))]
    st = path.stat()
    fingerprint = hashlib.sha256(f"{path.resolve()}\x00{st.st_size}\x00{st.st_mtime_ns}"
                                 .encode()).hexdigest()
    info = {"kind": "boulanger", "set": name, "path": str(path.resolve()),
            "frames_per_quarter": native,
            "published_splits": dict(zip(KEYS, sizes)),
            "found_splits": {s: len(cells[s]) for s in KEYS}}
    return Source(spec, "boulanger", f"boulanger-{name}", items, roles="order:piano",
                  steps_per_beat=native, native_steps_per_beat=native,
                  fingerprint=fingerprint, info=info)


@functools.lru_cache(maxsize=4)
def _read(path: str) -> dict[str, list[np.ndarray]]:
    """The sequences of one .mat file by split; each (T, 88) uint8. Cached per process."""
    from scipy.io import loadmat
    mat = loadmat(path)
    out = {}
    for split, key in KEYS.items():
        if key not in mat:
            raise DatasetError(f"{path}: no {key!r} in the .mat file")
        out[split] = [np.asarray(seq) for seq in mat[key].ravel()]
    return out


def load(item: SequenceItem, steps_per_beat: int, velocity: bool = False,
         sustain_pedal: bool = True) -> Piece:
    """One published sequence as a one-track `PianoRoll` (see module docstring); frame
    rolls have no velocities or pedal, so ``velocity`` and ``sustain_pedal`` are ignored."""
    frames = _read(item.path)[item.split][item.index]
    return Piece(item.id, frames_to_roll(frames, item.frames_per_beat, steps_per_beat),
                 split=item.split)


def frames_to_roll(frames: np.ndarray, frames_per_beat: int, steps_per_beat: int) -> PianoRoll:
    """A binary frame roll as a `PianoRoll`, onsets at every sustain-run start.

    Parameters
    ----------
    frames : array_like, shape (T, 88)
        Nonzero where a pitch sounds; column 0 is MIDI pitch 21.
    frames_per_beat : int
        Frames per quarter note in ``frames``.
    steps_per_beat : int
        Grid of the returned roll: a whole multiple of ``frames_per_beat``
        (each frame becomes ``steps_per_beat // frames_per_beat`` steps).

    Returns
    -------
    PianoRoll
        One track ("piano"), shape (1, T * factor, 128), 4/4 at 120 qpm, no velocities.
    """
    frames = np.asarray(frames) != 0
    if frames.ndim != 2 or frames.shape[1] != 88:
        raise DatasetError(f"a Boulanger sequence must have shape (T, 88), got {frames.shape}")
    if steps_per_beat % frames_per_beat:
        raise DatasetError(f"steps_per_beat={steps_per_beat} is not a whole multiple of this "
                           f"set's {frames_per_beat} frame(s) per quarter note")
    factor = steps_per_beat // frames_per_beat
    T = frames.shape[0] * factor
    sustain = np.zeros((1, T, N_PITCHES), bool)
    sustain[0, :, LOWEST_PITCH:LOWEST_PITCH + 88] = np.repeat(frames, factor, axis=0)  # (T, 88)
    onset = sustain_starts(sustain)  # a note starts where its pitch starts sounding
    return PianoRoll(onset, sustain, None, steps_per_beat=steps_per_beat,
                     tempos=[(0, 120.0)], time_signatures=[(0, 4, 4)],
                     tracks=[Track("piano", 0)])
