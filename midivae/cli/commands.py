"""The commands of `midivae`: each takes the parsed arguments and returns an exit status.

Only this package prints. Heavy modules are imported inside each command so
that `midivae --help` is fast.
"""

from __future__ import annotations

import os
import sys

from midivae.cli.checks import (Failure, _input_file, _output_file, _progress_bar,
                                _warnings_said)


def _cmd_quantize(args) -> int:
    from midivae.midi.quantize import quantize
    _input_file(args.midi)
    if args.out:
        _output_file(args.out, force=args.force, inputs=[args.midi])
    with _warnings_said("quantize"):
        roll = quantize(args.midi, steps_per_beat=args.steps_per_beat,
                        sustain_pedal=not args.no_sustain_pedal)
    print(roll)
    if args.out:
        roll.to_midi(args.out)
        print(f"wrote {args.out}")
    return 0


def _file_to_file(args, out: str | None, suffix: str, inputs: tuple[str, ...] = ()):
    """(the roll of ``args.midi``, the output path: ``out`` or the MIDI file's name with
    ``suffix``), after checking both; the output is never ``args.midi`` nor ``inputs``."""
    from midivae.midi.quantize import quantize
    _input_file(args.midi)
    out = out or os.path.splitext(args.midi)[0] + suffix
    _output_file(out, force=args.force, inputs=[args.midi, *inputs])
    with _warnings_said(args.command):
        return quantize(args.midi, steps_per_beat=args.steps_per_beat), out


def _cmd_plot(args) -> int:
    roll, out = _file_to_file(args, args.out, ".png")
    roll.plot(out)
    print(f"wrote {out}: {roll.n_tracks} track(s), {len(roll.bar_starts())} bars")
    return 0


def _cmd_play(args) -> int:
    from midivae.errors import BoundError

    if args.soundfont:
        _input_file(args.soundfont)
    roll, out = _file_to_file(args, args.wav, ".wav", (args.soundfont,) if args.soundfont else ())
    try:
        with _warnings_said("play"):
            backend = roll.to_wav(out, soundfont=args.soundfont)
    except BoundError as err:  # audio too long for its bound: refused before synthesis
        raise Failure(f"{args.midi}: {err}") from None
    print(f"wrote {out} ({backend})")
    return 0


def _summary(prepared, max_listed: int = 50) -> str:
    """A few lines for people: counts per split, what was dropped, the skipped pieces.

    The first ``max_listed`` skipped pieces are named; the manifest names them all.
    """
    from midivae.data import SPLITS

    m = prepared.manifest
    c = m["counts"]
    L = prepared.layout
    lines = [f"{prepared.path}: {'reused' if prepared.reused else 'built'} "
             f"from {m['source']['spec']} ({c['items']} pieces read)",
             "  pieces:  " + ", ".join(f"{s} {c['pieces'][s]}" for s in SPLITS),
             "  windows: " + ", ".join(f"{s} {c['windows'][s]}" for s in SPLITS),
             f"  layout:  {L.n_tracks} track(s) {[t.name for t in L.tracks]}, pitches "
             f"{L.low}..{L.low + L.n_pitches - 1}, {L.steps_per_beat} steps/beat, "
             f"{m['settings']['bars']} bars; meters {c['meters']}"]
    if c["windows_dropped"]:
        lines.append("  windows dropped: " + ", ".join(f"{n} {r.replace('_', ' ')}"
                                                       for r, n in c["windows_dropped"].items()))
    if m["warnings"]:
        lines.append(f"  {len(m['warnings'])} warning(s) in manifest.json")
    lines.append(f"  skipped: {c['skipped']} piece(s)")
    lines += [f"    {s['piece']}: {s['reason']}" for s in m["skipped"][:max_listed]]
    if len(m["skipped"]) > max_listed:
        lines.append(f"    ... and {len(m['skipped']) - max_listed} more in manifest.json")
    return "\n".join(lines)


def _cmd_prepare(args) -> int:
    from midivae.data import PrepareSettings, prepare

    try:
        settings = PrepareSettings(
            bars=args.bars, hop=args.hop, steps_per_beat=args.steps_per_beat,
            meter=args.meter, min_notes=args.min_notes, roles=args.roles,
            pitch_range=args.pitch_range, splits=args.splits, split_salt=args.split_salt,
            velocity=not args.no_velocity, sustain_pedal=not args.no_sustain_pedal,
            labels=args.labels, limit=args.limit)
    except ValueError as err:
        raise Failure(str(err), 2) from None
    progress = _progress_bar(args.quiet, "piece")
    try:
        prepared = prepare(args.source, args.out, settings, data_root=args.data_root,
                           workers=args.workers, progress=progress, force=args.force)
    finally:
        if progress is not None:
            progress.close()
    print(_summary(prepared))
    if sum(prepared.manifest["counts"]["windows"].values()) == 0:
        print("midivae prepare: error: no window was made (see the reasons above)",
              file=sys.stderr)
        return 1
    return 0


