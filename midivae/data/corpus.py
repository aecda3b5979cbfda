"""Named sets from the music21 corpus: ``bach-chorales`` and ``essen-folk``.

Both ship with music21, so they need no download. A score goes score -> MIDI
bytes (music21's exporter) -> `midivae.quantize`, with the meter taken from the
score's measures rather than the exported time signatures, so that pickup
(anacrusis) bars and partial final bars keep the score's bar lines.

Known traps, handled here so they are converted or reported, never crash a run:

- repeats: music21 expands repeats when it exports MIDI and raises
  ``ExpanderException`` on badly formed ones (chorale bwv277). Such a score is
  exported without expansion, repeat marks removed, with a warning.
- Essen ABC tunes: the ABC parser puts one `TimeSignature` object into several
  measures, and MIDI export then fails with "object ... is already found in
  this Stream" (about 11% of tunes). Repeated ones are replaced by deep copies.

music21 caches the parses of corpus files under ``$TMPDIR/music21``.
"""

from __future__ import annotations

import copy
import hashlib
import re
from fractions import Fraction
from pathlib import Path

VOICES = ("soprano", "alto", "tenor", "bass")  # bach-chorales track layout


def resolve(spec: str):
    """The `Source` for ``bach-chorales`` (one item per chorale) or ``essen-folk`` (per tune)."""
    import music21
    from midivae.data.sources import Source
    from music21 import corpus
    version = ".".join(map(str, music21.VERSION[:3]))
    if spec == "bach-chorales":
        # the Riemenschneider list (371) names 350 distinct files: keep each once
        names = list(dict.fromkeys(corpus.chorales.Iterator(returnType="filename")))
        items = [(name, name) for name in names]
        roles = "names:" + ",".join(VOICES)  # _choose_voices names the parts
        info = {"kind": "music21", "set": spec, "music21": version, "chorales": len(items)}
    else:
        folder = Path(corpus.__file__).parent / "essenFolksong"
        items = []
        for path in sorted(folder.glob("*.abc")):
            text = path.read_text(encoding="latin-1")
            items += [(f"{path.stem}/{n}", path.stem, int(n))
                      for n in re.findall(r"^X:\s*(\d+)", text, flags=re.M)]
        roles = "order:melody"
        info = {"kind": "music21", "set": spec, "music21": version, "tunes": len(items)}
    fingerprint = hashlib.sha256(f"{spec}\x00{version}\x00{len(items)}".encode()).hexdigest()
    return Source(spec, spec, spec, items, roles=roles, fingerprint=fingerprint, info=info)


def load(kind: str, item: tuple, steps_per_beat: int, velocity: bool):
    """One chorale or tune as a `Piece` (tracks soprano..bass, or one melody)."""
    from midivae.data.sources import Piece
    from music21 import corpus
    if kind == "bach-chorales":
        piece_id, name = item
        score, notes = _choose_voices(corpus.parse(name))
    else:
        piece_id, stem, number = item
        score = corpus.parse(f"essenFolksong/{stem}", number=number)
        notes = []
    roll, more = score_to_roll(score, steps_per_beat, velocity)
    return Piece(piece_id, roll, warnings=tuple(notes + more))


def score_to_roll(score, steps_per_beat: int, velocity: bool = True):
    """A music21 score as a `PianoRoll`, bar lines from its measures.

    Returns the roll and a list of warnings (repeats left unexpanded).
    """
    from midivae.quantize import quantize
    from music21 import bar, midi, repeat
    notes = []
    _unshare_time_signatures(score)
    if score.recurse().getElementsByClass((bar.Repeat, repeat.RepeatMark)):
        try:  # expand here too (export does it again), so the meter follows the expansion
            score = score.expandRepeats()
        except repeat.ExpanderException as err:
            notes.append(f"repeats not expanded ({err}); the score is used as written")
            _remove_repeats(score)
        _unshare_time_signatures(score)
    sigs = measure_meter(score, steps_per_beat)
    data = midi.translate.streamToMidiFile(score).writestr()
    return quantize(data, steps_per_beat, velocity=velocity, time_signatures=sigs), notes


