"""Per-track onset biases for a shipped model's samples, judged by the music they make
(issue 21: the pop model's samples are sparser than the songs).

A model whose prior draws codes near each key's mean decodes them to fewer notes than
the data has. `VAE.onset_biases` adds a number to the logit of every note's start of a
track while sampling (before the temperature), so that track draws more notes in the
order its decoder ranks them. For each bias vector given (one number a track), this script
evaluates the model's samples on the validation split (`midivae evaluate`'s figures: 100
windows, 256 samples) and prints notes a bar and notes at once by track, the in-scale
share, the share of samples with a silent track, the melody on the accompaniment's chord,
the nearest-training-window overlap (against the validation windows') and the distance to
the data's statistics; ``--every-track`` draws as the pop card does::

    .venv/bin/python benchmarks/onset_bias.py 3,2,0.5 3,1.5,0.5 3,1.75,0.5 --every-track
"""

from __future__ import annotations

import argparse
from pathlib import Path

import torch

from midivae.data import PreparedSet
from midivae.run.evaluate import evaluate
from midivae.run.checkpoint import load_checkpoint
from midivae.run.zoo import find_model

ROOT = Path(__file__).resolve().parents[1]


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("biases", nargs="+", help="one bias a track, comma-separated: 0,1.5,0.5")
    p.add_argument("--model", default="pop", help="a shipped model's name")
    p.add_argument("--set", default=str(ROOT / "datasets" / "quality" / "pop-8bar"))
    p.add_argument("--temperature", type=float, default=1.0)
    p.add_argument("--windows", type=int, default=100)
    p.add_argument("--every-track", action="store_true",
                   help="draw again a window in which a track sounds no note (the card's "
                   "every_track)")
    args = p.parse_args()
    torch.set_num_threads(1)
    vae = load_checkpoint(find_model(args.model).path)
    prepared = PreparedSet(args.set)
    for text in args.biases:
        biases = [float(b) for b in text.split(",")]
        r = evaluate(vae, prepared, split="valid", n_samples=256, onset_biases=biases,
                     temperature=args.temperature, max_windows=args.windows,
                     every_track=args.every_track)
        s, d, n = r["samples"], r["data"], r["novelty"]
        h = r.get("harmony", {})
        chord = (f"; melody on the chord {h['samples']['melody_chord_share']:.3f} "
                 f"({h['data']['melody_chord_share']:.3f})" if h else "")
        print(f"biases {text} at {args.temperature:g}"
              f"{', every track' if args.every_track else ''}: notes a bar "
              f"{' / '.join(f'{x:.2f}' for x in s['notes_per_bar_by_track'])} (data "
              f"{' / '.join(f'{x:.2f}' for x in d['notes_per_bar_by_track'])}); at once "
              f"{' / '.join(f'{x:.2f}' for x in s['voice_polyphony_by_track'])} (data "
              f"{' / '.join(f'{x:.2f}' for x in d['voice_polyphony_by_track'])}); in the scale "
              f"{s['in_scale_share']:.3f} ({d['in_scale_share']:.3f}); a silent track "
              f"{s['silent_track_share']:.3f} ({d['silent_track_share']:.3f}){chord}; nearest "
              f"training window {n['samples_overlap_median']:.3f} "
              f"({n['test_overlap_median']:.3f}), copies {n['copies']}; distance "
              f"{r['distance']['distance']['value']:.3f}", flush=True)


if __name__ == "__main__":
    main()
