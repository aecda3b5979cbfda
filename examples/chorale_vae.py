"""Train a small MusicVAE-style model on Bach chorales and compose with it.

Everything here is midivae's public API on the music21 corpus that ships with
music21 (no download). On a laptop CPU the default run takes a few minutes:

    .venv/bin/python examples/chorale_vae.py --steps 1500 --out out/chorales

It writes MIDI files you can drag into a DAW (four named tracks, soprano to bass):
  sample_*.mid          new 4-bar phrases drawn from the prior
  interpolation.mid     a slerp path in latent space between two real phrases, bar by bar
  denser.mid            a phrase pushed along the "more notes" attribute vector
  model.safetensors     the trained model (+ model.json), for `midivae sample`
All decoding uses temperature 0.5, as MusicVAE's demos do: a short CPU run is
not yet sure enough of single cells for the most likely value (T=0) to sound.
It refuses to overwrite those files unless given --force.
"""

import argparse
import os
import sys

import torch

from midivae import concatenate
from midivae.data import prepare
from midivae.run.generate import apply_attribute, attribute_vector, interpolate, reconstruct, sample
from midivae.run.start import model_and_loaders
from midivae.run.train import train

WRITES = [f"sample_{i}.mid" for i in range(4)] + ["interpolation.mid", "denser.mid",
                                                  "model.safetensors"]


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--steps", type=int, default=1500, help="training steps")
    parser.add_argument("--preset", default="hierarchical-4bar-cpu")
    parser.add_argument("--limit", type=int, help="use only N chorales (a stable choice)")
    parser.add_argument("--out", default="out/chorales")
    parser.add_argument("--force", action="store_true", help="overwrite files already there")
    args = parser.parse_args()
    for name in WRITES:
        if os.path.exists(os.path.join(args.out, name)) and not args.force:
            sys.exit(f"{os.path.join(args.out, name)} already exists; pass --force to "
                     "overwrite it")
    os.makedirs(args.out, exist_ok=True)
    torch.manual_seed(0)

    # 1. data: 4-bar windows of the 4/4 chorales, soprano/alto/tenor/bass
    chorales = prepare("bach-chorales", os.path.join(args.out, "set"), bars=4, meter="4/4",
                       limit=args.limit)
    print(f"{len(chorales.indices('train'))} training windows, layout {chorales.layout}")

    # 2. model: the preset sized to the set, trained for a few minutes
    # one note or rest per voice and step (the voices are monophonic)
    model, cfg, loader, _ = model_and_loaders(chorales, args.preset, transpose=3,
                                              output="categorical")
    train(model, loader, cfg, steps=args.steps, preset=args.preset,
          checkpoint=os.path.join(args.out, "model"),  # for `midivae sample out/chorales/model`
          log=lambda r: print(f"step {r['step']}: {r['nelbo_bits_per_step']:.2f} bits/step")
          if r["step"] % 100 == 0 else None)
    model.eval()

    # 3. compose: samples, an interpolation, an attribute vector
    for i, roll in enumerate(sample(model, 4, temperature=0.5, seed=0)):
        roll.replace(tempos=[(0, 80.0)]).to_midi(os.path.join(args.out, f"sample_{i}.mid"))

    held_out = chorales.indices("valid")
    held_out = held_out if len(held_out) >= 2 else chorales.indices()
    a, b = (chorales.window_roll(int(i)) for i in held_out[:2])
    path = interpolate(model, a, b, n=5, method="slerp", temperature=0.5, seed=0)
    concatenate(path).replace(tempos=[(0, 80.0)]).to_midi(os.path.join(args.out, "interpolation.mid"))

    windows = [chorales.window_roll(int(i)) for i in chorales.indices("train")[:400]]
    counts = [w.n_notes for w in windows]
    median = sorted(counts)[len(counts) // 2]
    dense = [w for w, n in zip(windows, counts) if n > median]
    sparse = [w for w, n in zip(windows, counts) if n <= median]
    vector = attribute_vector(model, dense, sparse)
    denser = apply_attribute(model, [a], vector, strength=1.0, temperature=0.5, seed=0)[0]
    denser.replace(tempos=[(0, 80.0)]).to_midi(os.path.join(args.out, "denser.mid"))
    again = reconstruct(model, [a], temperature=0.5, seed=0)[0]
    print(f"notes in a phrase: {a.n_notes}; its reconstruction: {again.n_notes}; "
          f"pushed along 'more notes': {denser.n_notes}")
    print(f"wrote MIDI files to {args.out}")


if __name__ == "__main__":
    main()