def _unshare_time_signatures(score) -> None:
    """Give every measure its own TimeSignature object (the Essen ABC trap)."""
    seen = set()
    for measure in score.recurse().getElementsByClass("Measure"):
        for ts in list(measure.getElementsByClass("TimeSignature")):
            if id(ts) in seen:
                measure.replace(ts, copy.deepcopy(ts))
            seen.add(id(ts))


def _remove_repeats(score) -> None:
    """Strip repeat barlines, repeat expressions and brackets, so export needs no expansion."""
    from music21 import bar, repeat, spanner
    for measure in score.recurse().getElementsByClass("Measure"):
        for side in ("leftBarline", "rightBarline"):
            if isinstance(getattr(measure, side), bar.Repeat):
                setattr(measure, side, bar.Barline("regular"))
        for el in list(measure.getElementsByClass(repeat.RepeatExpression)):
            measure.remove(el)
    for sp in list(score.recurse().getElementsByClass(spanner.RepeatBracket)):
        for site in list(sp.sites.get()):
            if hasattr(site, "remove"):
                site.remove(sp)


def measure_meter(score, steps_per_beat: int) -> list[tuple[int, int, int]]:
    """Time signatures at the score's bar lines, from measure offsets and lengths.

    A full measure gets its time signature. Consecutive partial measures that
    add up to a full bar (a chorale phrase split at a fermata: 2 + 1 beats of 3/4)
    count as one bar; any other partial measure (a pickup, a short final bar)
    becomes a bar of its own length, e.g. a one-beat pickup in 3/4 is 1/4.
    """
    part = score.parts[0] if score.hasPartLikeStreams() else score
    bars: list[tuple[Fraction, Fraction, int, int]] = []  # (offset, length, num, den)
    ts = None
    for m in part.getElementsByClass("Measure"):
        ts = m.timeSignature or ts
        num, den = (ts.numerator, ts.denominator) if ts is not None else (4, 4)
        full = Fraction(num * 4, den)
        offset = Fraction(m.offset).limit_denominator(64)
        length = Fraction(m.duration.quarterLength).limit_denominator(64)
        if bars and bars[-1][1] < Fraction(bars[-1][2] * 4, bars[-1][3]) \
                and (bars[-1][2], bars[-1][3]) == (num, den) and bars[-1][1] + length <= full:
            bars[-1] = (bars[-1][0], bars[-1][1] + length, num, den)  # completes a split bar
        else:
            bars.append((offset, length, num, den))
    sigs = []
    for offset, length, num, den in bars:
        if length != Fraction(num * 4, den):
            num, den = _as_meter(length, den)
        if num:
            sigs.append((round(offset * steps_per_beat), num, den))
    if not sigs or sigs[0][0] != 0:
        sigs.insert(0, (0, 4, 4))
    return sigs


def _as_meter(quarters: Fraction, den: int) -> tuple[int, int]:
    """``quarters`` as num/den with the smallest power-of-two den >= ``den``; (0, 0) if none."""
    while den <= 64:
        num = quarters * den / 4
        if num.denominator == 1 and num >= 1:
            return int(num), den
        den *= 2
    return 0, 0


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
    notes = []
    if all(c is None for c in chosen) and len(parts) == 4:
        chosen = parts
        notes.append("parts have no voice names: taken as soprano, alto, tenor, bass in order")
    missing = [v for v, c in zip(VOICES, chosen) if c is None]
    if missing:
        notes.append(f"no part for {', '.join(missing)}: left empty")
    dropped = [p.partName or p.id for p in parts if all(p is not c for c in chosen)]
    if dropped:
        notes.append(f"parts dropped (not a voice): {', '.join(map(str, dropped))}")
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
    return out, notes
