"""The music21 reader: a score -> `PianoRoll`, beside `quantize` (MIDI) as the other reader.

A score goes score -> MIDI bytes (music21's exporter) -> `midivae.midi.quantize`, with
the meter taken from the score's measures rather than the exported time
signatures, so that pickup (anacrusis) bars and partial final bars keep the
score's bar lines.

Known traps, handled here so they are converted or reported, never crash a run:

- repeats: music21 expands repeats when it exports MIDI and raises
  ``ExpanderException`` on badly formed ones (chorale bwv277). Such a score is
  exported without expansion, repeat marks removed, with a warning.
- Essen ABC tunes: the ABC parser puts one `TimeSignature` object into several
  measures, and MIDI export then fails with "object ... is already found in
  this Stream" (about 11% of tunes). Repeated ones are replaced by deep copies.

music21 is imported when a function is first called.
"""

from __future__ import annotations

import copy
from fractions import Fraction

from midivae.midi.roll import PianoRoll


def from_music21(score, steps_per_beat: int = 4, velocity: bool = True
                 ) -> tuple[PianoRoll, list[str]]:
    """A music21 score (or part) as a `PianoRoll`, bar lines from its measures.

    Returns the roll and a list of warnings (repeats left unexpanded).
    """
    from midivae.midi.quantize import quantize
    from music21 import bar, midi, repeat
    said = []
    _unshare_time_signatures(score)
    if score.recurse().getElementsByClass((bar.Repeat, repeat.RepeatMark)):
        try:  # expand here too (export does it again), so the meter follows the expansion
            score = score.expandRepeats()
        except repeat.ExpanderException as err:
            said.append(f"repeats not expanded ({err}); the score is used as written")
            _remove_repeats(score)
        _unshare_time_signatures(score)
    sigs = measure_meter(score, steps_per_beat)
    data = midi.translate.streamToMidiFile(score).writestr()
    return quantize(data, steps_per_beat, velocity=velocity, time_signatures=sigs), said


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
