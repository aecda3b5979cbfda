"""Compose four-voice chorale phrases with the shipped "chorale" model.

    .venv/bin/python examples/compose_chorale.py --out out/compose_chorale

The model has learnt 4-bar phrases of Bach's chorales in 4/4, in four voices:
soprano, alto, tenor and bass. This script asks it for a few new phrases and
writes each one as
  phrase_N.mid    a MIDI file with four named tracks: drag it into a DAW
  phrase_N.png    a picture of the piano roll, one panel per voice
and then one longer 8-bar phrase (two 4-bar phrases that flow into each other)
as long_phrase.mid, long_phrase.png and long_phrase.musicxml, which MuseScore
or any notation program opens as a four-part score.
"""

import argparse
from pathlib import Path

import midivae
from midivae.run.zoo import recommended_temperature

from _common import model_and_output_options, refuse_to_overwrite, run, save


def main():
    parser = argparse.ArgumentParser(description="Compose chorale phrases with a trained model.")
    parser.add_argument("-n", type=int, default=4, help="how many 4-bar phrases (default 4)")
    parser.add_argument("--bars", type=int, default=8, help="length of the long phrase")
    parser.add_argument("--seed", type=int, default=1, help="another number, other phrases")
    model_and_output_options(parser, "chorale", "out/compose_chorale", temperature=True)
    args = parser.parse_args()

    # Every file this run writes, checked before any work: nothing is overwritten by accident.
    out = Path(args.out)
    phrases = [out / f"phrase_{i + 1}" for i in range(args.n)]
    files = [p.with_suffix(s) for p in phrases for s in (".mid", ".png")]
    files += [out / f"long_phrase{s}" for s in (".mid", ".png", ".musicxml")]
    refuse_to_overwrite(files, args.force)

    model = midivae.load(args.model)  # the shipped model, or your own checkpoint
    temperature = args.temperature
    if temperature is None:
        temperature = recommended_temperature(args.model)
    print(f"{model}, temperature {temperature:g}")
    out.mkdir(parents=True, exist_ok=True)

    # A few phrases, each one window of the model (4 bars for the chorale model).
    clips = model.sample(args.n, temperature=temperature, seed=args.seed)
    # A longer phrase: the model writes 4 bars at a time, each window a small step away from
    # the one before, so that the 8 bars hang together.
    (long,) = model.sample(1, temperature=temperature, bars=args.bars, seed=args.seed + 1000)

    for stem, clip in zip(phrases, clips):
        save(clip, stem.with_suffix(".mid"))
        save(clip, stem.with_suffix(".png"))
    for suffix in (".mid", ".png", ".musicxml"):
        save(long, out / f"long_phrase{suffix}")


if __name__ == "__main__":
    run(main)
