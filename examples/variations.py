"""Variations on your own melody with the shipped "folk" model.

    .venv/bin/python examples/variations.py my_tune.mid --out out/variations

The model listens to your MIDI file 16 bars at a time, finds where each
stretch lies in its "latent space" (a map where similar melodies lie close
together), takes a small random step away from there and plays what it finds:
the same tune, but not quite. ``--amount`` sets the size of the step, from 0
(the tune as the model hears it) to 1 (something unrelated). The variations
come back as long as your piece, in its register and tempo.

Without a file, the script first writes the theme of Beethoven's "Ode to Joy"
(example_melody.mid) and varies that. It writes
  <tune>_variation_N.mid   each variation, as a MIDI file
  <tune>_variation_N.png   its piano roll
"""

import argparse
import sys
from pathlib import Path

import midivae

from _common import model_and_output_options, refuse_to_overwrite, run, save

# "Ode to Joy", 16 bars of 4/4: (MIDI pitch, length in beats); 60 is middle C.
ODE_TO_JOY = (
    [(64, 1), (64, 1), (65, 1), (67, 1), (67, 1), (65, 1), (64, 1), (62, 1),
     (60, 1), (60, 1), (62, 1), (64, 1), (64, 1.5), (62, 0.5), (62, 2)]
    + [(64, 1), (64, 1), (65, 1), (67, 1), (67, 1), (65, 1), (64, 1), (62, 1),
       (60, 1), (60, 1), (62, 1), (64, 1), (62, 1.5), (60, 0.5), (60, 2)]
    + [(62, 1), (62, 1), (64, 1), (60, 1), (62, 1), (64, 0.5), (65, 0.5), (64, 1), (60, 1),
       (62, 1), (64, 0.5), (65, 0.5), (64, 1), (62, 1), (60, 1), (62, 1), (55, 2)]
    + [(64, 1), (64, 1), (65, 1), (67, 1), (67, 1), (65, 1), (64, 1), (62, 1),
       (60, 1), (60, 1), (62, 1), (64, 1), (62, 1.5), (60, 0.5), (60, 2)])


def main():
    parser = argparse.ArgumentParser(description="Variations on your own MIDI file.")
    parser.add_argument("midi", nargs="?", help="your MIDI file (default: Ode to Joy)")
    parser.add_argument("-n", type=int, default=4, help="how many variations (default 4)")
    parser.add_argument("--amount", type=float, default=0.3,
                        help="how far each variation strays, 0..1 (default 0.3)")
    parser.add_argument("--seed", type=int, default=1, help="another number, other variations")
    model_and_output_options(parser, "folk", "out/variations")
    args = parser.parse_args()

    out = Path(args.out)
    theme = Path(args.midi) if args.midi else out / "example_melody.mid"
    if args.midi and not theme.is_file():
        sys.exit(f"{theme}: no such file")
    stems = [out / f"{theme.stem}_variation_{i + 1}" for i in range(args.n)]
    files = [s.with_suffix(x) for s in stems for x in (".mid", ".png")]
    refuse_to_overwrite(files if args.midi else [theme] + files, args.force)
    out.mkdir(parents=True, exist_ok=True)
    if not args.midi:
        write_melody(ODE_TO_JOY, theme)
        print(f"wrote {theme} (the theme)")

    model = midivae.load(args.model)
    print(model)
    variations = model.variations(theme, n=args.n, amount=args.amount, seed=args.seed)
    for stem, variation in zip(stems, variations):
        save(variation, stem.with_suffix(".mid"))
        save(variation, stem.with_suffix(".png"))


def write_melody(notes, path, qpm=120.0):
    """A one-track MIDI file in 4/4 from (pitch, beats) pairs, written with pretty_midi."""
    import pretty_midi

    beat = 60.0 / qpm  # seconds per beat
    midi = pretty_midi.PrettyMIDI(initial_tempo=qpm)
    midi.time_signature_changes.append(pretty_midi.TimeSignature(4, 4, 0.0))
    melody = pretty_midi.Instrument(program=0, name="melody")
    start = 0.0
    for pitch, beats in notes:
        end = start + beats * beat
        melody.notes.append(pretty_midi.Note(velocity=90, pitch=pitch, start=start, end=end))
        start = end
    midi.instruments.append(melody)
    midi.write(str(path))


if __name__ == "__main__":
    run(main)
