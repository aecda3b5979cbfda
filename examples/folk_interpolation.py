"""Morph one folk tune into another with the shipped "folk" model.

    .venv/bin/python examples/folk_interpolation.py --out out/folk_interpolation

The model has learnt 16-bar melodies in 4/4. It turns each tune into a point
in its "latent space", a map where similar melodies lie close together; walking
in a straight line (a great-circle arc, strictly) from one tune's point to the
other's and playing the melody at each stop morphs the first tune into the
second. By default the two tunes are German children's songs from the Essen
folk song collection that comes with music21 (no download): "Schlauf man
Wawerl" and "Wir fahren auf die See". Give two MIDI files of your own instead:

    .venv/bin/python examples/folk_interpolation.py tune_a.mid tune_b.mid

It writes
  path.mid        the whole walk, one 16-bar melody after another
  point_NN.mid    each stop on its own (point_01 sounds like the first tune, the last
                  like the second)
"""

import argparse
from pathlib import Path

import midivae

from _common import model_and_output_options, refuse_to_overwrite, run, save

# Two 16-bar tunes in 4/4 from music21's Essen collection: (collection file, tune number).
ESSEN_TUNES = [("kinder0", 9), ("kinder0", 120)]


def main():
    parser = argparse.ArgumentParser(description="Morph one tune into another.")
    parser.add_argument("tunes", nargs="*", metavar="MIDI",
                        help="two MIDI files (default: two tunes from the Essen collection)")
    parser.add_argument("--steps", type=int, default=6,
                        help="stops on the way, both tunes included (default 6)")
    model_and_output_options(parser, "folk", "out/folk_interpolation")
    args = parser.parse_args()
    if len(args.tunes) not in (0, 2):
        parser.error(f"give two MIDI files or none, got {len(args.tunes)}")

    out = Path(args.out)
    points = [out / f"point_{i + 1:02d}.mid" for i in range(args.steps)]
    refuse_to_overwrite([out / "path.mid"] + points, args.force)

    model = midivae.load(args.model)
    print(model)
    if args.tunes:
        a, b = args.tunes  # the model reads MIDI files itself
    else:
        a, b = (essen_tune(name, number, model) for name, number in ESSEN_TUNES)

    # The walk: one melody per stop. Only the first 16 bars (one window) of each tune count.
    stops = model.interpolate(a, b, steps=args.steps)
    out.mkdir(parents=True, exist_ok=True)
    save(midivae.concatenate(stops), out / "path.mid")
    for stop, path in zip(stops, points):
        save(stop, path)


def essen_tune(collection, number, model):
    """One tune of music21's Essen folk song collection as a piano roll on the model's grid."""
    from music21 import corpus

    from midivae.midi.score import from_music21

    score = corpus.parse(f"essenFolksong/{collection}", number=number)
    print(f"tune: {score.metadata.title} ({collection} #{number})")
    roll, _ = from_music21(score, steps_per_beat=model.layout.steps_per_beat)
    return roll


if __name__ == "__main__":
    run(main)
