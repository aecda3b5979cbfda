"""How rewriting each track given the others (`VAE.rewrite`) changes a model's samples.

usage: python benchmarks/rewrite.py [--model chorale] [--samples 256] [--rounds 3]
                                    [--temperature 0.5] [--seed 0] [--json FILE]

Draws ``--samples`` windows from the model's prior (`VAE.sample` with rounds 0),
then rewrites them one round at a time, and after each round prints how the
tracks sound together (`midivae.midi.harmony.harmony_stats`: chords on the
beats where every track sounds, parallel fifths and octaves, crossings, the top
track's steps, root-position ends) beside the model's set's figures where
`benchmarks/quality.py` prepared it, and the seconds each round took on one
thread. Round k's samples are what `Model.sample(rounds=k)` draws.
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

import torch

import midivae
from midivae.midi.harmony import harmony_stats

ROOT = Path(__file__).resolve().parents[1]
SHOWN = ("chord_share", "parallel_window_share", "parallels_per_bar", "crossing_share",
         "top_stepwise_share", "end_root_share")


def main(argv: list[str] | None = None) -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--model", default="chorale", help="a shipped name or a checkpoint")
    p.add_argument("--samples", type=int, default=256)
    p.add_argument("--rounds", type=int, default=3)
    p.add_argument("--temperature", type=float, default=0.5)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--json", help="also write the figures to this file")
    args = p.parse_args(argv)
    torch.set_num_threads(1)
    model = midivae.load(args.model)
    vae, layout = model.vae, model.layout
    rows = {}
    start = time.perf_counter()
    x = vae.sample(args.samples, temperature=args.temperature, seed=args.seed, rounds=0)
    for k in range(args.rounds + 1):
        if k:
            start = time.perf_counter()
            x = vae.rewrite(x, rounds=1, temperature=args.temperature, seed=args.seed + k)
        seconds = time.perf_counter() - start
        rows[f"round {k}"] = {**harmony_stats(layout.from_windows(x.numpy())),
                              "seconds": seconds}
    data = ROOT / "datasets" / "quality" / "chorales-4bar"
    if args.model == "chorale" and (data / "manifest.json").exists():
        from midivae.data import PreparedSet

        prepared = PreparedSet(data)
        rows["test windows"] = harmony_stats([prepared.window_roll(int(i))
                                              for i in prepared.indices("test")])
    print(f"{args.model}: {args.samples} samples at temperature {args.temperature:g}")
    print(f"{'':14s}" + "".join(f"{key:>22s}" for key in SHOWN) + f"{'seconds':>10s}")
    for name, row in rows.items():
        print(f"{name:14s}" + "".join(f"{row[key]:22.3f}" for key in SHOWN)
              + (f"{row['seconds']:10.1f}" if "seconds" in row else ""))
    if args.json:
        Path(args.json).write_text(json.dumps(rows, indent=1))


if __name__ == "__main__":
    main()
