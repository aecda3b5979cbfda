"""Named sets from the music21 corpus: ``bach-chorales`` and ``essen-folk``.

Both ship with music21, so they need no download. Each score becomes a `PianoRoll`
through `midivae.midi.score.from_music21`.

The conversion and its traps (bwv277's repeats, Essen's shared TimeSignature
objects) live in `midivae.midi.score`, the music21 reader.

music21 caches the parses of corpus files under ``$TMPDIR/music21``.
"""

from __future__ import annotations

import hashlib
import re
from dataclasses import dataclass
from pathlib import Path

from midivae.data.source import Piece, Source
from midivae.midi.score import from_music21

VOICES = ("soprano", "alto", "tenor", "bass")  # bach-chorales track layout


NAMES = ("bach-chorales", "essen-folk")


@dataclass(frozen=True)
class ScoreItem:
    id: str  # the chorale's corpus path, or "<collection>/<tune number>"
    path: str  # corpus path to parse ("bach/bwv66.6", "essenFolksong/han1")
    number: int | None = None  # the tune's number inside an ABC collection
    chorale: bool = False  # pick the four voices (bach-chorales)
    label: str = ""

    def load(self, steps_per_beat: int, velocity: bool, sustain_pedal: bool = True) -> Piece:
        return load(self, steps_per_beat, velocity, sustain_pedal)


def resolve(spec: str, root: Path, labels: bool) -> Source:
    """``bach-chorales`` (one item per chorale) or ``essen-folk`` (one per tune)."""
    import music21
    from music21 import corpus
    version = ".".join(map(str, music21.VERSION[:3]))
    if spec == "bach-chorales":
        # the Riemenschneider list (371) names 350 distinct files: keep each once
        names = list(dict.fromkeys(corpus.chorales.Iterator(returnType="filename")))
        items = [ScoreItem(name, name, chorale=True) for name in names]
        roles = "names:" + ",".join(VOICES)  # _choose_voices names the parts
        info = {"kind": "music21", "set": spec, "music21": version, "chorales": len(items)}
    else:
        folder = Path(corpus.__file__).parent / "essenFolksong"
        items = []
        for path in sorted(folder.glob("*.abc")):
            text = path.read_text(encoding="latin-1")
            items += [ScoreItem(f"{path.stem}/{n}", f"essenFolksong/{path.stem}", int(n))
                      for n in re.findall(r"^X:\s*(\d+)", text, flags=re.M)]
        roles = "order:melody"
        info = {"kind": "music21", "set": spec, "music21": version, "tunes": len(items)}
    fingerprint = hashlib.sha256(f"{spec}\x00{version}\x00{len(items)}".encode()).hexdigest()
    return Source(spec, "music21", spec, items, roles=roles, fingerprint=fingerprint, info=info)


def load(item: ScoreItem, steps_per_beat: int, velocity: bool, sustain_pedal: bool = True) -> Piece:
    """One chorale or tune as a `Piece` (tracks soprano..bass, or one melody); scores
    have no pedal events, so ``sustain_pedal`` changes nothing."""
    from music21 import corpus
    score = corpus.parse(item.path, number=item.number)
    said = []
    if item.chorale:
        score, said = _choose_voices(score)
    roll, more = from_music21(score, steps_per_beat, velocity)
    return Piece(item.id, roll, warnings=tuple(said + more))


def _choose_voices(score):
    """The chorale's soprano, alto, tenor and bass parts, in that order, as a new score.

    Parts are matched by name ("Soprano Oboe 1 Violin1" is the soprano); a score
    of exactly four unnamed parts is taken in score order. Other parts
    (instruments) are dropped, with a warning naming them.
    """
    from music21 import instrument, stream
    parts = list(score.parts)
    names = [(p.partName or "").lower() for p in parts]
    chosen = [next((p for p, n in zip(parts, names) if v in n), None) for v in VOICES]
    said = []
    if all(c is None for c in chosen) and len(parts) == 4:
        chosen = parts
        said.append("parts have no voice names: taken as soprano, alto, tenor, bass in order")
    missing = [v for v, c in zip(VOICES, chosen) if c is None]
    if missing:
        said.append(f"no part for {', '.join(missing)}: left empty")
    dropped = [p.partName or p.id for p in parts if all(p is not c for c in chosen)]
    if dropped:
        said.append(f"parts dropped (not a voice): {', '.join(map(str, dropped))}")
    out = stream.Score()
    out.metadata = score.metadata
    for voice, part in zip(VOICES, chosen):
        if part is None:
            continue
        part.partName = voice
        named = part.recurse().getElementsByClass(instrument.Instrument)
        if not named:
            part.insert(0, instrument.Instrument())
            named = part.recurse().getElementsByClass(instrument.Instrument)
        for inst in named:  # MIDI export names the track after the instrument
            inst.partName = voice
        out.insert(0, part)
    return out, said
