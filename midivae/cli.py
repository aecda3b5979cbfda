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


def _build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="midivae", description=__doc__.splitlines()[0])
    sub = parser.add_subparsers(dest="command", required=True)

    q = sub.add_parser("quantize", help="quantize a MIDI file to a piano roll and render it back")
    q.add_argument("midi", help="input MIDI file")
    q.add_argument("--steps-per-beat", type=int, default=4, help="grid steps per quarter note")
    q.add_argument("--out", help="write the re-rendered MIDI here")
    q.set_defaults(func=_cmd_quantize)

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
