"""Sketch a pop arrangement with the shipped "pop" model.

    .venv/bin/python examples/pop_sketch.py --out out/pop_sketch

The model has learnt 8-bar stretches of the POP909 songs (Chinese pop, arranged
for piano) in three parts: the sung melody, a counter-melody ("bridge") and the
piano accompaniment. This script asks it for
  sketch.mid, sketch.png            one 8-bar sketch
  long_sketch.mid, long_sketch.png  a 16-bar one: two 8-bar sketches that flow into
                                    each other
Each MIDI file has one named track per part (melody, bridge, piano): drag it
into a DAW and give each track its own sound.
"""

import argparse
from pathlib import Path

import midivae
from midivae.run.zoo import recommended_temperature

from _common import model_and_output_options, refuse_to_overwrite, run, save


def main():
    parser = argparse.ArgumentParser(description="Sketch a multi-track pop arrangement.")
    parser.add_argument("--bars", type=int, default=16, help="length of the long sketch")
    parser.add_argument("--seed", type=int, default=1, help="another number, another sketch")
    model_and_output_options(parser, "pop", "out/pop_sketch", temperature=True)
    args = parser.parse_args()

    out = Path(args.out)
    files = [out / f"{stem}{s}" for stem in ("sketch", "long_sketch") for s in (".mid", ".png")]
    refuse_to_overwrite(files, args.force)

    model = midivae.load(args.model)
    temperature = args.temperature
    if temperature is None:
        temperature = recommended_temperature(args.model)
    print(f"{model}, temperature {temperature:g}")
    out.mkdir(parents=True, exist_ok=True)

    # One window of the model (8 bars for the pop model), then a longer sketch of two windows.
    (sketch,) = model.sample(1, temperature=temperature, seed=args.seed)
    (long,) = model.sample(1, temperature=temperature, bars=args.bars, seed=args.seed + 1000)
    for stem, roll in (("sketch", sketch), ("long_sketch", long)):
        save(roll, out / f"{stem}.mid")
        save(roll, out / f"{stem}.png")


if __name__ == "__main__":
    run(main)
