"""Train a small model on your own MIDI files, then compose with it.

    .venv/bin/python examples/train_your_own.py path/to/midi_folder --out out/train_your_own

Three steps, each one call to midivae:
  1. prepare: every MIDI file in the folder (and its subfolders) is cut into
     2-bar windows of 4/4; all pitched tracks are merged into one (``--roles``
     picks another layout, e.g. "names:melody,bass" for one track per name);
  2. train: a small model learns the windows for ``--steps`` steps (the default,
     about a minute or two on a laptop CPU, is a quick look: try 2000 or more
     for music worth keeping; Ctrl-C stops early and keeps what was learnt);
  3. compose: the trained model is loaded back from its run folder, as any
     model is, and writes new clips.

Without a folder, the script makes up a handful of short melodies in a
temporary folder and learns those, so it runs as is. It writes
  set/               the prepared windows (reused when you run it again)
  run/model.*        the trained model: `midivae.load("out/train_your_own/run")`,
                     or `midivae sample out/train_your_own/run`
  clip_N.mid, .png   new clips composed by the model
A named set works too: "bach-chorales" with ``--bars 4`` learns Bach's chorales.
"""

import argparse
import random
import tempfile
from pathlib import Path

import midivae
from midivae.data import prepare
from midivae.models import PRESETS
from midivae.run.start import model_and_loaders
from midivae.run.train import train

from _common import refuse_to_overwrite, run, save


def main():
    parser = argparse.ArgumentParser(description="Train a model on your own MIDI files.")
    parser.add_argument("folder", nargs="?",
                        help="a folder of MIDI files (default: made-up melodies)")
    parser.add_argument("--bars", type=int, default=2, help="bars per window (default 2)")
    parser.add_argument("--roles", help="track layout (default: every pitched track merged)")
    parser.add_argument("--preset", default="flat-2bar-cpu", choices=sorted(PRESETS),
                        help="model size and training recipe (default: a small one for a CPU)")
    parser.add_argument("--steps", type=int, default=300, help="training steps (default 300)")
    parser.add_argument("-n", type=int, default=4, help="clips to compose (default 4)")
    parser.add_argument("--temperature", type=float, default=0.5,
                        help="0: the model's safest guess at every note; 1: adventurous")
    parser.add_argument("--out", default="out/train_your_own", help="folder for the files")
    parser.add_argument("--force", action="store_true", help="overwrite files already there")
    args = parser.parse_args()

    out = Path(args.out)
    run = out / "run"
    clips = [out / f"clip_{i + 1}" for i in range(args.n)]
    files = [run / "model.safetensors"] + [c.with_suffix(s) for c in clips
                                          for s in (".mid", ".png")]
    refuse_to_overwrite(files, args.force)

    # 1. prepare: MIDI files -> training windows (made-up melodies when no folder is given)
    with tempfile.TemporaryDirectory() as scratch:
        source = args.folder or write_example_melodies(Path(scratch))
        windows = prepare(source, out / "set", bars=args.bars, meter="4/4", roles=args.roles)
    print(f"{windows.n_windows['train']} windows to learn from: {windows}")

    # 2. train: the preset's model, sized to the windows; each window is also played up to
    # 3 semitones higher or lower, so there is more to learn from
    model, recipe, loader, _ = model_and_loaders(windows, args.preset, transpose=3)
    print(f"training {args.preset} for {args.steps} steps")
    try:
        train(model, loader, recipe, steps=args.steps, preset=args.preset,
              checkpoint=run / "model", log=progress, log_every=max(1, args.steps // 10),
              info={"dataset": str(windows.path), "transpose": 3,
                    "roles": windows.manifest["settings"]["roles"]})  # to read files later
    except KeyboardInterrupt:  # Ctrl-C: the model as it stands is saved; compose with it
        print("stopped early")
    print(f"wrote {run / 'model.safetensors'} (the trained model)")

    # 3. compose: load the run as any model is loaded, and write a few clips of two windows
    composer = midivae.load(run)
    for stem, clip in zip(clips, composer.sample(args.n, temperature=args.temperature,
                                                 bars=2 * composer.bars, seed=1)):
        save(clip, stem.with_suffix(".mid"))
        save(clip, stem.with_suffix(".png"))


def write_example_melodies(folder, n=8, bars=8):
    """``n`` made-up melodies of ``bars`` bars in 4/4: seeded random walks on a C major scale."""
    import pretty_midi

    scale = [60, 62, 64, 65, 67, 69, 71, 72, 74, 76, 77, 79]  # MIDI pitches, 60 = middle C
    rhythms = [[1, 1, 1, 1], [2, 1, 1], [1, 1, 2], [0.5, 0.5, 1, 2], [1.5, 0.5, 2]]  # beats
    for i in range(n):
        rng = random.Random(i)
        midi = pretty_midi.PrettyMIDI(initial_tempo=120.0)  # a beat lasts half a second
        midi.time_signature_changes.append(pretty_midi.TimeSignature(4, 4, 0.0))
        melody = pretty_midi.Instrument(program=0, name="melody")
        start, degree = 0.0, rng.randrange(len(scale))
        for _ in range(bars):
            for beats in rng.choice(rhythms):
                degree = min(max(degree + rng.choice([-2, -1, 1, 2]), 0), len(scale) - 1)
                end = start + 0.5 * beats
                melody.notes.append(pretty_midi.Note(90, scale[degree], start, end))
                start = end
        midi.instruments.append(melody)
        midi.write(str(folder / f"melody_{i + 1}.mid"))
    return folder


def progress(record):
    """Print a line of training progress: the loss in bits per step (lower is better)."""
    if record["kind"] == "train":
        print(f"  step {record['step']:5d}: {record['nelbo_bits_per_step']:.3f} bits/step")


if __name__ == "__main__":
    run(main)
