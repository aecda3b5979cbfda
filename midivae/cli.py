"""The `midivae` command: the only module that parses arguments or prints.

Nothing imports this module; it imports the rest lazily so `--help` is fast.
"""

from __future__ import annotations

import argparse
import sys


def _cmd_quantize(args) -> int:
    from midivae.quantize import quantize
    roll = quantize(args.midi, steps_per_beat=args.steps_per_beat)
    print(roll)
    if args.out:
        roll.to_midi(args.out)
        print(f"wrote {args.out}")
    return 0


def _cmd_demo(args) -> int:
    import os

    import music21

    from midivae.quantize import quantize
    from midivae.render import render

    os.makedirs(args.out, exist_ok=True)
    score = music21.corpus.parse(args.chorale)  # the embedded default data: no download
    data = music21.midi.translate.streamToMidiFile(score).writestr()
    roll = quantize(data, steps_per_beat=args.steps_per_beat)
    print(f"quantized {args.chorale} from the music21 corpus:\n  {roll}")
    print(f"  bars start at steps {roll.bar_starts()[:8].tolist()} ...")
    path = os.path.join(args.out, args.chorale.replace("/", "_") + ".mid")
    render(roll, path)
    again = quantize(path, steps_per_beat=args.steps_per_beat)
    print(f"rendered to {path}; re-quantized roll identical: {again == roll}")
    return 0 if again == roll else 1


def _build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="midivae", description="Make music with variational autoencoders over MIDI piano rolls.")
    sub = parser.add_subparsers(dest="command", required=True)

    q = sub.add_parser("quantize", help="quantize a MIDI file to a piano roll and render it back")
    q.add_argument("midi", help="input MIDI file")
    q.add_argument("--steps-per-beat", type=int, default=4, help="grid steps per quarter note")
    q.add_argument("--out", help="write the re-rendered MIDI here")
    q.set_defaults(func=_cmd_quantize)

    d = sub.add_parser("demo", help="run the demo on the embedded music21 corpus")
    d.add_argument("--out", default="out", help="folder for the files the demo writes")
    d.add_argument("--chorale", default="bach/bwv66.6", help="music21 corpus work to use")
    d.add_argument("--steps-per-beat", type=int, default=4, help="grid steps per quarter note")
    d.set_defaults(func=_cmd_demo)

    # -- prepare (datasets) ---------------------------------------------------
    # (subcommand registered here by the datasets work)

    return parser


def main(argv: list[str] | None = None) -> int:
    from midivae.errors import MidivaeError
    args = _build_parser().parse_args(argv)
    try:
        return args.func(args)
    except MidivaeError as err:
        print(f"midivae: error: {err}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        print("midivae: interrupted", file=sys.stderr)
        return 130


if __name__ == "__main__":
    sys.exit(main())
